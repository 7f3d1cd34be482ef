"""The Learner: the loop (loop.py) with the default callbacks and the course's ways to train.

Read `callback.py`, `loop.py` and a few callbacks first (`callbacks/recorder.py`,
`callbacks/progress.py`, `callbacks/nan.py`): this file sits above them. A `Learner` is a `Loop`
that starts with five callbacks — train/eval mode and position, the record, progress bars, whole
optimiser steps on Ctrl-C, the NaN guard — and adds what the fastai course calls: `fit` with
SGDR, `fit_one_cycle`, `lr_find`, freezing, resume, save/load. Ideas: fastai 0.7 (the names),
fastai v2 (the defaults).
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from .callback import Callback
from .callbacks.nan import TerminateOnNaN
from .callbacks.progress import ProgressBar
from .callbacks.recorder import Recorder
from .callbacks.resume import Resume
from .callbacks.train_eval import TrainEval
from .hyper import HyperValues
from .interrupt import InterruptGuard
from .layer_groups import freeze_groups
from .loop import Loop, LossFunc
from .lr_finder import LRFinder, SuggestedLRs
from .messages import MinifastWarning
from .metrics import accuracy
from .save_load import load_learner_state, save_learner
from .schedule import SGDR, OneCycle, sgdr_n_epochs
from .summary import print_summary


class Learner(Loop):
    """Train `model` on `data` with `loss_func`, an optimiser from `opt_func`, and callbacks.

    `data` is anything with `train_dl` and `valid_dl` (a `DataBunch`, an `ImageClassifierData`).
    `metrics` are computed on the validation set each epoch. `layer_groups` splits the model into
    parts that get their own learning rate (differential learning rates, fastai 0.7): a list of
    modules; `None` means the whole model is one group. Checkpoints go to `<path>/models/`.
    """

    def __init__(self, model: nn.Module, data, loss_func: LossFunc | None = None,
                 opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
                 metrics: Sequence[Callable] = (accuracy,), cbs: Iterable[Callback] = (),
                 wd: float = 0.01, layer_groups: Sequence[nn.Module] | None = None,
                 path: str | Path = ".", device: str | torch.device | None = None):
        defaults = [TrainEval(), Recorder(), ProgressBar(), InterruptGuard(),
                    TerminateOnNaN()]
        super().__init__(model, data, loss_func=loss_func, opt_func=opt_func,
                         cbs=[*defaults, *cbs], wd=wd, layer_groups=layer_groups, device=device)
        self.metrics, self.path = list(metrics), Path(path)

    @property
    def recorder(self) -> Recorder | None:
        return self.get_cb(Recorder)

    sched = recorder  # fastai 0.7's name for the recorder: `learn.sched.plot()` after `lr_find`

    @property
    def progress(self) -> ProgressBar | None:
        return self.get_cb(ProgressBar)

    # ------------------------------------------------------------------ the course's fits
    def fit(self, lrs: HyperValues, n_cycle: int = 1, cycle_len: float | None = None,
            cycle_mult: float = 1, wds: HyperValues | None = None, cbs: Iterable[Callback] = (),
            cycle_save_name: str | None = None, resume: str | None = None) -> None:
        """Train: `n_cycle` epochs at constant `lrs`, or SGDR cycles when `cycle_len` is given.

        fastai 0.7 semantics: cycle i lasts `cycle_len * cycle_mult**i` epochs, each a half cosine
        from `lrs` to 0 (SGDR: Loshchilov & Hutter 2017). `cbs` are used for this fit only.
        `resume=name` continues the run saved as `name` (see docs/fault_tolerance.md).
        """
        cbs = list(cbs)
        if cycle_len is None:
            n_epoch = n_cycle
        else:
            n_epoch = sgdr_n_epochs(n_cycle, cycle_len, cycle_mult)
            cbs.append(SGDR(lrs, n_cycle, cycle_len, cycle_mult, cycle_save_name))
        self.fit_epochs(n_epoch, lrs, wds, cbs + ([Resume(resume)] if resume else []))

    def fit_one_cycle(self, n_epochs: int, max_lr: HyperValues, div: float = 25.0,
                      pct_start: float = 0.3, moms: tuple[float, float] = (0.95, 0.85),
                      final_div: float = 1e4, wds: HyperValues | None = None,
                      cbs: Iterable[Callback] = (), resume: str | None = None) -> None:
        """1cycle policy (Smith 2018): lr warms up then anneals, momentum does the opposite.
        `resume=name` continues the run saved as `name` (see docs/fault_tolerance.md)."""
        one_cycle = OneCycle(max_lr, div=div, pct_start=pct_start, moms=moms, final_div=final_div)
        resuming = [Resume(resume)] if resume else []
        self.fit_epochs(n_epochs, max_lr, wds, [*cbs, one_cycle, *resuming])

    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10, num_it: int = 100,
                linear: bool = False) -> SuggestedLRs | None:
        """Sweep the lr upwards over `num_it` training batches (repeating the data if it is
        shorter), recording the loss, then put the model and optimiser back. Returns the
        suggested lrs; `learn.sched.plot()` draws the curve.

        The sweep is a probe, not part of the run: callbacks with `run_in_lr_find = False`
        (loggers, checkpoints, early stopping, the NaN guard) are off while it runs, and the
        learner's epoch counters are as before afterwards.
        """
        finder = LRFinder(start_lr, end_lr, num_it, linear)
        if self.opt is None:
            self.create_opt()
        # The finder sets its own lr per batch and restores the optimiser, hypers included.
        lrs = [g["lr"] for g in self.opt.param_groups]
        wds = [g["weight_decay"] for g in self.opt.param_groups]
        counters = self.epoch, self.n_epoch, self.start_epoch
        probe_off = [cb for cb in self.cbs if not cb.run_in_lr_find]
        self.remove_cbs(probe_off)
        try:
            self.fit_epochs(1, lrs, wds, [finder])
        finally:
            self.add_cbs(probe_off)
            self.epoch, self.n_epoch, self.start_epoch = counters
        return self.recorder.suggestions() if self.recorder is not None else None

    # ------------------------------------------------------------------ freezing
    def freeze_to(self, n: int) -> None:
        """Freeze layer groups [0, n), train the rest (fastai 0.7: freeze_to(-1) trains the head)."""
        freeze_groups(self.layer_groups, n)

    def freeze(self) -> None:
        """Train only the last layer group (the head)."""
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        """Train every layer group."""
        self.freeze_to(0)

    # ------------------------------------------------------------------ data, inference
    def predict(self, dl: DataLoader | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.get_preds(dl)  # fastai 0.7's name

    def set_data(self, data) -> None:
        """Train on new data with the same model and optimiser (progressive resizing, fastai 0.7)."""
        self.data = data

    # ------------------------------------------------------------------ save / load
    def save(self, name: str, with_opt: bool = True, **extra) -> Path:
        """Write model (and optimiser) state to `<path>/models/<name>.pth`, atomically
        (checkpoint.py says what a checkpoint holds and how it is kept safe)."""
        return save_learner(self, name, with_opt, extra)

    def load(self, name: str, with_opt: bool = True) -> dict:
        """Load what `save(name)` wrote; refuses (and changes nothing) on any mismatch."""
        return load_learner_state(self, name, with_opt)

    # ------------------------------------------------------------------ misc
    @contextlib.contextmanager
    def silent(self) -> Iterator[Learner]:
        """`with learn.silent(): learn.fit(...)` — no bars, no table, no MinifastWarning messages
        (messages.py); other warnings, an EventTracer's trace and `summary()` still show."""
        with warnings.catch_warnings(), self.removed_cbs(ProgressBar):
            warnings.simplefilter("ignore", MinifastWarning)
            yield self

    def summary(self) -> str:
        """Each layer's output shape and parameter count, from one forward pass on one training
        batch, then the layer groups and what is frozen; printed and returned (summary.py)."""
        return print_summary(self)
