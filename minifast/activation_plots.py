"""Plots of what `ActivationStats` recorded: means and stds per layer, the histogram "colorful
dimension" plot and the share of near-zero activations (fastai course 2022, lesson 16).
A separate file, as record.py is for the Recorder, so the callback's file shows only what it
does at each event."""
from __future__ import annotations

import math

import torch


def plot_stats(names: list[str], means: torch.Tensor, stds: torch.Tensor, figsize=(10, 4)):
    """Two panels, means and stds [layers, batches], one line per layer."""
    import matplotlib.pyplot as plt  # imported here: `import minifast` stays fast

    fig, axs = plt.subplots(1, 2, figsize=figsize)
    for values, ax, title in ((means, axs[0], "Means"), (stds, axs[1], "Stdevs")):
        for name, row in zip(names, values):
            ax.plot(row.numpy(), label=name)
        ax.set_title(title)
        ax.set_xlabel("recorded batch")
    axs[1].legend(fontsize="small")
    return fig


def color_dim(names: list[str], hists: torch.Tensor, figsize=(11, 5)):
    """One image per layer of `hists` [layers, bins, batches]: a healthy layer is a smooth band,
    a collapsing one a bright line at the bottom (near 0)."""
    fig, axes = _grid(len(names), figsize)
    for ax, name, hist in zip(axes, names, hists.log1p()):  # log: big counts hide the rest
        ax.imshow(hist.numpy(), origin="lower", aspect="auto")
        ax.set_title(name, fontsize="small")
        ax.axis("off")
    return fig


def dead_chart(names: list[str], dead: torch.Tensor, figsize=(11, 5)):
    """One panel per layer: `dead` [layers, batches], the lowest bin's share, on a 0-1 axis."""
    fig, axes = _grid(len(names), figsize)
    for ax, name, row in zip(axes, names, dead):
        ax.plot(row.numpy())
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize="small")
    return fig


def _grid(n: int, figsize) -> tuple:
    """A figure with at least `n` axes in a near-square grid; the axes as a flat list."""
    import matplotlib.pyplot as plt

    cols = math.ceil(math.sqrt(n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]
