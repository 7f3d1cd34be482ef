"""ProgressCallback: a tqdm bar per phase and one table line per epoch.

    epoch  train_loss  valid_loss  accuracy  time
    0      0.412       0.173       0.9481    00:07

`tqdm.auto` draws a widget in Jupyter and a text bar in a terminal. Updating a bar costs about
a microsecond per batch (tqdm itself decides when to redraw), so the loop stays fast.
Our bars run without tqdm's monitor thread and with a plain thread lock (see `_Bar`): both are
first-fit costs that tqdm's defaults put in the middle of a process's first fit.
"""
from __future__ import annotations

import os
import threading

from tqdm.auto import tqdm

from ..callback import Callback


class _Bar(tqdm):
    """tqdm (widget or text) without its monitor thread, redrawn on time alone.

    By default the first tqdm bar of a process starts a thread that wakes every 10 s to lower
    `miniters` when a bar has stopped redrawing. Starting it is a thread hand-off (three context
    switches): 0.2 ms on an idle machine, up to 12 ms measured on a busy 2-core one, paid inside
    the first fit (docs/benchmarks.md, "the cold default path"). `monitor_interval = 0` here (a
    class attribute, as tqdm reads it) skips the thread for our bars only; `miniters=1` below
    makes every update check the clock (0.1 us more), so a bar whose batches slow down still
    redraws every `mininterval` seconds, which is what the thread was there to ensure.

    `_lock` is the lock tqdm takes to write. tqdm's default, built by the first bar of a
    process, is a multiprocessing lock: it imports `multiprocessing.synchronize` and makes a
    POSIX semaphore (about 1 ms, in the first fit), and it fixes the process's multiprocessing
    start method, so a later `multiprocessing.set_start_method("spawn")` raises "context has
    already been set". Our bars are drawn by the one process that trains, so a thread lock is
    all they need (tests/test_progress_cold.py checks both).
    """

    monitor_interval = 0
    _lock = threading.RLock()


class ProgressCallback(Callback):
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
        self.bar = _Bar(total=len(learn.dl), desc=desc, leave=False, dynamic_ncols=True, miniters=1,
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
        _Bar.write("  ".join(_fmt(name, v) for name, v in zip(recorder.names, recorder.values[-1])))

    def after_fit(self):
        self._close_bar()

    def _close_bar(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _fmt(name: str, value: float) -> str:
    if name == "epoch":
        return f"{int(value):<10d}"
    if name == "time":
        minutes, seconds = divmod(int(round(value)), 60)
        return f"{minutes:02d}:{seconds:02d}     "
    return f"{value:<10.6f}"
