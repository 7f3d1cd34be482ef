"""CSVLogger: the Recorder's per-epoch table, appended to a CSV file one whole line at a time."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..callback import Callback
from ..distributed import is_main_process
from ..messages import MinifastWarning


class CSVLogger(Callback):
    """Append one row per epoch (`epoch,train_loss,valid_loss,<metrics>,time`) to `path`.

    Why one `write` + flush + fsync per row, in append mode: a crash (or Ctrl-C) between
    epochs loses nothing already logged, and a row is on disk before training goes on. The header
    is written only when the file is new or empty, so a resumed run continues the same file; an
    existing file with other columns is refused rather than mixed, and a partial last row left by
    a crash of the machine itself is dropped before appending. A relative `path` is taken
    from `learn.path`. Idea: Keras' CSVLogger, fastai's CSVLogger.
    """

    order = 55  # after the Recorder (50), whose row it writes; before trackers that stop the fit
    run_in_lr_find = False  # the sweep is a probe, not part of the run: no rows

    def __init__(self, path: str | Path = "history.csv"):
        self.path = Path(path)

    def before_fit(self):
        if not is_main_process():  # under DDP every rank has the same rows; rank 0 writes them
            return
        recorder = self.learn.recorder
        if recorder is None:
            raise ValueError("CSVLogger writes the Recorder's rows; this learner has no Recorder")
        self.file = self.path if self.path.is_absolute() else self.learn.path / self.path
        self.file.parent.mkdir(parents=True, exist_ok=True)
        header = ",".join(recorder.names)
        if self.file.is_file() and self.file.stat().st_size > 0:
            _drop_partial_line(self.file)
        if self.file.is_file() and self.file.stat().st_size > 0:
            first = self.file.read_text().splitlines()[0]
            if first != header:
                raise ValueError(f"{self.file} has columns '{first}' but this fit logs '{header}':"
                                 " give CSVLogger another path, or move the old file away")
        else:
            self._append(header)

    def after_epoch(self):
        if not is_main_process():
            return
        names, row = self.learn.recorder.names, self.learn.recorder.values[-1]
        self._append(",".join(_fmt(name, value) for name, value in zip(names, row)))

    def _append(self, line: str) -> None:
        # One write of the whole line: readers never see a row without its end.
        with open(self.file, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def _drop_partial_line(file: Path) -> None:
    """A file not ending in a newline was cut mid-row (power loss, full disk): drop that row."""
    text = file.read_bytes()
    if text.endswith(b"\n"):
        return
    keep = text.rfind(b"\n") + 1  # 0 when not even the header is whole
    warnings.warn(f"CSVLogger: {file} ended with a partial row {text[keep:][:40]!r}; dropped it",
                  MinifastWarning, stacklevel=2)
    with open(file, "r+b") as f:
        f.truncate(keep)


def _fmt(name: str, value: float) -> str:
    return str(int(value)) if name == "epoch" else repr(float(value))
