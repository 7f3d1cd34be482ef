"""Ctrl-C during fit: the step is whole or not at all, after_fit runs, the error reaches the user,
and the learner can go on training or be saved."""
import copy
import functools
import os
import signal
import subprocess
import sys
import threading

import pytest
import torch

from minifast import Callback, CancelBatchException, CancelFitException
from minifast.interrupt import InterruptGuard
from tests.conftest import REPO, synth_learner

SGD_MOM = functools.partial(torch.optim.SGD, momentum=0.9)


class InterruptAt(Callback):
    """Raise KeyboardInterrupt at `event` of training batch (epoch, batch), as Ctrl-C would;
    snapshot model + optimiser state after every completed step."""

    order = 90

    def __init__(self, event: str, epoch: int, batch: int):
        self.event, self.at, self.snapshots = event, (epoch, batch), []

    def _check(self, event: str):
        if event == self.event and self.learn.training and \
                (self.learn.epoch, self.learn.iter) == self.at:
            raise KeyboardInterrupt

    def before_batch(self):
        self._check("before_batch")

    def after_loss(self):
        self._check("after_loss")

    def before_backward(self):
        self._check("before_backward")

    def before_step(self):
        self._check("before_step")

    def after_step(self):
        self.snapshots.append((copy.deepcopy(self.learn.model.state_dict()),
                               copy.deepcopy(self.learn.opt.state_dict())))
        self._check("after_step")


def assert_state_equal(learn, model_state, opt_state):
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, model_state[k]), k
    now = learn.opt.state_dict()
    assert now["param_groups"] == opt_state["param_groups"]
    for i, buffers in opt_state["state"].items():
        for name, value in buffers.items():
            assert torch.equal(now["state"][i][name], value), (i, name)


# event that raises at epoch 1, batch 2 -> steps completed (4 per epoch)
@pytest.mark.parametrize("event, steps_done", [
    ("before_batch", 6), ("after_loss", 6), ("before_backward", 6), ("before_step", 6),
    ("after_step", 7),
])
def test_interrupt_leaves_the_state_of_the_last_completed_step(event, steps_done):
    learn = synth_learner(opt_func=SGD_MOM)
    cb = InterruptAt(event, epoch=1, batch=2)
    with pytest.raises(KeyboardInterrupt):  # the exception reaches the user
        learn.fit(0.05, 3, cbs=[cb])
    assert len(cb.snapshots) == steps_done
    assert_state_equal(learn, *cb.snapshots[-1])


def test_after_fit_runs_and_the_recorder_is_consistent():
    learn = synth_learner(opt_func=SGD_MOM)
    with pytest.raises(KeyboardInterrupt):
        learn.fit(0.05, 3, cbs=[InterruptAt("before_step", epoch=1, batch=2)])
    assert learn.progress.bar is None  # closed by after_fit
    assert learn.recorder.metric("epoch") == [0]  # only the whole epoch has a row
    assert list(learn.cbs) == [cb for cb in learn.cbs if not isinstance(cb, InterruptAt)]


class GradsAtStart(Callback):
    def before_batch(self):
        if not hasattr(self, "grads"):
            self.grads = [p.grad for p in self.learn.model.parameters()]


def test_training_and_saving_go_on_after_an_interrupt(tmp_path):
    learn = synth_learner(opt_func=SGD_MOM, path=tmp_path)
    with pytest.raises(KeyboardInterrupt):  # stopped after backward: grads are populated
        learn.fit(0.05, 3, cbs=[InterruptAt("before_step", epoch=0, batch=1)])
    assert all(p.grad is not None for p in learn.model.parameters())
    probe = GradsAtStart()
    with learn.silent():
        learn.fit(0.05, 2, cbs=[probe])
    assert probe.grads == [None, None]  # the interrupted batch's gradient did not leak in
    assert len(learn.recorder.values) == 2
    learn.save("after")
    weights = copy.deepcopy(learn.model.state_dict())
    with learn.silent():
        learn.fit(0.05, 1)
    learn.load("after")
    assert all(torch.equal(v, weights[k]) for k, v in learn.model.state_dict().items())


class SignalMidStep(torch.optim.SGD):
    """An SGD step that receives a real SIGINT after updating the first parameter only."""

    def step(self, closure=None):
        params = [p for g in self.param_groups for p in g["params"]]
        for i, p in enumerate(params):
            p.data.add_(p.grad, alpha=-self.param_groups[0]["lr"])
            if i == 0:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, half-way through the update


class BeforeStep(Callback):
    def before_step(self):
        self.weights = [p.detach().clone() for p in self.learn.model.parameters()]
        self.grads = [p.grad.clone() for p in self.learn.model.parameters()]


def test_a_real_sigint_mid_step_waits_until_the_step_is_whole():
    learn, probe = synth_learner(opt_func=SignalMidStep), BeforeStep()
    with learn.silent(), pytest.raises(KeyboardInterrupt):
        learn.fit(0.05, 1, cbs=[probe])
    for p, w, g in zip(learn.model.parameters(), probe.weights, probe.grads):
        assert torch.equal(p.detach(), w - 0.05 * g)  # every parameter took its step
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_the_guard_a_sigint_lands_mid_block():
    done = []
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        done.append(1)
    assert done == []  # control: this is what InterruptGuard.run_step prevents


def test_the_guard_delivers_after_the_step_and_restores_the_handler():
    done = []

    def step():
        os.kill(os.getpid(), signal.SIGINT)
        done.append(1)

    with pytest.raises(KeyboardInterrupt):
        with InterruptGuard() as guard:
            guard.run_step(step)
    assert done == [1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outside_a_step_the_guard_interrupts_at_once():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with InterruptGuard():
            os.kill(os.getpid(), signal.SIGINT)
            done.append(1)
    assert done == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_guard_calls_a_custom_handler_once():
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with InterruptGuard() as guard:
            guard.run_step(lambda: (os.kill(os.getpid(), signal.SIGINT), calls.append("step")))
            assert calls == ["step", signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is not None and calls == ["step", signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_nested_guards_install_the_handler_once():
    guard = InterruptGuard()
    with guard:
        handler = signal.getsignal(signal.SIGINT)
        with guard:
            assert signal.getsignal(signal.SIGINT) is handler
        assert signal.getsignal(signal.SIGINT) is handler
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_guard_is_a_no_op_outside_the_main_thread():
    seen = []

    def body():
        with InterruptGuard() as guard:
            guard.run_step(lambda: seen.append(signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def test_hold_interrupts_delivers_a_ctrl_c_after_the_block():
    from minifast.interrupt import hold_interrupts

    done = []
    with pytest.raises(KeyboardInterrupt):
        with hold_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("restored")  # the block finishes before the interrupt lands
    assert done == ["restored"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_does_not_cut_the_lr_finder_restore_in_half():
    """Ctrl-C during lr_find, then another one while the finder puts the weights back."""
    learn = synth_learner(opt_func=SGD_MOM)
    before = copy.deepcopy(learn.model.state_dict())
    real_load = learn.model.load_state_dict

    def load_with_a_second_ctrl_c(state, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # arrives mid-restore
        return real_load(state, *args, **kwargs)

    learn.model.load_state_dict = load_with_a_second_ctrl_c
    with learn.silent(), pytest.raises(KeyboardInterrupt):
        learn.lr_find(num_it=20)
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, before[k]), k


# ---------------------------------------------------------------------- Ctrl-C to the process group
GROUP_SIGINT = """
import os, signal, sys, time
import torch
from torch import nn
from torch.utils.data import TensorDataset
from minifast import Callback, DataBunch, Learner
from minifast.data.loaders import make_loader

class CtrlC(Callback):  # a terminal's Ctrl-C / Jupyter's interrupt: SIGINT to the whole group
    def before_batch(self):
        if self.learn.training and (self.learn.epoch, self.learn.iter) == (1, 3):
            os.killpg(os.getpgid(0), signal.SIGINT)
            time.sleep(0.5)  # the workers receive it too

x = torch.randn(320, 4)
ds = TensorDataset(x, x.sum(1, keepdim=True))
train, valid = make_loader(ds, 16, num_workers=2), make_loader(ds, 16, num_workers=2)
assert train.persistent_workers and valid.persistent_workers
learn = Learner(nn.Linear(4, 1), DataBunch(train, valid), loss_func=nn.MSELoss(), metrics=[],
                device="cpu")
try:
    with learn.silent():
        learn.fit(0.01, 3, cbs=[CtrlC()])
except KeyboardInterrupt:
    print("interrupted", flush=True)
time.sleep(0.5)
with learn.silent():
    learn.fit(0.01, 2)  # the same learn, the same loaders (a half-consumed train iterator)
preds, targs = learn.get_preds()
print("ok", len(learn.recorder.values), tuple(preds.shape), flush=True)
"""


def test_a_process_group_sigint_leaves_persistent_workers_alive(tmp_path):
    """After Ctrl-C with DataLoader workers, fit and get_preds work again."""
    proc = subprocess.run([sys.executable, "-c", GROUP_SIGINT], cwd=REPO, capture_output=True,
                          text=True, timeout=120, start_new_session=True)  # its own group
    assert proc.stdout.split("\n")[:2] == ["interrupted", "ok 2 (320, 1)"], proc.stderr[-2000:]


GROUP_SIGINT_IMAGES = """
import os, signal, sys, time
from pathlib import Path
import torch
from torch import nn
from minifast import Callback, ImageClassifierData, Learner
from minifast.data.transforms import tfms_from_stats
from tests.data_fakes import make_class_folders

class CtrlC(Callback):  # Jupyter's "Interrupt kernel" / a terminal's Ctrl-C: SIGINT to the group
    def before_batch(self):
        if self.learn.training and (self.learn.epoch, self.learn.iter) == (1, 2):
            os.killpg(os.getpgid(0), signal.SIGINT)
            time.sleep(0.5)  # the workers receive it too

root = Path(sys.argv[1])
make_class_folders(root / "train", {"cat": 150, "dog": 150})
make_class_folders(root / "valid", {"cat": 140, "dog": 140}, seed=1)
data = ImageClassifierData.from_paths(root, bs=32, tfms=tfms_from_stats(((0.5,) * 3, (0.5,) * 3), 16))
assert data.train_dl.num_workers == 2 and data.valid_dl.persistent_workers, data.valid_dl
model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2))
learn = Learner(model, data, device="cpu")
try:
    with learn.silent():
        learn.fit(0.01, 3, cbs=[CtrlC()])
except KeyboardInterrupt:
    print("interrupted", flush=True)
time.sleep(0.5)
with learn.silent():
    learn.fit(0.01, 1)  # the same learn and data object: no rebuild
preds, targs = learn.get_preds()
print("ok", len(learn.recorder.values), tuple(preds.shape), flush=True)
"""


def test_a_process_group_sigint_on_an_image_folder_leaves_fit_and_get_preds_working(tmp_path):
    """As users meet it: >= 256 images in folders get 2 workers by default."""
    proc = subprocess.run([sys.executable, "-c", GROUP_SIGINT_IMAGES, str(tmp_path / "imgs")],
                          cwd=REPO, capture_output=True, text=True, timeout=240,
                          start_new_session=True)  # its own process group, so pytest is spared
    assert proc.stdout.split("\n")[:2] == ["interrupted", "ok 1 (280, 2)"], proc.stderr[-2000:]


class StopAfterStep(Callback):
    order = 50  # before InterruptGuard (90): its after_step never runs for this batch

    def after_step(self):
        raise CancelFitException()


def test_a_ctrl_c_held_during_the_last_step_is_not_lost_when_a_callback_stops_the_fit():
    learn = synth_learner(opt_func=SignalMidStep)  # SIGINT arrives during the first step
    with learn.silent(), pytest.raises(KeyboardInterrupt):
        learn.fit(0.05, 1, cbs=[StopAfterStep()])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class CtrlCThenCancelTheStep(Callback):
    order = 95  # after InterruptGuard (90) began to hold in before_step

    def before_step(self):
        if self.learn.iter == 0:
            os.kill(os.getpid(), signal.SIGINT)  # held: the guard is holding
            raise CancelBatchException()  # the step never runs, after_step never fires


def test_a_ctrl_c_held_for_a_cancelled_step_is_delivered_by_the_next_step():
    learn, steps = synth_learner(opt_func=SGD_MOM), []

    class CountSteps(Callback):
        def after_step(self):
            steps.append(self.learn.iter)

    with learn.silent(), pytest.raises(KeyboardInterrupt):
        learn.fit(0.05, 1, cbs=[CtrlCThenCancelTheStep(), CountSteps()])
    assert steps == [1]  # the next batch's step ran whole, then the Ctrl-C was delivered
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
