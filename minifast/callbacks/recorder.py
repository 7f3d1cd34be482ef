"""Recorder: what happened during a fit — per-batch losses and hyper-parameters, per-epoch metrics.

It is also `learn.sched` (fastai 0.7's name): after `lr_find`, `learn.sched.plot()` draws the
loss against the learning rate. To stay cheap it keeps per-batch losses as tensors and only
turns them into numbers (a device sync) once per epoch.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np
import torch

from ..callback import Callback
from ..hyper import get_hyper
from ..metrics import metric_name
from ..lr_finder import SuggestedLRs, lr_suggestions


class Recorder(Callback):
    """Record losses, lrs and momentums per batch and `epoch train_loss valid_loss <metrics> time`
    per epoch (in `self.values`, with column names in `self.names`)."""

    order = 50  # after callbacks that change the loss or the hyper-parameters

    def before_fit(self):
        self.names = ["epoch", "train_loss", "valid_loss",
                      *[metric_name(m) for m in self.learn.metrics], "time"]
        self.losses: list[torch.Tensor] = []  # one detached scalar per training batch
        self.lrs: list[list[float]] = []       # per batch, one value per param group
        self.moms: list[list[float]] = []
        self.values: list[list[float]] = []    # one row per epoch, columns `self.names`

    def before_epoch(self):
        self.start_time = time.perf_counter()
        self.train_sum, self.train_count = 0.0, 0
        self.valid_sum, self.valid_count = 0.0, 0
        self.metric_sums = [0.0] * len(self.learn.metrics)
        # Per batch we only append: each tensor op (loss * bs, sum + ...) costs microseconds on
        # every batch, more than the rest of the loop's bookkeeping (benchmarks/overhead.py).
        # after_train / after_validate turn these lists into the sums above, once per phase.
        self.epoch_start = len(self.losses)  # this epoch's training losses are losses[epoch_start:]
        self.train_sizes, self.valid_losses, self.valid_sizes = [], [], []
        self.metric_values: list[list[torch.Tensor]] = [[] for _ in self.learn.metrics]

    def after_loss(self):
        # after_loss, not after_batch: it fires exactly once per batch that has a loss, with the
        # lrs that this batch's step uses (schedulers set them in before_batch).
        learn = self.learn
        loss, bs = learn.loss.detach(), _batch_size(learn.yb)
        if learn.training:
            self.losses.append(loss)
            self.train_sizes.append(bs)
            self.lrs.append(get_hyper(learn.opt, "lr"))
            self.moms.append(get_hyper(learn.opt, "mom"))
        else:
            self.valid_losses.append(loss)
            self.valid_sizes.append(bs)
            for values, metric in zip(self.metric_values, learn.metrics):
                values.append(self._metric(metric))

    def after_train(self):
        self.train_sum, self.train_count = _weighted_sum(self.losses[self.epoch_start:], self.train_sizes)

    def after_validate(self):
        self.valid_sum, self.valid_count = _weighted_sum(self.valid_losses, self.valid_sizes)
        self.metric_sums = [_weighted_sum(v, self.valid_sizes)[0] for v in self.metric_values]

    def combine_epoch_sums(self, combine: Callable[[list], list]) -> None:
        """Replace this epoch's sums (losses, counts, metrics) by `combine(sums)` before
        `after_epoch` turns them into a row: the Distributed callback sums them over processes."""
        sums = [self.train_sum, self.train_count, self.valid_sum, self.valid_count, *self.metric_sums]
        total = combine(sums)
        self.train_sum, self.train_count, self.valid_sum, self.valid_count = total[:4]
        self.metric_sums = list(total[4:])

    def _metric(self, metric) -> torch.Tensor:
        try:
            return torch.as_tensor(metric(self.learn.pred, self.learn.yb)).detach().float()
        except Exception as e:
            e.add_note(f"metric {metric_name(metric)!r} failed on validation batch "
                       f"{self.learn.iter}: pred shape {tuple(self.learn.pred.shape)}, "
                       f"target shape {tuple(self.learn.yb.shape)}. A metric takes (pred, targ) "
                       f"and returns a scalar.")
            raise

    def after_epoch(self):
        if not self.train_count:  # a CancelEpochException skipped after_train / after_validate
            self.after_train()
        if not self.valid_count:
            self.after_validate()
        # The one sync point per epoch: tensors -> Python floats.
        def mean(total, count):
            return float(total / count) if count else float("nan")
        row = [self.learn.epoch, mean(self.train_sum, self.train_count),
               mean(self.valid_sum, self.valid_count),
               *[mean(s, self.valid_count) for s in self.metric_sums],
               time.perf_counter() - self.start_time]
        self.values.append(row)

    def after_fit(self):
        if not hasattr(self, "losses"):  # a callback before us refused the fit in before_fit
            return
        # The loss tensors hold no graph, but keep them small and on the CPU for plotting.
        self.losses = [l.cpu() for l in self.losses] if self.losses and self.losses[0].is_cuda else self.losses

    # ------------------------------------------------------------------ reading the record
    @property
    def log(self) -> dict[str, float]:
        """The last epoch's row as a dict, e.g. `learn.recorder.log['accuracy']`."""
        return dict(zip(self.names, self.values[-1])) if self.values else {}

    def metric(self, name: str) -> list[float]:
        """One column of the per-epoch table, e.g. `metric('valid_loss')`."""
        if name not in self.names:
            raise KeyError(f"no column {name!r}; columns are {self.names}")
        col = self.names.index(name)
        return [row[col] for row in self.values]

    def loss_values(self) -> np.ndarray:
        """Per-batch training losses as a numpy array."""
        return torch.stack(self.losses).float().cpu().numpy() if self.losses else np.zeros(0)

    def smooth_losses(self, beta: float = 0.98) -> np.ndarray:
        """Exponential moving average of the losses, debiased (as Adam debiases its moments)."""
        out, avg = [], 0.0
        for i, loss in enumerate(self.loss_values().astype(np.float64), start=1):  # as LRFinder
            avg = beta * avg + (1 - beta) * loss
            out.append(avg / (1 - beta**i))
        return np.array(out)

    # ------------------------------------------------------------------ plots
    def plot_loss(self, skip_start: int = 0, with_valid: bool = True, ax=None):
        """Training loss per batch (and validation loss at each epoch's end)."""
        ax = _axes(ax)
        losses = self.loss_values()
        ax.plot(np.arange(skip_start, len(losses)), losses[skip_start:], label="train")
        if with_valid and self.values and len(losses):
            per_epoch = len(losses) / len(self.values)
            xs = [per_epoch * (i + 1) for i in range(len(self.values))]
            ax.plot(xs, self.metric("valid_loss"), "o-", label="valid")
        ax.set_xlabel("batch")
        ax.set_ylabel("loss")
        ax.legend()
        return ax

    def plot_lr(self, show_moms: bool = False, ax=None):
        """Learning rate of every param group per batch (and momentum, on the right)."""
        ax = _axes(ax)
        lrs = np.array(self.lrs)
        for g in range(lrs.shape[1] if lrs.ndim == 2 else 0):
            ax.plot(lrs[:, g], label=f"group {g}")
        ax.set_xlabel("batch")
        ax.set_ylabel("learning rate")
        if lrs.ndim == 2 and lrs.shape[1] > 1:
            ax.legend()
        if show_moms and self.moms:
            ax2 = ax.twinx()
            ax2.plot(np.array(self.moms)[:, -1], "r--", label="momentum")
            ax2.set_ylabel("momentum")
        return ax

    def lr_curve(self, skip_start: int = 10, skip_end: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """After `lr_find`: (lrs of the last group, smoothed losses), without the first
        `skip_start` and last `skip_end` points (all points when that would leave none)."""
        lrs, losses = np.array(self.lrs)[:, -1], self.smooth_losses()
        end = len(lrs) - skip_end if len(lrs) - skip_end > skip_start else len(lrs)
        start = skip_start if end == len(lrs) - skip_end else 0
        return lrs[start:end], losses[start:end]

    def suggestions(self, skip_start: int = 10, skip_end: int = 5) -> Optional[SuggestedLRs]:
        """The suggested lrs of the curve `plot` draws; None with fewer than 3 points."""
        lrs, losses = self.lr_curve(skip_start, skip_end)
        return lr_suggestions(lrs, losses) if len(lrs) > 2 else None

    def plot(self, skip_start: int = 10, skip_end: int = 5, suggestion: bool = True, ax=None):
        """After `lr_find`: smoothed loss against lr (log axis), with the suggested lrs marked."""
        ax = _axes(ax)
        lrs, losses = self.lr_curve(skip_start, skip_end)
        ax.plot(lrs, losses)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("loss (smoothed)")
        found = self.suggestions(skip_start, skip_end) if suggestion else None
        if found is not None:
            for label, lr, color in zip(("steepest", "min/10"), found, ("red", "green")):
                ax.axvline(lr, color=color, linestyle="--", label=f"{label}: {lr:.2e}")
            ax.legend()
        return ax


def _batch_size(yb) -> int:
    if isinstance(yb, (list, tuple)):
        yb = yb[0]
    return yb.shape[0] if isinstance(yb, torch.Tensor) else len(yb)  # .shape: 3x faster than len


def _weighted_sum(values: list[torch.Tensor], sizes: list[int]) -> tuple[object, int]:
    """`(sum(values[i] * sizes[i]), sum(sizes))`: one stacked op per phase, summed in float64."""
    if not values:
        return 0.0, 0
    weights = torch.tensor(sizes, dtype=torch.float64, device=values[0].device)
    total = (torch.stack(values).double().reshape(len(values)) * weights).sum().float()
    return total, sum(sizes)


def _axes(ax: Optional[object]):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # imported here: `import minifast` stays fast

    return plt.subplots(figsize=(6, 4))[1]
