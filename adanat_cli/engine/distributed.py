"""Sharding work across processes (``accelerate launch`` / ``torchrun``), one process by default.

Work is cut into batches whose boundaries depend only on the batch size, and process p takes
batches p, p+P, p+2P, …; each batch is computed exactly as it would be in a single process, so the
gathered results are bit-identical whatever the number of processes.
"""

from __future__ import annotations

import atexit
import os
from typing import Any


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
