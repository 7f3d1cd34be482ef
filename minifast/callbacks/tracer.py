"""EventTracer: print every event as it fires, with a compact view of the state it touched.

A teaching aid: run one short fit with it to *see* the loop —

    before_fit       n_epoch=1 start_epoch=0
    before_epoch     epoch=0
    before_train     training=True n_iter=4
    before_batch     epoch=0 iter=0 xb=(16, 1) yb=(16, 1)
    after_pred       pred=(16, 1)
    after_loss       loss=4.3127
    ...
"""
from __future__ import annotations

from typing import Any

import torch

from ..callback import Callback


class EventTracer(Callback):
    """Print each event and the learner state it reads or writes.

    Per-batch events are shown for the first `max_batches` batches of each phase (then one
    "..." line), so notebook output stays short. Its order is the highest of the built-ins:
    it shows the state after every other callback has acted on that event.

    Printing is its whole purpose, so `learn.silent()` does not hide it: silent() turns off
    minifast's own bars, table and messages, not output you added a callback to see.
    """

    order = 100

    def __init__(self, max_batches: int = 2):
        self.max_batches = max_batches

    def _show(self, event: str, **state: Any) -> None:
        print(f"{event:<16} " + " ".join(f"{k}={_short(v)}" for k, v in state.items()))

    def _show_batch(self, event: str, **state: Any) -> None:
        it = self.learn.iter
        if it < self.max_batches:
            self._show(event, **state)
        elif it == self.max_batches and event == "after_batch":
            last = self.learn.n_iter - 1
            hidden = f"batch {it}" if it == last else f"batches {it}..{last}"
            print(f"{'...':<16} ({hidden} not shown)")

    def before_fit(self):
        self._show("before_fit", n_epoch=self.learn.n_epoch, start_epoch=self.learn.start_epoch)

    def before_epoch(self):
        self._show("before_epoch", epoch=self.learn.epoch)

    def before_train(self):
        self._show("before_train", training=self.learn.training, n_iter=len(self.learn.dl))

    def before_batch(self):
        learn = self.learn
        self._show_batch("before_batch",
                         epoch=learn.epoch, iter=learn.iter, xb=learn.xb, yb=learn.yb)

    def after_pred(self):
        self._show_batch("after_pred", pred=self.learn.pred)

    def after_loss(self):
        self._show_batch("after_loss", loss=self.learn.loss)

    def before_backward(self):
        self._show_batch("before_backward", loss_requires_grad=self.learn.loss.requires_grad)

    def before_step(self):
        self._show_batch("before_step", grad_norm=_grad_norm(self.learn.model))

    def after_step(self):
        self._show_batch("after_step", lr=[g["lr"] for g in self.learn.opt.param_groups])

    def after_batch(self):
        self._show_batch("after_batch", iter=self.learn.iter)

    def after_train(self):
        self._show("after_train", epoch=self.learn.epoch)

    def before_validate(self):
        self._show("before_validate", training=self.learn.training, n_iter=len(self.learn.dl))

    def after_validate(self):
        self._show("after_validate", epoch=self.learn.epoch)

    def after_epoch(self):
        self._show("after_epoch", **self.learn.recorder.log)

    def after_fit(self):
        self._show("after_fit", epoch=self.learn.epoch)


def _grad_norm(model: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad.detach().float().norm() for p in model.parameters() if p.grad is not None]
    return torch.stack(grads).norm() if grads else torch.tensor(float("nan"))


def _short(value: Any) -> str:
    """Tensors as their shape (or value, if a scalar), floats with 4 significant digits."""
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            return f"{value.item():.4g}"
        dtype = "" if value.dtype == torch.float32 else f"[{value.dtype}]"
        return f"{tuple(value.shape)}{dtype}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)
