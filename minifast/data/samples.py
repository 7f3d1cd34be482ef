"""A small MNIST sample shipped inside the package: `minifast demo` and quick tests need no download.

8,000 training digits and 2,000 held-out digits (from MNIST's test set), 800/200 per class,
drawn with seed 0 by `tools/make_mnist_sample.py`; 1.7 MB as compressed uint8.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .databunch import DataBunch

SAMPLE_PATH = Path(__file__).resolve().parent / "samples" / "mnist_sample.npz"
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the full training set's pixel statistics


def load_mnist_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(x_train, y_train, x_valid, y_valid)`: uint8 images [N, 28, 28] and int64 labels."""
    with np.load(SAMPLE_PATH) as f:
        return (f["x_train"], f["y_train"].astype(np.int64),
                f["x_valid"], f["y_valid"].astype(np.int64))


def _to_tensors(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    images = (torch.from_numpy(x).float().div_(255) - MNIST_MEAN) / MNIST_STD
    return TensorDataset(images.unsqueeze(1), torch.from_numpy(y))  # [N, 1, 28, 28]


def mnist_sample_data(bs: int = 64, n_train: int | None = None, seed: int = 0) -> DataBunch:
    """The sample as a DataBunch of normalised tensors [N, 1, 28, 28] with 10 classes.

    The images are already tensors in memory, so loading costs nothing per batch: no workers.
    `n_train` keeps only the first n training digits (for very quick tests).
    """
    x_trn, y_trn, x_val, y_val = load_mnist_sample()
    if n_train is not None:
        x_trn, y_trn = x_trn[:n_train], y_trn[:n_train]
    g = torch.Generator().manual_seed(seed)
    train_dl = DataLoader(_to_tensors(x_trn, y_trn), batch_size=bs, shuffle=True, generator=g)
    valid_dl = DataLoader(_to_tensors(x_val, y_val), batch_size=bs * 2)
    return DataBunch(train_dl, valid_dl, classes=[str(i) for i in range(10)])
