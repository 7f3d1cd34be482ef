"""GradientAccumulation: n_acc samples in small batches step exactly as one big batch.

The oracle is a raw PyTorch loop over the big batches (no minifast), so the tests check the
whole chain: loss scaling, skipped steps and zero_grads, the end-of-epoch window, schedules,
clipping after unscaling and one GradScaler unscale_ per step.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minifast import (
    Callback,
    DataBunch,
    GradientAccumulation,
    GradientClipping,
    Learner,
    MixedPrecision,
    ParamScheduler,
)


def make_data(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(n, 1, generator=g)


def make_model() -> nn.Module:  # no BatchNorm: a batch of 64 and 4 batches of 16 see the same math
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))


def learner(model, x, y, bs, opt_func, cbs=(), wd=0.0) -> Learner:
    ds = TensorDataset(x, y)
    data = DataBunch(DataLoader(ds, batch_size=bs), DataLoader(ds, batch_size=bs))
    return Learner(model, data, loss_func=nn.MSELoss(), opt_func=opt_func, metrics=[], cbs=cbs,
                   wd=wd, device="cpu")


def raw_loop(model, x, y, big_bs, opt, n_epoch, lr_at=None, max_norm=None):
    """The oracle: plain PyTorch, one step per big batch; `lr_at(step)` sets the lr first."""
    step = 0
    for _ in range(n_epoch):
        for i in range(0, len(x), big_bs):
            if lr_at is not None:
                for group in opt.param_groups:
                    group["lr"] = lr_at(step)
            loss = nn.functional.mse_loss(model(x[i:i + big_bs]), y[i:i + big_bs])
            loss.backward()
            if max_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            opt.step()
            opt.zero_grad()
            step += 1
    return model


def assert_same_weights(a: nn.Module, b: nn.Module, atol: float = 1e-6):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=atol, rtol=0), (name, (p - q).abs().max().item())


OPTS = {"sgd": lambda params, **kw: torch.optim.SGD(params, momentum=0.9, **kw),
        "adamw": torch.optim.AdamW}


@pytest.mark.parametrize("opt", ["sgd", "adamw"])
@pytest.mark.parametrize("n, bs, n_acc", [
    (128, 16, 64),  # 4 batches of 16 = one batch of 64, two full windows per epoch
    (96, 16, 64),   # windows of 64 then 32: the epoch's last window is partial
    (96, 16, 40),   # 16 does not divide 40: windows of 48 samples
])
def test_accumulated_steps_equal_big_batch_steps(opt, n, bs, n_acc):
    x, y = make_data(n)
    big_bs = -(-n_acc // bs) * bs  # samples in a full window
    learn = learner(make_model(), x, y, bs, OPTS[opt], [GradientAccumulation(n_acc)], wd=0.01)
    with learn.silent():
        learn.fit(1e-2, 2)
    oracle = make_model()
    raw_loop(oracle, x, y, big_bs, OPTS[opt](oracle.parameters(), lr=1e-2, weight_decay=0.01), 2)
    assert_same_weights(learn.model, oracle)
    assert not torch.equal(learn.model[0].weight, make_model()[0].weight)  # it did train


def test_without_accumulation_the_same_fit_differs():
    """The control: the equivalence above is not something any small-batch fit would pass."""
    x, y = make_data(128)
    learn = learner(make_model(), x, y, 16, OPTS["sgd"])
    with learn.silent():
        learn.fit(1e-2, 2)
    oracle = make_model()
    raw_loop(oracle, x, y, 64, OPTS["sgd"](oracle.parameters(), lr=1e-2), 2)
    assert (learn.model[0].weight - oracle[0].weight).abs().max() > 1e-3


def test_recorded_losses_are_the_true_batch_losses():
    x, y = make_data(64)
    model = make_model()
    expected = [nn.functional.mse_loss(model(x[i:i + 16]), y[i:i + 16]).item() for i in range(0, 64, 16)]
    learn = learner(model, x, y, 16, OPTS["sgd"], [GradientAccumulation(64)])
    with learn.silent():
        learn.fit(1e-2, 1)  # one window: the weights do not change until the 4th batch's step
    assert learn.recorder.loss_values().tolist() == pytest.approx(expected, rel=1e-6)


class StepProbe(Callback):
    """Runs in before_step after every built-in (order 30): sees only batches that step."""

    order = 30

    def before_fit(self):
        self.iters, self.lrs = [], []

    def before_step(self):
        self.iters.append(self.learn.iter)
        self.lrs.append(self.learn.opt.param_groups[0]["lr"])


def test_step_uses_the_lr_of_the_batch_that_completes_the_window():
    x, y = make_data(128)
    sched = ParamScheduler({"lr": lambda pos: 0.1 * (1 - pos)})  # per batch: pos = batch / 16
    probe = StepProbe()
    learn = learner(make_model(), x, y, 16, OPTS["sgd"], [GradientAccumulation(64), sched, probe])
    with learn.silent():
        learn.fit(0.1, 2)
    assert probe.iters == [3, 7, 3, 7]
    steps_at = [3, 7, 11, 15]  # training batches that step, counted over the fit
    assert probe.lrs == pytest.approx([0.1 * (1 - b / 16) for b in steps_at])
    oracle = make_model()
    raw_loop(oracle, x, y, 64, OPTS["sgd"](oracle.parameters(), lr=0.1), 2,
             lr_at=lambda step: 0.1 * (1 - steps_at[step] / 16))
    assert_same_weights(learn.model, oracle)


def test_clipping_sees_the_whole_window_gradient():
    x, y = make_data(128)
    cbs = [GradientAccumulation(64), GradientClipping(max_norm=0.05)]
    learn = learner(make_model(), x, y, 16, OPTS["sgd"], cbs)
    with learn.silent():
        learn.fit(1e-1, 1)
    oracle = make_model()
    raw_loop(oracle, x, y, 64, OPTS["sgd"](oracle.parameters(), lr=1e-1), 1, max_norm=0.05)
    assert_same_weights(learn.model, oracle)
    assert float(cbs[1].last_norm) > 0.05  # the clip really bit


class ReachesUnscale(Callback):
    """before_step between GradientAccumulation (5) and MixedPrecision (10): records the
    batches on which MixedPrecision will call GradScaler.unscale_."""

    order = 9

    def before_fit(self):
        self.iters = []

    def before_step(self):
        self.iters.append(self.learn.iter)


class SmallInitScale(Callback):
    """GradScaler starts at 2**16, where this model's fp16 weight gradients overflow (a batch
    of 64 sums more per element than one of 16): start at 256 so neither run skips a step."""

    order = 11  # after MixedPrecision.before_fit has made its scaler

    def before_fit(self):
        self.learn.get_cb(MixedPrecision).scaler = torch.amp.GradScaler("cpu", init_scale=256.0)


def test_fp16_grad_scaler_unscales_once_per_step():
    """MixedPrecision(float16) runs the CUDA recipe (autocast + GradScaler) on the CPU."""
    x, y = make_data(128)
    unscales, steps = ReachesUnscale(), StepProbe()
    cbs = [GradientAccumulation(64), MixedPrecision(dtype=torch.float16), SmallInitScale(),
           unscales, steps]
    learn = learner(make_model(), x, y, 16, OPTS["sgd"], cbs)
    with learn.silent():
        learn.fit(1e-2, 1)
    assert unscales.iters == steps.iters == [3, 7]  # unscale_ once per step, not per batch
    big = learner(make_model(), x, y, 64, OPTS["sgd"], [MixedPrecision(dtype=torch.float16),
                                                        SmallInitScale()])
    with big.silent():
        big.fit(1e-2, 1)
    assert_same_weights(learn.model, big.model, atol=2e-4)  # fp16 forward: measured 2e-5 apart


def test_fp16_overflow_skips_the_whole_window_and_halves_the_scale_once():
    x, y = make_data(128)
    probe, mp = StepProbe(), MixedPrecision(dtype=torch.float16)
    learn = learner(make_model(), x, y, 16, OPTS["sgd"], [GradientAccumulation(64), mp, probe])
    with learn.silent():
        learn.fit(1e-2, 1)  # at the default scale 2**16 the first window's gradients overflow
    assert probe.iters == [7]  # the first window's step was skipped, the second stepped
    assert mp.scaler.get_scale() == 2.0**15  # update() ran once per window, not per batch


def test_a_cancelled_epoch_leaves_no_gradient_behind():
    from minifast import CancelTrainException

    class StopAfterTwo(Callback):
        def after_batch(self):
            if self.learn.training and self.learn.epoch == 0 and self.learn.iter == 1:
                raise CancelTrainException()

    x, y = make_data(128)
    learn = learner(make_model(), x, y, 16, OPTS["sgd"], [GradientAccumulation(64), StopAfterTwo()])
    with learn.silent():
        learn.fit(1e-2, 2)  # epoch 0 stops mid-window; epoch 1 must start from clean gradients
    oracle = make_model()
    raw_loop(oracle, x, y, 64, OPTS["sgd"](oracle.parameters(), lr=1e-2), 1)
    assert_same_weights(learn.model, oracle)


@pytest.mark.parametrize("bad", [0, -4, 2.5, "64"])
def test_rejects_a_bad_n_acc(bad):
    with pytest.raises(ValueError, match="n_acc"):
        GradientAccumulation(bad)
