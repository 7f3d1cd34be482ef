"""MixedPrecision: run the forward pass and the loss in 16-bit floats where that is safe.

`torch.autocast` runs matrix multiplies and convolutions in a 16-bit type and keeps the rest
(reductions, the loss) in float32; the weights and the optimiser stay float32. On the CPU the
type is bfloat16, which has float32's range, so nothing else is needed. On CUDA it is float16,
whose small range lets small gradients underflow to 0, so the loss is multiplied by a large
factor before backward and the gradients divided by it before the step (`GradScaler`).
Idea: Micikevicius et al. 2018, "Mixed Precision Training"; PyTorch's AMP recipe.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import torch

from ..callback import Callback, CancelBatchException


class MixedPrecision(Callback):
    """Autocast the forward pass and loss: bf16 on the CPU, fp16 + GradScaler on CUDA.

    Events: the autocast context is entered in `before_batch` and left in `after_loss` (and, if
    something cancels the batch in between, in `after_batch`/`after_fit`). On CUDA,
    `before_backward` scales the loss (so `learn.loss` is the *scaled* loss from then on; the
    Recorder has already recorded the true one), `before_step` unscales the gradients — its order
    (10) is below GradientClipping's (20), so clipping sees true gradients — and when they hold
    inf/NaN the step is skipped with CancelBatchException (as `GradScaler.step` does: the
    gradients are cleared, `after_step` does not run for that batch). `after_batch` updates the
    scale. `dtype` overrides the 16-bit type: torch.bfloat16 on a recent GPU (no scaler), or
    torch.float16 on the CPU (with a scaler: slow, but it runs the CUDA recipe anywhere).
    """

    order = 10

    def __init__(self, dtype: Optional[torch.dtype] = None):
        if dtype not in (None, torch.float16, torch.bfloat16):
            raise ValueError(f"MixedPrecision(dtype={dtype}): use torch.float16 or torch.bfloat16")
        self.dtype = dtype
        self.autocast = contextlib.ExitStack()

    def before_fit(self):
        self.device_type = self.learn.device.type
        if self.device_type not in ("cpu", "cuda"):
            raise ValueError(f"MixedPrecision supports cpu and cuda, not {self.learn.device}")
        default = torch.float16 if self.device_type == "cuda" else torch.bfloat16
        self.fit_dtype = self.dtype or default
        use_scaler = self.fit_dtype == torch.float16  # bf16 has float32's range: no scaling
        self.scaler = torch.amp.GradScaler(self.device_type) if use_scaler else None
        self.unscaled = False

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
        if not bool(finite):  # one GPU sync per step, as in GradScaler.step
            opt.zero_grad(set_to_none=True)  # the loop's zero_grad is skipped with the batch
            raise CancelBatchException()  # overflow: skip this step; after_batch lowers the scale

    def after_batch(self):
        self.autocast.close()
        if self.unscaled:  # update() reads the inf checks unscale_() recorded for this batch
            self.scaler.update()
            self.unscaled = False

    def after_fit(self):
        self.autocast.close()
