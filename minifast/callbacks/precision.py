"""MixedPrecision: run the forward pass and the loss in 16-bit floats where that is safe.

`torch.autocast` runs matrix multiplies and convolutions in a 16-bit type and keeps the rest
(reductions, the loss) in float32; the weights and the optimiser stay float32. On the CPU the
type is bfloat16, which has float32's range, so nothing else is needed. On CUDA and Apple's MPS
it is float16, whose small range lets small gradients underflow to 0, so the loss is multiplied
by a large factor before backward and the gradients divided by it before the step (`GradScaler`).
Idea: Micikevicius et al. 2018, "Mixed Precision Training"; PyTorch's AMP recipe.
"""
from __future__ import annotations

import contextlib
import warnings

import torch

from ..callback import Callback, CancelFitException, CancelStepException
from .nan import NonFiniteWarning

# The 16-bit type each device uses when none is given: float16 where the hardware is fast at it
# (CUDA, Apple GPUs), bfloat16 on the CPU (float16 matrix multiplies there are slow).
DEFAULT_DTYPES = {"cpu": torch.bfloat16, "cuda": torch.float16, "mps": torch.float16}


def precision_plan(device_type: str, dtype: torch.dtype | None = None) -> tuple[torch.dtype, bool]:
    """`(dtype, use_scaler)` for mixed precision on `device_type` ('cpu', 'cuda', 'mps'), or a
    clear error. float16 needs a GradScaler (its range is small); bfloat16 does not."""
    if device_type not in DEFAULT_DTYPES:
        raise ValueError(f"MixedPrecision supports the devices {sorted(DEFAULT_DTYPES)}, not "
                         f"{device_type!r}: train in float32 there (leave MixedPrecision out)")
    if not torch.amp.is_autocast_available(device_type):
        raise ValueError(f"MixedPrecision on {device_type!r}: this torch ({torch.__version__}) has "
                         "no autocast for that device; update torch or leave MixedPrecision out")
    chosen = dtype or DEFAULT_DTYPES[device_type]
    return chosen, chosen == torch.float16


class MixedPrecision(Callback):
    """Autocast the forward pass and loss: bf16 on the CPU, fp16 + GradScaler on CUDA and MPS.

    Events: the autocast context is entered in `before_batch` and left in `after_loss` (and, if
    something cancels the batch in between, in `after_batch`/`after_fit`). With a scaler,
    `before_backward` scales the loss (so `learn.loss` is the *scaled* loss from then on; the
    Recorder has already recorded the true one), `before_step` unscales the gradients — its order
    (10) is below GradientClipping's (20), so clipping sees true gradients — and `after_batch`
    updates the scale. `dtype` overrides the 16-bit type: torch.bfloat16 on a recent GPU (no
    scaler), or torch.float16 on the CPU (with a scaler: slow, but it runs the CUDA recipe anywhere).

    Non-finite gradients: while the scale is above 1 they are taken for an overflow that the
    scale caused, as `GradScaler.step` does: the step is skipped (`CancelStepException`; the loop
    still clears the gradients) and the scale halves. At a scale of 1 or below the scaled loss
    is no larger than the true loss, so the scale cannot be the cause: the gradient itself is NaN
    or inf (or beyond float16's range). Then the fit stops, before the step, with a
    `NonFiniteWarning` naming the epoch and batch — instead of skipping every step in silence.
    From the default first scale (2**16) that takes 17 batches of a gradient that is always NaN;
    without MixedPrecision, `TerminateOnNaN(check_grads=True)` stops at the first one.
    """

    order = 10

    def __init__(self, dtype: torch.dtype | None = None):
        if dtype not in (None, torch.float16, torch.bfloat16):
            raise ValueError(f"MixedPrecision(dtype={dtype}): use torch.float16 or torch.bfloat16")
        self.dtype = dtype
        self.autocast = contextlib.ExitStack()
        self.message: str | None = None

    def before_fit(self):
        self.device_type = self.learn.device.type
        self.fit_dtype, use_scaler = precision_plan(self.device_type, self.dtype)
        self.scaler = torch.amp.GradScaler(self.device_type) if use_scaler else None
        self.unscaled, self.message = False, None

    def before_batch(self):
        self.autocast.close()  # in case the previous batch never reached after_loss
        self.autocast.enter_context(torch.autocast(self.device_type, dtype=self.fit_dtype))

    def after_loss(self):
        self.autocast.close()  # backward and the step run outside autocast, as PyTorch advises

    def before_backward(self):
        if self.scaler is not None:
            self.learn.loss = self.scaler.scale(self.learn.loss)

    def before_step(self):
        if self.scaler is None:
            return
        opt = self.learn.opt
        self.scaler.unscale_(opt)
        self.unscaled = True
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        finite = torch.stack([torch.isfinite(g).all() for g in grads]).all() if grads else True
        if bool(finite):  # one GPU sync per step, as in GradScaler.step
            return
        scale = self.scaler.get_scale()
        if scale > 1:
            raise CancelStepException()  # overflow: skip this step; after_batch lowers the scale
        self.stop(scale)

    def stop(self, scale: float):
        learn = self.learn
        self.message = (f"MixedPrecision: a gradient is NaN or inf at loss scale {scale:g} (so the "
                        f"scale is not the cause) at epoch {learn.epoch}, batch {learn.iter}; "
                        "stopped before this batch's step. Find the NaN without MixedPrecision, "
                        "with TerminateOnNaN(check_grads=True)")
        warnings.warn(self.message, NonFiniteWarning, stacklevel=2)
        raise CancelFitException()

    def after_batch(self):
        self.autocast.close()
        if self.unscaled:  # update() reads the inf checks unscale_() recorded for this batch
            self.scaler.update()
            self.unscaled = False

    def after_fit(self):
        self.autocast.close()
        self.unscaled = False
