"""MixedPrecision: bf16 autocast on the CPU trains; fp16 + GradScaler (the CUDA recipe, run on the
CPU here) unscales before clipping and skips overflowing steps; autocast never leaks."""
import pytest
import torch
from torch import nn

from minifast import Callback, CancelBatchException, GradientClipping, Learner, MixedPrecision
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
