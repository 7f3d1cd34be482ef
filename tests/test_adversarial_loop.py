"""The loop against hostile callbacks, signals and files: restores that must happen anyway,
checkpoints that must be refused whole, and resumes that must not half-happen."""
import os
import signal

import pytest
import torch

from minifast import Callback, EarlyStopping, SaveModel
from minifast.data.loaders import WorkerInit
from tests.conftest import synth_learner


class Scripted(Callback):
    """Overwrite the Recorder's valid_loss with `values[epoch]` (order 52: before the trackers)."""

    order = 52

    def __init__(self, values):
        self.values, self.weights = values, []

    def after_epoch(self):
        recorder = self.learn.recorder
        recorder.values[-1][recorder.names.index("valid_loss")] = self.values[self.learn.epoch]
        self.weights.append({k: v.clone() for k, v in self.learn.model.state_dict().items()})


class RaiseInAfterFit(Callback):
    order = 0  # runs before EarlyStopping (70) in after_fit

    def after_fit(self):
        raise RuntimeError("user callback broke in after_fit")


def test_a_callback_raising_in_after_fit_does_not_stop_early_stopping_restoring():
    """The best weights come back even when another after_fit raises first."""
    learn, script = synth_learner(), Scripted([1.0, 0.5, 0.9, 0.8])
    with pytest.raises(RuntimeError, match="broke in after_fit"), learn.silent():
        learn.fit(0.1, 4, cbs=[script, EarlyStopping(patience=5), RaiseInAfterFit()])
    best = script.weights[1]
    assert all(torch.equal(v, best[k]) for k, v in learn.model.state_dict().items())


def test_save_model_writes_the_last_epoch_even_when_another_after_fit_raises(tmp_path):
    learn = synth_learner(path=tmp_path)
    with pytest.raises(RuntimeError), learn.silent():
        learn.fit(0.1, 2, cbs=[SaveModel(every_epoch=True, name="ep"), RaiseInAfterFit()])
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["ep_0.pth", "ep_1.pth"]


class CtrlCAt(Callback):
    order = 80  # after SaveModel (65) and EarlyStopping (70): the epoch is done for them

    def __init__(self, event: str):
        self.event = event

    def before_epoch(self):
        if self.event == "before_epoch" and self.learn.epoch == 1:
            raise KeyboardInterrupt

    def after_epoch(self):
        if self.event == "after_epoch" and self.learn.epoch == 0:
            raise KeyboardInterrupt


@pytest.mark.parametrize("event", ["after_epoch", "before_epoch"])
def test_ctrl_c_at_an_epoch_boundary_still_writes_that_epochs_checkpoint(tmp_path, event):
    """SaveModel writes an epoch's file once every callback is done with the epoch: a Ctrl-C
    in between must not lose it (after_fit writes what is pending)."""
    learn = synth_learner(path=tmp_path)
    with pytest.raises(KeyboardInterrupt), learn.silent():
        learn.fit(0.1, 3, cbs=[SaveModel(every_epoch=True, name="ep"), CtrlCAt(event)])
    assert (tmp_path / "models" / "ep_0.pth").is_file()


@pytest.mark.parametrize("damage", ["truncate", "zero", "flip"])
def test_a_damaged_checkpoint_refuses_a_resume_and_changes_nothing(tmp_path, damage):
    learn = synth_learner(path=tmp_path)
    with learn.silent():
        learn.fit(0.1, 3, cbs=[SaveModel(every_epoch=True, name="ep")])
    path = tmp_path / "models" / "ep_0.pth"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "zero":
        data = bytearray()
    else:
        data[len(data) // 3] ^= 0x10
    path.write_bytes(bytes(data))
    fresh = synth_learner(path=tmp_path)
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    rng = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="ep_0.pth"), fresh.silent():
        fresh.fit(0.1, 3, resume="ep_0")
    assert all(torch.equal(before[k], v) for k, v in fresh.model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)


def test_worker_init_ignores_sigint_then_runs_the_users_function():
    seen = []
    previous = signal.getsignal(signal.SIGINT)
    try:
        WorkerInit(seen.append)(3)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen == [3]


def test_a_second_ctrl_c_cannot_cut_early_stoppings_restore_in_half():
    """A Ctrl-C that arrives as EarlyStopping starts copying the best weights back waits for the
    copy, then reaches the user."""
    learn, script = synth_learner(), Scripted([1.0, 0.5, 0.9, 0.8])
    real_load = learn.model.load_state_dict

    def interrupted_load(state, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # without the hold, KeyboardInterrupt lands here
        return real_load(state, *args, **kwargs)

    learn.model.load_state_dict = interrupted_load
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt), learn.silent():
            learn.fit(0.1, 4, cbs=[script, EarlyStopping(patience=5)])
        best = script.weights[1]
        assert all(torch.equal(v, best[k]) for k, v in learn.model.state_dict().items())
        # the Ctrl-C came out of EarlyStopping.after_fit: InterruptGuard's after_fit (order 90)
        # must still run and put the SIGINT handler back
        assert signal.getsignal(signal.SIGINT) is handler
    finally:
        signal.signal(signal.SIGINT, handler)  # keep the other tests' Ctrl-C handling intact
