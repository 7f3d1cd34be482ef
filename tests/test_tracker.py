"""EarlyStopping and SaveModel on scripted metric sequences; TerminateOnNaN names the batch."""
import math

import pytest
import torch

from minifast import Callback, EarlyStopping, SaveModel, TerminateOnNaN
from minifast.callbacks.nan import NonFiniteWarning
from minifast.checkpoint import read_checkpoint
from tests.conftest import synth_learner

NAN = math.nan


def score(pred, targ):
    """A metric whose column ('score') is maximised by mode='auto'."""
    return -(pred - targ).abs().mean()


class ScriptedMetric(Callback):
    """Overwrite column `column` of each epoch's Recorder row with `values[epoch]`, and keep a
    copy of the weights at the end of each epoch. Order 52: after the Recorder writes the row,
    before the trackers (70) read it."""

    order = 52

    def __init__(self, column: str, values: list):
        self.column, self.values, self.weights = column, values, []

    def after_epoch(self):
        recorder = self.learn.recorder
        recorder.values[-1][recorder.names.index(self.column)] = self.values[self.learn.epoch]
        self.weights.append({k: v.clone() for k, v in self.learn.model.state_dict().items()})


def run(values, tracker, column="valid_loss", tmp_path=".", metrics=(), extra=()):
    learn = synth_learner(path=tmp_path, metrics=list(metrics))
    script = ScriptedMetric(column, values)
    with learn.silent():
        learn.fit(0.05, len(values), cbs=[script, tracker, *extra])
    return learn, script


# (values of the monitored column per epoch, patience, min_delta) -> last epoch that ran
@pytest.mark.parametrize("values, patience, min_delta, last_epoch, best_epoch", [
    ([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], 1, 0.0, 5, 5),    # always improving: never stops
    ([1.0, 0.9, 0.95, 0.8, 0.7, 0.6], 1, 0.0, 2, 1),   # first worse epoch stops it
    ([1.0, 0.9, 0.95, 0.8, 0.7, 0.6], 2, 0.0, 5, 5),   # one bad epoch is tolerated
    ([1.0, 0.9, 0.95, 0.96, 0.97, 0.5], 2, 0.0, 3, 1),
    ([1.0, 0.9, 0.95, 0.96, 0.97, 0.5], 3, 0.0, 4, 1),
    ([1.0, 0.9, 0.95, 0.96, 0.97, 0.5], 4, 0.0, 5, 5),  # patience outlasts the plateau
    ([1.0, 0.9, 0.9, 0.9, 0.9, 0.9], 2, 0.0, 3, 1),    # equal is not better
    ([1.0, 0.95, 0.92, 0.91, 0.5, 0.4], 2, 0.1, 2, 0),  # improvements below min_delta don't count
    ([1.0, NAN, NAN, 0.1, 0.1, 0.1], 2, 0.0, 2, 0),    # NaN never improves
])
def test_early_stopping_stops_at_the_right_epoch(values, patience, min_delta, last_epoch,
                                                 best_epoch):
    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    learn, script = run(values, stopper)
    assert learn.recorder.metric("epoch") == list(range(last_epoch + 1))
    assert stopper.stopped_epoch == (last_epoch if last_epoch < len(values) - 1 else None)
    assert stopper.best_epoch == best_epoch


def test_mode_auto_maximises_a_score_column():
    stopper = EarlyStopping(monitor="score", patience=2)
    learn, _ = run([0.5, 0.6, 0.55, 0.58, 0.9], stopper, column="score", metrics=[score])
    assert stopper.mode == "max"
    assert (stopper.stopped_epoch, stopper.best_epoch, stopper.best) == (3, 1, 0.6)


def test_early_stopping_restores_the_best_weights():
    stopper = EarlyStopping(patience=2)
    learn, script = run([1.0, 0.5, 0.7, 0.8, 0.1], stopper)
    assert stopper.stopped_epoch == 3
    final = learn.model.state_dict()
    assert all(torch.equal(final[k], script.weights[1][k]) for k in final)
    assert not all(torch.equal(final[k], script.weights[3][k]) for k in final)


def test_without_restore_best_the_last_weights_stay():
    learn, script = run([1.0, 0.5, 0.7, 0.8, 0.1], EarlyStopping(patience=2, restore_best=False))
    final = learn.model.state_dict()
    assert all(torch.equal(final[k], script.weights[3][k]) for k in final)


def test_unknown_monitor_is_refused_before_training():
    learn = synth_learner()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with learn.silent(), pytest.raises(ValueError, match="monitor='accuracy'.*valid_loss"):
        learn.fit(0.05, 2, cbs=[EarlyStopping(monitor="accuracy")])
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())


@pytest.mark.parametrize("kwargs", [{"patience": 0}, {"mode": "down"}, {"min_delta": -1}])
def test_bad_early_stopping_arguments(kwargs):
    with pytest.raises(ValueError, match="EarlyStopping"):
        EarlyStopping(**kwargs)


def test_a_positional_patience_gets_a_hint():
    with pytest.raises(ValueError, match="2nd argument is mode"):
        EarlyStopping("valid_loss", 2)


def test_save_model_keeps_the_best_checkpoint(tmp_path):
    saver = SaveModel(name="best")
    learn, script = run([1.0, 0.8, 0.9, 0.7, 0.75], saver, tmp_path=tmp_path)
    assert len(saver.saved) == 3  # epochs 0, 1, 3 improved
    state = read_checkpoint(tmp_path / "models" / "best.pth")
    assert state["epoch"] == 4  # epochs done when epoch 3 ended
    assert all(torch.equal(state["model"][k], script.weights[3][k]) for k in state["model"])
    assert "opt" in state and "rng" in state


def test_save_model_every_epoch(tmp_path):
    learn, script = run([1.0, 0.8, 0.9], SaveModel(every_epoch=True, name="ep"), tmp_path=tmp_path)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["ep_0.pth", "ep_1.pth",
                                                                       "ep_2.pth"]
    for i in range(3):
        state = read_checkpoint(tmp_path / "models" / f"ep_{i}.pth")
        assert state["epoch"] == i + 1
        assert all(torch.equal(state["model"][k], script.weights[i][k]) for k in state["model"])


def test_save_model_saves_the_epoch_that_early_stopping_ends(tmp_path):
    stopper, saver = EarlyStopping(patience=1), SaveModel(every_epoch=True, name="ep")
    run([1.0, 1.1, 0.5], stopper, tmp_path=tmp_path, extra=[saver])  # stopper added first
    assert stopper.stopped_epoch == 1
    assert [p.name for p in saver.saved] == ["ep_0.pth", "ep_1.pth"]


def test_save_model_refuses_a_path_as_name():
    with pytest.raises(ValueError, match="plain file name"):
        SaveModel(name="models/best")


class InjectNaN(Callback):
    """Make the training loss NaN at one (epoch, batch); snapshot weights after every step."""

    order = 30  # after_loss before the Recorder (50) and TerminateOnNaN (55)

    def __init__(self, epoch: int, batch: int):
        self.at, self.weights = (epoch, batch), []

    def after_loss(self):
        if self.learn.training and (self.learn.epoch, self.learn.iter) == self.at:
            self.learn.loss = self.learn.loss * NAN

    def after_step(self):
        self.weights.append({k: v.clone() for k, v in self.learn.model.state_dict().items()})


def test_terminate_on_nan_names_epoch_and_batch():
    learn, inject = synth_learner(), InjectNaN(epoch=1, batch=2)
    guard = learn.get_cb(TerminateOnNaN)  # the Learner's default
    with learn.silent(), pytest.warns(NonFiniteWarning) as caught:
        learn.fit(0.05, 3, cbs=[inject])
    assert "epoch 1, batch 2" in guard.message and "nan" in guard.message
    assert [str(w.message) for w in caught] == [guard.message]
    assert len(learn.recorder.values) == 1  # epoch 0 finished, epoch 1 did not
    assert len(inject.weights) == 4 + 2  # 4 steps in epoch 0, batches 0 and 1 of epoch 1
    final = learn.model.state_dict()
    assert all(torch.equal(final[k], inject.weights[-1][k]) for k in final)


def test_terminate_on_nan_stops_a_diverging_run():
    learn = synth_learner()
    guard = learn.get_cb(TerminateOnNaN)
    with learn.silent(), pytest.warns(NonFiniteWarning):
        learn.fit(1e4, 5)  # lr far too high: the loss overflows to inf, then NaN
    assert guard.message is not None and "TerminateOnNaN" in guard.message
    assert "training loss is inf at epoch 1, batch 1" in guard.message
    assert len(learn.recorder.values) == 1
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())  # stopped in time


# ------------------------------------------------------------------ NaN gradients, NaN by default
class NaNGradAt(Callback):
    """At one training (epoch, batch) add a term whose value is 0 but whose gradient is NaN
    (sqrt of a negative number in the branch `torch.where` does not take): the loss stays finite."""

    order = 30

    def __init__(self, epoch: int, batch: int):
        self.at, self.weights = (epoch, batch), []

    def after_loss(self):
        learn = self.learn
        if learn.training and (learn.epoch, learn.iter) == self.at:
            q = -learn.pred.abs() - 1  # always negative
            learn.loss = learn.loss + torch.where(q >= 0, torch.sqrt(q), torch.zeros_like(q)).sum()

    def after_step(self):
        self.weights.append({k: v.clone() for k, v in self.learn.model.state_dict().items()})


def test_terminate_on_nan_with_check_grads_stops_before_a_nan_gradient_step():
    learn, guard, trap = synth_learner(), TerminateOnNaN(check_grads=True), NaNGradAt(1, 2)
    with learn.silent(), pytest.warns(NonFiniteWarning):
        learn.fit(0.05, 3, cbs=[trap, guard])
    assert guard.message.startswith("TerminateOnNaN: a gradient is NaN or inf (the loss is finite) "
                                    "at epoch 1, batch 2")
    assert "weights are those after the previous step" in guard.message
    assert len(trap.weights) == 4 + 2  # no step for batch 2
    final = learn.model.state_dict()
    assert all(torch.equal(final[k], trap.weights[-1][k]) for k in final)


def test_without_the_grad_check_the_message_says_the_weights_are_already_nan():
    learn, trap = synth_learner(), NaNGradAt(1, 2)
    guard = learn.get_cb(TerminateOnNaN)
    with learn.silent(), pytest.warns(NonFiniteWarning):
        learn.fit(0.05, 3, cbs=[trap])
    assert "training loss is nan at epoch 1, batch 3" in guard.message  # one batch late...
    assert "the weights were already NaN or inf" in guard.message       # ...and it says so


def test_a_default_learner_stops_at_the_first_nan_loss():
    learn = synth_learner()  # no TerminateOnNaN given: the default one protects the weights
    with learn.silent(), pytest.warns(NonFiniteWarning, match="TerminateOnNaN: training loss is "
                                      "inf at epoch 1, batch 1"):
        learn.fit(1e4, 5)  # the loss overflows to inf in epoch 1
    assert len(learn.recorder.values) == 1
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())


def test_two_terminate_on_nan_are_harmless():
    """The Learner's default and a user's own both check; the user's gradient check stops the
    fit before the step, so the default never sees a bad loss and there is one message."""
    learn, mine = synth_learner(), TerminateOnNaN(check_grads=True)
    default = learn.get_cb(TerminateOnNaN)
    with learn.silent(), pytest.warns(NonFiniteWarning) as caught:
        learn.fit(0.05, 2, cbs=[NaNGradAt(0, 1), mine])
    assert mine.message is not None and default.message is None and len(caught) == 1
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())


def test_two_terminate_on_nan_on_a_nan_loss_give_one_message():
    learn, inject = synth_learner(), InjectNaN(epoch=0, batch=1)
    with learn.silent(), pytest.warns(NonFiniteWarning) as caught:
        learn.fit(0.05, 2, cbs=[inject, TerminateOnNaN()])
    assert len(caught) == 1 and "epoch 0, batch 1" in str(caught[0].message)


def test_terminate_on_nan_reads_the_loss_itself_without_a_recorder():
    learn = synth_learner()
    learn.remove_cb(learn.recorder)
    with learn.silent(), pytest.warns(NonFiniteWarning, match="training loss is inf at epoch 1, "
                                      "batch 1"):
        learn.fit(1e4, 5)  # the loss overflows to inf in epoch 1
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
