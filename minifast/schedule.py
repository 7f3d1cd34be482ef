"""Schedules: pure functions of the position in training, and the callbacks that apply them.

Read after `loop.py` and before `learner.py` (the LR finder, which sweeps the lr instead, is in
lr_finder.py). A schedule is a function `pos -> value`, pos in [0, 1]; SGDR and one-cycle compose
the four basic ones, so they are tested and plotted without a model. Values may
be arrays, one per param group: `sched_cos(lrs, 0, pos)` anneals all groups, keeping their ratios.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from .callback import Callback
from .hyper import HyperValues, spread_values

Value = float | np.ndarray
Schedule = Callable[[float], Value]
Hypers = dict[str, list[float]]  # name -> one value per param group


# ---------------------------------------------------------------------- pure schedule functions
def sched_no(start: Value, end: Value, pos: float) -> Value:
    """Constant: `start` everywhere (`end` is ignored; the signature matches the others)."""
    return start


def sched_lin(start: Value, end: Value, pos: float) -> Value:
    """Straight line from `start` (pos 0) to `end` (pos 1)."""
    return start + pos * (end - start)


def sched_cos(start: Value, end: Value, pos: float) -> Value:
    """Half a cosine from `start` to `end`: flat at both ends, steepest in the middle.
    (Written as PyTorch's `_annealing_cos`, so one-cycle matches `OneCycleLR` to the last bits.)"""
    return end + (start - end) / 2 * (math.cos(math.pi * pos) + 1)


def sched_exp(start: Value, end: Value, pos: float) -> Value:
    """Geometric from `start` to `end` (a straight line on a log axis): the LR finder's sweep."""
    return start * (end / start) ** pos


def combine_scheds(pcts: Sequence[float], scheds: Sequence[Schedule]) -> Schedule:
    """One schedule of several: `scheds[i]` runs over the next `pcts[i]` of the position, seeing
    its own position 0 -> 1. Idea: fastai v2 `combine_scheds`."""
    if len(pcts) != len(scheds) or not scheds:
        raise ValueError(f"combine_scheds: {len(pcts)} pcts for {len(scheds)} schedules")
    if abs(sum(pcts) - 1) > 1e-6:
        raise ValueError(f"combine_scheds: pcts {list(pcts)} sum to {sum(pcts):.6g}, not 1")
    starts = [0.0, *np.cumsum(pcts[:-1]).tolist()]  # where each part begins

    def combined(pos: float) -> Value:
        i = min(max(bisect.bisect_right(starts, pos) - 1, 0), len(scheds) - 1)
        return scheds[i]((pos - starts[i]) / pcts[i] if pcts[i] > 0 else 1.0)

    return combined


# ---------------------------------------------------------------------- SGDR (fastai 0.7)
def sgdr_n_epochs(n_cycle: int, cycle_len: int, cycle_mult: int = 1) -> int:
    """Epochs trained by `fit(lrs, n_cycle, cycle_len, cycle_mult)`: 7 for (3, 1, 2), as 1 + 2 + 4.

    Cycle i lasts cycle_len * mult**i epochs, so fastai 0.7's `sum_geom` gives
    cycle_len * (mult**n_cycle - 1) / (mult - 1), or cycle_len * n_cycle when mult is 1.
    """
    n_cycle = whole_number(n_cycle, "n_cycle")
    cycle_len = whole_number(cycle_len, "cycle_len")
    cycle_mult = whole_number(cycle_mult, "cycle_mult")
    return sum(cycle_len * cycle_mult**i for i in range(n_cycle))


def sgdr_factor(step: int, n_iter: int, cycle_len: int, cycle_mult: int = 1) -> float:
    """Fraction of the base lr that SGDR uses at training batch `step` (0-based, whole fit).

    fastai 0.7 `CosAnneal` (SGDR: Loshchilov & Hutter 2017): batch j of a cycle of nb batches
    gets (cos(pi j / nb) + 1) / 2, then a restart at 1 with nb *= cycle_mult; while step < nb_0/20
    (5% of the first cycle) it is 1/100, the cosine's clock running on. Integer arithmetic, so
    restarts land exactly on epoch starts.
    """
    start, length = 0, cycle_len * n_iter  # first batch and length of the current cycle
    if step < length / 20:
        return 0.01
    while step >= start + length:
        start, length = start + length, length * cycle_mult
    return sched_cos(1.0, 0.0, (step - start) / length)


# ---------------------------------------------------------------------- scheduler callbacks
class ParamScheduler(Callback):
    """Set optimiser hyper-parameters before each training batch from schedule functions.

    `scheds` maps a name ('lr', 'mom' = SGD momentum or Adam beta1, 'wd') to a function of
    pos = (training batches done) / (training batches in the fit), returning one value or one per
    param group. `hypers_at` is pure, so a preview and the fit share one code path; subclasses
    override it. Idea: fastai v2 `ParamScheduler`.
    """

    order = -5  # before user callbacks that may read the lr

    def __init__(self, scheds: dict[str, Schedule]):
        self.scheds = scheds

    def hypers_at(self, step: int, n_iter: int, n_epoch: int, n_groups: int) -> Hypers:
        """Values for training batch `step` of a fit of `n_epoch` epochs of `n_iter` batches."""
        pos = step / (n_epoch * n_iter)
        return {name: spread_values(f(pos), n_groups, name) for name, f in self.scheds.items()}

    def before_batch(self):
        learn = self.learn
        if learn.training:  # train_iter: this batch's index in the whole fit (loop.py)
            hypers = self.hypers_at(learn.train_iter, learn.n_iter, learn.n_epoch,
                                    len(learn.opt.param_groups))
            for name, values in hypers.items():
                learn.set_hyper(name, values)


class SGDR(ParamScheduler):
    """fastai 0.7's `fit(lrs, n_cycle, cycle_len, cycle_mult)`: cosine annealing, warm restarts.

    Each group's lr is its base lr times `sgdr_factor`, so ratios between groups are kept.
    `cycle_save_name` saves the model at the end of cycle i as `<name>_cyc_<i>` (snapshot
    ensembles, Huang et al. 2017).
    """

    def __init__(self, lrs: HyperValues, n_cycle: int, cycle_len: int, cycle_mult: int = 1,
                 cycle_save_name: str | None = None):
        sgdr_n_epochs(n_cycle, cycle_len, cycle_mult)  # checks the three counts
        # Epochs done when each cycle ends: 1, 3, 7 for fit(lr, 3, cycle_len=1, cycle_mult=2).
        self.cycle_ends = [sgdr_n_epochs(i, cycle_len, cycle_mult)
                           for i in range(1, int(n_cycle) + 1)]
        self.lrs, self.cycle_len, self.cycle_mult = lrs, int(cycle_len), int(cycle_mult)
        self.cycle_save_name = cycle_save_name

    def hypers_at(self, step: int, n_iter: int, n_epoch: int, n_groups: int) -> Hypers:
        factor = sgdr_factor(step, n_iter, self.cycle_len, self.cycle_mult)
        return {"lr": [lr * factor for lr in spread_values(self.lrs, n_groups, "lrs")]}

    def after_epoch(self):
        done = self.learn.epoch + 1
        if self.cycle_save_name and done in self.cycle_ends:
            self.learn.save(f"{self.cycle_save_name}_cyc_{self.cycle_ends.index(done)}")


class OneCycle(ParamScheduler):
    """The 1cycle policy: lr from max_lr/div up to max_lr, then down to max_lr/(div*final_div);
    momentum from moms[0] down to moms[1] and back. Smith 2018, "A disciplined approach...".

    Positions follow PyTorch's OneCycleLR: the peak is at batch pct_start*n - 1 and the last of
    the n batches gets the final value, so the two agree batch for batch.
    """

    def __init__(self, max_lr: HyperValues, div: float = 25.0, pct_start: float = 0.3,
                 moms: tuple[float, float] | None = (0.95, 0.85), final_div: float = 1e4):
        if not 0 <= pct_start <= 1 or div <= 0 or final_div <= 0:
            raise ValueError(f"OneCycle needs 0 <= pct_start <= 1, div > 0 and final_div > 0; got "
                             f"pct_start={pct_start}, div={div}, final_div={final_div}")
        self.max_lr, self.div, self.pct_start = max_lr, div, pct_start
        self.moms, self.final_div = moms, final_div

    def hypers_at(self, step: int, n_iter: int, n_epoch: int, n_groups: int) -> Hypers:
        last = max(n_epoch * n_iter - 1, 1)  # index of the last batch
        pos, peak = step / last, (self.pct_start * n_epoch * n_iter - 1) / last
        top = np.array(spread_values(self.max_lr, n_groups, "max_lr"))
        start, final = top / self.div, top / self.div / self.final_div
        lr = combine_scheds([peak, 1 - peak], [partial(sched_cos, start, top),
                                               partial(sched_cos, top, final)])
        hypers = {"lr": spread_values(lr(pos), n_groups, "lr")}
        if self.moms is not None:
            hi, lo = self.moms
            mom = combine_scheds([peak, 1 - peak], [partial(sched_cos, hi, lo),
                                                    partial(sched_cos, lo, hi)])
            hypers["mom"] = spread_values(mom(pos), n_groups, "mom")
        return hypers


def whole_number(value, name: str) -> int:
    """`value` as an int >= 1, or a clear error (cycle counts and lengths are whole numbers)."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
            and float(value).is_integer() and value >= 1:
        return int(value)
    raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
