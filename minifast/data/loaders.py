"""DataLoader settings that are fast on a small machine: a few workers, Ctrl-C-proof, resumable.

JPEG decoding and augmentation run on the CPU, once per image per epoch; worker processes do it
while the main process trains. Workers also run torch with one thread each: in the main process
the tiny per-image tensor ops (to float, normalise) are split over all cores, which is much
slower on a busy machine (docs/data.md has the measurements). Starting workers takes a moment,
so tiny data sets (and tests) use none. Pinned memory only helps copies to a CUDA device: used
only there.

Three faults this file prevents (docs/fault_tolerance.md):
- Ctrl-C in a terminal and "Interrupt kernel" in Jupyter send SIGINT to the whole process group.
  A DataLoader worker that receives it exits, and a persistent worker never comes back: every
  later fit and get_preds failed with "DataLoader worker exited unexpectedly". Workers here
  ignore SIGINT; the main process alone handles it.
- A worker seeds its generators (torch, random, NumPy) once, when it starts. A persistent worker
  then carries them from epoch to epoch, state a checkpoint cannot hold, so a resumed run drew
  other augmentations. A shuffled (training) loader therefore starts fresh workers each epoch,
  seeded from the loader's generator at that moment — state the checkpoint holds.
- Starting, resetting and stopping workers are not safe to cut short. A Ctrl-C that landed while
  persistent workers were being reset left their acknowledgements in the queue, and every later
  pass raised `KeyError: _ResumeIteration`; one that landed while workers were starting left
  them running for ever; one that landed in a fork hook or in the iterator's clean-up (where
  Python only prints exceptions) was lost. `SafeDataLoader` holds Ctrl-C during those three
  moments and delivers it as soon as they are whole.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ..interrupt import hold_interrupts

MIN_ITEMS_FOR_WORKERS = 256  # below this, worker start-up costs more than it saves


def cpu_count() -> int:
    """CPU cores this process may use (a container's limit, not the host's core count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_num_workers(n_items: int) -> int:
    """0 for small data sets, else one worker per core (at most 8)."""
    return 0 if n_items < MIN_ITEMS_FOR_WORKERS else min(cpu_count(), 8)


class WorkerInit:
    """A DataLoader `worker_init_fn`: ignore SIGINT in the worker, then call `then(worker_id)`.

    A class, not a closure, so that it pickles for the 'spawn' start method (macOS, Windows).
    """

    def __init__(self, then: Callable[[int], None] | None = None):
        self.then = then

    def __call__(self, worker_id: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the main process
        if self.then is not None:
            self.then(worker_id)


class SafeDataLoader(DataLoader):
    """A DataLoader whose workers are started, reset and stopped whole, even under Ctrl-C.

    With workers, iterating runs three steps that must not be cut: starting the workers (fork,
    and Python's fork hooks), resetting persistent ones for the next pass (a message to each and
    an acknowledgement back), and stopping fresh ones after the last batch. Each runs under
    `hold_interrupts()`: a Ctrl-C meanwhile is delivered as soon as the step is done. The wait
    for each batch is not held, so Ctrl-C still stops a stuck loader at once. Without workers
    this is the plain DataLoader.
    """

    def __iter__(self) -> Iterator:
        if self.num_workers == 0:
            return super().__iter__()
        return self._held_iter()

    def _held_iter(self) -> Iterator:
        batches = None
        try:
            with hold_interrupts():  # start (fork) or reset the workers
                batches = super().__iter__()
            if isinstance(self.dataset, IterableDataset):  # its end is found only by asking
                yield from batches
            else:  # not asking past the last batch: that is where fresh workers would stop
                for _ in range(len(self)):
                    yield next(batches)
        finally:
            # Fresh workers stop when their iterator goes: drop it here, held, so the stop is
            # whole. After the last batch this runs inside the caller's own next(), which raises
            # a Ctrl-C held meanwhile. (A pass abandoned part-way ends here when it is garbage-
            # collected, where Python can only print an exception: a Ctrl-C in those few
            # milliseconds is lost.) Persistent workers stay, kept by the loader.
            with hold_interrupts():
                batches = None


def make_loader(ds: Dataset, bs: int, shuffle: bool = False, num_workers: int | None = None,
                drop_last: bool = False, persistent: bool = True,
                worker_init_fn: Callable[[int], None] | None = None) -> DataLoader:
    """A DataLoader over `ds` with `bs` items per batch and sensible worker settings.

    `num_workers=None` picks `default_num_workers(len(ds))`. Workers persist between epochs
    unless `persistent=False` (a loader used once: precompute, TTA) or `shuffle=True` (training:
    fresh workers each epoch make a resumed run draw the same augmentations). Workers ignore
    SIGINT; `worker_init_fn` runs after that, in each worker. The loader is a `SafeDataLoader`.
    """
    if not isinstance(bs, int) or bs < 1:
        raise ValueError(f"bs={bs!r}: the batch size must be a positive int")
    n_workers = default_num_workers(len(ds)) if num_workers is None else num_workers
    keep = persistent and not shuffle and n_workers > 0
    # Persistent workers draw their seed once, at the loader's first pass. From torch's global
    # generator that draw would land at another point of its stream in a resumed run (its first
    # validation comes later) and shift every later shuffle: they get their own generator.
    init = WorkerInit(worker_init_fn) if n_workers > 0 else worker_init_fn
    return SafeDataLoader(ds, batch_size=bs, shuffle=shuffle, num_workers=n_workers,
                          pin_memory=torch.cuda.is_available(), drop_last=drop_last,
                          persistent_workers=keep, worker_init_fn=init,
                          generator=torch.Generator().manual_seed(0) if keep else None)
