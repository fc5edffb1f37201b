"""Reproducible build of ``tiny-mnist-text``: a text-to-image NAT on the bundled digits.

    python -m adanat_cli.builds.tiny_mnist_text [--out DIR] [--quick] [--overwrite]

Reads the shipped ``tiny-mnist`` bundle and keeps its tokenizer, digit classifier, FID statistics and
held-out extractor. Then, on the CPU with fixed seeds:

1. ``captions``     every digit gets captions naming its class and its measured attributes
                    (``data.captions``: thin/thick, upright/slanted, small/large, split at each
                    class's median), each word dropped with probability 0.35: "a thick, slanted seven";
2. ``text``         a small CLIP-architecture text encoder (``CLIPText``, the OpenAI CLIP BPE tokenizer
                    from the ``open_clip_torch`` wheel, 16 tokens) trained CLIP-style: a contrastive
                    loss against a small image encoder, captions that are equal counted as positives;
                    it is then frozen, as CLIP is for MUSE, and token rows no caption uses are zeroed;
3. ``backbone``     a text-conditioned U-ViT (``UViTText``) trained the MaskGIT way on the frozen
                    encoder's last hidden state, caption dropout to the empty prompt's context (p = 0.1);
4. ``tune``         a light grid over cosine's guidance and re-masking temperature at T = 8, by FID on
                    1,000 samples of held-out captions (seed 1, never the evaluation seed 0);
5. ``clip image``   an image encoder trained against the frozen text encoder (``builds.clip_image_encoder``),
                    for the adversarial reward's CLIP-score term;

then writes the bundle with the attribute thresholds and an evaluation caption file
(``captions-eval.txt``, 1,000 captions of the real digits' own attributes) that ``compare`` reads
when no captions are given. ``--quick`` trains every stage for a handful of steps (tests).
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..architectures.clip_text import CLIPText
from ..architectures.uvit_text import UViTText
from ..data.captions import WORDS, alignment, caption_dataset, fit_thresholds, measure_attributes, parse_caption
from ..data.sources import mnist5k
from ..engine.sampling import generate_images
from ..io import ensure_writable, write_text_atomic
from ..metrics.clip_image import DigitClipImageEncoder, contrastive_loss
from ..metrics.digit_classifier import DigitClassifier, load_classifier, load_fid_stats
from ..metrics.frechet import feature_stats, frechet_distance
from ..models.bundle import ModelBundle, add_to_bundle, load_bundle, read_bundle_config, save_bundle
from ..models.resolve import BUILTIN_DIR
from ..schedulers.build import build_scheduler
from .clip_image_encoder import add_clip_image_encoder
from .tiny_mnist import NUM_THREADS, cosine_lr, cpu_threads, derived_build_main, encode_all, random_shift, train_backbone

DEFAULT_OUT = BUILTIN_DIR / "tiny-mnist-text"
DEFAULT_SOURCE = BUILTIN_DIR / "tiny-mnist"
NAME = "tiny-mnist-text"

TEXT_ENCODER_CONFIG = dict(vocab_size=49408, width=64, layers=2, heads=4, mlp_ratio=4.0, context_length=16,
                           projection_dim=64, activation="quick_gelu")
BACKBONE_CONFIG = dict(codebook_size=128, grid_size=7, dim=128, depth=4, num_heads=4, mlp_ratio=4.0,
                       qkv_bias=True, skip=True, dropout=0.1, context_dim=64, context_length=16)
SEEDS = dict(captions=11, text=12, backbone=13, tune=1, eval_captions=14)
GUIDANCE_GRID = (0.0, 1.0, 2.0, 3.0)
REMASK_TEMP_GRID = (4.5, 1.5)
EVAL_CAPTIONS = "captions-eval.txt"


@dataclass
class Budget:
    caption_copies: int = 3  # caption draws per digit (the digit itself plus 2 one-pixel shifts)
    text_steps: int = 1000
    text_batch: int = 128
    backbone_steps: int = 4000
    backbone_batch: int = 64
    backbone_warmup: int = 200
    tune_samples: int = 1000
    tune_grid: bool = True
    eval_captions: int = 1000

    @classmethod
    def quick(cls) -> "Budget":
        return cls(caption_copies=1, text_steps=3, text_batch=16, backbone_steps=3, backbone_batch=16,
                   backbone_warmup=1, tune_samples=10, tune_grid=False, eval_captions=20)


def log(msg: str) -> None:
    print(f"[{NAME} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------ text encoder
def train_text_encoder(images: torch.Tensor, captions: list[str], budget: Budget, seed: int) -> tuple[CLIPText, dict]:
    """CLIP-style training: InfoNCE both ways with a learned temperature; captions that are equal
    strings are all positives of each other (many digits share a caption)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    encoder = CLIPText(**TEXT_ENCODER_CONFIG)
    # the image side of the contrastive training, thrown away afterwards (builds.clip_image_encoder
    # trains the one the bundle ships, against the frozen encoder)
    tower = DigitClipImageEncoder(TEXT_ENCODER_CONFIG["projection_dim"], width=16, hidden=128)
    logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1 / 0.07), CLIP's start
    unique = sorted(set(captions))
    position = {c: i for i, c in enumerate(unique)}
    caption_index = torch.tensor([position[c] for c in captions])
    ids = encoder.tokenize(unique)  # (U, L)
    # Captions reach a few dozen of CLIP's 49,408 tokens: train a compact table of just those rows
    # (a dense gradient and Adam step over the whole table would cost more than the network), then
    # scatter it into the full table, whose other rows stay zero.
    used = torch.unique(torch.cat([ids.flatten(), encoder.tokenize([""]).flatten()]))
    compact_ids = torch.searchsorted(used, ids)
    embeddings = encoder.text_model.embeddings
    full_table = embeddings.token_embedding
    embeddings.token_embedding = nn.Embedding(len(used), full_table.embedding_dim)
    nn.init.normal_(embeddings.token_embedding.weight, std=0.02)
    params = [*encoder.parameters(), *tower.parameters(), logit_scale]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    count = images.shape[0]
    encoder.train()
    losses = []
    for step in range(budget.text_steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, budget.text_steps, 1e-3, 100)
        idx = torch.randint(0, count, (budget.text_batch,), generator=gen)
        which = caption_index[idx]
        x = random_shift(images[idx], 1, gen)
        image_emb = F.normalize(tower(x), dim=-1)
        text_emb = F.normalize(_pooled(encoder, compact_ids[which], ids[which]), dim=-1)
        logits = logit_scale.exp().clamp(max=100) * image_emb @ text_emb.t()  # (B, B)
        loss = contrastive_loss(logits, which)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 250 == 0:
            log(f"text step {step + 1}/{budget.text_steps}: contrastive loss {sum(losses[-50:]) / 50:.4f}")
    with torch.no_grad():
        full_table.weight.zero_()
        full_table.weight[used] = embeddings.token_embedding.weight
    embeddings.token_embedding = full_table
    encoder.eval().requires_grad_(False)
    stats = {"final_loss": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 4),
             "distinct_captions": len(unique), "token_rows_used": len(used)}
    return encoder, stats


def _pooled(encoder: CLIPText, compact_ids: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The encoder's pooled output for ``ids`` while its token table is the compact one: the network
    reads ``compact_ids``, the end-of-text position comes from the real ``ids``."""
    hidden = encoder.text_model(compact_ids)
    eot = (ids == encoder.eot_id).int().argmax(dim=-1)
    return encoder.text_projection(hidden[torch.arange(ids.shape[0]), eot])


@torch.no_grad()
def retrieval_accuracy(encoder: CLIPText, captions: list[str]) -> float:
    """Share of distinct captions whose pooled embedding is nearest to its own parse's class words
    (a cheap check that the encoder separates classes): 1-NN class agreement among distinct captions."""
    unique = sorted(set(captions))
    pooled = F.normalize(encoder.encode(unique).pooled, dim=-1)
    sim = pooled @ pooled.t()
    sim.fill_diagonal_(-2)
    nearest = sim.argmax(dim=1)
    classes = [parse_caption(c).class_index for c in unique]
    return sum(classes[i] == classes[int(j)] for i, j in enumerate(nearest)) / len(unique)


# ------------------------------------------------------------------------------------ backbone
@torch.no_grad()
def contexts_of(encoder: CLIPText, captions: list[str]) -> torch.Tensor:
    """(M, L, C) last hidden states of ``captions``, each distinct caption encoded once."""
    unique = sorted(set(captions))
    table = encoder.encode(unique).context  # (U, L, C)
    position = {c: i for i, c in enumerate(unique)}
    return table[torch.tensor([position[c] for c in captions])]


# ---------------------------------------------------------------------------------------- tune
def evaluate_captions(bundle: ModelBundle, classifier: DigitClassifier, mu: torch.Tensor, sigma: torch.Tensor,
                      thresholds: dict, captions: list[str], scheduler_config: dict[str, Any], steps: int,
                      seed: int, name: str = "cosine") -> dict[str, float]:
    """FID against the real digits and caption alignment of one image per caption."""
    scheduler = build_scheduler(name, dict(scheduler_config))
    samples = generate_images(bundle, scheduler, captions, steps, seed=seed, batch_size=250)
    preds, feats = classifier.classify(samples.images)
    mu_g, sigma_g = feature_stats(feats)
    agreement = alignment(samples.images, captions, preds, thresholds)
    return {"fid": frechet_distance(mu_g, sigma_g, mu, sigma), "class_agreement": agreement["class_agreement"],
            "attribute_agreement": agreement["attribute_agreement"]}


def tune_cosine(bundle, classifier, mu, sigma, thresholds, captions, budget: Budget, seed: int):
    results = []
    grid = [(r, g) for r in REMASK_TEMP_GRID for g in GUIDANCE_GRID]
    for remask_temp, guidance in grid if budget.tune_grid else grid[:1]:
        cfg = {"guidance": guidance, "remask_temp": remask_temp, "sample_temp": 1.0}
        result = evaluate_captions(bundle, classifier, mu, sigma, thresholds, captions, cfg, 8, seed)
        results.append({**cfg, **result})
        log(f"tune cosine T=8 {cfg}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items() if v is not None))
    best = min(results, key=lambda r: r["fid"])
    return {k: best[k] for k in ("guidance", "remask_temp", "sample_temp")}, results


# --------------------------------------------------------------------------------------- build
def build(out: Path, source: Path = DEFAULT_SOURCE, quick: bool = False, overwrite: bool = False,
          threads: int | None = None, budget_overrides: dict[str, int] | None = None) -> Path:
    """Run every stage and write the bundle folder ``out``; ``budget_overrides`` replaces fields of
    the budget (``{"backbone_steps": 8000}``), and the provenance records the command that did it."""
    ensure_writable(Path(out), overwrite)  # fail before training, not after
    threads = threads or (1 if quick else NUM_THREADS)
    with cpu_threads(threads):
        return _build(Path(out), Path(source), quick, overwrite, threads, dict(budget_overrides or {}))


def _build(out: Path, source: Path, quick: bool, overwrite: bool, threads: int, overrides: dict[str, int]) -> Path:
    budget = replace(Budget.quick() if quick else Budget(), **overrides)
    times: dict[str, float] = {}
    start_all = time.perf_counter()
    parent = load_bundle(source, name="tiny-mnist")
    parent_config = read_bundle_config(source)
    tok = parent.tokenizer
    classifier = load_classifier(source)
    mu, sigma = load_fid_stats(source)

    t0 = time.perf_counter()
    images, labels = mnist5k()
    if quick:
        images, labels = images[::50], labels[::50]
    attributes = measure_attributes(images)
    thresholds = fit_thresholds(images, labels, num_classes=10)
    captions = caption_dataset(labels, attributes, thresholds, seed=SEEDS["captions"], copies=budget.caption_copies)
    eval_gen = torch.Generator().manual_seed(SEEDS["eval_captions"])
    eval_pool = caption_dataset(labels, attributes, thresholds, seed=SEEDS["eval_captions"], copies=1)
    pick = torch.randperm(len(eval_pool), generator=eval_gen)[: budget.eval_captions].tolist()
    eval_captions = [eval_pool[i] for i in sorted(pick)]
    times["captions"] = time.perf_counter() - t0
    log(f"stage captions: {len(captions)} training captions, {len(set(captions))} distinct")

    t0 = time.perf_counter()
    encoder, text_stats = train_text_encoder(images.repeat(budget.caption_copies, 1, 1, 1), captions, budget,
                                             SEEDS["text"])
    text_stats["caption_1nn_class_agreement"] = round(retrieval_accuracy(encoder, captions), 4)
    times["text"] = time.perf_counter() - t0
    log(f"stage text: {times['text']:.1f} s, {text_stats}")

    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(SEEDS["backbone"])
    views = [images] + [random_shift(images, 1, gen) for _ in range(budget.caption_copies - 1)]
    codes = torch.cat([encode_all(tok, v) for v in views]).flatten(1)  # (M, 49), view-major like captions
    contexts = contexts_of(encoder, captions)
    null = encoder.encode([""]).context[0]
    backbone = train_backbone(codes, contexts, budget, SEEDS["backbone"], UViTText, BACKBONE_CONFIG, null=null)
    times["backbone"] = time.perf_counter() - t0
    log(f"stage backbone: {times['backbone']:.1f} s ({codes.shape[0]} token grids)")

    t0 = time.perf_counter()
    bundle = ModelBundle(NAME, out, backbone, tok, [], text_encoder=encoder)
    tune_captions = caption_dataset(labels, attributes, thresholds, seed=SEEDS["tune"] + 100, copies=1)
    tune_pick = torch.randperm(len(tune_captions), generator=torch.Generator().manual_seed(SEEDS["tune"]))
    tune_captions = [tune_captions[i] for i in tune_pick[: budget.tune_samples].tolist()]
    best, grid = tune_cosine(bundle, classifier, mu, sigma, thresholds, tune_captions, budget, SEEDS["tune"])
    times["tune"] = time.perf_counter() - t0
    log(f"stage tune: {times['tune']:.1f} s, chosen {best}")

    times["total"] = time.perf_counter() - start_all
    provenance = {
        "command": "python -m adanat_cli.builds.tiny_mnist_text" + (" --quick" if quick else "")
                   + "".join(f" --{k.replace('_', '-')} {v}" for k, v in overrides.items()),
        "parent": "tiny-mnist (tokenizer, classifier, FID statistics and held-out extractor copied)",
        "data": parent_config["provenance"].get("data", "adanat_cli/data/mnist5k.npz"),
        "seeds": SEEDS,
        "budget": asdict(budget),
        "stage_seconds": {k: round(v, 1) for k, v in times.items()},
        "text_encoder": text_stats,
        "tuning": {"scheduler": "cosine", "steps": 8, "samples": budget.tune_samples, "seed": SEEDS["tune"],
                   "grid": grid},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": threads,
    }
    recommended = {"scheduler": "cosine", "steps": 8, "scheduler_config": best}
    heldout = parent_config.get("heldout_extractor")
    extras = {
        "classifier.safetensors": classifier.state_dict(),
        "fid_stats.safetensors": {"mu": mu, "sigma": sigma},
    }
    extra_config = {key: parent_config[key] for key in ("classifier", "fid_stats")}
    extra_config["evaluation"] = {**parent_config["evaluation"], "captions": EVAL_CAPTIONS}
    # the words below / above each class's threshold (data.captions.WORDS), for a reader of config.json
    extra_config["caption_attributes"] = {"thresholds": thresholds, "words": {a: list(w) for a, w in WORDS.items()}}
    path = save_bundle(out, NAME, backbone, tok, [], recommended=recommended, provenance=provenance,
                       overwrite=overwrite, extras=extras, extra_config=extra_config, text_encoder=encoder)
    copies = {EVAL_CAPTIONS: _text_file(out.parent / f".{out.name}-captions.txt", eval_captions)}
    updates: dict[str, Any] = {}
    if heldout is not None:
        copies[heldout["file"]] = source / heldout["file"]
        updates["heldout_extractor"] = heldout
    add_to_bundle(path, copies, updates)
    copies[EVAL_CAPTIONS].unlink()
    t0 = time.perf_counter()
    add_clip_image_encoder(path, quick=quick, threads=threads, log=log)
    times["clip_image"] = time.perf_counter() - t0
    log(f"wrote {path}; stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    return path


def _text_file(path: Path, lines: list[str]) -> Path:
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    return derived_build_main(argv, "adanat_cli.builds.tiny_mnist_text", __doc__, DEFAULT_OUT, DEFAULT_SOURCE, build,
                              budget_options={"backbone_steps": "steps of the backbone stage "
                                              f"(default {Budget.backbone_steps})"})


if __name__ == "__main__":
    sys.exit(main())
