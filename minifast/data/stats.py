"""Per-channel mean and standard deviation of a data set's pixels, in one streaming pass.

For normalising a model trained from scratch (MNIST's 0.1307/0.3081 are such numbers). Only
running sums are kept: sum, sum of squares and count per channel, in float64 so that the
variance E[x^2] - E[x]^2 does not lose its digits. Every pixel counts once, at the image's own size.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .loaders import make_loader


class _PixelSums(Dataset):
    """Item i -> [3, 3] float64: per channel (sum, sum of squares, count) of image i in [0, 1]."""

    def __init__(self, ds: Dataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> torch.Tensor:
        px = np.asarray(self.ds.get_image(i), dtype=np.float64).reshape(-1, 3) / 255.0
        return torch.from_numpy(np.stack([px.sum(0), (px * px).sum(0), np.full(3, len(px))], 1))


def channel_stats(ds: Dataset, num_workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`(mean, std)`, each of 3 floats, over every pixel of every image of `ds` (RGB, in [0, 1]).

    `ds` needs `get_image(i) -> PIL RGB image` (FilesDataset and ArraysDataset have it).
    The standard deviation is the population one (divide by the pixel count).
    `num_workers=None` picks `default_num_workers(len(ds))`.
    """
    if len(ds) == 0:
        raise ValueError("channel_stats: the data set is empty")
    total = torch.zeros(3, 3, dtype=torch.float64)
    # make_loader: workers that ignore Ctrl-C and are started and stopped whole (loaders.py)
    dl = make_loader(_PixelSums(ds), bs=64, num_workers=num_workers, persistent=False)
    for sums in dl:  # [bs, 3, 3]: add up per batch, so memory stays one batch of numbers
        total += sums.sum(0)
    s, s2, n = total[:, 0], total[:, 1], total[:, 2]
    mean = s / n
    std = (s2 / n - mean * mean).clamp_min(0).sqrt()
    return mean.numpy(), std.numpy()
