"""Schedules: the pure functions, SGDR and one-cycle against PyTorch's schedulers, the preview."""
import math
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from minifast import Callback, Learner
from minifast.schedule import (
    OneCycle,
    ParamScheduler,
    combine_scheds,
    sched_cos,
    sched_exp,
    sched_lin,
    sched_no,
    sgdr_factor,
    sgdr_n_epochs,
)
from minifast.schedule_preview import plot_schedule, preview_fit, preview_one_cycle, schedule_values
from tests.conftest import synth_data, synth_learner


def three_group_learner(opt_func=torch.optim.SGD, n_train=64, bs=16, **kwargs) -> Learner:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 1))
    return Learner(model, synth_data(n_train=n_train, bs=bs), loss_func=nn.MSELoss(), metrics=[],
                   device="cpu", opt_func=opt_func, wd=0.0,
                   layer_groups=[model[0], model[2], model[3]], **kwargs)


def fit_silently(learn, method, *args, **kwargs):
    with learn.silent():
        method(*args, **kwargs)
    return np.array(learn.recorder.lrs), np.array(learn.recorder.moms)


# ---------------------------------------------------------------------- pure functions
@pytest.mark.parametrize("sched, expected", [
    (sched_no, [2.0, 2.0, 2.0]),
    (sched_lin, [2.0, 5.0, 8.0]),
    (sched_cos, [2.0, 5.0, 8.0]),
    (sched_exp, [2.0, 4.0, 8.0]),
])
def test_basic_schedules_at_start_middle_end(sched, expected):
    got = [sched(2.0, 8.0, pos) for pos in (0.0, 0.5, 1.0)]
    assert got == pytest.approx(expected, rel=1e-12)


def test_cos_is_flat_at_the_ends_and_lin_is_not():
    assert sched_cos(1.0, 0.0, 0.1) == pytest.approx((math.cos(0.1 * math.pi) + 1) / 2)
    assert sched_cos(1.0, 0.0, 0.1) > sched_lin(1.0, 0.0, 0.1)


def test_schedules_take_one_value_per_group():
    lrs = np.array([1e-4, 1e-3, 1e-2])
    out = sched_cos(lrs, 0.0, 0.25)
    assert out == pytest.approx(lrs * (math.cos(0.25 * math.pi) + 1) / 2, rel=1e-12)
    assert out[1] / out[0] == pytest.approx(10.0) and out[2] / out[1] == pytest.approx(10.0)


def test_combine_scheds_gives_each_part_its_own_position():
    sched = combine_scheds([0.25, 0.75], [partial(sched_lin, 0.0, 1.0), partial(sched_lin, 1.0, 0.0)])
    assert [sched(p) for p in (0.0, 0.125, 0.25, 0.625, 1.0)] == pytest.approx([0, 0.5, 1, 0.5, 0])


def test_combine_scheds_rejects_bad_pcts():
    with pytest.raises(ValueError, match="sum to 0.9"):
        combine_scheds([0.3, 0.6], [sched_no, sched_no])
    with pytest.raises(ValueError, match="2 pcts for 1 schedules"):
        combine_scheds([0.5, 0.5], [sched_no])


@pytest.mark.parametrize("n_cycle, cycle_len, cycle_mult, expected", [
    (1, 1, 1, 1), (3, 1, 1, 3), (3, 1, 2, 7), (3, 2, 2, 14), (2, 3, 3, 12), (4, 1, 2, 15),
])
def test_sgdr_epoch_count_is_the_geometric_sum(n_cycle, cycle_len, cycle_mult, expected):
    assert sgdr_n_epochs(n_cycle, cycle_len, cycle_mult) == expected
    if cycle_mult > 1:
        assert expected == cycle_len * (cycle_mult**n_cycle - 1) // (cycle_mult - 1)


@pytest.mark.parametrize("args, name", [((0, 1, 1), "n_cycle"), ((2, 1.5, 1), "cycle_len"),
                                        ((2, 1, 0), "cycle_mult"), ((True, 1, 1), "n_cycle")])
def test_sgdr_rejects_non_whole_counts(args, name):
    with pytest.raises(ValueError, match=f"{name} must be a whole number >= 1"):
        sgdr_n_epochs(*args)


# ---------------------------------------------------------------------- one-cycle vs PyTorch
def torch_one_cycle(n_steps, max_lrs, div, pct_start, final_div, opt_cls):
    """Per-step (lrs, moms) that torch.optim.lr_scheduler.OneCycleLR sets, per param group."""
    params = [nn.Parameter(torch.zeros(1)) for _ in max_lrs]
    opt = opt_cls([{"params": [p]} for p in params], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=list(max_lrs), total_steps=n_steps, pct_start=pct_start, div_factor=div,
        final_div_factor=final_div, anneal_strategy="cos", three_phase=False,
        base_momentum=0.85, max_momentum=0.95)
    lrs, moms = [], []
    for _ in range(n_steps):
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append([g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("n_epoch, n_iter, pct_start, div, final_div", [
    (1, 100, 0.3, 25.0, 1e4), (3, 7, 0.25, 10.0, 100.0), (2, 13, 0.5, 5.0, 1e4),
    (4, 5, 0.1, 25.0, 1.0), (1, 9, 0.9, 100.0, 1e3),
])
@pytest.mark.parametrize("opt_cls", [partial(torch.optim.SGD, momentum=0.9), torch.optim.Adam])
def test_one_cycle_matches_torch_onecyclelr(n_epoch, n_iter, pct_start, div, final_div, opt_cls):
    max_lrs = [1e-3, 1e-2]
    want_lr, want_mom = torch_one_cycle(n_epoch * n_iter, max_lrs, div, pct_start, final_div, opt_cls)
    got = schedule_values(OneCycle(max_lrs, div=div, pct_start=pct_start, final_div=final_div),
                          n_epoch, n_iter, n_groups=2)
    assert got["lr"].shape == (n_epoch * n_iter, 2)
    np.testing.assert_allclose(got["lr"], want_lr, rtol=1e-6, atol=0)
    np.testing.assert_allclose(got["mom"], want_mom, rtol=1e-6, atol=0)


@pytest.mark.parametrize("opt_func", [partial(torch.optim.SGD, momentum=0.9), torch.optim.AdamW])
def test_fit_one_cycle_sets_what_the_preview_and_torch_say(opt_func):
    learn = three_group_learner(opt_func=opt_func)  # 4 batches per epoch
    preview = preview_one_cycle(learn, 3, slice(1e-3, 1e-1), div=10.0, pct_start=0.25)
    lrs, moms = fit_silently(learn, learn.fit_one_cycle, 3, slice(1e-3, 1e-1), div=10.0, pct_start=0.25)
    assert np.array_equal(lrs, preview["lr"]) and np.array_equal(moms, preview["mom"])
    want_lr, want_mom = torch_one_cycle(12, [1e-3, 1e-2, 1e-1], 10.0, 0.25, 1e4, opt_func)
    np.testing.assert_allclose(lrs, want_lr, rtol=1e-6, atol=0)
    np.testing.assert_allclose(moms, want_mom, rtol=1e-6, atol=0)


def test_one_cycle_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pct_start=1.5, div=25.0"):
        OneCycle(1e-2, pct_start=1.5)
    with pytest.raises(ValueError, match="div=0, final_div=10000.0"):
        OneCycle(1e-2, div=0)


def test_one_cycle_on_an_optimiser_without_momentum_says_so():
    learn = synth_learner(opt_func=torch.optim.Adagrad)
    with pytest.raises(ValueError, match="Adagrad has no momentum or betas"):
        fit_silently(learn, learn.fit_one_cycle, 1, 1e-2)
    learn = synth_learner(opt_func=torch.optim.Adagrad)
    lrs, _ = fit_silently(learn, learn.fit_one_cycle, 1, 1e-2, moms=None)  # lr only: fine
    assert lrs[-1, 0] == pytest.approx(1e-2 / 25 / 1e4)


# ---------------------------------------------------------------------- SGDR vs PyTorch
@pytest.mark.parametrize("cycle_len, cycle_mult, n_cycle, n_iter", [
    (1, 1, 3, 40), (2, 1, 2, 30), (1, 2, 3, 20), (2, 2, 2, 10),
])
def test_sgdr_after_warmup_matches_cosine_annealing_warm_restarts(cycle_len, cycle_mult, n_cycle, n_iter):
    n_steps = sgdr_n_epochs(n_cycle, cycle_len, cycle_mult) * n_iter
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=cycle_len * n_iter, T_mult=cycle_mult, eta_min=0)
    want = []
    for _ in range(n_steps):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    got = np.array([0.1 * sgdr_factor(s, n_iter, cycle_len, cycle_mult) for s in range(n_steps)])
    n_warm = math.ceil(cycle_len * n_iter / 20)  # fastai 0.7: step < nb / 20
    assert np.array_equal(got[:n_warm], np.full(n_warm, 0.1 / 100))
    np.testing.assert_allclose(got[n_warm:], want[n_warm:], rtol=1e-6, atol=1e-15)


def test_sgdr_fit_runs_7_epochs_restarts_at_epochs_1_and_3_and_keeps_group_ratios():
    learn = three_group_learner()  # 4 batches per epoch
    base = np.array([1e-4, 1e-3, 1e-2])
    preview = preview_fit(learn, base, 3, cycle_len=1, cycle_mult=2)
    lrs, _ = fit_silently(learn, learn.fit, base, 3, cycle_len=1, cycle_mult=2)
    assert len(learn.recorder.values) == 7 and lrs.shape == (28, 3)
    assert np.array_equal(lrs, preview["lr"])  # the preview is the fit
    np.testing.assert_allclose(lrs / lrs[:, [0]], np.tile([1, 10, 100], (28, 1)), rtol=1e-12)
    top = lrs[:, 2]
    assert top[0] == pytest.approx(1e-4)  # warm-up: ceil(4 / 20) = 1 batch at lr/100
    assert [k for k in range(1, 28) if top[k] > top[k - 1]] == [1, 4, 12]  # warm-up end, restarts
    assert top[4] == top[12] == 1e-2  # restarts at the first batch of epochs 1 and 3
    cycle_2 = top[12:28]  # 4 epochs = 16 batches of half a cosine, never reaching 0
    np.testing.assert_allclose(cycle_2, 1e-2 * (np.cos(np.pi * np.arange(16) / 16) + 1) / 2, rtol=1e-12)


def test_sgdr_saves_at_the_end_of_each_cycle(tmp_path):
    learn = three_group_learner(path=tmp_path)
    with learn.silent():
        learn.fit(1e-2, 3, cycle_len=1, cycle_mult=2, cycle_save_name="snap")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "snap_cyc_0.pth", "snap_cyc_1.pth", "snap_cyc_2.pth"]
    final = {k: v.clone() for k, v in learn.model.state_dict().items()}
    learn.load("snap_cyc_2")  # the last cycle ends with the last epoch: the final weights
    assert all(torch.equal(final[k], v) for k, v in learn.model.state_dict().items())


def test_plain_fit_preview_is_constant():
    learn = three_group_learner()
    preview = preview_fit(learn, slice(1e-4, 1e-2), 2)
    lrs, _ = fit_silently(learn, learn.fit, slice(1e-4, 1e-2), 2)
    assert np.array_equal(lrs, preview["lr"]) and preview["lr"].shape == (8, 3)


# ---------------------------------------------------------------------- ParamScheduler
class SeeHypers(Callback):
    """Record the optimiser's wd and lr per group just before each step."""
    def before_fit(self): self.wds, self.lrs = [], []
    def before_step(self):
        self.wds.append([g["weight_decay"] for g in self.learn.opt.param_groups])
        self.lrs.append([g["lr"] for g in self.learn.opt.param_groups])


def test_param_scheduler_sets_any_hyper_per_group_each_batch():
    learn = three_group_learner()
    seen = SeeHypers()
    wd_start = np.array([0.0, 0.1, 0.2])
    scheds = {"wd": partial(sched_lin, wd_start, wd_start / 2), "lr": partial(sched_exp, 1e-3, 1e-1)}
    with learn.silent():
        learn.fit(1.0, 2, cbs=[ParamScheduler(scheds), seen])
    pos = np.arange(8) / 8  # 2 epochs x 4 batches
    np.testing.assert_allclose(seen.wds, wd_start[None, :] * (1 - pos[:, None] / 2), rtol=1e-12)
    np.testing.assert_allclose(seen.lrs, np.tile(1e-3 * 100 ** pos[:, None], (1, 3)), rtol=1e-12)


def test_a_bad_schedule_value_names_the_callback():
    learn = three_group_learner()
    with pytest.raises(ValueError, match="wd has 2 values but the model has 3") as err:
        learn.fit(1e-2, 1, cbs=[ParamScheduler({"wd": lambda pos: [0.1, 0.2]})])
    assert "ParamScheduler.before_batch" in "".join(err.value.__notes__)


# ---------------------------------------------------------------------- preview and plots
def test_preview_touches_nothing():
    learn = three_group_learner()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    preview_one_cycle(learn, 2, 1e-2)
    preview_fit(learn, 1e-2, 2, cycle_len=1)
    assert learn.opt is None
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())


def test_plots_render_to_png(tmp_path):
    import matplotlib.pyplot as plt

    learn = three_group_learner(opt_func=partial(torch.optim.SGD, momentum=0.9))
    ax = plot_schedule(preview_one_cycle(learn, 2, 1e-2))
    ax.figure.savefig(tmp_path / "preview.png")
    with learn.silent():
        learn.fit(np.array([1e-3, 1e-2, 1e-1]), 2, cycle_len=1)
    ax = learn.sched.plot_lr(show_moms=True)
    ax.figure.savefig(tmp_path / "lr.png")
    plt.close("all")
    assert (tmp_path / "preview.png").stat().st_size > 1000 and (tmp_path / "lr.png").stat().st_size > 1000
    assert len(ax.lines) == 3  # one line per param group


def test_a_bare_loop_follows_a_schedule():
    """The position the schedules read is the loop's own, so a `Loop` with no default callbacks
    follows a one-cycle schedule batch by batch, exactly as `hypers_at` gives it."""
    from minifast.loop import Loop
    learn = synth_learner()
    lrs = []

    class Probe(Callback):  # order 0: after the scheduler (-5) set this batch's lr
        def before_batch(self):
            if self.learn.training:
                lrs.append(self.learn.opt.param_groups[0]["lr"])

    one_cycle = OneCycle(0.1)
    Loop(learn.model, learn.data, cbs=[one_cycle, Probe()]).fit_epochs(2, 0.1)
    n_iter = len(learn.data.train_dl)
    expected = [one_cycle.hypers_at(i, n_iter, 2, 1)["lr"][0] for i in range(2 * n_iter)]
    assert lrs == pytest.approx(expected) and len(lrs) == 2 * n_iter
