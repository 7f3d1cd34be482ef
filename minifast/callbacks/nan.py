"""TerminateOnNaN: stop at the first non-finite training loss (or gradient), before the step."""
from __future__ import annotations

import math
import warnings

import torch

from ..callback import Callback, CancelFitException
from ..messages import MinifastWarning


class NonFiniteWarning(MinifastWarning):
    """Training stopped because a loss or gradient was NaN or inf; the message names the epoch
    and batch, and says whether the weights are still finite."""


class TerminateOnNaN(Callback):
    """Stop the fit at the first training loss that is NaN or inf, naming the epoch and batch;
    with `check_grads=True`, also at the first non-finite gradient. Both stop before the step.

    Why: one NaN step spreads NaN through every weight, and every later epoch trains on garbage.
    A finite loss can still give a NaN gradient (sqrt(0), log(0) in an unused `torch.where`
    branch): only the gradient check stops that one before it reaches the weights. The loss check
    reads one number per batch and is on by default in every Learner. The gradient check reads
    every gradient (one fused norm per step, docs/fault_tolerance.md says what it costs), so it is
    opted into; without it, a NaN gradient is caught one batch late, by the loss it produced, and
    the message then says the weights are already NaN. The message is given as a
    `NonFiniteWarning` and kept in `self.message`. Several instances (the Learner's default and
    your own) each check on their own: the first to see a bad number stops the fit.
    Idea: Keras' TerminateOnNaN.
    """

    order = 55  # after the Recorder (50): the recorded curve ends with the bad loss
    run_in_lr_find = False  # the sweep ends on a NaN by itself, and the weights go back

    def __init__(self, check_grads: bool = False):
        self.check_grads = check_grads
        self.message: str | None = None

    def before_fit(self):
        self.message = None

    def after_loss(self):
        if self.learn.training:
            loss = self.learn.loss.item()
            if not math.isfinite(loss):
                self.stop(f"training loss is {loss}")

    def before_step(self):
        if not self.check_grads:
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
        warnings.warn(self.message, NonFiniteWarning, stacklevel=2)
        raise CancelFitException()
