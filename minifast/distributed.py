"""Helpers for multi-process training on PyTorch's own engine, `torch.distributed`.

Why: `torchrun --nproc_per_node=N script.py` starts N copies of one script; each copy (a *rank*)
reads its place in the job from environment variables (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT). These helpers read that place, start and stop the process group,
and give the few collective operations the rest of minifast needs. Run with plain `python`,
there is one process, rank 0 of a world of size 1, and every helper is a cheap no-op.
Source: PyTorch "Getting started with DistributedDataParallel" and the torchrun docs.
"""
from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, Sampler

from .checkpoint import save_checkpoint


def is_distributed() -> bool:
    """True inside a started process group with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank: 0 when not distributed (then it is the only process)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", 0))


def world_size() -> int:
    """How many processes train together: 1 when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    """This process's rank on its own machine: which GPU it uses (torchrun sets LOCAL_RANK)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process() -> bool:
    """True on rank 0, the one process that prints, plots and writes files."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """True when the environment describes a job of several processes (torchrun sets these)."""
    return int(os.environ.get("WORLD_SIZE", 1)) > 1 and "MASTER_ADDR" in os.environ


def setup_distributed(backend: str | None = None) -> bool:
    """Start the process group from torchrun's environment; returns True if this call started it.

    `backend=None` picks nccl when CUDA is available and gloo otherwise (gloo runs on CPUs).
    Nothing happens when the group is already started or the script runs as one process.
    The group then lives until the process exits (or `teardown_distributed()`): starting a
    second one in the same process is fragile, so minifast starts it once and keeps it.
    """
    if not launched_by_torchrun():
        return False
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; "
                           "install a PyTorch build with distributed support")
    if dist.is_initialized():
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())  # before init: each rank owns one GPU
    dist.init_process_group(backend)
    atexit.register(teardown_distributed)
    return True


def teardown_distributed() -> None:
    """Stop the process group (every rank must call it), if one is running."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank reaches this line (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def comm_device() -> torch.device:
    """Where tensors must be for collectives: the rank's GPU for nccl, the CPU for gloo."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: list[float | torch.Tensor]) -> list[torch.Tensor]:
    """Sum each value over all ranks, in one collective; scalars in, float64 scalars out.

    float64 so that sums of many float32 batch losses from several ranks lose nothing more.
    """
    packed = torch.stack([torch.as_tensor(v).detach().to(comm_device(), torch.float64).reshape(())
                          for v in values])
    if is_distributed():
        dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    return list(packed.unbind())


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s `obj` on every rank (any picklable object), e.g. a decision to stop."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=comm_device())
    return box[0]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside a DistributedDataParallel wrapper (or `model` itself).

    Checkpoints store the plain model's `state_dict`, so they load with or without DDP.
    """
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_on_main(state: dict, path: str | Path) -> Path:
    """Write `state` to `path` on rank 0 only, then wait so that every rank may read the file.

    Every rank must call it (as every rank runs the same script); ranks > 0 write nothing.
    """
    path = Path(path)
    if is_main_process():
        save_checkpoint(state, path)
    barrier()
    return path


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. computes and caches something); then the others do.

    The others then usually find the cache and only read it. Same pattern as HF Accelerate's
    `main_process_first`. Every rank must enter the block.
    """
    if not is_main_process():
        barrier()  # wait for rank 0 to finish its turn
    try:
        yield
    finally:
        if is_main_process():
            barrier()  # let the others go


# ---------------------------------------------------------------- each rank's share of the data
class ShardSampler(Sampler[int]):
    """Indices `rank, rank + world, rank + 2*world, ...` of `n` items: each item on exactly one
    rank, no padding (unlike DistributedSampler), so sums over ranks equal sums over the set."""

    def __init__(self, n: int, rank: int, world: int):
        self.n, self.rank, self.world = n, rank, world

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


def shard_dataloader(dl: DataLoader, train: bool, seed: int = 0) -> DataLoader:
    """A DataLoader like `dl` that yields only this rank's items.

    Training: `DistributedSampler` (shuffled if `dl` was), which pads so every rank runs the same
    number of batches — DDP needs that. Validation: `ShardSampler`, no padding, exact sums.
    """
    if not isinstance(dl, DataLoader) or isinstance(dl.dataset, IterableDataset):
        raise TypeError(f"Distributed can shard only a torch DataLoader over a map-style dataset; "
                        f"got {type(dl).__name__}. Build the data with torch DataLoaders.")
    if dl.batch_size is None:
        raise ValueError("Distributed cannot shard a DataLoader built with a custom batch_sampler;"
                         " give it batch_size= (and shuffle=) instead")
    n = len(dl.dataset)
    if train:
        shuffle = isinstance(dl.sampler, torch.utils.data.RandomSampler)
        sampler = DistributedSampler(dl.dataset, world_size(), rank(), shuffle=shuffle, seed=seed)
    else:
        if n < world_size():
            raise ValueError(f"the validation set has {n} items, fewer than the {world_size()} "
                             "processes: every rank needs at least one; use fewer processes")
        sampler = ShardSampler(n, rank(), world_size())
    workers = dl.num_workers
    return DataLoader(dl.dataset, batch_size=dl.batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=dl.collate_fn, pin_memory=dl.pin_memory, drop_last=dl.drop_last,
                      worker_init_fn=dl.worker_init_fn, persistent_workers=dl.persistent_workers,
                      prefetch_factor=dl.prefetch_factor if workers > 0 else None)
