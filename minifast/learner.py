"""The Learner: a model, its data, a loss and an optimiser, trained by one small loop with events.

Read `callback.py` first. Everything optional — progress bars, metrics, schedules, clipping,
early stopping — is a callback; this file only runs the loop, `fit -> epoch -> train (batches) +
validate (batches)`, and fires the events. Each stage is run by `_with_events`: fire `before_X`,
run the stage, catch its own Cancel exception, fire `after_X`. Ideas: fastai v2 / miniai (the
loop), fastai 0.7 (the names).
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

import torch
from torch import nn
from torch.utils.data import DataLoader

from .callback import (CANCEL_EXCEPTIONS, EVENTS, Callback, CancelBatchException,
                       CancelEpochException, CancelStepException, CancelFitException, CancelTrainException,
                       CancelValidException)
from .callbacks.nan import TerminateOnNaN
from .callbacks.progress import ProgressCallback
from .callbacks.recorder import Recorder
from .callbacks.resume import Resume
from .callbacks.train_eval import TrainEvalCallback
from .hyper import HyperValues, set_opt_hyper, spread_values
from .interrupt import InterruptGuard
from .layer_groups import freeze_groups, param_groups
from .lr_finder import LRFinder, SuggestedLRs
from .messages import MinifastWarning
from .metrics import accuracy
from .save_load import load_learner_state, save_learner
from .schedule import SGDR, OneCycle, sgdr_n_epochs
from .summary import print_summary
from .torch_utils import check_not_empty, default_activation, default_device, to_device

LossFunc = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Learner:
    """Train `model` on `data` with `loss_func`, an optimiser from `opt_func`, and callbacks.

    `data` is anything with `train_dl` and `valid_dl` (a `DataBunch`, an `ImageClassifierData`).
    `layer_groups` splits the model into parts that get their own learning rate (differential
    learning rates, fastai 0.7): a list of modules; `None` means the whole model is one group.
    """

    def __init__(self, model: nn.Module, data, loss_func: Optional[LossFunc] = None,
                 opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
                 metrics: Sequence[Callable] = (accuracy,), cbs: Iterable[Callback] = (),
                 wd: float = 0.01, layer_groups: Optional[Sequence[nn.Module]] = None,
                 path: Union[str, Path] = ".", device: Optional[Union[str, torch.device]] = None):
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device)
        self.data = data
        self.loss_func = loss_func if loss_func is not None else nn.CrossEntropyLoss()
        self.opt_func, self.metrics, self.wd = opt_func, list(metrics), wd
        self.layer_groups = list(layer_groups) if layer_groups is not None else [self.model]
        self.path = Path(path)
        self.opt: Optional[torch.optim.Optimizer] = None
        self.training, self.epoch, self.n_epoch, self.start_epoch = False, 0, 0, 0
        self.cbs: list[Callback] = []
        # Defaults: mode and position, the record, bars + table, whole steps on Ctrl-C, NaN guard
        self.add_cbs([TrainEvalCallback(), Recorder(), ProgressCallback(), InterruptGuard(),
                      TerminateOnNaN()])
        self.add_cbs(cbs)

    # ------------------------------------------------------------------ callbacks
    def add_cb(self, cb: Callback) -> "Learner":
        """Register `cb` and give it a reference to this learner (`cb.learn`)."""
        cb.learn = self
        self.cbs.append(cb)
        self.cbs.sort(key=lambda c: c.order)  # stable: equal orders keep their insertion order
        self._index_events()
        return self

    def add_cbs(self, cbs: Iterable[Callback]) -> "Learner":
        for cb in cbs:
            self.add_cb(cb)
        return self

    def remove_cb(self, cb: Callback) -> "Learner":
        self.cbs.remove(cb)
        self._index_events()
        return self

    def remove_cbs(self, cbs: Iterable[Callback]) -> "Learner":
        for cb in cbs:
            self.remove_cb(cb)
        return self

    @contextlib.contextmanager
    def added_cbs(self, cbs: Iterable[Callback]) -> Iterator["Learner"]:
        """`with learn.added_cbs([cb]): learn.fit(...)` — the callbacks exist only inside."""
        cbs = list(cbs)
        self.add_cbs(cbs)
        try:
            yield self
        finally:
            self.remove_cbs(cbs)

    def _index_events(self) -> None:
        """For each event, (callback, its bound method) in order: looked up once, not per batch."""
        self.event_cbs = {e: [(cb, getattr(cb, e)) for cb in self.cbs if hasattr(cb, e)] for e in EVENTS}

    @contextlib.contextmanager
    def removed_cbs(self, cls: type) -> Iterator["Learner"]:
        """`with learn.removed_cbs(ProgressCallback): ...` — the callbacks of class `cls` are off
        inside, and back (in their order) after."""
        cbs = [cb for cb in self.cbs if isinstance(cb, cls)]
        self.remove_cbs(cbs)
        try:
            yield self
        finally:
            self.add_cbs(cbs)

    def get_cb(self, cls: type) -> Optional[Callback]:
        """The first registered callback that is an instance of `cls`, or None."""
        return next((cb for cb in self.cbs if isinstance(cb, cls)), None)

    @property
    def recorder(self) -> Recorder:
        return self.get_cb(Recorder)

    sched = recorder  # fastai 0.7's name for the recorder: `learn.sched.plot()` after `lr_find`

    @property
    def progress(self) -> Optional[ProgressCallback]:
        return self.get_cb(ProgressCallback)

    def fire(self, event: str) -> None:
        """Fire `event`: call that method of every callback that has it, lowest `order` first.
        An error keeps its type and traceback, with a note naming the callback and event. In
        `after_fit` every callback still runs (each may have weights to put back), then the first
        error is raised. The loop calls `fire`, not `self(event)`: a method call costs less."""
        first_error = None
        for cb, method in self.event_cbs[event]:
            try:
                method()
            except CANCEL_EXCEPTIONS:
                raise
            except BaseException as e:  # BaseException: a Ctrl-C in after_fit waits its turn too
                if isinstance(e, Exception):
                    e.add_note(f"(raised in callback {cb.name}.{event})")
                if event != "after_fit":
                    raise
                first_error = first_error or e
        if first_error is not None:
            raise first_error

    def __call__(self, event: str) -> None:
        """`learn("after_batch")` (fastai v2's spelling) is `learn.fire("after_batch")`."""
        self.fire(event)

    def show_training_loop(self) -> None:
        """Print which callbacks run at each event, in order: the loop, made visible."""
        for event in EVENTS:
            names = [cb.name for cb in self.cbs if hasattr(cb, event)]
            print(f"{event:<16} {', '.join(names) if names else '-'}")

    # ------------------------------------------------------------------ optimiser & hypers
    def create_opt(self) -> torch.optim.Optimizer:
        """One parameter group per layer group, so each can get its own lr and weight decay.

        Frozen parameters stay in the optimiser: with `requires_grad=False` their `.grad` is
        None and PyTorch's optimisers skip them entirely — no update and no weight decay.
        """
        groups = param_groups(self.layer_groups, self.model)
        self.opt = self.opt_func(groups, lr=1e-3, weight_decay=self.wd)
        return self.opt

    def set_hyper(self, name: str, values: HyperValues) -> None:
        """Set hyper-parameter `name` ('lr', 'mom', 'wd', ...) for every param group.

        `values` is a float (all groups), a list/array (one per group) or `slice(lo, hi)`.
        """
        if self.opt is None:
            self.create_opt()
        set_opt_hyper(self.opt, name, spread_values(values, len(self.opt.param_groups), name))

    # ------------------------------------------------------------------ the loop
    def fit(self, lrs: HyperValues, n_cycle: int = 1, cycle_len: Optional[float] = None,
            cycle_mult: float = 1, wds: Optional[HyperValues] = None, cbs: Iterable[Callback] = (),
            cycle_save_name: Optional[str] = None, resume: Optional[str] = None) -> None:
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
                      final_div: float = 1e4, wds: Optional[HyperValues] = None,
                      cbs: Iterable[Callback] = (), resume: Optional[str] = None) -> None:
        """1cycle policy (Smith 2018): lr warms up then anneals, momentum does the opposite.
        `resume=name` continues the run saved as `name` (see docs/fault_tolerance.md)."""
        one_cycle = OneCycle(max_lr, div=div, pct_start=pct_start, moms=moms, final_div=final_div)
        resuming = [Resume(resume)] if resume else []
        self.fit_epochs(n_epochs, max_lr, wds, [*cbs, one_cycle, *resuming])

    def lr_find(self, start_lr: float = 1e-5, end_lr: float = 10, num_it: Optional[int] = None,
                linear: bool = False) -> Optional[SuggestedLRs]:
        """Sweep the lr upwards over one epoch (or `num_it` batches), recording the loss, then
        put the model and optimiser back as they were. Returns the suggested lrs (None when the
        sweep was too short to suggest anything); `learn.sched.plot()` draws the curve."""
        finder = LRFinder(start_lr, end_lr, num_it, linear)
        if self.opt is None:
            self.create_opt()
        # Keep the lrs and wds as they are: the finder sets its own lr per batch, and restores
        # the optimiser as it finds it in before_fit, hyper-parameters included.
        lrs = [g["lr"] for g in self.opt.param_groups]
        wds = [g["weight_decay"] for g in self.opt.param_groups]
        with self.removed_cbs(TerminateOnNaN):  # a NaN ends the sweep, and the weights go back
            self.fit_epochs(finder.n_epochs(self.data.train_dl), lrs, wds, [finder])
        return self.recorder.suggestions() if self.recorder is not None else None

    def fit_epochs(self, n_epoch: int, lrs: HyperValues, wds: Optional[HyperValues] = None,
                   cbs: Iterable[Callback] = (), start_epoch: int = 0) -> None:
        """The loop itself: `n_epoch` epochs, each training then validation, with events.
        `start_epoch` > 0 starts part-way (`Resume` sets it from a checkpoint in before_fit).
        `cbs` are added for this call only."""
        check_not_empty(self.data.train_dl, "train_dl")
        if self.opt is None:
            self.create_opt()
        self.opt.zero_grad(set_to_none=True)  # a fit stopped after backward (Ctrl-C) left grads
        self.set_hyper("lr", lrs)
        self.set_hyper("wd", self.wd if wds is None else wds)
        self.n_epoch, self.start_epoch = n_epoch, start_epoch
        with self.added_cbs(cbs):
            try:
                self.fire("before_fit")
                self._do_fit()
            except CancelFitException:
                pass
            finally:
                # In `finally`: even Ctrl-C or an error closes progress bars and lets callbacks
                # (lr_find, early stopping) put the model back before the exception goes on.
                self.fire("after_fit")

    def _with_events(self, stage: Callable[[], None], name: str, cancel: type) -> None:
        """Fire before_<name>, run `stage`, swallow its own Cancel exception, fire after_<name>."""
        try:
            self.fire(f"before_{name}")
            stage()
        except cancel:
            pass
        self.fire(f"after_{name}")

    def _do_fit(self) -> None:
        for self.epoch in range(self.start_epoch, self.n_epoch):
            self._with_events(self._do_epoch, "epoch", CancelEpochException)

    def _do_epoch(self) -> None:
        self.training, self.dl = True, self.data.train_dl
        self._with_events(self._all_batches, "train", CancelTrainException)
        valid_dl = getattr(self.data, "valid_dl", None)
        if valid_dl is not None and len(valid_dl) > 0:
            self.training, self.dl = False, valid_dl
            with torch.no_grad():
                self._with_events(self._all_batches, "validate", CancelValidException)

    def _all_batches(self) -> None:
        self.n_iter = len(self.dl)
        move = self.device.type != "cpu"  # on the CPU, use batches as the DataLoader made them
        for self.iter, batch in enumerate(self.dl):
            self.xb, self.yb = to_device(batch, self.device) if move else batch
            self._with_events(self._do_one_batch, "batch", CancelBatchException)

    def _do_one_batch(self) -> None:
        self.pred = self.model(self.xb)
        self.fire("after_pred")
        self.loss = self.loss_func(self.pred, self.yb)
        self.fire("after_loss")
        if not self.training:
            return
        self.fire("before_backward")
        self.loss.backward()
        self._with_events(self._step, "step", CancelStepException)
        self.opt.zero_grad(set_to_none=True)  # always, unless a CancelBatchException skipped it

    def _step(self) -> None:
        self.opt.step()

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

    # ------------------------------------------------------------------ inference
    def get_preds(self, dl: Optional[DataLoader] = None, activation: Optional[Callable] = None,
                  forward: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions and targets for `dl` (default: the validation set), on the CPU.

        `activation` defaults to softmax for a cross-entropy loss (so rows are probabilities),
        identity otherwise. `forward` replaces `self.model` (e.g. only the frozen body, to
        precompute its features). No callbacks run: this is plain inference in eval mode, the
        one inference loop that precompute, TTA and predict_image share.
        """
        forward = self.model if forward is None else forward
        dl = self.data.valid_dl if dl is None else dl
        check_not_empty(dl, "dl")
        if activation is None:
            activation = default_activation(self.loss_func)
        was_training = self.model.training
        self.model.eval()
        preds, targs = [], []
        try:
            with torch.no_grad():
                for batch in dl:
                    xb, yb = to_device(batch, self.device)
                    preds.append(activation(forward(xb)).float().cpu())
                    targs.append(yb.cpu())
        finally:
            self.model.train(was_training)
        return torch.cat(preds), torch.cat(targs)

    def predict(self, dl: Optional[DataLoader] = None) -> tuple[torch.Tensor, torch.Tensor]:
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
    def silent(self) -> Iterator["Learner"]:
        """`with learn.silent(): learn.fit(...)` — no bars, no table, no MinifastWarning messages
        (messages.py); other warnings, an EventTracer's trace and `summary()` still show."""
        with warnings.catch_warnings(), self.removed_cbs(ProgressCallback):
            warnings.simplefilter("ignore", MinifastWarning)
            yield self

    def summary(self) -> str:
        """Each layer's output shape and parameter count, from one forward pass on one training
        batch, then the layer groups and what is frozen; printed and returned (summary.py)."""
        return print_summary(self)
