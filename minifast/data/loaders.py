"""DataLoader settings that are fast on a small machine: a few workers, kept alive between epochs.

JPEG decoding and augmentation run on the CPU, once per image per epoch; worker processes do it
while the main process trains. Workers also run torch with one thread each: in the main process
the tiny per-image tensor ops (to float, normalise) are split over all cores, and on a busy
2-core machine that made one Pokémon epoch (934 images, sz=128) take 74-102 s with no workers
against 11-18 s with two (docs/data.md). Starting workers costs about a second, so tiny data
sets (and tests) use none. Pinned memory only helps copies to a CUDA device: used only there.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
from torch.utils.data import DataLoader, Dataset

MIN_ITEMS_FOR_WORKERS = 256  # below this, worker start-up costs more than it saves


def cpu_count() -> int:
    """CPU cores this process may use (a container's limit, not the host's core count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_num_workers(n_items: int) -> int:
    """0 for small data sets, else one worker per core (at most 8)."""
    return 0 if n_items < MIN_ITEMS_FOR_WORKERS else min(cpu_count(), 8)


def make_loader(ds: Dataset, bs: int, shuffle: bool = False, num_workers: Optional[int] = None,
                drop_last: bool = False, persistent: bool = True) -> DataLoader:
    """A DataLoader over `ds` with `bs` items per batch and sensible worker settings.

    `num_workers=None` picks `default_num_workers(len(ds))`. `persistent=False` for a loader
    used once (precompute, TTA): its workers then exit at the end of the pass.
    """
    if not isinstance(bs, int) or bs < 1:
        raise ValueError(f"bs={bs!r}: the batch size must be a positive int")
    n_workers = default_num_workers(len(ds)) if num_workers is None else num_workers
    return DataLoader(ds, batch_size=bs, shuffle=shuffle, num_workers=n_workers,
                      pin_memory=torch.cuda.is_available(), persistent_workers=persistent and n_workers > 0,
                      drop_last=drop_last)
