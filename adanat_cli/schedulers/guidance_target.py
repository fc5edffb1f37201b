"""What classifier-free guidance pushes away from: the empty prompt, a negative prompt, or a mix.

Guidance moves the logits away from an unconditional branch, ``c + w (c - u)``. For a
text-conditioned model ``u`` is normally the empty prompt's. A scheduler may instead name a
*negative prompt* and the *share* of the push taken against it:

    u = (1 - share) u_empty + share u_negative

``share = 1`` (the default) is the usual negative prompt, which replaces the empty one and costs
nothing extra; a share strictly between 0 and 1 costs one more forward per guided step. The
negative prompt ``@subject`` stands for each prompt's own subject, the prompt without its modifier
words ("a thick, slanted seven" -> "a seven"), for models whose captions have a grammar
(tiny-mnist-text): guidance then pushes on what the modifiers add.

``negative_guidance = g`` adds a fixed push away from the negative prompt alone on top of that
guidance, ``+ g (c - u_negative)``. The scheduler's guidance ``w`` and its share then stay as they
are, so a policy keeps setting ``w`` per sample and step while the push against the negative prompt
(for ``@subject``, on the attribute words) has a floor of ``g``. For a constant ``w`` it is the same
as guidance ``w + g`` with the share ``(w s + g) / (w + g)``.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import UsageError

SUBJECT = "@subject"
"""The negative prompt that stands for each prompt's subject alone."""


def negative_settings(negative_prompt: Any, negative_share: Any) -> tuple[str, float]:
    """The two settings checked: a string, and a share in [0, 1]; a UsageError otherwise."""
    if not isinstance(negative_prompt, str):
        raise UsageError(f"negative_prompt must be text, got {negative_prompt!r}")
    try:
        share = float(negative_share)
    except (TypeError, ValueError):
        raise UsageError(f"negative_share must be a number, got {negative_share!r}") from None
    if not (math.isfinite(share) and 0.0 <= share <= 1.0):
        raise UsageError(f"negative_share must lie in [0, 1], got {negative_share!r}")
    return negative_prompt, share


def negative_push(negative_prompt: str, negative_guidance: Any) -> float:
    """The checked ``negative_guidance``: a finite number >= 0, and not without a negative prompt."""
    try:
        push = float(negative_guidance)
    except (TypeError, ValueError):
        raise UsageError(f"negative_guidance must be a number, got {negative_guidance!r}") from None
    if not (math.isfinite(push) and push >= 0.0):
        raise UsageError(f"negative_guidance must be >= 0, got {negative_guidance!r}")
    if push and not negative_prompt:
        raise UsageError("negative_guidance pushes away from a negative prompt: give negative_prompt too")
    return push
