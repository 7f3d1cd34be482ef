"""Shared fixtures: a tiny synthetic learner (< 1 s) and the path to the real data sets."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

matplotlib.use("Agg")  # tests draw plots to PNG files, never to a screen

from minifast import DataBunch, Learner  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """Where the real data sets are: $MINIFAST_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("MINIFAST_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture
def data_dir() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data sets not found at {path} (set MINIFAST_DATA)")
    return path


def synth_data(n_train: int = 64, n_valid: int = 32, bs: int = 16, seed: int = 0) -> DataBunch:
    """A regression problem y = 2x + 1 + noise: small enough that a fit takes milliseconds."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_valid, 1, generator=g)
    y = 2 * x + 1 + 0.1 * torch.randn(n_train + n_valid, 1, generator=g)
    train = TensorDataset(x[:n_train], y[:n_train])
    valid = TensorDataset(x[n_train:], y[n_train:])
    return DataBunch(DataLoader(train, batch_size=bs, shuffle=True, generator=g),
                     DataLoader(valid, batch_size=bs))


def synth_learner(n_train: int = 64, n_valid: int = 32, bs: int = 16, seed: int = 0,
                  **kwargs) -> Learner:
    """A Learner on the synthetic regression problem: one Linear(1, 1), MSE loss, no metrics."""
    torch.manual_seed(seed)
    kwargs.setdefault("metrics", [])
    kwargs.setdefault("opt_func", torch.optim.SGD)
    kwargs.setdefault("wd", 0.0)
    learn = Learner(nn.Linear(1, 1), synth_data(n_train, n_valid, bs, seed), loss_func=nn.MSELoss(),
                    device="cpu", **kwargs)
    return learn


@pytest.fixture
def synth():
    return synth_learner


@pytest.fixture(autouse=True)
def no_sigint_handler_left_behind(request):
    """Every test must leave Python's own Ctrl-C handler in place: a fit that leaves
    InterruptGuard's handler installed would hold a user's Ctrl-C in every later cell."""
    yield
    handler = signal.getsignal(signal.SIGINT)
    if handler is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # do not break the next tests
        pytest.fail(f"{request.node.nodeid} left SIGINT handler {handler!r} installed")
