"""What a fit recorded, read back and plotted: the Recorder's read side.

During a fit the Recorder (callbacks/recorder.py) fills `names` and `values` (one row per
epoch), `losses` (one float per training batch), `lrs` and `moms` (one list per batch, a value
per param group). `TrainingRecord` reads them: the last row, a column, the loss curve raw and
smoothed, the LR finder's curve and its suggestions, and the three plots. It is a separate class
so that the callback's file shows only what happens at each event.
"""
from __future__ import annotations

import numpy as np

from .lr_finder import SuggestedLRs, lr_suggestions


class TrainingRecord:
    """Read and plot what a Recorder recorded (`learn.recorder`, also `learn.sched`)."""

    names: list[str]
    values: list[list[float]]
    losses: list[float]
    lrs: list[list[float]]
    moms: list[list[float]]

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
        return np.array(self.losses, dtype=np.float64)

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

    def suggestions(self, skip_start: int = 10, skip_end: int = 5) -> SuggestedLRs | None:
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
            for label, lr, color in zip(("steepest", "min/10", "valley"), found, ("red", "green", "orange")):
                ax.axvline(lr, color=color, linestyle="--", label=f"{label}: {lr:.2e}")
            ax.legend()
        return ax


def _axes(ax: object | None):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # imported here: `import minifast` stays fast

    return plt.subplots(figsize=(6, 4))[1]
