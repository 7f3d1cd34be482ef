"""Recorder: what happened during a fit — per-batch losses and hyper-parameters, per-epoch metrics.

It is also `learn.sched` (fastai 0.7's name): after `lr_find`, `learn.sched.plot()` draws the
loss against the learning rate. Training losses are read as numbers each batch (`loss.item()`:
the default NaN check, which runs next, checks this same number, so the loop reads the loss once
per batch; and a float is cheaper to keep than a tensor); validation losses and metrics stay
tensors and are turned into numbers once per phase. This file is what it does at each event;
reading the record back and plotting it (`log`, `metric`, `plot`...) is in record.py.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import torch

from ..callback import Callback
from ..hyper import get_hyper
from ..metrics import metric_name
from ..record import TrainingRecord
from ..torch_utils import batch_size


class Recorder(TrainingRecord, Callback):
    """Record losses, lrs and momentums per batch and `epoch train_loss valid_loss <metrics> time`
    per epoch (in `self.values`, with column names in `self.names`). The methods that read and
    plot the record come from `TrainingRecord` (record.py)."""

    order = 50  # after callbacks that change the loss or the hyper-parameters

    def before_fit(self):
        self.names = ["epoch", "train_loss", "valid_loss",
                      *[metric_name(m) for m in self.learn.metrics], "time"]
        self.losses: list[float] = []          # one per training batch
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
        bs = batch_size(learn.yb)
        if learn.training:
            self.losses.append(learn.loss.item())
            self.train_sizes.append(bs)
            self.lrs.append(get_hyper(learn.opt, "lr"))
            self.moms.append(get_hyper(learn.opt, "mom"))
        else:
            self.valid_losses.append(learn.loss.detach())
            self.valid_sizes.append(bs)
            for values, metric in zip(self.metric_values, learn.metrics):
                values.append(_metric_value(metric, learn))

    def after_train(self):
        losses = self.losses[self.epoch_start:]
        self.train_sum = sum(loss * n for loss, n in zip(losses, self.train_sizes))
        self.train_count = sum(self.train_sizes)

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

    def after_epoch(self):
        if not self.train_count:  # a CancelEpochException skipped after_train / after_validate
            self.after_train()
        if not self.valid_count:
            self.after_validate()
        def mean(total, count):
            return float(total / count) if count else float("nan")
        row = [self.learn.epoch, mean(self.train_sum, self.train_count),
               mean(self.valid_sum, self.valid_count),
               *[mean(s, self.valid_count) for s in self.metric_sums],
               time.perf_counter() - self.start_time]
        self.values.append(row)


def _metric_value(metric, learn) -> torch.Tensor:
    """`metric(pred, yb)` of this validation batch as a float tensor; an error says which metric."""
    try:
        return torch.as_tensor(metric(learn.pred, learn.yb)).detach().float()
    except Exception as e:
        e.add_note(f"metric {metric_name(metric)!r} failed on validation batch {learn.iter}: "
                   f"pred shape {tuple(learn.pred.shape)}, target shape {tuple(learn.yb.shape)}."
                   " A metric takes (pred, targ) and returns a scalar.")
        raise


def _weighted_sum(values: list[torch.Tensor], sizes: list[int]) -> tuple[float, int]:
    """`(sum(values[i] * sizes[i]), sum(sizes))`: one copy to the host per phase, then Python floats.

    Why on the host: Python floats are double precision, so a long validation set's sum loses
    nothing, and the device never needs float64, which Apple's MPS does not have. The copy
    is the one sync per phase that turning the sums into numbers needs anyway.
    """
    if not values:
        return 0.0, 0
    per_batch = torch.stack(values).reshape(len(values)).float().tolist()
    return sum(value * n for value, n in zip(per_batch, sizes)), sum(sizes)
