"""Hyper-parameters per parameter group: spread one value over the groups, write it to the optimiser.

Differential learning rates (fastai 0.7) mean one lr per layer group: early layers, which hold
general features, move slowly; the new head moves fast. Users write that as a float, a list, a
numpy array or `slice(lo, hi)`; this file turns each into one float per group.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

HyperValues = float | Sequence[float] | np.ndarray | slice


def spread_values(values: HyperValues, n_groups: int, name: str = "lr") -> list[float]:
    """One float per group.

    - a float: the same for every group;
    - a list/array: must have exactly one value per group;
    - `slice(lo, hi)`: geometric steps from lo (first group) to hi (last group);
    - `slice(hi)`: hi for the last group, hi/10 for the others (fastai's convention).
    """
    if isinstance(values, slice):
        lo, hi = values.start, values.stop
        if hi is None:
            raise ValueError(f"{name}=slice(...) needs a stop value, e.g. slice(1e-5, 1e-3)")
        if lo is None:
            return [hi / 10] * (n_groups - 1) + [hi]
        if n_groups == 1:
            return [hi]
        return [float(v) for v in np.geomspace(lo, hi, n_groups)]
    if np.ndim(values) == 0:
        return [float(values)] * n_groups
    values = [float(v) for v in np.asarray(values).ravel()]
    if len(values) != n_groups:
        raise ValueError(f"{name} has {len(values)} values but the model has {n_groups} layer "
                         f"groups: give one value per group, a single float, or slice(lo, hi)")
    return values


def set_opt_hyper(opt: torch.optim.Optimizer, name: str, values: Sequence[float]) -> None:
    """Write `values[i]` into param group i under the name this optimiser uses.

    'mom' is SGD's `momentum` or Adam's `betas[0]`; 'wd' is `weight_decay`.
    """
    for group, value in zip(opt.param_groups, values):
        if name == "mom":
            if "betas" in group:
                group["betas"] = (value, group["betas"][1])
            elif "momentum" in group:
                group["momentum"] = value
            else:
                raise ValueError(f"{type(opt).__name__} has no momentum or betas to schedule")
        elif name == "wd":
            group["weight_decay"] = value
        else:
            group[name] = value


def get_hyper(opt: torch.optim.Optimizer, name: str) -> list[float]:
    """The current value of hyper-parameter `name` for each param group (see `set_opt_hyper`)."""
    if name == "mom":
        return [g["betas"][0] if "betas" in g else g.get("momentum", 0.0) for g in opt.param_groups]
    key = "weight_decay" if name == "wd" else name
    return [g[key] for g in opt.param_groups]
