"""Does guidance aimed at the attribute words buy attribute agreement more cheaply? A probe on tiny-mnist-text.

    ATTRIBUTE_SHARE=0.5 python scripts/attribute_guidance_probe.py compare -m tiny-mnist-text -s cosine -T 8 \\
        --num 2000 --seed 7 -x tiny-mnist,tiny-mnist-heldout -a cosine:guidance=0.5,0.75,1 --out probe-attr-0.5

Classifier-free guidance pushes the logits away from the empty prompt's, ``c + w (c - u)``, which
sharpens everything the caption says and, with it, every sample towards the caption's mode: recall
falls, FID rises. Here a share ``s`` (``ATTRIBUTE_SHARE``, 0..1) of that push is taken against the
caption with its attribute words removed (``"a thick, slanted seven"`` -> ``"a seven"``, a caption
the model was trained on, since the build drops each word with probability 0.35):

    c + w ((1 - s) (c - u_empty) + s (c - u_class_only))

so that share pushes only on what the words for thickness, slant and size add. ``s = 0`` is plain
guidance (a check: it must reproduce the plain rows). It costs a third forward per guided step, so
its NFE and speed columns are not comparable. It is a test-time probe, not a shipped feature.
"""

from __future__ import annotations

import os
import sys

from adanat_cli.cli.app import app
from adanat_cli.data.captions import make_caption, parse_caption
from adanat_cli.engine import conditioning, loop


def _share() -> float:
    share = float(os.environ.get("ATTRIBUTE_SHARE", "0"))
    if not 0.0 <= share <= 1.0:
        raise SystemExit(f"ATTRIBUTE_SHARE must lie in [0, 1], got {share}")
    return share


SHARE = _share()
_plain_text_conditions = conditioning.text_conditions
_plain_forward = loop._forward


def _text_conditions_with_class_only(embedder, prompts, device):
    made = _plain_text_conditions(embedder, prompts, device)
    classes = [parse_caption(p).class_index for p in prompts]
    if None in classes:
        raise SystemExit(f"the probe needs captions that name a digit; '{prompts[classes.index(None)]}' names none")
    class_only = [make_caption(c) for c in classes]
    made.class_only = embedder.embed(class_only).context.to(device)
    return made


def _forward_with_attribute_guidance(network, tokens, conditions, with_uncond, caches, rows, first=False):
    cond, uncond = _plain_forward(network, tokens, conditions, with_uncond, caches, rows, first=first)
    if uncond is None or SHARE == 0.0:
        return cond, uncond
    if not hasattr(conditions, "class_only"):
        raise SystemExit("the probe is for text-conditioned models (tiny-mnist-text): this batch has no captions")
    if caches is not None:
        raise SystemExit("the probe does not handle backbones that reuse their previous step (ENAT)")
    class_only = loop._logits_at(network(tokens, conditions.class_only, **loop._rows_kwarg(network, rows)), rows)
    mixed = (1.0 - SHARE) * uncond.logits.float() + SHARE * class_only.logits.float()
    return cond, type(uncond)(mixed, uncond.features)


def main() -> None:
    conditioning.text_conditions = _text_conditions_with_class_only
    loop._forward = _forward_with_attribute_guidance
    app(sys.argv[1:])


if __name__ == "__main__":
    main()
