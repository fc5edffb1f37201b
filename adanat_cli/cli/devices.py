"""``--device``, ``--precision`` and ``--compile``: where and how the networks run."""

from __future__ import annotations

import torch

from ..engine.precision import resolve_precision
from ..errors import UsageError


def pick_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise UsageError(f"unknown device '{spec}' (use cpu, cuda, cuda:N or auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {spec}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"unsupported device '{spec}' (use cpu, cuda, cuda:N or auto)")
    return device


PRECISION_HELP = ("Precision of the networks' matrix products: auto (bf16 on a CUDA GPU that supports it, "
                  "else fp32), fp32, bf16 or fp16. Sampling, guidance and the policy stay in fp32.")
COMPILE_HELP = ("Compile the backbone with torch.compile: faster batches after a one-time compile on first "
                "use, which is shown and left out of the reported speed.")


def pick_precision(precision: str, device: torch.device) -> str:
    """``--precision`` checked and, for ``auto``, made concrete for ``device``."""
    return resolve_precision(precision.strip().lower(), device)
