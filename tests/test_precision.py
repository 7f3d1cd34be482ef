"""MixedPrecision: bf16 autocast on the CPU trains; fp16 + GradScaler (the CUDA recipe, run on the
CPU here) unscales before clipping and skips overflowing steps; autocast never leaks."""
import pytest
import torch
from torch import nn

from minifast import (
    Callback,
    CancelBatchException,
    CancelStepException,
    GradientClipping,
    Learner,
    MixedPrecision,
    TerminateOnNaN,
)
from minifast.callbacks.nan import NonFiniteWarning
from minifast.callbacks.precision import precision_plan
from tests.conftest import synth_data

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def mlp_learner(device: str = "cpu") -> Learner:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 1))
    return Learner(model, synth_data(n_train=256, n_valid=64), loss_func=nn.MSELoss(), metrics=[],
                   opt_func=torch.optim.AdamW, wd=0.0, device=device)


class Probe(Callback):
    """Record the prediction's dtype and whether autocast is on, per training batch."""

    def after_pred(self):
        device = self.learn.device.type
        self.dtypes = getattr(self, "dtypes", []) + [self.learn.pred.dtype]
        self.autocast = getattr(self, "autocast", []) + [torch.is_autocast_enabled(device)]


def test_bf16_autocast_fit_on_cpu_lowers_the_loss():
    learn, probe = mlp_learner(), Probe()
    with learn.silent():
        learn.fit(1e-2, 4, cbs=[MixedPrecision(), probe])
    assert set(probe.dtypes) == {torch.bfloat16} and all(probe.autocast)
    valid = learn.recorder.metric("valid_loss")
    assert valid[-1] < valid[0] / 4, valid
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())  # master weights
    assert not torch.is_autocast_enabled("cpu")


def test_off_by_default():
    learn, probe = mlp_learner(), Probe()
    with learn.silent():
        learn.fit(1e-2, 1, cbs=[probe])
    assert set(probe.dtypes) == {torch.float32} and not any(probe.autocast)


class CancelAfterPred(Callback):
    def __init__(self, error):
        self.error = error

    def after_pred(self):
        raise self.error


@pytest.mark.parametrize("error", [CancelBatchException(), KeyboardInterrupt(), RuntimeError("x")])
def test_autocast_is_left_even_when_a_batch_is_cut_short(error):
    learn = mlp_learner()
    with learn.silent():
        try:
            learn.fit(1e-2, 1, cbs=[MixedPrecision(), CancelAfterPred(error)])
        except (KeyboardInterrupt, RuntimeError):
            pass
    assert not torch.is_autocast_enabled("cpu")


class GradNorms(Callback):
    """Total gradient norm at before_step, at a chosen order."""

    def __init__(self, order: int):
        self.order, self.norms = order, []

    def before_step(self):
        grads = [p.grad for p in self.learn.model.parameters() if p.grad is not None]
        self.norms.append(torch.sqrt(sum((g.float() ** 2).sum() for g in grads)).item())


@pytest.mark.parametrize("device", DEVICES)
def test_fp16_scaler_unscales_before_clipping(device):
    learn = mlp_learner(device)
    raw, clipped = GradNorms(order=15), GradNorms(order=25)  # around clipping's 20
    mp = MixedPrecision(dtype=torch.float16)
    with learn.silent():
        learn.fit(1e-2, 2, cbs=[mp, GradientClipping(max_norm=0.5), raw, clipped])
    assert mp.scaler.get_scale() > 1000  # the loss really was scaled
    assert max(raw.norms) < 1000  # ... but clipping saw true-sized gradients
    assert all(n <= 0.5 * (1 + 1e-3) for n in clipped.norms)
    valid = learn.recorder.metric("valid_loss")
    assert valid[-1] < valid[0]


class InfGrad(Callback):
    """Put an inf into one gradient at batch 1 of epoch 0, before MixedPrecision unscales."""

    order = 5

    def before_step(self):
        if (self.learn.epoch, self.learn.iter) == (0, 1):
            self.weights = [p.detach().clone() for p in self.learn.model.parameters()]
            self.scale = self.learn.get_cb(MixedPrecision).scaler.get_scale()
            next(self.learn.model.parameters()).grad[0] = float("inf")

    def after_batch(self):
        if self.learn.training and (self.learn.epoch, self.learn.iter) == (0, 1):
            self.after = [p.detach().clone() for p in self.learn.model.parameters()]
            self.grads = [p.grad for p in self.learn.model.parameters()]

    def before_batch(self):  # the scale is updated in MixedPrecision.after_batch (order 10)
        if self.learn.training and (self.learn.epoch, self.learn.iter) == (0, 2):
            self.scale_after = self.learn.get_cb(MixedPrecision).scaler.get_scale()


@pytest.mark.parametrize("device", DEVICES)
def test_fp16_overflow_skips_the_step_and_lowers_the_scale(device):
    learn, inf = mlp_learner(device), InfGrad()
    with learn.silent():
        learn.fit(1e-2, 1, cbs=[MixedPrecision(dtype=torch.float16), inf])
    assert all(torch.equal(a, b) for a, b in zip(inf.weights, inf.after))  # no step
    assert inf.grads == [None] * 4  # cleared, so they cannot leak into the next batch
    assert inf.scale_after == inf.scale / 2
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
    assert len(learn.recorder.losses) == len(learn.data.train_dl)  # training went on


class NaNGradEveryBatch(Callback):
    """A term whose value is 0 but whose gradient is NaN (sqrt of a negative number in the branch
    `torch.where` does not take), in every training batch: the loss stays finite."""

    order = 5  # after_loss, before MixedPrecision scales the loss in before_backward

    def __init__(self):
        self.steps = 0

    def after_loss(self):
        if self.learn.training:
            q = -self.learn.pred.abs() - 1
            self.learn.loss = self.learn.loss + torch.where(q >= 0, torch.sqrt(q), 0 * q).sum()

    def after_step(self):
        self.steps += 1  # after_step runs even when a callback cancelled the step


def test_fp16_with_a_nan_gradient_in_every_batch_stops_with_a_message():
    """Not an overflow: the scale halves from 2**16 to 1 (batches 0-15 skipped), then the fit
    stops at batch 16 (epoch 1, batch 0: 16 batches an epoch) before any step, and says so."""
    learn, trap = mlp_learner(), NaNGradEveryBatch()
    before = [p.detach().clone() for p in learn.model.parameters()]
    mp, guard = MixedPrecision(dtype=torch.float16), TerminateOnNaN(check_grads=True)
    with learn.silent(), pytest.warns(NonFiniteWarning, match="MixedPrecision: a gradient is NaN "
                                      "or inf at loss scale 1 .* at epoch 1, batch 0"):
        learn.fit(1e-2, 24, cbs=[mp, guard, trap])
    assert len(learn.recorder.values) == 1 and trap.steps == 16  # 16 skipped steps, then stop
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))
    assert mp.message is not None and "epoch 1, batch 0" in mp.message


def test_an_overflow_cancels_only_the_step():
    """On an overflow MixedPrecision raises CancelStepException: the loop's zero_grad still runs."""
    learn = mlp_learner()
    mp = MixedPrecision(dtype=torch.float16)
    mp.learn = learn
    learn.create_opt()
    mp.before_fit()
    mp.scaler.scale(learn.model(torch.ones(2, 1)).sum()).backward()
    next(learn.model.parameters()).grad[0] = float("inf")
    with pytest.raises(CancelStepException):
        mp.before_step()


@pytest.mark.parametrize("device, dtype, plan", [
    ("cpu", None, (torch.bfloat16, False)), ("cuda", None, (torch.float16, True)),
    ("mps", None, (torch.float16, True)), ("mps", torch.bfloat16, (torch.bfloat16, False)),
    ("cpu", torch.float16, (torch.float16, True))])
def test_precision_plan_per_device(device, dtype, plan):
    """The decision, tested on any machine (MPS itself is not run here)."""
    assert precision_plan(device, dtype) == plan


def test_precision_plan_refuses_other_devices_clearly(monkeypatch):
    with pytest.raises(ValueError, match="supports the devices .*'mps'.* not 'xla'"):
        precision_plan("xla")
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda device_type: False)
    with pytest.raises(ValueError, match="no autocast for that device; update torch"):
        precision_plan("mps")


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="float16 or torch.bfloat16"):
        MixedPrecision(dtype=torch.float64)


@pytest.mark.slow
def test_bf16_on_the_mnist_sample_matches_fp32_accuracy():
    """Real data: one epoch of the demo CNN on 2,000 digits, float32 vs bf16 autocast."""
    from minifast import accuracy, mnist_sample_data, set_seed
    from minifast.demo import simple_cnn

    results = []
    for cbs in ([], [MixedPrecision()]):
        set_seed(0)
        learn = Learner(simple_cnn(), mnist_sample_data(bs=64, n_train=2000), metrics=[accuracy],
                        device="cpu")
        with learn.silent():
            learn.fit_one_cycle(1, 1e-2, cbs=cbs)
        results.append(learn.recorder.log["accuracy"])
    fp32, bf16 = results
    assert fp32 > 0.8 and abs(bf16 - fp32) < 0.03, results
