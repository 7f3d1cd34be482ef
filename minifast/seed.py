"""Seeding and random-generator state: one call for a reproducible run, save/restore for resume.

A training run draws random numbers from four places: Python's `random`, NumPy's global
generator, torch's CPU generator (weight init, dropout, DataLoader shuffling and worker seeds,
augmentations) and each CUDA device's generator. A DataLoader may also carry its own
`torch.Generator` (`DataLoader(..., generator=g)`). `set_seed` seeds the global ones;
`get_rng_states` / `set_rng_states` capture and restore all of them, so that a run resumed
from a checkpoint draws exactly the numbers the uninterrupted run would have drawn.

Everything `get_rng_states` returns is tensors, ints, floats and plain containers, so it can be
saved in a checkpoint that is read back with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's `random`, NumPy and torch (CPU and every CUDA device) with `seed`.

    Why: same seed -> same weight init, same shuffles, same augmentations -> on the CPU an
    identical loss curve, bit for bit (see docs/fault_tolerance.md). `deterministic=True` also
    asks cuDNN and torch for deterministic kernels, which GPUs need for the same guarantee.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"set_seed(seed): seed must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"set_seed({seed}): seed must be in [0, 2**32) (NumPy's limit)")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def dataloader_generators(dl: Any) -> list[torch.Generator]:
    """The distinct `torch.Generator`s a DataLoader draws from (its own and its sampler's).

    `DataLoader(shuffle=True, generator=g)` hands `g` to its RandomSampler: the shuffle then
    comes from `g`, not from torch's global generator, so `g` must be saved too.
    """
    found: list[torch.Generator] = []
    sampler = getattr(dl, "sampler", None)
    batch_sampler = getattr(dl, "batch_sampler", None)
    for owner in (dl, sampler, getattr(batch_sampler, "sampler", None)):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def get_rng_states(dls: dict[str, Any] | None = None) -> dict[str, Any]:
    """Snapshot every random generator: Python, NumPy, torch CPU, CUDA, and the DataLoaders'.

    `dls` maps a name ("train_dl") to a DataLoader whose own generators are saved as well.
    """
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": (version, list(mt_state), gauss),
        # NumPy arrays are not allowed by weights_only loading: keep the key as a tensor.
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "dataloaders": {},
    }
    for name, dl in (dls or {}).items():
        states["dataloaders"][name] = [g.get_state() for g in dataloader_generators(dl)]
    return states


def set_rng_states(states: dict[str, Any], dls: dict[str, Any] | None = None) -> None:
    """Put back what `get_rng_states` captured; `dls` must name the same DataLoaders.

    Checks everything first, then restores: a mismatch raises and changes no generator.
    """
    saved_dls = states.get("dataloaders", {})
    pairs = []
    for name, dl in (dls or {}).items():
        gens, saved = dataloader_generators(dl), saved_dls.get(name, [])
        if len(gens) != len(saved):
            raise ValueError(f"the checkpoint saved {len(saved)} random generator(s) for {name} "
                             f"but this {name} has {len(gens)}: build the DataLoader as in the "
                             "saved run (same shuffle and generator= arguments) to resume exactly")
        pairs += list(zip(gens, saved))
    version, mt_state, gauss = states["python"]
    random.setstate((version, tuple(mt_state), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"][: torch.cuda.device_count()])
    for gen, state in pairs:
        gen.set_state(state)

