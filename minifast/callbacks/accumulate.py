"""GradientAccumulation: train with small batches as if they were one big batch.

A batch that does not fit in memory can be split: run backward on each piece and let PyTorch add
the gradients up in `.grad`, then step once. The loop makes that easy: a CancelBatchException
raised in `before_step` skips the step *and* the `zero_grad`, so the gradients keep adding up.
Idea: fastai v2's `GradientAccumulation(n_acc)` (its name and meaning: n_acc is in samples).
"""
from __future__ import annotations

from ..callback import Callback, CancelBatchException
from ..torch_utils import batch_size


class GradientAccumulation(Callback):
    """Step the optimiser once every `n_acc` training samples instead of after every batch.

    Why it is exact: each batch's (mean) loss is multiplied by bs/n_acc before backward, so the
    summed gradients of a window of n_acc samples are the gradient of their mean loss: 4 batches
    of 16 with n_acc=64 step exactly as one batch of 64 (without BatchNorm, whose statistics are
    per batch). The Recorder already recorded the true loss in after_loss; from before_backward
    on `learn.loss` is the scaled one. The loss must be a mean over the batch (the default).
    - End of epoch: the last training batch always steps. When its window holds fewer samples
      than n_acc (or more, if the batch size does not divide n_acc) the gradients are rescaled
      by n_acc/count, so every step uses the mean gradient of the samples it saw.
    - Order 5: below MixedPrecision (10) and GradientClipping (20). On batches that do not step
      this callback cancels first, so their before_step never runs: the gradients are unscaled
      (GradScaler allows one unscale_ per step) and clipped once, whole, just before the step.
    - Schedules set the lr per *batch* (they are functions of the position in the data), so a
      step uses the lr of the batch that completes its window, and the schedule still spans the
      fit. Under DDP every backward still all-reduces (correct, but no communication saved).
    """

    order = 5

    def __init__(self, n_acc: int = 32):
        if not (isinstance(n_acc, int) and n_acc >= 1):
            raise ValueError(f"GradientAccumulation(n_acc={n_acc!r}): n_acc is a number of "
                             "samples per optimiser step, a positive integer (e.g. 64)")
        self.n_acc = n_acc

    def before_train(self):
        self.count = 0  # samples whose gradients are in .grad (the loop clears them now)

    def before_backward(self):
        bs = batch_size(self.learn.yb)
        self.count += bs
        self.learn.loss = self.learn.loss * (bs / self.n_acc)

    def before_step(self):
        learn = self.learn
        if self.count < self.n_acc and learn.iter < learn.n_iter - 1:
            raise CancelBatchException()  # keep accumulating: no step, no zero_grad
        if self.count != self.n_acc:  # a partial (or overfull) window: mean over what was seen
            for group in learn.opt.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.mul_(self.n_acc / self.count)
        self.count = 0
