"""The LR finder: raise the lr batch by batch, watch the loss, then put everything back.

LR range test: Smith 2015, "Cyclical Learning Rates for Training Neural Networks"; fastai 0.7's
`learn.lr_find()` / `learn.sched.plot()`. The loss falls while the lr is too small to matter,
falls fastest around a good lr, and explodes when the lr is too large; `lr_suggestions` reads
two rules of thumb off that curve. The sweep trains the real model, so the finder copies model
and optimiser state first and restores it in `after_fit`, which runs even after Ctrl-C.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from .callback import Callback, CancelFitException, CancelValidException
from .interrupt import hold_interrupts
from .schedule import sched_exp, sched_lin, whole_number


class LRFinder(Callback):
    """Raise the lr from `start_lr` to `end_lr` over `num_it` training batches (the Recorder
    records the loss), then put model and optimiser back.

    The sweep is one long "epoch" of `num_it` batches: when the data has fewer, the loader starts
    over, so a small data set still gets a full curve. It stops early when the smoothed loss is
    NaN or passes 4x its best, where "best" counts only from batch 10 on: the first few batches'
    average is noise, and after `unfreeze()` a tiny, lucky early loss would otherwise end the
    sweep after a dozen points (fastai 0.7's rule). The sweep starts at 1e-7 (fastai v2's
    default): a fine-tuned network's best lrs can be below 1e-5, and the curve must show the
    loss falling before it rises. LR range test: Smith 2015; fastai 0.7.
    `after_fit` runs in the learner's `finally`, so the restore happens after an error or Ctrl-C.
    """

    order = -20  # after Precompute / Distributed choose the loader, which the sweep then repeats
    warmup = 10  # batches before the best loss counts (see above)

    def __init__(self, start_lr: float = 1e-7, end_lr: float = 10, num_it: int = 100,
                 linear: bool = False, beta: float = 0.98):
        if not 0 < start_lr < end_lr:
            raise ValueError(f"lr_find needs 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
        if whole_number(num_it, "num_it") < 2:
            raise ValueError(f"num_it={num_it}: the sweep needs at least 2 batches")
        self.start_lr, self.end_lr, self.num_it = start_lr, end_lr, int(num_it)
        self.linear, self.beta, self.saved = linear, beta, None

    def before_fit(self):
        learn = self.learn
        # Deep copies: training changes the tensors in place, a plain state_dict() would follow.
        self.saved = copy.deepcopy((learn.model.state_dict(), learn.opt.state_dict()))
        self.step, self.avg, self.best = 0, 0.0, math.inf

    def before_train(self):
        self.learn.dl = RepeatLoader(self.learn.dl, self.num_it)

    def before_batch(self):
        if self.learn.training:
            sched = sched_lin if self.linear else sched_exp
            self.learn.set_hyper("lr", sched(self.start_lr, self.end_lr, self.step / self.num_it))

    def after_batch(self):
        if not self.learn.training:
            return
        self.step += 1
        # Debiased moving average, as Recorder.smooth_losses computes it (one sync per batch).
        self.avg = self.beta * self.avg + (1 - self.beta) * float(self.learn.loss.detach())
        smooth = self.avg / (1 - self.beta**self.step)
        if math.isnan(smooth) or smooth > 4 * self.best or self.step >= self.num_it:
            raise CancelFitException()
        if self.step >= self.warmup:
            self.best = min(self.best, smooth)

    def before_validate(self):
        raise CancelValidException()  # the sweep only needs training losses

    def after_fit(self):
        if self.saved is not None:  # None when before_fit never ran: nothing to put back
            model_state, opt_state = self.saved
            with hold_interrupts():  # a second Ctrl-C must not leave the weights half-restored
                self.learn.model.load_state_dict(model_state)
                self.learn.opt.load_state_dict(opt_state)
            self.saved = None


class RepeatLoader:
    """`n` batches of `dl`, starting `dl` over as often as needed: a sweep longer than an epoch."""

    def __init__(self, dl: Iterable, n: int):
        self.dl, self.n = dl, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator:
        done = 0
        while done < self.n:
            before = done
            for batch in self.dl:
                yield batch
                done += 1
                if done == self.n:
                    return
            if done == before:  # an empty loader: nothing to repeat
                return


class SuggestedLRs(NamedTuple):
    """What `learn.lr_find()` returns: three rules of thumb for picking an lr from the curve."""

    steepest: float   # where the loss falls fastest (fastai v2's 'steep')
    min_div10: float  # the lr of the lowest loss, divided by 10 (fastai 0.7's rule)
    valley: float     # halfway down the longest descent (fastai v2's default since 2.4)


def valley(losses: np.ndarray) -> int:
    """The index halfway down the curve's longest descent.

    Why: min/10 can fall left of the whole curve (after `unfreeze()` the loss is often lowest at
    the first point) and the steepest point can be a single noisy dip. The longest run of falling
    losses (a longest decreasing subsequence, so small bumps do not break it) is the part of the
    curve where training works; its middle is a safe lr, and it is always a point of the curve.
    """
    n = len(losses)
    run = [1] * n      # run[i]: length of the longest descent ending at point i
    start = list(range(n))  # start[i]: where that descent begins
    for i in range(n):
        for j in range(i):
            if losses[i] < losses[j] and run[j] + 1 > run[i]:
                run[i], start[i] = run[j] + 1, start[j]
    end = int(np.argmax(run))
    return start[end] + (end - start[end]) // 2


def lr_suggestions(lrs: np.ndarray, losses: np.ndarray) -> SuggestedLRs:
    """Suggested lrs from an lr_find curve: where the loss falls fastest; the minimum's lr / 10;
    the middle of the longest descent.

    'min/10' is fastai 0.7's rule of thumb (an order of magnitude before the loss turns up);
    'steepest' (most negative d loss / d log lr) and 'valley' (see `valley`) are fastai v2's.
    """
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if lrs.ndim != 1 or lrs.shape != losses.shape:
        raise ValueError(f"lr_suggestions: lrs {lrs.shape} and losses {losses.shape} must be "
                         "1-d arrays of the same length")
    keep = np.isfinite(losses)
    lrs, losses = lrs[keep], losses[keep]
    if len(lrs) < 2 or np.any(lrs <= 0) or np.any(np.diff(lrs) <= 0):
        raise ValueError("lr_suggestions needs at least 2 finite losses at strictly increasing "
                         "positive lrs (a record from lr_find); after a normal fit use "
                         "learn.sched.plot_lr() or plot_loss()")
    slopes = np.gradient(losses, np.log(lrs))
    return SuggestedLRs(float(lrs[np.argmin(slopes)]), float(lrs[np.argmin(losses)] / 10),
                        float(lrs[valley(losses)]))
