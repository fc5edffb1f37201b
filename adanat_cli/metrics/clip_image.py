"""The image side of a bundle's CLIP space: an image encoder trained against the frozen text encoder.

A text-conditioned bundle may name one in ``config.json``::

    "clip_image_encoder": {"type": "digit-clip-image", "config": {...}, "file": "clip_image_encoder.safetensors"}

``clip_score(encoder, images, pooled)`` is the cosine similarity between the image's embedding and the
prompt's pooled text embedding (the text encoder's projected output, what ``TextEmbedding.pooled``
holds): the CLIPScore of Hessel et al. (2021) without its rescaling, and the alignment term of the
adversarial reward (``clip_weight``). ``train_clip_image_encoder`` fits one contrastively (InfoNCE
both ways, captions that are equal strings counted as positives of each other) with the text side
frozen, so the pooled embeddings the policy's prompts already have are the ones it is scored against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..configurable import Configurable
from .digit_classifier import load_bundled_network

CLIP_IMAGE_FILE = "clip_image_encoder.safetensors"


class DigitClipImageEncoder(nn.Module, Configurable):
    """28x28 digits -> (B, projection_dim): two stride-2 convolutions, then two linear layers.

    Input (B, C, H, W) in [0, 1]; only the first channel is read (the digits are grey)."""

    def __init__(self, projection_dim: int = 64, width: int = 32, hidden: int = 256, image_size: int = 28):
        super().__init__()
        side = (image_size + 3) // 4
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.GELU(),
            nn.Flatten(), nn.Linear(2 * width * side * side, hidden), nn.GELU(), nn.Linear(hidden, projection_dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images[:, :1] * 2 - 1)


CLIP_IMAGE_TYPES: dict[str, Callable[..., nn.Module]] = {"digit-clip-image": DigitClipImageEncoder}


def load_clip_image_encoder(bundle_path: str | Path) -> nn.Module | None:
    """The CLIP image encoder a bundle ships (eval mode, CPU), or None if its config.json names none."""
    return load_bundled_network(bundle_path, "clip_image_encoder", CLIP_IMAGE_TYPES, CLIP_IMAGE_FILE,
                                "CLIP image encoder")


def clip_score(encoder: nn.Module, images: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """cos(encoder(images), pooled), (B,): images (B, C, H, W) in [0, 1], pooled (B, P) text embeddings."""
    return F.cosine_similarity(encoder(images).float(), pooled.float(), dim=-1)


def contrastive_loss(logits: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE over a (B, B) image-text logit matrix, where every pair whose captions
    are the same (equal ``caption_ids`` (B,)) counts as a positive, with equal shares."""
    same = (caption_ids[:, None] == caption_ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (torch.sum(-targets * F.log_softmax(logits, 1), 1).mean()
                  + torch.sum(-targets.t() * F.log_softmax(logits.t(), 1), 1).mean())


def train_clip_image_encoder(images: torch.Tensor, pooled: torch.Tensor, caption_index: torch.Tensor, *,
                             steps: int = 1500, batch: int = 256, lr: float = 1e-3, seed: int = 0,
                             augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                             log: Callable[[str], None] | None = None, **config) -> tuple[DigitClipImageEncoder, dict]:
    """Fit an image encoder to frozen text embeddings.

    images (M, C, H, W) in [0, 1]; pooled (U, P) the distinct captions' pooled text embeddings;
    caption_index (M,) which of them describes each image. Returns the encoder (eval mode) and
    ``{"final_loss", "logit_scale"}``."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    encoder = DigitClipImageEncoder(projection_dim=pooled.shape[1], image_size=images.shape[-1], **config)
    text = F.normalize(pooled.float(), dim=-1)
    logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1 / 0.07), CLIP's start
    opt = torch.optim.AdamW([*encoder.parameters(), logit_scale], lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    encoder.train()
    losses: list[float] = []
    for step in range(steps):
        idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
        which = caption_index[idx]
        x = images[idx] if augment is None else augment(images[idx], gen)
        logits = logit_scale.exp().clamp(max=100) * F.normalize(encoder(x), dim=-1) @ text[which].t()
        loss = contrastive_loss(logits, which)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log is not None and (step + 1) % 250 == 0:
            log(f"CLIP image step {step + 1}/{steps}: contrastive loss {sum(losses[-50:]) / len(losses[-50:]):.4f}")
    encoder.eval().requires_grad_(False)
    tail = losses[-100:]
    return encoder, {"final_loss": round(sum(tail) / max(1, len(tail)), 4), "logit_scale": round(logit_scale.exp().item(), 3)}


@torch.no_grad()
def word_retrieval(encoder: nn.Module, embed: Callable[[Sequence[str]], torch.Tensor], images: torch.Tensor,
                   true_captions: Sequence[str], flipped: Sequence[Sequence[str]]) -> float:
    """How often an image scores higher with its true caption than with a caption that differs in one
    attribute word (``flipped[i]``: the alternatives of ``true_captions[i]``); 0.5 is chance."""
    wins, total = 0, 0
    unique = sorted({*true_captions, *(c for row in flipped for c in row)})
    table = dict(zip(unique, embed(unique)))
    image_emb = F.normalize(encoder(images).float(), dim=-1)
    for i, (caption, others) in enumerate(zip(true_captions, flipped)):
        own = float(image_emb[i] @ F.normalize(table[caption], dim=-1))
        for other in others:
            wins += own > float(image_emb[i] @ F.normalize(table[other], dim=-1))
            total += 1
    return wins / max(1, total)
