"""Counter-based random numbers: every value is a hash of (sample seed, step, stream, position).

A sample's randomness must depend on its seed only, never on the batch it was drawn in or the
process that drew it. One ``torch.Generator`` per sample gives that, at the price of 2·B small calls
(on a GPU, 2·B kernel launches) every step. Hashing a counter gives it with a handful of batched
integer operations on a (B, count) tensor, identical on every device.

The hash is Wellons' ``lowbias32`` (a 32-bit integer finaliser with near-ideal avalanche), run on
int64 tensors that only ever hold 32-bit values: products are split into 16-bit halves so that no
intermediate overflows a signed 64-bit integer. Uniforms carry 24 bits, the precision of a float32
mantissa, and lie strictly inside (0, 1).
"""

from __future__ import annotations

import math

import torch

_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9  # odd: multiplying by it permutes 32-bit integers

# Streams of one step, kept apart so that no two uses of randomness share values.
TOKENS = 0  # choosing each masked token
REMASK = 1  # Gumbel noise on confidences before re-masking
EXPLORE = 2  # PPO's exploration noise on actions (two streams: Box-Muller needs two uniforms)


def _mul32(x: torch.Tensor, constant: int) -> torch.Tensor:
    """(x · constant) mod 2**32 for 32-bit x, without a 64-bit overflow."""
    low, high = constant & 0xFFFF, constant >> 16
    return (x * low + (((x * high) & 0xFFFF) << 16)) & _MASK32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def seed_tensor(seeds: list[int], device: torch.device | str) -> torch.Tensor:
    """The per-sample seeds (each in [0, 2**63)) as an int64 tensor."""
    return torch.tensor([int(s) for s in seeds], dtype=torch.int64, device=device)


def _keys(seeds: torch.Tensor, step: int, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 32-bit keys per sample for one (step, stream): (B, 1) each."""
    counter = _mix32(torch.tensor((step << 8) | stream, dtype=torch.int64, device=seeds.device) & _MASK32)
    first = _mix32((seeds >> 32) ^ counter)
    second = _mix32((seeds & _MASK32) ^ first)
    return first[:, None], _mix32(second ^ _GOLDEN)[:, None]


def uniform(seeds: torch.Tensor, step: int, stream: int, count: int) -> torch.Tensor:
    """(B, count) float32 uniforms in (0, 1); value (b, i) depends only on (seeds[b], step, stream, i)."""
    first, second = _keys(seeds, step, stream)
    position = torch.arange(count, dtype=torch.int64, device=seeds.device)[None, :]
    bits = _mix32(_mix32((_mul32(position, _GOLDEN) + first) & _MASK32) ^ second)
    return ((bits >> 8).to(torch.float32) + 0.5) * (1.0 / (1 << 24))


def normal(seeds: torch.Tensor, step: int, stream: int, count: int) -> torch.Tensor:
    """(B, count) float32 standard normals (Box-Muller from streams ``stream`` and ``stream + 1``)."""
    radius = torch.sqrt(-2.0 * torch.log(uniform(seeds, step, stream, count)))
    return radius * torch.cos(2.0 * math.pi * uniform(seeds, step, stream + 1, count))


def gumbel(seeds: torch.Tensor, step: int, stream: int, count: int) -> torch.Tensor:
    """(B, count) float32 standard Gumbel noise."""
    return -torch.log(-torch.log(uniform(seeds, step, stream, count)))


def categorical(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One draw per row of ``probs`` (..., V) by inverting its CDF at ``u`` (...,) in (0, 1).

    Codes of probability zero are never drawn: ``right=True`` skips flat stretches of the CDF, and the
    target stays below the CDF's own last value, so rounding in the sum cannot pick a trailing zero.
    """
    cdf = probs.float().cumsum(dim=-1)
    total = cdf[..., -1]
    target = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))[..., None].contiguous()
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_(max=probs.shape[-1] - 1)
