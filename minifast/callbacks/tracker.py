"""Callbacks that watch a per-epoch value: EarlyStopping, SaveModel and their base Tracker.

They read the Recorder's row for the epoch just finished (`learn.recorder.log`, a dict with
`epoch, train_loss, valid_loss, <metrics>, time`), so their `order` is above the Recorder's (50)
and the ProgressBar's (60): the epoch's table line is printed before they stop a fit.
Ideas: Keras' EarlyStopping/ModelCheckpoint, fastai's Tracker.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

from ..callback import Callback, CancelFitException
from ..interrupt import hold_interrupts
from ..messages import MinifastWarning


class Tracker(Callback):
    """Track the best value of column `monitor`; after each epoch `self.improved` says if it
    beat `self.best` by more than `min_delta`.

    `mode='auto'` minimises names containing 'loss' or 'error' and maximises the rest
    (accuracy); say 'min' or 'max' to choose. A NaN value never counts as an improvement.
    """

    order = 70
    run_in_lr_find = False  # the sweep is not part of the run: nothing to track or save

    def __init__(self, monitor: str = "valid_loss", mode: str = "auto", min_delta: float = 0.0):
        if mode not in ("auto", "min", "max"):
            hint = "" if isinstance(mode, str) else " (the 2nd argument is mode: name the others)"
            raise ValueError(f"{self.name}(mode={mode!r}): use 'min', 'max' or 'auto'{hint}")
        if not min_delta >= 0:
            raise ValueError(f"{self.name}(min_delta={min_delta}): must be >= 0")
        if mode == "auto":
            mode = "min" if ("loss" in monitor or "error" in monitor) else "max"
        self.monitor, self.mode, self.min_delta = monitor, mode, min_delta
        self.reset()

    def reset(self):
        """Forget the best value: each fit starts afresh (a resumed fit then loads its state)."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.improved = None, False

    def state_dict(self) -> dict:
        """What a resumed fit needs to go on tracking; saved in checkpoints by `learn.save`."""
        return {"best": float(self.best), "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]

    def before_fit(self):
        recorder = self.learn.recorder
        if recorder is None:
            raise ValueError(f"{self.name} reads the Recorder's per-epoch values, but this learner"
                             " has no Recorder: add one (minifast.Recorder())")
        if self.monitor not in recorder.names:
            raise ValueError(f"{self.name}(monitor={self.monitor!r}): no such column; the Recorder"
                             f" has {recorder.names} (a metric's column is its function's name)")
        self.reset()

    def after_epoch(self):
        value = self.learn.recorder.log[self.monitor]
        if self.mode == "min":
            self.improved = value < self.best - self.min_delta
        else:
            self.improved = value > self.best + self.min_delta
        if self.improved:
            self.best, self.best_epoch = value, self.learn.epoch


class EarlyStopping(Tracker):
    """Stop the fit once `monitor` has not improved for `patience` epochs in a row; with
    `restore_best`, end with the weights of the best epoch (even when it did not stop early).

    Why: past the best epoch more training only overfits. The best weights are kept in memory,
    on the CPU, and put back in `after_fit` — which also runs after Ctrl-C. The optimiser state
    is not rolled back, only the model's weights.
    """

    def __init__(self, monitor: str = "valid_loss", mode: str = "auto", patience: int = 1,
                 min_delta: float = 0.0, restore_best: bool = True):
        super().__init__(monitor, mode, min_delta)
        if not (isinstance(patience, int) and patience >= 1):
            raise ValueError(f"EarlyStopping(patience={patience!r}): must be an int >= 1 (the "
                             "number of epochs in a row without improvement before stopping)")
        self.patience, self.restore_best = patience, restore_best
        self.wait, self.best_state, self.stopped_epoch = 0, None, None

    def before_fit(self):
        self.wait, self.best_state, self.stopped_epoch = 0, None, None  # before a check can fail
        super().before_fit()

    def state_dict(self) -> dict:
        """Best value, patience used and the best epoch's weights (CPU tensors, or None)."""
        return {**super().state_dict(), "wait": self.wait, "best_state": self.best_state,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.wait, self.best_state = state["wait"], state["best_state"]
        self.stopped_epoch = state["stopped_epoch"]

    def after_epoch(self):
        super().after_epoch()
        if self.improved:
            self.wait = 0
            if self.restore_best:  # a copy, on the CPU: the live weights keep changing
                state = self.learn.model.state_dict()
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = self.learn.epoch
            warnings.warn(f"EarlyStopping: {self.monitor} did not improve for {self.wait} "
                          f"epoch(s); stopped after epoch {self.learn.epoch} "
                          f"(best {self.best:.6g} at epoch {self.best_epoch})", MinifastWarning, stacklevel=2)
            raise CancelFitException()

    def after_fit(self):
        # after_fit runs even when another callback's after_fit raised (learner.py); a second
        # Ctrl-C while the weights are copied back waits until they are whole.
        if self.restore_best and self.best_state is not None:
            with hold_interrupts():
                self.learn.model.load_state_dict(self.best_state)


class SaveModel(Tracker):
    """Save a checkpoint (model, optimiser, epoch, RNG and callback states) whenever `monitor`
    improves, as `<path>/models/<name>.pth`; or, with `every_epoch=True`, after every epoch as
    `<name>_<epoch>.pth` (epoch counted from 0) — each one a point `fit(..., resume=...)` can
    restart from. Saves are atomic: a crash mid-save leaves the previous file intact.

    The file is written once every callback is done with the epoch — at the next `before_epoch`,
    or in `after_fit` — so that it holds their state *after* the epoch (EarlyStopping, order 70,
    updates its patience after this callback's `after_epoch`).
    """

    order = 65  # below EarlyStopping (70): after_fit writes the last epoch before it restores best

    def __init__(self, monitor: str = "valid_loss", mode: str = "auto", min_delta: float = 0.0,
                 every_epoch: bool = False, name: str = "bestmodel", with_opt: bool = True):
        super().__init__(monitor, mode, min_delta)
        if not name or Path(name).name != name:
            raise ValueError(f"SaveModel(name={name!r}): give a plain file name without folders;"
                             " files go to <learn.path>/models/")
        self.every_epoch, self.fname, self.with_opt = every_epoch, name, with_opt
        self.saved: list[Path] = []
        self.pending: str | None = None  # the name to write once the epoch is over

    def after_epoch(self):
        super().after_epoch()
        if self.every_epoch:
            self.pending = f"{self.fname}_{self.learn.epoch}"
        elif self.improved:
            self.pending = self.fname

    def before_epoch(self):
        self.write_pending()

    def after_fit(self):
        self.write_pending()

    def write_pending(self):
        if self.pending is not None:
            name, self.pending = self.pending, None
            self.saved.append(self.learn.save(name, self.with_opt))


TrackerCallback = Tracker  # fastai v2's name for it
