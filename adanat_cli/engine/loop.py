"""The decoding loop: T steps of guide, sample, score, re-mask (REFERENCE §1).

Every command (sample, compare, fid, train-policy) generates through ``decode``. Randomness is
counter-based (``engine.randomness``): every value is a hash of (sample seed, step, stream, position),
drawn for the whole batch at once, so a sample's tokens do not depend on the batch it was generated
in. Tokens are drawn by inverting each position's CDF at one uniform; re-masking adds Gumbel noise.

The backbone runs in ``precision`` (an autocast region, ``engine.precision``) and, with ``compile``,
through ``torch.compile``; everything after it — guidance, softmax, sampling, confidences and the
scheduler's decisions — runs in float32.

A step samples only the masked positions, so only their logits are computed (``logit_rows``, for
backbones that support it) and guided, sampled and scored: (M, V) rows, not (B, N, V). The first
step's grids are all masks, so it runs once per distinct condition plus one shared unconditional row.

Backbones with ``supports_cache`` (ENAT) reuse the previous step's work through the cache of their
output. Cond and uncond passes then run as two forwards, each with its own cache, as the public ENAT
sampler does. A step that skips the uncond pass (w = 0) drops the uncond cache, so the next uncond
pass runs without reuse: reuse always spans exactly one step, the regime the model was trained for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..architectures.base import Backbone, BackboneOutput
from ..errors import UsageError
from ..schedulers.base import Scheduler
from ..schedulers.state import GenerationState, StepPlan
from . import randomness
from .conditioning import Conditions, distinct_rows
from .precision import autocast, compiled, full_precision, resolve_precision

# Token counts are floor(N * mask_ratio); a ratio meant to be exactly n/N may land a hair below n
# after float arithmetic, so the floor gets this much slack (far below 1/N for any real grid).
_COUNT_SLACK = 1e-9


@dataclass
class DecodeResult:
    """tokens: (B, N) final ids. trace: name -> (B, T) plan values (when asked for).
    nfe: backbone forward passes per sample, unconditional ones included (two per guided step against
    a share of a negative prompt, or with a push against one below share 1). masks and uncond_steps
    say what each step computed (``engine.flops.generation_flops`` reads them)."""

    tokens: torch.Tensor
    trace: dict[str, torch.Tensor] | None
    nfe: int
    masks: torch.Tensor | None = None  # (B, T, N) bool input mask of each step, when traced
    uncond_steps: list[int] | None = None  # the unconditional passes each step ran (0, 1 or 2)


def sample_seed(base_seed: int, index: int) -> int:
    """The seed of the sample with global ``index`` in a run seeded with ``base_seed``."""
    return int(np.random.SeedSequence([base_seed, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def masked_count(plan: StepPlan, num_tokens: int, masked_before: torch.Tensor, last: bool) -> torch.Tensor:
    """How many tokens stay masked after this step, per sample: floor(N·m), at least one revealed."""
    if last:
        return torch.zeros_like(masked_before)
    wanted = torch.floor(plan.mask_ratio.to(torch.float64) * num_tokens + _COUNT_SLACK).long()
    return torch.minimum(wanted.to(masked_before.device), masked_before - 1).clamp_min(0)


@torch.inference_mode()
def decode(
    backbone: Backbone,
    scheduler: Scheduler,
    labels: torch.Tensor | Conditions,
    steps: int,
    seeds: Sequence[int],
    trace: bool = False,
    on_step: Callable[[int], None] | None = None,
    precision: str = "fp32",
    compile: bool = False,
) -> DecodeResult:
    """Generate token grids for ``labels`` (B,) class ids — or ``Conditions`` (class ids or text
    contexts with their unconditional counterpart) — in ``steps`` steps; one seed per sample.
    ``precision`` (auto, fp32, bf16, fp16) is the backbone's; ``compile`` runs it through torch.compile."""
    conditions = labels if isinstance(labels, Conditions) else Conditions.from_labels(labels, backbone.null_class)
    device = conditions.device
    batch, num_tokens = len(conditions), backbone.num_tokens
    if len(seeds) != batch:
        raise ValueError(f"need one seed per sample: got {len(seeds)} seeds for {batch} conditions")
    precision = resolve_precision(precision, device)
    network = _Network(backbone, compiled(backbone) if compile else backbone)
    seed_values = randomness.seed_tensor(seeds, device)
    tokens = torch.full((batch, num_tokens), backbone.mask_id, dtype=torch.long, device=device)
    scheduler.reset(batch, steps)
    plans: list[StepPlan] = []
    masks: list[torch.Tensor] = []
    uncond_steps: list[bool] = []
    caches = _Caches() if getattr(backbone, "supports_cache", False) else None
    push = conditions.negative_guidance if conditions.negative is not None else 0.0
    nfe = 0
    # One autocast region for all steps, so the weights are cast to the low precision once per
    # generation, not once per forward; everything but the network is fenced back to fp32.
    with autocast(precision, device):
        for step in range(steps):
            mask = tokens == backbone.mask_id
            rows = mask.flatten().nonzero().squeeze(1)  # the masked positions, whose logits sampling needs
            state = GenerationState(step, steps, tokens, mask, conditions.cond, backbone.grid, list(seeds),
                                    pooled=conditions.pooled)
            if scheduler.uses_features:
                # The plan depends on this forward's features, so guidance is unknown beforehand.
                cond, uncond = _forward(network, tokens, conditions, True, caches, rows, first=step == 0)
                state.features, state.logits = cond.features.float(), cond.logits.float()
                with full_precision(device):
                    plan = scheduler.plan(state)
                with_uncond = True
            else:
                with full_precision(device):
                    plan = scheduler.plan(state)
                with_uncond = bool((plan.guidance != 0).any()) or push > 0.0
                cond, uncond = _forward(network, tokens, conditions, with_uncond, caches, rows, first=step == 0)
            uncond_passes = len(conditions.uncond_parts()) if with_uncond else 0
            nfe += 1 + uncond_passes
            uncond_steps.append(uncond_passes)
            if trace:
                masks.append(mask.cpu())
            with full_precision(device):
                logits = cond.logits.float()  # (M, V): one row per masked position
                owner = rows // num_tokens  # the sample each row belongs to
                if uncond:
                    w = plan.guidance.to(device=device, dtype=logits.dtype)[owner, None]
                    mixed = _mixed(uncond, [weight for _, weight in conditions.uncond_parts()])
                    guided = logits + w * (logits - mixed)
                    if push > 0.0:  # the negative prompt's branch is listed last
                        guided = guided + push * (logits - uncond[-1].logits.float())
                    logits = guided
                tokens = _step(tokens, mask, logits, owner, plan, seed_values, step, last=step == steps - 1,
                               mask_id=backbone.mask_id)
            plans.append(plan)
            if on_step is not None:
                on_step(step)
    traced = None
    if trace:
        traced = {
            name: torch.stack([p.values()[name].detach().to("cpu", torch.float64) for p in plans], dim=1)
            for name in plans[0].values()
        }
    return DecodeResult(tokens=tokens, trace=traced, nfe=nfe,
                        masks=torch.stack(masks, dim=1) if trace else None, uncond_steps=uncond_steps)


@dataclass
class _Network:
    """The backbone (for its attributes) and how to call it: compiled or eager."""

    backbone: Backbone
    forward: Callable

    def __call__(self, tokens: torch.Tensor, cond: torch.Tensor, **kwargs):
        return self.forward(tokens, cond, **kwargs)


@dataclass
class _Caches:
    """The backbone caches of the two guidance branches, carried from step to step."""

    cond: object = None
    uncond: object = None


def _forward(
    network: _Network,
    tokens: torch.Tensor,
    conditions: Conditions,
    with_uncond: bool,
    caches: _Caches | None,
    rows: torch.Tensor,
    first: bool = False,
):
    """Conditional (and unconditional) outputs in one batched forward; with ``caches`` (a backbone
    that reuses its previous step) one forward per branch, each reading and renewing its cache.
    Logits come back (M, V) at ``rows``, the masked positions (flat indices into the B·N grid), with
    one unconditional output per entry of ``conditions.uncond_parts()`` (none without ``with_uncond``).
    ``first``: the first step, whose grids are all masks."""
    parts = conditions.uncond_parts() if with_uncond else []
    if caches is not None:
        if len(parts) > 1:
            raise UsageError("a backbone that reuses its previous step (ENAT) takes one unconditional branch: "
                             "a negative_share of 0 or 1, and with negative_guidance a share of 1")
        return _forward_cached(network, tokens, conditions, parts, caches, rows)
    if first:
        return _forward_first_step(network, tokens, conditions, parts)
    if not parts:
        return _logits_at(network(tokens, conditions.cond, **_rows_kwarg(network, rows)), rows), []
    batch, branches = tokens.shape[0], 1 + len(parts)
    # each uncond branch repeats the same positions of its own copy of the grids
    all_rows = torch.cat([rows + i * tokens.numel() for i in range(branches)])
    out = _logits_at(network(torch.cat([tokens] * branches), torch.cat([conditions.cond, *(p for p, _ in parts)]),
                             **_rows_kwarg(network, all_rows)), all_rows)
    m = rows.shape[0]
    outputs = [type(out)(out.logits[i * m:(i + 1) * m], out.features[i * batch:(i + 1) * batch])
               for i in range(branches)]
    return outputs[0], outputs[1:]


def _mixed(outputs: list[BackboneOutput], weights: list[float]) -> torch.Tensor:
    """The weighted sum of the unconditional branches' logits (float32); one branch passes unchanged."""
    if len(outputs) == 1:
        return outputs[0].logits.float()
    return sum(w * o.logits.float() for o, w in zip(outputs, weights) if w)


def _forward_first_step(network: _Network, tokens: torch.Tensor, conditions: Conditions,
                        parts: list[tuple[torch.Tensor, float]]):
    """The first step's grids are all masks, so a sample's output depends on its condition alone: the
    network runs once per distinct condition (and once per distinct unconditional input: one null
    row that every sample shares, plus the distinct negative prompts) and the samples share those
    rows. With many samples per class (a compare run) that step costs a few rows instead of 2·B;
    with B distinct conditions it still saves the B − 1 repeated null rows."""
    batch, num_tokens = tokens.shape
    shared = torch.zeros(batch, dtype=torch.long, device=tokens.device)
    # the null is one row every sample shares: taken as it is, not searched for distinct rows
    groups = [conditions.distinct(),
              *((p[:1], shared) if p is conditions.null else distinct_rows(p) for p, _ in parts)]
    inputs = torch.cat([rows for rows, _ in groups])
    masks = torch.full((inputs.shape[0], tokens.shape[1]), int(network.backbone.mask_id), device=tokens.device)
    # every position's logits, asked for as rows like any other step's (one family of compiled graphs)
    out = network(masks, inputs, **_rows_kwarg(network, torch.arange(masks.numel(), device=tokens.device)))
    all_logits = out.logits.reshape(*masks.shape, -1)  # (rows, N, V)

    def rows_of(start: int, count: int, inverse: torch.Tensor) -> BackboneOutput:
        if count == 1:  # one row that every sample shares (the null): a view, not B copies
            logits = all_logits[start].expand(batch, -1, -1)
            features = out.features[start].expand(batch, -1, -1)
        else:
            logits, features = all_logits[start:start + count][inverse], out.features[start:start + count][inverse]
        return type(out)(logits.reshape(batch * num_tokens, -1), features)

    outputs, start = [], 0
    for rows, inverse in groups:
        outputs.append(rows_of(start, len(rows), inverse))
        start += len(rows)
    return outputs[0], outputs[1:]


def _forward_cached(
    network: _Network, tokens: torch.Tensor, conditions: Conditions, parts: list[tuple[torch.Tensor, float]],
    caches: _Caches, rows: torch.Tensor,
):
    kwargs = _rows_kwarg(network, rows)
    cond = _logits_at(network(tokens, conditions.cond, cache=caches.cond, **kwargs), rows)
    caches.cond = cond.cache
    uncond = None
    if parts:
        uncond = _logits_at(network(tokens, parts[0][0], cache=caches.uncond, **kwargs), rows)
    caches.uncond = uncond.cache if uncond is not None else None  # a skipped pass ends the uncond chain
    return cond, [uncond] if uncond is not None else []


def _rows_kwarg(network: _Network, rows: torch.Tensor) -> dict:
    return {"logit_rows": rows} if getattr(network.backbone, "supports_logit_rows", False) else {}


def _logits_at(out: BackboneOutput, rows: torch.Tensor) -> BackboneOutput:
    """``out`` with logits (M, V) at ``rows``, also from a backbone that computed every position's
    (one without ``supports_logit_rows``, or a wrapper that did not pass ``logit_rows`` on)."""
    if out.logits.dim() == 3:
        out.logits = out.logits.reshape(-1, out.logits.shape[-1]).index_select(0, rows)
    return out


def _step(
    tokens: torch.Tensor,
    mask: torch.Tensor,
    logits: torch.Tensor,
    owner: torch.Tensor,
    plan: StepPlan,
    seeds: torch.Tensor,
    step: int,
    last: bool,
    mask_id: int,
) -> torch.Tensor:
    """Sample every masked token, then re-mask the k least confident (or last-in-order) ones.
    ``logits`` (M, V) and ``owner`` (M,) (each row's sample) cover the masked positions, in the
    row-major order of ``mask``."""
    batch, num_tokens = tokens.shape
    device = logits.device
    sample_temp = plan.sample_temp.to(device=device, dtype=logits.dtype).clamp_min(1e-6)[owner, None]
    probs = torch.softmax(logits / sample_temp, dim=-1)  # (M, V)
    uniforms = randomness.uniform(seeds, step, randomness.TOKENS, num_tokens)[mask]  # (M,)
    drawn = randomness.categorical(probs, uniforms)  # (M,)
    sampled = tokens.masked_scatter(mask, drawn)
    keep = masked_count(plan, num_tokens, mask.sum(dim=1), last)  # (B,) tokens to leave masked
    if last:
        return sampled

    if plan.reveal_order is not None:
        # Priority falls along the order: the last k positions of the order stay masked.
        order = plan.reveal_order.to(device)
        rank = torch.arange(num_tokens, 0, -1, device=device, dtype=logits.dtype).expand(batch, -1)
        confidence = torch.empty_like(rank).scatter_(1, order, rank)
    else:
        log_probs = torch.log_softmax(logits, dim=-1)
        chosen = torch.gather(log_probs, -1, drawn[:, None]).squeeze(-1)  # (M,)
        confidence = torch.zeros(batch, num_tokens, device=device, dtype=logits.dtype).masked_scatter(mask, chosen)
        gumbel = randomness.gumbel(seeds, step, randomness.REMASK, num_tokens)
        remask_temp = plan.remask_temp.to(device=device, dtype=logits.dtype)[:, None]
        confidence = confidence + remask_temp * gumbel
    confidence = confidence.masked_fill(~mask, float("inf"))
    ranks = confidence.argsort(dim=1).argsort(dim=1)  # 0 = least confident
    remask = ranks < keep.to(device)[:, None]
    return torch.where(remask, torch.full_like(sampled, mask_id), sampled)
