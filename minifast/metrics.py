"""Metrics: plain functions `(pred, targ) -> scalar tensor`, averaged over the validation set.

To write your own, write such a function; its `__name__` is the column title:

    def top2(pred, targ): return (pred.topk(2, dim=1).indices == targ[:, None]).any(1).float().mean()
    learn = Learner(model, data, metrics=[accuracy, top2])

The Recorder weights each batch's value by the batch size, so the epoch figure is the mean over
items. That is exact for per-item averages like accuracy; metrics that do not decompose over
items (F1, AUC) need a callback that gathers all predictions instead.
"""
from __future__ import annotations

import torch


def accuracy(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose highest score is the target class."""
    return (pred.argmax(dim=-1) == targ).float().mean()


def error_rate(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """1 - accuracy."""
    return 1 - accuracy(pred, targ)


def accuracy_thresh(pred: torch.Tensor, targ: torch.Tensor, thresh: float = 0.5,
                    sigmoid: bool = True) -> torch.Tensor:
    """Multi-label accuracy: each (item, label) cell right when `sigmoid(pred) > thresh`
    matches the 0/1 target. Use `functools.partial(accuracy_thresh, thresh=0.3)` to change it."""
    if sigmoid:
        pred = pred.sigmoid()
    return ((pred > thresh) == targ.bool()).float().mean()


def metric_name(metric) -> str:
    """Column title of a metric: its `__name__`, or the wrapped function's for a partial."""
    wrapped = getattr(metric, "func", None)  # a functools.partial
    return getattr(metric, "__name__", None) or getattr(wrapped, "__name__", type(metric).__name__)
