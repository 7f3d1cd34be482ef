"""TensorBoardLogger: write losses, lrs, metrics, weight/gradient histograms and the model graph
as TensorBoard event files, to watch a run live with `tensorboard --logdir runs`.

`tensorboard` is an optional extra (`pip install -e ".[tensorboard]"`): minifast itself never
needs it, so it is imported when the callback is made, not when minifast is.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..callback import Callback
from ..distributed import is_main_process
from ..messages import MinifastWarning


class TensorBoardLogger(Callback):
    """Log to TensorBoard: per training batch `train/loss` and `lr/group<i>`; per epoch
    `epoch/<column>` (the Recorder's table: train_loss, valid_loss, metrics, time); every
    `hist_every` optimiser steps a histogram of each parameter (`weights/<name>`) and of its
    gradient (`grads/<name>`); and, once, the model graph (`log_graph`).

    Why these events: the loss is read from the Recorder, which recorded the true loss before
    anything (MixedPrecision, GradientAccumulation) scaled it; histograms are taken in
    `after_step`, the one moment when the gradients are complete and unscaled. Steps count
    training batches and go on across fits, so fine-tuning after a head-only fit continues the
    curves. Only rank 0 writes (DDP). `add_scalar` reads the loss as a float: one GPU sync per batch.
    """

    order = 60  # after the Recorder (50): this batch's loss and this epoch's row are recorded
    run_in_lr_find = False  # the sweep is a probe, not part of the run: no points

    def __init__(self, log_dir: str | Path = "runs", hist_every: int = 100,
                 log_graph: bool = True):
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional dependency
        except ImportError as e:
            raise ImportError(f'TensorBoardLogger needs the tensorboard package ({e}): '
                              'pip install -e ".[tensorboard]" (or pip install tensorboard)') from e
        if hist_every < 0:
            raise ValueError(f"TensorBoardLogger(hist_every={hist_every}): use a number of "
                             "optimiser steps between histograms, or 0 for none")
        self.make_writer = SummaryWriter
        self.log_dir, self.hist_every, self.log_graph = Path(log_dir), hist_every, log_graph
        self.batch, self.n_steps, self.n_epochs, self.graph_done = 0, 0, 0, False
        self.writer = None

    def before_fit(self):
        self.writer = self.make_writer(str(self.log_dir)) if is_main_process() else None

    def after_step(self):
        if self.writer is None:
            return
        if self.hist_every and self.n_steps % self.hist_every == 0:
            for name, p in self.learn.model.named_parameters():
                self.writer.add_histogram(f"weights/{name}", p.detach().float().cpu(), self.batch)
                if p.grad is not None:
                    self.writer.add_histogram(f"grads/{name}", p.grad.float().cpu(), self.batch)
        self.n_steps += 1

    def after_batch(self):
        learn = self.learn
        if self.writer is None or not learn.training or not learn.recorder.losses:
            return
        self.writer.add_scalar("train/loss", float(learn.recorder.losses[-1]), self.batch)
        for i, group in enumerate(learn.opt.param_groups):
            self.writer.add_scalar(f"lr/group{i}", group["lr"], self.batch)
        if self.log_graph and not self.graph_done:
            add_graph(self.writer, learn.model, learn.xb)
            self.graph_done = True
        self.batch += 1

    def after_epoch(self):
        if self.writer is None:
            return
        for name, value in self.learn.recorder.log.items():
            if name != "epoch":
                self.writer.add_scalar(f"epoch/{name}", value, self.n_epochs)
        self.n_epochs += 1

    def after_fit(self):
        if self.writer is not None:
            self.writer.close()  # flushes: the files are complete when fit returns
            self.writer = None


def add_graph(writer, model: torch.nn.Module, xb) -> None:
    """Trace `model` on the batch `xb` into the event file. Tracing fails on some models
    (data-dependent control flow, outputs that are not tensors): then warn and train on."""
    was_training = model.training
    model.eval()  # a trace runs forward: in eval mode it moves no BatchNorm statistics
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's own warnings are noise here
            writer.add_graph(model, xb)
    except Exception as e:
        warnings.warn(f"TensorBoardLogger: could not trace {type(model).__name__} for the "
                      f"graph ({type(e).__name__}: {e}); pass log_graph=False to skip it",
                      MinifastWarning, stacklevel=2)
    finally:
        model.train(was_training)


TensorBoardCallback = TensorBoardLogger  # fastai v2's name for it
