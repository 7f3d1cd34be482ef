"""Preview a schedule before training: the per-batch lr (and momentum) a fit call will use.

The preview asks the scheduler callback itself (`hypers_at`, a pure method) for every batch, so
the picture is the fit, not a copy of it: no model, no optimiser, no training. Usage:

    plot_schedule(preview_fit(learn, 1e-2, 3, cycle_len=1, cycle_mult=2))
    plot_schedule(preview_one_cycle(learn, 5, slice(1e-4, 1e-2)))
"""
from __future__ import annotations

from functools import partial

import numpy as np

from .hyper import HyperValues, spread_values
from .schedule import SGDR, OneCycle, ParamScheduler, sched_no, sgdr_n_epochs


def schedule_values(scheduler: ParamScheduler, n_epoch: int, n_iter: int, n_groups: int = 1
                    ) -> dict[str, np.ndarray]:
    """What `scheduler` sets at each training batch: name -> array [n_epoch * n_iter, n_groups]."""
    if n_epoch < 1 or n_iter < 1 or n_groups < 1:
        raise ValueError(f"schedule_values: n_epoch={n_epoch}, n_iter={n_iter} and "
                         f"n_groups={n_groups} must all be >= 1")
    rows = [scheduler.hypers_at(step, n_iter, n_epoch, n_groups)
            for step in range(n_epoch * n_iter)]
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def preview_fit(learn, lrs: HyperValues, n_cycle: int, cycle_len: int | None = None,
                cycle_mult: int = 1) -> dict[str, np.ndarray]:
    """The lrs `learn.fit(lrs, n_cycle, cycle_len, cycle_mult)` will use, batch by batch."""
    n_iter, n_groups = len(learn.data.train_dl), len(learn.layer_groups)
    if cycle_len is None:  # plain fit: constant lrs for n_cycle epochs
        constant = np.array(spread_values(lrs, n_groups, "lrs"))
        constant_lr = ParamScheduler({"lr": partial(sched_no, constant, constant)})
        return schedule_values(constant_lr, n_cycle, n_iter, n_groups)
    sgdr = SGDR(lrs, n_cycle, cycle_len, cycle_mult)
    return schedule_values(sgdr, sgdr_n_epochs(n_cycle, cycle_len, cycle_mult), n_iter, n_groups)


def preview_one_cycle(learn, n_epochs: int, max_lr: HyperValues, div: float = 25.0,
                      pct_start: float = 0.3, moms: tuple[float, float] | None = (0.95, 0.85),
                      final_div: float = 1e4) -> dict[str, np.ndarray]:
    """The lrs and momentums `learn.fit_one_cycle(...)` with the same arguments will use."""
    one_cycle = OneCycle(max_lr, div=div, pct_start=pct_start, moms=moms, final_div=final_div)
    return schedule_values(one_cycle, n_epochs, len(learn.data.train_dl), len(learn.layer_groups))


def plot_schedule(values: dict[str, np.ndarray], ax=None):
    """Draw a preview: lr of each param group per batch; momentum (if scheduled) on the right."""
    if ax is None:
        import matplotlib.pyplot as plt  # here, so `import minifast` stays fast

        ax = plt.subplots(figsize=(6, 4))[1]
    lrs = values["lr"]
    for g in range(lrs.shape[1]):
        ax.plot(lrs[:, g], label=f"lr group {g}")
    ax.set_xlabel("batch")
    ax.set_ylabel("learning rate")
    if lrs.shape[1] > 1:
        ax.legend(loc="upper left")
    if "mom" in values:
        ax2 = ax.twinx()
        ax2.plot(values["mom"][:, -1], "r--", label="momentum")
        ax2.set_ylabel("momentum")
    return ax
