"""Ranks of a run launched with ``torchrun`` / ``accelerate launch`` (torch.distributed, gloo).

The launcher sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; with
``WORLD_SIZE`` > 1 :func:`join` opens a gloo process group (CPU tensors only: the ranks exchange a few
small Python objects, never images), otherwise the run is one process and nothing is initialised.

Sharding is by an item's position in the full, deterministic item list (``i % world == rank``), not in
the list of pending items, so an item belongs to the same rank whatever earlier runs finished.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import EvaluationError

T = TypeVar("T")


@dataclass
class Ranks:
    """This process's place in the run: ``rank`` of ``world`` (0 of 1 when not launched distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    _owned_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's items: positions ``rank, rank + world, ...`` of ``items`` (disjoint, covering all)."""
        return [it for i, it in enumerate(items) if i % self.world == self.rank]

    def from_main(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (``value`` of other ranks is ignored)."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if self.world == 1:
            return [value]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def wait_for_all(self) -> None:
        """Block until every rank gets here (a no-op in a one-process run).

        Called once the run's work is done, so that all ranks tear the process group down together: a
        rank that destroyed its gloo group and exited while rank 0 was still scoring and writing
        reports was seen to abort (SIGABRT, "terminate called without an active exception") on a
        loaded CI machine, which makes torchrun kill rank 0 and fail a run that had finished."""
        if self.world == 1:
            return
        import torch.distributed as dist

        dist.barrier()

    def close(self) -> None:
        """Destroy the process group if :func:`join` created it."""
        if self._owned_group:
            import torch.distributed as dist

            dist.destroy_process_group()
            self._owned_group = False


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise EvaluationError(f"environment variable {name}={raw!r} is not an integer (set by torchrun / accelerate "
                              "launch; unset it for a one-process run).") from None


def join() -> Ranks:
    """This process's :class:`Ranks`, opening the gloo process group when launched with more than one rank."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise EvaluationError(f"RANK={rank} and WORLD_SIZE={world} do not describe a rank of a run (0 <= RANK < WORLD_SIZE).")
    if world == 1:
        return Ranks()
    import torch.distributed as dist

    if not dist.is_available():
        raise EvaluationError("this torch build has no torch.distributed; run one process (no torchrun) instead.")
    owned = False
    if not dist.is_initialized():
        dist.init_process_group("gloo", rank=rank, world_size=world)
        owned = True
    elif dist.get_world_size() != world or dist.get_rank() != rank:
        raise EvaluationError(f"the process group already open is rank {dist.get_rank()} of {dist.get_world_size()}, "
                              f"but RANK={rank} WORLD_SIZE={world}.")
    return Ranks(rank, world, local, owned)
