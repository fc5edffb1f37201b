"""Sharding work across processes (``accelerate launch`` / ``torchrun``), one process by default.

Work is cut into batches whose boundaries depend only on the batch size, and process p takes
batches p, p+P, p+2P, …; each batch is computed exactly as it would be in a single process, so the
gathered results are bit-identical whatever the number of processes.

Training (``train-policy``) also needs gradients averaged over the processes and mixed precision:
``make_accelerator`` builds an ``accelerate.Accelerator`` over the same processes.
"""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

# our --precision (resolved) -> accelerate's mixed_precision
MIXED_PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}


class Shard:
    """This process's place among ``num_processes`` (a single process when not launched)."""

    def __init__(self, cpu: bool = False) -> None:
        self._state = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import PartialState

            self._state = PartialState(cpu=cpu)
            # Gloo's worker threads abort the process ("terminate called without an active
            # exception") when the group is still alive during interpreter shutdown.
            atexit.register(self.close)

    @property
    def num_processes(self) -> int:
        return self._state.num_processes if self._state else 1

    @property
    def index(self) -> int:
        return self._state.process_index if self._state else 0

    @property
    def local_index(self) -> int:
        """This process's index on its own machine (its GPU under ``torchrun`` / ``accelerate launch``)."""
        return self._state.local_process_index if self._state else 0

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def my_batches(self, count: int) -> list[int]:
        return list(range(self.index, count, self.num_processes))

    def gather(self, items: list[Any]) -> list[Any]:
        """Every process's ``items`` concatenated (on every process)."""
        if self._state is None:
            return list(items)
        from accelerate.utils import gather_object

        return list(gather_object(items))

    def wait(self) -> None:
        if self._state is not None:
            self._state.wait_for_everyone()

    def close(self) -> None:
        """Wait for every process, then tear the group down; safe to call more than once.

        Waiting first matters: a worker that leaves while the main process is still writing
        the report takes its end of the connection with it.
        """
        import torch.distributed as dist

        if self._state is not None and dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def make_accelerator(precision: str, device: torch.device) -> Accelerator:
    """An ``accelerate.Accelerator`` over this run's processes (the ones ``Shard`` sees), with
    ``precision`` (fp32, bf16 or fp16, already resolved) as its mixed precision.

    Models stay where the caller put them (``device_placement=False``): ``device`` is the run's
    ``--device``. fp16 mixed precision needs a CUDA device; accelerate would silently run it in
    fp32 on a CPU, so that is refused. Accelerate keeps its state in process-wide singletons; a
    second trainer in the same process (tests, benchmarks) with another precision starts them anew.
    """
    import torch
    import torch.distributed as dist
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    mixed = mixed_precision(precision, device)
    device = torch.device(device)
    AcceleratorState._reset_state(reset_partial_state=not (dist.is_available() and dist.is_initialized()))
    GradientState._reset_state()
    # dynamo_backend="no": what is compiled is the caller's choice (--compile), not accelerate's
    return Accelerator(cpu=device.type == "cpu", mixed_precision=mixed, device_placement=False,
                       dynamo_backend="no")


def launch_defaults() -> dict[str, Any]:
    """What ``accelerate launch --mixed_precision bf16|fp16`` / ``--dynamo_backend inductor`` (or its
    config file) asked for, as defaults of ``--precision`` / ``--compile`` (None: nothing asked)."""
    mixed = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    backend = os.environ.get("ACCELERATE_DYNAMO_BACKEND", "no").lower()
    return {"precision": mixed if mixed in ("bf16", "fp16") else None,
            "compile": True if backend == "inductor" else None}


def mixed_precision(precision: str, device: torch.device | str) -> str:
    """accelerate's ``mixed_precision`` for our resolved ``precision`` on ``device``; UsageError where
    accelerate cannot honour it (it would run fp16 on a CPU in fp32 without a word)."""
    if precision not in MIXED_PRECISION:
        raise UsageError(f"--precision must be one of auto, {', '.join(MIXED_PRECISION)}, got '{precision}'")
    kind = device.type if not isinstance(device, str) else device.split(":")[0]
    if precision == "fp16" and kind != "cuda":
        raise UsageError(f"--precision fp16 needs a CUDA GPU (accelerate has no fp16 mixed precision on "
                         f"{kind}); use --precision bf16 or fp32")
    return MIXED_PRECISION[precision]
