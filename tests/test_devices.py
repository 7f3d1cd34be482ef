"""Devices of a student's laptop: CUDA, then Apple's MPS, then the CPU; and no float64 anywhere
in the loop (MPS has none). The float64-free path is checked here on the CPU, where every torch
call is watched by a TorchFunctionMode."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, TensorDataset

from minifast import DataBunch, Learner, accuracy
from minifast.torch_utils import default_device


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu"),
])
def test_default_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert default_device() == torch.device(expected)


class Float64Watch(TorchFunctionMode):
    """Records every torch function (factory, op or Tensor method) whose result holds float64."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(t.dtype == torch.float64 for t in _tensors(out)):
            self.seen.append(getattr(func, "__name__", repr(func)))
        return out


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def test_the_watch_sees_float64():
    """The watch itself can fail: a `.double()` and a float64 factory are both seen."""
    with Float64Watch() as watch:
        torch.ones(2).double()
        torch.tensor([1, 2], dtype=torch.float64)
        torch.ones(2).float()
    assert watch.seen == ["double", "tensor"]


def classifier_learner(tmp_path) -> Learner:
    """Three classes from two features; accuracy as metric: every part of the Recorder runs."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 2, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    train = DataLoader(TensorDataset(x[:64], y[:64]), batch_size=16, shuffle=True, generator=g)
    valid = DataLoader(TensorDataset(x[64:], y[64:]), batch_size=10)  # 10, 10, 10, 2: weights differ
    torch.manual_seed(0)
    return Learner(nn.Linear(2, 3), DataBunch(train, valid), metrics=[accuracy], path=tmp_path,
                   device="cpu")


def test_fit_get_preds_save_and_load_create_no_float64(tmp_path):
    learn = classifier_learner(tmp_path)
    with Float64Watch() as watch:
        with learn.silent():
            learn.fit_one_cycle(2, 1e-2)
        probs, targs = learn.get_preds()
        learn.save("m")
        learn.load("m")
    assert watch.seen == []
    assert probs.dtype == torch.float32 and probs.shape == (32, 3)


def test_recorder_valid_loss_is_the_size_weighted_mean(tmp_path):
    """Summing on the host in Python floats gives the same numbers as one pass over all rows."""
    learn = classifier_learner(tmp_path)
    with learn.silent():
        learn.fit(1e-2, 1)
    probs, targs = learn.get_preds()
    expected_loss = nn.functional.nll_loss(probs.log(), targs).item()
    expected_acc = (probs.argmax(-1) == targs).float().mean().item()
    _, _, valid_loss, acc, _ = learn.recorder.values[-1]
    assert isinstance(valid_loss, float)
    assert valid_loss == pytest.approx(expected_loss, rel=1e-5)
    assert acc == pytest.approx(expected_acc, rel=1e-6)
