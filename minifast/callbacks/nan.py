"""TerminateOnNaN: stop at the first training loss that is NaN or infinite."""
from __future__ import annotations

from typing import Optional

import torch

from ..callback import Callback, CancelFitException


class TerminateOnNaN(Callback):
    """Stop the fit at the first non-finite training loss, naming the epoch and batch.

    Why: once the loss is NaN, every later step only spreads NaN through the weights. The check
    runs in `after_loss`, before backward and the step, so the weights stay those after the last
    good step. The message is printed and kept in `self.message`. Idea: Keras' TerminateOnNaN.
    The check reads the loss, which waits for the GPU once per batch.
    """

    order = 40  # before the Recorder (50): the recorded loss curve stays finite

    def before_fit(self):
        self.message: Optional[str] = None

    def after_loss(self):
        learn = self.learn
        if not learn.training or bool(torch.isfinite(learn.loss.detach()).all()):
            return
        self.message = (f"TerminateOnNaN: training loss is {learn.loss.detach().float().item()} at "
                        f"epoch {learn.epoch}, batch {learn.iter}; stopped before this batch's "
                        "step, so the weights are those after the previous batch")
        print(self.message)
        raise CancelFitException()
