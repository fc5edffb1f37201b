"""Can the adversarial reward's discriminator read a caption's attribute words? A probe on tiny-mnist-text.

    python scripts/caption_matching_probe.py [--steps 3000] [--every 500] [--width 32]

The projection discriminator of ``--reward-arg mismatch_weight=μ`` (docs/text-to-image.md), trained on
the matching task alone: the bundled real digits under their true captions (label real) against the
same digits under the caption with one statement negated (label fake), Adam(1e-4, betas (0.5,
0.999)), batches of 128 pairs, on 80 % of the digits. Every ``--every`` steps it prints, on the other
20 %, how often the true caption scores above the negated one and the accuracy on each half.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from adanat_cli.data.real_captions import captioned_real_images
from adanat_cli.models.resolve import load_model
from adanat_cli.training.discriminator import ProjectionDiscriminator, discriminator_loss
from adanat_cli.training.rewards import MISMATCH_SEED, mismatched_captions

RUN_SEED = 0  # the wrong captions of a training run with --seed 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--width", type=int, default=32)
    args = parser.parse_args()
    torch.manual_seed(0)
    bundle = load_model("tiny-mnist-text")
    images, captions, _ = captioned_real_images(bundle.evaluation["real"], bundle.config, bundle.image_size, RUN_SEED)
    negated = mismatched_captions(captions, RUN_SEED + MISMATCH_SEED)
    n = len(captions)
    true_pooled, wrong_pooled = bundle.prompts.pooled(captions), bundle.prompts.pooled(negated)
    order = torch.randperm(n)
    train, test = order[: int(0.8 * n)], order[int(0.8 * n):]
    discriminator = ProjectionDiscriminator(bundle.backbone.num_classes, max(bundle.image_size), args.width,
                                            cond_dim=true_pooled.shape[1])
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.5, 0.999))
    print(f"{len(train)} training and {len(test)} held-back digits; cosine(true, negated pooled embedding) "
          f"{F.cosine_similarity(true_pooled, wrong_pooled).mean().item():.3f} on average")
    print("| step | true caption scores higher | accuracy, true | accuracy, negated |\n| ---: | ---: | ---: | ---: |")
    for step in range(1, args.steps + 1):
        idx = train[torch.randint(0, len(train), (128,))]
        logits = discriminator(torch.cat([images[idx], images[idx]]), torch.cat([true_pooled[idx], wrong_pooled[idx]]))
        loss = discriminator_loss(logits[:128], logits[128:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.every == 0:
            with torch.no_grad():
                right = discriminator(images[test], true_pooled[test])
                wrong = discriminator(images[test], wrong_pooled[test])
            print(f"| {step} | {(right > wrong).float().mean():.3f} | {(right > 0).float().mean():.3f} | "
                  f"{(wrong < 0).float().mean():.3f} |", flush=True)


if __name__ == "__main__":
    main()
