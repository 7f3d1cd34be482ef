"""GradientClipping: bound the gradient before each optimiser step.

One batch with an outlier (or a too-high lr) can produce a huge gradient and throw the weights
far away in a single step. Clipping caps the step's size: by the total norm of all gradients
(`clip_grad_norm_`, Pascanu et al. 2013, standard for RNNs and transformers) and/or by each
gradient value (`clip_grad_value_`).
"""
from __future__ import annotations

import torch

from ..callback import Callback


class GradientClipping(Callback):
    """Clip gradients in `before_step`: values to [-max_value, max_value], then the total norm
    to at most `max_norm`.

    Why before_step: the gradients are complete (backward is done) and not yet used. Under
    MixedPrecision on CUDA the gradients are unscaled first (MixedPrecision has a lower order),
    so `max_norm` is in the units of the true gradient. `last_norm` is the total norm before
    clipping (a tensor: reading it as a float waits for the GPU, so only do it when you need it).
    """

    order = 20

    def __init__(self, max_norm: float | None = None, max_value: float | None = None):
        if max_norm is None and max_value is None:
            raise ValueError("GradientClipping needs max_norm (clip the total gradient norm) "
                             "and/or max_value (clip each gradient value); both are None")
        for name, value in (("max_norm", max_norm), ("max_value", max_value)):
            if value is not None and not value > 0:
                raise ValueError(f"GradientClipping({name}={value}): must be a positive number")
        self.max_norm, self.max_value = max_norm, max_value
        self.last_norm: torch.Tensor | None = None

    def before_step(self):
        params = [p for p in self.learn.model.parameters() if p.grad is not None]
        if not params:
            return
        if self.max_value is not None:
            torch.nn.utils.clip_grad_value_(params, self.max_value)
        if self.max_norm is not None:
            self.last_norm = torch.nn.utils.clip_grad_norm_(params, self.max_norm)
