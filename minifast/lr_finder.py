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
from typing import NamedTuple, Optional

import numpy as np

from .callback import Callback, CancelFitException, CancelValidException
from .distributed import unwrap_model, world_size
from .interrupt import hold_interrupts
from .schedule import sched_exp, sched_lin, whole_number


class LRFinder(Callback):
    """Raise the lr from `start_lr` to `end_lr` batch by batch (the Recorder records the loss);
    stop when the smoothed loss passes 4x its best or is NaN; put model and optimiser back.

    LR range test: Smith 2015; fastai 0.7. `after_fit` runs in the learner's `finally`, so the
    restore happens after an error or Ctrl-C too.
    """

    order = -20  # first in after_fit: restore the weights before another callback can fail

    def __init__(self, start_lr: float = 1e-5, end_lr: float = 10, num_it: Optional[int] = None,
                 linear: bool = False, beta: float = 0.98):
        if not 0 < start_lr < end_lr:
            raise ValueError(f"lr_find needs 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
        if num_it is not None and whole_number(num_it, "num_it") < 2:
            raise ValueError(f"num_it={num_it}: the sweep needs at least 2 batches")
        self.start_lr, self.end_lr, self.num_it = start_lr, end_lr, num_it
        self.linear, self.beta, self.saved = linear, beta, None

    def n_epochs(self, train_dl) -> int:
        """Epochs the sweep needs: one, or enough for `num_it` batches. Under DDP each rank sees
        1/world_size of the batches (the Distributed callback shards the loader)."""
        per_epoch = max(len(train_dl) // world_size(), 1)
        return 1 if self.num_it is None else -(-self.num_it // per_epoch)

    def before_fit(self):
        learn = self.learn
        self.n_steps = self.num_it if self.num_it is not None else len(learn.data.train_dl)
        # Deep copies: training changes the tensors in place, a plain state_dict() would follow.
        # unwrap_model: the same keys whether or not DDP wraps the model (callbacks/distributed.py)
        self.saved = copy.deepcopy((unwrap_model(learn.model).state_dict(), learn.opt.state_dict()))
        self.step, self.avg, self.best, self.smoothed = 0, 0.0, math.inf, []

    def before_train(self):
        if self.num_it is None:  # one epoch of the loader in use: under DDP, this rank's shard
            self.n_steps = len(self.learn.dl)

    def before_batch(self):
        if self.learn.training:
            sched = sched_lin if self.linear else sched_exp
            self.learn.set_hyper("lr", sched(self.start_lr, self.end_lr, self.step / self.n_steps))

    def after_batch(self):
        if not self.learn.training:
            return
        self.step += 1
        # Debiased moving average, as Recorder.smooth_losses computes it (one sync per batch).
        self.avg = self.beta * self.avg + (1 - self.beta) * float(self.learn.loss.detach())
        smooth = self.avg / (1 - self.beta**self.step)
        self.smoothed.append(smooth)
        if math.isnan(smooth) or smooth > 4 * self.best or self.step >= self.n_steps:
            raise CancelFitException()
        self.best = min(self.best, smooth)

    def before_validate(self):
        raise CancelValidException()  # the sweep only needs training losses

    def after_fit(self):
        if self.saved is not None:  # None when before_fit never ran: nothing to put back
            model_state, opt_state = self.saved
            with hold_interrupts():  # a second Ctrl-C must not leave the weights half-restored
                unwrap_model(self.learn.model).load_state_dict(model_state)
                self.learn.opt.load_state_dict(opt_state)
            self.saved = None


class SuggestedLRs(NamedTuple):
    """What `learn.lr_find()` returns: two rules of thumb for picking an lr from the curve."""

    steepest: float   # where the loss falls fastest (fastai v2's 'steep')
    min_div10: float  # the lr of the lowest loss, divided by 10 (fastai 0.7's rule)


def lr_suggestions(lrs: np.ndarray, losses: np.ndarray) -> SuggestedLRs:
    """Suggested lrs from an lr_find curve: where the loss falls fastest; the minimum's lr / 10.

    'min/10' is fastai 0.7's rule of thumb (an order of magnitude before the loss turns up);
    'steepest' (most negative d loss / d log lr) is fastai v2's.
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
    return SuggestedLRs(float(lrs[np.argmin(slopes)]), float(lrs[np.argmin(losses)] / 10))
