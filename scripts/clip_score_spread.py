"""CLIP score of cosine's images on tiny-mnist-text, per guidance: mean ± std over images.

    python scripts/clip_score_spread.py [--num 300] [--seed 5]

The spread of the CLIP-score term that ``--reward-arg clip_weight=λ`` adds to the adversarial reward
(docs/text-to-image.md): images of the first NUM evaluation captions, cosine at T = 8 with the
recommended re-masking temperature.
"""

from __future__ import annotations

import argparse

from adanat_cli.engine.sampling import generate_images
from adanat_cli.metrics.clip_image import clip_score, load_clip_image_encoder
from adanat_cli.models.resolve import load_model
from adanat_cli.schedulers.build import build_scheduler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    bundle = load_model("tiny-mnist-text")
    encoder = load_clip_image_encoder(bundle.path)
    captions = (bundle.path / "captions-eval.txt").read_text().splitlines()[: args.num]
    pooled = bundle.prompts.embed(captions).pooled.float()
    remask = bundle.recommended["scheduler_config"]["remask_temp"]
    print("| guidance | CLIP score (mean ± std) |\n| ---: | --- |")
    for guidance in (0.0, 0.5, 1.0, 2.0):
        scheduler = build_scheduler("cosine", {"guidance": guidance, "remask_temp": remask})
        images = generate_images(bundle, scheduler, captions, 8, seed=args.seed, batch_size=args.num).images
        score = clip_score(encoder, images, pooled)
        print(f"| {guidance:g} | {score.mean().item():.3f} ± {score.std().item():.3f} |")


if __name__ == "__main__":
    main()
