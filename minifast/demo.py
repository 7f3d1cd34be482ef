"""`minifast demo`: train a small CNN on the bundled MNIST sample, print accuracy, save plots.

The whole library in one minute: a Learner, the default callbacks (progress bar, table,
recorder), the one-cycle schedule and the recorder's plots.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from .data.samples import mnist_sample_data
from .learner import Learner


def conv_block(n_in: int, n_out: int) -> nn.Sequential:
    """3x3 conv with stride 2 (halves the image), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(n_out), nn.ReLU())


def simple_cnn() -> nn.Sequential:
    """28x28 -> 14 -> 7 -> 4 -> 2, then average pooling and a linear layer for 10 digits."""
    return nn.Sequential(conv_block(1, 16), conv_block(16, 32), conv_block(32, 64),
                         conv_block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, 10))


def run_demo(out: str = "minifast_demo", epochs: int = 3, bs: int = 64, seed: int = 0) -> int:
    """Train, print the final accuracy, write `loss.png` and `lr.png` into `out`."""
    import matplotlib

    matplotlib.use("Agg")  # files only: the demo may run on a machine with no screen
    import matplotlib.pyplot as plt

    torch.manual_seed(seed)
    data = mnist_sample_data(bs=bs, seed=seed)
    n_trn, n_val = len(data.train_dl.dataset), len(data.valid_dl.dataset)
    print(f"minifast demo: a small CNN on the bundled MNIST sample ({n_trn:,} train / "
          f"{n_val:,} held-out digits)")
    learn = Learner(simple_cnn(), data, path=out)
    start = time.perf_counter()
    learn.fit_one_cycle(epochs, 1e-2)
    accuracy = learn.recorder.log["accuracy"]
    print(f"held-out accuracy: {accuracy:.2%} after {epochs} epochs "
          f"in {time.perf_counter() - start:.1f} s on {learn.device}")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, plot in (("loss.png", learn.recorder.plot_loss), ("lr.png", learn.recorder.plot_lr)):
        ax = plot()
        ax.figure.savefig(out_dir / name, dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
    print(f"plots written to {out_dir / 'loss.png'} and {out_dir / 'lr.png'}")
    return 0
