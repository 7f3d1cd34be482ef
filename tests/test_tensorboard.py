"""TensorBoardLogger: the event files, read back with tensorboard's own reader, hold the
Recorder's numbers; histograms every N steps; the graph once; only rank 0 writes."""
from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from minifast import Callback, GradientAccumulation, Learner, TensorBoardLogger
from tests.conftest import synth_data

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read_events(log_dir) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()  # 0 above: keep every event, not a sample
    return events


def scalars(events, tag) -> tuple[list[int], list[float]]:
    found = events.Scalars(tag)
    return [e.step for e in found], [e.value for e in found]


def mlp_learner() -> Learner:
    """64 training samples in batches of 16 (4 batches per epoch), a two-layer MLP."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    return Learner(model, synth_data(), loss_func=nn.MSELoss(), metrics=[], device="cpu")


def test_losses_lrs_and_epoch_table_are_read_back(tmp_path):
    learn = mlp_learner()
    with learn.silent():
        learn.fit_one_cycle(2, 1e-2, cbs=[TensorBoardLogger(tmp_path, hist_every=0)])
    events = read_events(tmp_path)
    steps, losses = scalars(events, "train/loss")
    assert steps == list(range(8))
    assert losses == pytest.approx(learn.recorder.loss_values().tolist(), rel=1e-6)
    steps, lrs = scalars(events, "lr/group0")
    assert lrs == pytest.approx([lr[0] for lr in learn.recorder.lrs], rel=1e-6)
    assert lrs[0] < lrs[2] and lrs[-1] < lrs[2]  # the one-cycle shape really got logged
    steps, valid = scalars(events, "epoch/valid_loss")
    assert steps == [0, 1] and valid == pytest.approx(learn.recorder.metric("valid_loss"), rel=1e-6)
    assert "epoch/train_loss" in events.Tags()["scalars"] and "epoch/epoch" not in events.Tags()["scalars"]
    assert events.Tags()["histograms"] == []  # hist_every=0: none


def test_histograms_every_n_steps_and_the_graph_once(tmp_path):
    learn = mlp_learner()
    with learn.silent():
        learn.fit(1e-2, 2, cbs=[TensorBoardLogger(tmp_path, hist_every=7)])
    events = read_events(tmp_path)
    tags = events.Tags()["histograms"]
    assert sorted(tags) == sorted(f"{kind}/{name}" for kind in ("weights", "grads")
                                  for name in ("0.weight", "0.bias", "2.weight", "2.bias"))
    assert [h.step for h in events.Histograms("grads/0.weight")] == [0, 7]  # 8 steps
    weights = events.Histograms("weights/2.bias")[-1].histogram_value  # after the last step
    assert weights.num == 1 and weights.min == pytest.approx(float(learn.model[2].bias.detach()))
    assert events.Tags()["graph"] is True


def test_scaled_losses_are_not_what_is_logged(tmp_path):
    """GradientAccumulation scales learn.loss for backward; the curve shows the true loss."""
    learn = mlp_learner()
    with learn.silent():
        learn.fit(1e-2, 1, cbs=[GradientAccumulation(32), TensorBoardLogger(tmp_path)])
    _, losses = scalars(read_events(tmp_path), "train/loss")
    assert losses == pytest.approx(learn.recorder.loss_values().tolist(), rel=1e-6)
    steps = [h.step for h in read_events(tmp_path).Histograms("grads/0.weight")]
    assert steps == [1]  # hist_every=100: the first optimiser step, at batch 1 (2 x 16 = 32)


def test_steps_continue_across_fits(tmp_path):
    learn, tb = mlp_learner(), TensorBoardLogger(tmp_path, hist_every=0)
    with learn.silent():
        learn.fit(1e-2, 1, cbs=[tb])
        learn.fit(1e-2, 1, cbs=[tb])
    events = read_events(tmp_path)
    assert scalars(events, "train/loss")[0] == list(range(8))
    assert scalars(events, "epoch/valid_loss")[0] == [0, 1]


class TrainingMode(Callback):
    """Whether the model is in train mode at each training batch's forward pass."""

    def before_fit(self):
        self.seen = []

    def after_pred(self):
        if self.learn.training:
            self.seen.append(self.learn.model.training)


def test_a_graph_that_cannot_be_traced_warns_and_training_goes_on(tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    def fail(*args, **kwargs):
        raise RuntimeError("cannot trace this")

    monkeypatch.setattr(SummaryWriter, "add_graph", fail)
    learn, modes = mlp_learner(), TrainingMode()
    with learn.silent(), pytest.warns(UserWarning, match="cannot trace this.*log_graph=False"):
        learn.fit(1e-2, 1, cbs=[TensorBoardLogger(tmp_path), modes])
    assert modes.seen == [True] * 4  # put back in train mode after the failed trace
    assert len(scalars(read_events(tmp_path), "train/loss")[0]) == 4


def test_only_rank_0_writes(tmp_path, monkeypatch):
    monkeypatch.setattr("minifast.callbacks.tensorboard.is_main_process", lambda: False)
    learn = mlp_learner()
    with learn.silent():
        learn.fit(1e-2, 1, cbs=[TensorBoardLogger(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()


def test_missing_tensorboard_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now fails
    with pytest.raises(ImportError, match=r'pip install -e "\.\[tensorboard\]"'):
        TensorBoardLogger("runs")
