"""The training loop: fire events around `fit -> epoch -> train (batches) + validate (batches)`.

Read `callback.py` first, then this file: it is the ground floor. It knows the events, the
callbacks in their order, the optimiser and where it is (`epoch`, `iter`, `train_iter`), and
nothing else: it imports no callback, so everything optional (progress bars, the record,
schedules, early stopping) sits *above* it, as a callback you could have written yourself.
`learner.py` builds the course's `Learner` on top.

Each stage is run by `_with_events`: fire `before_X`, run the stage, catch the stage's own Cancel
exception, fire `after_X`. Two rules a callback can rely on:
- `after_fit` always runs (it is in a `finally`), even after an error or Ctrl-C;
- the loop clears the gradients (`zero_grad`) in one place, `_do_one_batch`, after each training
  batch's step, also when the step was skipped with `CancelStepException`; only
  `CancelBatchException` skips it, so the gradients add up (gradient accumulation). Each
  training phase starts from clear gradients too, whatever a cancelled batch left.
Ideas: fastai v2 / miniai (the loop and its events), fastai 0.7 (the names).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from .callback import (
    CANCEL_EXCEPTIONS,
    EVENTS,
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
)
from .hyper import HyperValues, set_opt_hyper, spread_values
from .layer_groups import param_groups
from .torch_utils import check_not_empty, default_activation, default_device, to_device

LossFunc = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Loop:
    """Train `model` on `data` (anything with `train_dl` and `valid_dl`) with `loss_func`, an
    optimiser from `opt_func`, and callbacks that steer it. `layer_groups` splits the model
    into parts with their own lr (one optimiser param group each); `None` makes the whole model
    one group. A bare Loop has no callbacks at all: no train/eval switch, no record. `Learner`
    adds those."""

    def __init__(self, model: nn.Module, data, loss_func: LossFunc | None = None,
                 opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
                 cbs: Iterable[Callback] = (), wd: float = 0.01,
                 layer_groups: Sequence[nn.Module] | None = None,
                 device: str | torch.device | None = None):
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device)
        self.data = data
        self.loss_func = loss_func if loss_func is not None else nn.CrossEntropyLoss()
        self.opt_func, self.wd = opt_func, wd
        self.layer_groups = list(layer_groups) if layer_groups is not None else [self.model]
        self.opt: torch.optim.Optimizer | None = None
        self.training, self.epoch, self.n_epoch, self.start_epoch = False, 0, 0, 0
        self.iter, self.n_iter = 0, 0  # the batch in this phase, and the phase's number of batches
        self._set_cbs([])
        self.add_cbs(cbs)

    # ------------------------------------------------------------------ callbacks
    def add_cb(self, cb: Callback) -> Loop:
        """Register `cb` and give it a reference to this learner (`cb.learn`)."""
        cb.learn = self
        self._set_cbs(sorted([*self.cbs, cb], key=lambda c: c.order))  # stable: ties keep their order
        return self

    def add_cbs(self, cbs: Iterable[Callback]) -> Loop:
        for cb in cbs:
            self.add_cb(cb)
        return self

    def remove_cb(self, cb: Callback) -> Loop:
        if cb not in self.cbs:
            raise ValueError(f"remove_cb: {cb.name} is not one of this learner's callbacks")
        i = self.cbs.index(cb)
        self._set_cbs([*self.cbs[:i], *self.cbs[i + 1:]])
        return self

    def _set_cbs(self, cbs: list[Callback]) -> None:
        """Keep the callbacks in order (a tuple: change them only through add/remove) and, in
        `self.handlers[event]`, the `(callback, method)` pairs for each event (the table that
        `show_training_loop` prints), so an event calls just those methods."""
        self.cbs: tuple[Callback, ...] = tuple(cbs)
        self.handlers = {event: [(cb, getattr(cb, event)) for cb in self.cbs if hasattr(cb, event)]
                         for event in EVENTS}

    def remove_cbs(self, cbs: Iterable[Callback]) -> Loop:
        for cb in list(cbs):
            self.remove_cb(cb)
        return self

    @contextlib.contextmanager
    def added_cbs(self, cbs: Iterable[Callback]) -> Iterator[Loop]:
        """`with learn.added_cbs([cb]): learn.fit(...)` — the callbacks exist only inside."""
        cbs = list(cbs)
        self.add_cbs(cbs)
        try:
            yield self
        finally:
            self.remove_cbs(cbs)

    @contextlib.contextmanager
    def removed_cbs(self, cls: type) -> Iterator[Loop]:
        """`with learn.removed_cbs(ProgressBar): ...` — those callbacks are off inside only."""
        cbs = [cb for cb in self.cbs if isinstance(cb, cls)]
        self.remove_cbs(cbs)
        try:
            yield self
        finally:
            self.add_cbs(cbs)

    def get_cb(self, cls: type) -> Callback | None:
        """The first registered callback that is an instance of `cls`, or None."""
        return next((cb for cb in self.cbs if isinstance(cb, cls)), None)

    def fire(self, event: str) -> None:
        """Fire `event`: call that method of every callback that has it, lowest `order` first.
        An error keeps its type and traceback, with a note naming the callback and event. In
        `after_fit` every callback still runs (each may have weights to put back), then the first
        error is raised."""
        handlers = self.handlers.get(event)
        if handlers is None:
            raise ValueError(f"unknown event {event!r}; the events are: {', '.join(EVENTS)}")
        first_error = None
        for cb, method in handlers:
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
            names = [cb.name for cb, _ in self.handlers[event]]
            print(f"{event:<16} {', '.join(names) if names else '-'}")

    # ------------------------------------------------------------------ optimiser & hypers
    def create_opt(self) -> torch.optim.Optimizer:
        """One parameter group per layer group, so each can get its own lr and weight decay.

        Frozen parameters stay in the optimiser: with `requires_grad=False` their `.grad` is
        None and PyTorch's optimisers skip them entirely — no update and no weight decay.
        """
        self.opt = self.opt_func(param_groups(self.layer_groups, self.model), lr=1e-3,
                                 weight_decay=self.wd)
        return self.opt

    def set_hyper(self, name: str, values: HyperValues) -> None:
        """Set hyper-parameter `name` ('lr', 'mom', 'wd', ...) of every param group: the one way
        minifast changes them (the schedules and the LR finder call it each batch).

        `values` is a float (all groups), a list/array (one per group) or `slice(lo, hi)`.
        """
        if self.opt is None:
            self.create_opt()
        set_opt_hyper(self.opt, name, spread_values(values, len(self.opt.param_groups), name))

    # ------------------------------------------------------------------ the loop
    def fit_epochs(self, n_epoch: int, lrs: HyperValues, wds: HyperValues | None = None,
                   cbs: Iterable[Callback] = ()) -> None:
        """The loop itself: `n_epoch` epochs, each training then validation, with events.
        `cbs` are added for this call only. A callback may set `learn.start_epoch` in
        `before_fit` to start part-way (`Resume` does, from a checkpoint)."""
        check_not_empty(self.data.train_dl, "train_dl")
        if self.opt is None:
            self.create_opt()
        self.set_hyper("lr", lrs)
        self.set_hyper("wd", self.wd if wds is None else wds)
        self.n_epoch, self.start_epoch = n_epoch, 0
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
        # `self.dl` is set before `before_train` / `before_validate`, so a callback can swap it
        # (Distributed gives each process its shard, Precompute the cached activations).
        self.training, self.dl = True, self.data.train_dl
        self.opt.zero_grad(set_to_none=True)  # whatever a cancelled batch or a Ctrl-C left
        self._with_events(self._all_batches, "train", CancelTrainException)
        self.training, self.dl = False, getattr(self.data, "valid_dl", None)
        if self.dl is not None and len(self.dl) > 0:
            with torch.no_grad():
                self._with_events(self._all_batches, "validate", CancelValidException)

    def _all_batches(self) -> None:
        self.n_iter = len(self.dl)
        for self.iter, (xb, yb) in enumerate(self.dl):
            self.xb, self.yb = to_device(xb, self.device), to_device(yb, self.device)
            self._with_events(self._do_one_batch, "batch", CancelBatchException)

    @property
    def train_iter(self) -> int:
        """While training: this batch's index in the whole fit, counted from epoch 0 so that a
        resumed fit is at the right place. The schedules are functions of it."""
        return self.epoch * self.n_iter + self.iter

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
        self.opt.zero_grad(set_to_none=True)

    def _step(self) -> None:
        self.opt.step()

    # ------------------------------------------------------------------ inference
    def get_preds(self, dl: DataLoader | None = None, activation: Callable | None = None,
                  forward: Callable[[torch.Tensor], torch.Tensor] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictions and targets for `dl` (default: the validation set), on the CPU.

        `activation` defaults to softmax for a cross-entropy loss (so rows are probabilities),
        identity otherwise. `forward` replaces `self.model` (e.g. only the frozen body, to
        precompute its features). No callbacks run: this is plain inference in eval mode, the
        one inference loop that precompute, TTA and predict_image share."""
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
                for xb, yb in dl:
                    xb, yb = to_device(xb, self.device), to_device(yb, self.device)
                    preds.append(activation(forward(xb)).float().cpu())
                    targs.append(yb.cpu())
        finally:
            self.model.train(was_training)
        return torch.cat(preds), torch.cat(targs)
