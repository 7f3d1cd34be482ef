"""ProgressBar: a tqdm bar per phase and one table line per epoch.

    epoch  train_loss  valid_loss  accuracy  time
    0      0.412       0.173       0.9481    00:07

`tqdm.auto` draws a widget in Jupyter and a text bar in a terminal.
"""
from __future__ import annotations

import os
import threading
import warnings

with warnings.catch_warnings():
    # In a Jupyter kernel without ipywidgets, tqdm.auto warns ("IProgress not found", with a
    # site-packages path) and draws text bars, which is all minifast needs there.
    warnings.filterwarnings("ignore", message="IProgress not found")
    from tqdm.auto import tqdm

from ..callback import Callback


class _Bar(tqdm):
    """A tqdm bar that writes under a thread lock. tqdm's default lock is a multiprocessing one,
    and building it fixes the process's multiprocessing start method, so a later
    `multiprocessing.set_start_method("spawn")` would fail with "context has already been set".
    The bars are drawn by the one process that trains: a thread lock is all they need."""

    _lock = threading.RLock()


class ProgressBar(Callback):
    """Show progress bars during training/validation and print the Recorder's row each epoch."""

    order = 60  # after the Recorder, whose row it prints

    def __init__(self, show_table: bool = True):
        self.show_table = show_table
        self.bar = None

    def before_fit(self):
        self.header_done = False

    def before_train(self):
        self._open_bar("train")

    def before_validate(self):
        self._open_bar("valid")

    def _open_bar(self, phase: str):
        self._close_bar()
        learn = self.learn
        desc = f"epoch {learn.epoch + 1}/{learn.n_epoch} {phase}"
        # TQDM_DISABLE=1 hides the bars (the table still prints); tqdm's notebook widget
        # ignores that variable by itself, so it is passed on here.
        self.bar = _Bar(total=len(learn.dl), desc=desc, leave=False, dynamic_ncols=True,
                        disable=os.environ.get("TQDM_DISABLE", "") not in ("", "0"))

    def after_batch(self):
        if self.bar is not None:
            self.bar.update(1)

    def after_train(self):
        self._close_bar()

    def after_validate(self):
        self._close_bar()

    def after_epoch(self):
        recorder = self.learn.recorder
        if not self.show_table or recorder is None or not recorder.values:
            return
        if not self.header_done:
            _Bar.write("  ".join(f"{name:<10}" for name in recorder.names))
            self.header_done = True
        _Bar.write("  ".join(_table_cell(name, v) for name, v in zip(recorder.names, recorder.values[-1])))

    def after_fit(self):
        self._close_bar()

    def _close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _table_cell(name: str, value: float) -> str:
    if name == "epoch":
        return f"{int(value):<10d}"
    if name == "time":
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes:02d}:{seconds:02d}     "
    return f"{value:<10.6f}"


ProgressCallback = ProgressBar  # fastai v2's name for it
