"""Train/validation splits by index, reproducible from a seed (fastai 0.7 `get_cv_idxs`)."""
from __future__ import annotations

import numpy as np


def get_cv_idxs(n: int, cv_idx: int = 0, val_pct: float = 0.2, seed: int = 42) -> np.ndarray:
    """The indices of validation fold `cv_idx`: a seeded permutation of range(n), sliced.

    Same numbers as fastai 0.7 (which seeded numpy's global generator; a private `RandomState`
    gives the identical permutation without touching anybody else's random state). Folds
    `cv_idx = 0, 1, ...` are disjoint, so they can be used for k-fold cross-validation.
    """
    if n < 1:
        raise ValueError(f"get_cv_idxs: n={n}, need at least one item")
    if not 0 < val_pct < 1:
        raise ValueError(f"get_cv_idxs: val_pct={val_pct}, need 0 < val_pct < 1")
    n_val = int(val_pct * n)
    start = cv_idx * n_val
    if cv_idx < 0 or start + n_val > n:
        raise ValueError(f"get_cv_idxs: cv_idx={cv_idx} is past the last fold "
                         f"({n // max(n_val, 1)} folds of {n_val} items in {n})")
    return np.random.RandomState(seed).permutation(n)[start:start + n_val]


def split_by_idxs(n: int, val_idxs) -> tuple[np.ndarray, np.ndarray]:
    """`(train_idxs, valid_idxs)`: the validation indices given, the training ones the rest."""
    val_idxs = np.asarray(val_idxs, dtype=np.int64).reshape(-1)
    if len(val_idxs) and (val_idxs.min() < 0 or val_idxs.max() >= n):
        raise ValueError(f"val_idxs must be in [0, {n}); got values from {val_idxs.min()} to "
                         f"{val_idxs.max()}")
    if len(np.unique(val_idxs)) != len(val_idxs):
        raise ValueError("val_idxs contains repeated indices")
    is_val = np.zeros(n, dtype=bool)
    is_val[val_idxs] = True
    return np.flatnonzero(~is_val), np.sort(val_idxs)


def split_by_pct(n: int, valid_pct: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """`(train_idxs, valid_idxs)` with a random `valid_pct` of range(n) held out."""
    return split_by_idxs(n, get_cv_idxs(n, val_pct=valid_pct, seed=seed))
