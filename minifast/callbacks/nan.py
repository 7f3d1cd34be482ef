"""TerminateOnNaN: stop at the first non-finite training loss (or gradient), before the step."""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..callback import Callback, CancelFitException


class TerminateOnNaN(Callback):
    """Stop the fit at the first training loss that is NaN or inf, naming the epoch and batch;
    with `check_grads=True`, also at the first non-finite gradient. Both stop before the step.

    Why: one NaN step spreads NaN through every weight, and every later epoch trains on garbage.
    A finite loss can still give a NaN gradient (sqrt(0), log(0) in an unused `torch.where`
    branch): only the gradient check stops that one before it reaches the weights. The loss check
    reads one number per batch and is on by default in every Learner; the gradient check reads
    every gradient (one fused norm per step), so it is opted into. The number is the one the
    Recorder has just read (one `.item()` per batch for both: in the loop a torch call costs
    microseconds, docs/benchmarks.md); without a Recorder it reads the loss itself. The message is
    printed and kept in `self.message`. When a fit has several (the Learner's default and a user's
    own), only the one added last checks: yours replaces the default. Idea: Keras' TerminateOnNaN.
    """

    order = 55  # after the Recorder (50), whose number it checks: the curve ends at the bad loss
    run_in_lr_find = False  # the sweep ends on a NaN by itself, and the weights go back

    def __init__(self, check_grads: bool = False):
        self.check_grads, self.message, self.active = check_grads, None, True

    def before_fit(self):
        self.message: Optional[str] = None
        guards = [cb for cb in self.learn.cbs if isinstance(cb, TerminateOnNaN)]
        self.active = guards[-1] is self  # the default one is added first, a user's later
        self.recorder = self.learn.recorder

    def after_loss(self):
        learn = self.learn
        if self.active and learn.training:
            loss = self.recorder.losses[-1] if self.recorder is not None else learn.loss.item()
            if not math.isfinite(loss):
                self.stop(f"training loss is {loss}")

    def before_step(self):
        if not (self.active and self.check_grads):
            return
        grads = [p.grad for p in self.learn.model.parameters() if p.grad is not None]
        if grads and not bool(torch.nn.utils.get_total_norm(grads).isfinite()):  # one fused pass
            self.stop("a gradient is NaN or inf (the loss is finite)")

    def stop(self, what: str):
        learn = self.learn
        weights_ok = all(bool(p.isfinite().all()) for p in learn.model.parameters())
        state = ("so the weights are those after the previous step" if weights_ok else
                 "but the weights were already NaN or inf: an earlier step had a non-finite "
                 "gradient (TerminateOnNaN(check_grads=True) stops before such a step)")
        self.message = (f"TerminateOnNaN: {what} at epoch {learn.epoch}, batch {learn.iter}; "
                        f"stopped before this batch's step, {state}")
        print(self.message)
        raise CancelFitException()
