"""The LR finder: the sweep, the stop on divergence, the restore (also after errors), the plot."""
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from minifast import Callback, Learner, LRFinder, lr_suggestions, mnist_sample_data
from minifast.demo import simple_cnn
from tests.conftest import synth_learner


def snapshot(learn):
    """Deep copies of the model's and the optimiser's state, to compare bit for bit."""
    model = {k: v.clone() for k, v in learn.model.state_dict().items()}
    opt = learn.opt.state_dict()
    opt_state = {i: {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()}
                 for i, s in opt["state"].items()}
    return model, opt_state, [dict(g) for g in opt["param_groups"]]


def assert_same(a, b):
    model_a, state_a, groups_a = a
    model_b, state_b, groups_b = b
    assert model_a.keys() == model_b.keys()
    assert all(torch.equal(model_a[k], model_b[k]) for k in model_a)
    assert state_a.keys() == state_b.keys()
    for i in state_a:
        assert all(torch.equal(torch.as_tensor(state_a[i][k]), torch.as_tensor(state_b[i][k]))
                   for k in state_a[i])
    assert groups_a == groups_b


SGD_MOMENTUM = partial(torch.optim.SGD, momentum=0.9)


def trained_learner(opt_func=SGD_MOMENTUM, **kwargs) -> Learner:
    """A synth learner after one epoch, so the optimiser has state (momentum buffers) to lose."""
    learn = synth_learner(n_train=160, bs=16, opt_func=opt_func, **kwargs)  # 10 batches per epoch
    with learn.silent():
        learn.fit(0.05, 1)
    return learn


def lr_find(learn, *args, **kwargs):
    with learn.silent():
        learn.lr_find(*args, **kwargs)
    return np.array(learn.recorder.lrs)[:, -1], learn.recorder.smooth_losses()


# ---------------------------------------------------------------------- the sweep
def test_exponential_sweep():
    learn = trained_learner()
    lrs, _ = lr_find(learn, 1e-4, 1e-2, num_it=10)
    assert lrs == pytest.approx(1e-4 * 100 ** (np.arange(10) / 10), rel=1e-12)
    assert learn.recorder.values == []  # no epoch finished: the sweep cancels the fit at its end


def test_by_default_the_sweep_is_100_batches_even_when_an_epoch_is_shorter():
    learn = trained_learner()  # 10 batches per epoch
    lrs, _ = lr_find(learn, 1e-6, 1e-5)  # an lr too small to diverge: the sweep runs to its end
    assert len(lrs) == 100 and lrs[-1] == pytest.approx(1e-6 * 10 ** (99 / 100))
    assert learn.recorder.values == []  # one long epoch, cancelled at its end: no table row


def test_a_small_data_set_gets_suggestions_from_at_least_50_points():
    learn = synth_learner(n_train=256, bs=16)  # 16 batches per epoch
    with learn.silent():
        found = learn.lr_find()
    lrs, losses = learn.recorder.lr_curve()
    assert found is not None and len(lrs) >= 50
    assert lrs[0] <= found.steepest <= lrs[-1]


def test_a_lucky_first_batch_does_not_end_the_sweep():
    """After head training the loss is tiny and noisy: the best loss counts from batch 10 on,
    so one small early loss cannot make the sweep stop after a dozen points."""
    learn = trained_learner()

    class LuckyFirstBatch(Callback):
        def after_loss(self):
            if self.learn.training and self.learn.iter == 0 and self.learn.train_iter == 0:
                self.learn.loss = self.learn.loss * 0.01

    learn.add_cb(LuckyFirstBatch())
    lrs, _ = lr_find(learn, 1e-6, 1e-5, num_it=60)
    assert len(lrs) == 60


def test_the_sweep_leaves_the_epoch_counters_as_they_were():
    learn = trained_learner()
    learn.fit(0.05, 3)
    lr_find(learn, 1e-5, 1e-3, num_it=25)
    assert (learn.epoch, learn.n_epoch, learn.start_epoch) == (2, 3, 0)


def test_linear_sweep():
    learn = trained_learner()
    lrs, _ = lr_find(learn, 1e-4, 1e-2, num_it=10, linear=True)
    assert lrs == pytest.approx(1e-4 + (1e-2 - 1e-4) * np.arange(10) / 10, rel=1e-12)


def test_num_it_larger_than_an_epoch_runs_on_without_validating():
    learn = trained_learner()
    valid_batches = []

    class CountValid(Callback):
        def after_pred(self):
            if not self.learn.training:
                valid_batches.append(1)

    learn.add_cb(CountValid())
    lrs, _ = lr_find(learn, 1e-5, 1e-3, num_it=25)  # 10 batches per epoch: 3 epochs, stop at 25
    assert len(lrs) == 25 and lrs[-1] == pytest.approx(1e-5 * 100 ** (24 / 25))
    assert valid_batches == []


def test_stops_when_the_smoothed_loss_passes_4x_its_best():
    learn = trained_learner()
    with learn.silent():
        learn.fit_epochs(1, 1e-4, cbs=[LRFinder(1e-4, 1e4, num_it=100)])
    smooth = learn.recorder.smooth_losses()  # the finder's own smoothing, number for number
    assert 10 < len(smooth) < 100
    best = np.minimum.accumulate(smooth[LRFinder.warmup - 1:])  # best from the 10th batch on
    assert np.isnan(smooth[-1]) or smooth[-1] > 4 * best[-2]
    assert np.all(smooth[LRFinder.warmup:-1] <= 4 * best[:-2])  # no earlier stop


def test_stops_on_nan():
    learn = trained_learner()

    class NaNLoss(Callback):
        def after_loss(self):
            if self.learn.iter == 3:
                self.learn.loss = self.learn.loss * float("nan")

    learn.add_cb(NaNLoss())
    lrs, smooth = lr_find(learn, 1e-4, 1e-3)
    assert len(lrs) == 4 and np.isnan(smooth[-1])


# ---------------------------------------------------------------------- the restore
@pytest.mark.parametrize("opt_func", [partial(torch.optim.SGD, momentum=0.9), torch.optim.AdamW])
def test_model_and_optimiser_are_bit_identical_afterwards(opt_func):
    learn = trained_learner(opt_func=opt_func)
    before = snapshot(learn)
    lr_find(learn, 1e-5, 10)
    assert_same(before, snapshot(learn))


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_restored_also_when_a_callback_raises_mid_sweep(error):
    learn = trained_learner()
    before = snapshot(learn)

    class Raise(Callback):
        def after_step(self):
            if self.learn.iter == 5:
                raise error

    with pytest.raises(type(error)):
        learn.fit_epochs(1, 0.05, cbs=[LRFinder(1e-3, 1.0), Raise()])  # 0.05: the lr it had
    assert_same(before, snapshot(learn))
    assert len(learn.recorder.lrs) == 6  # it really trained 5 steps before the error


def test_lr_find_on_a_fresh_learner_leaves_a_fresh_optimiser():
    learn = synth_learner()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    lr_find(learn)
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())
    assert learn.opt.state_dict()["state"] == {}


@pytest.mark.parametrize("args, match", [((0.0, 1.0), "0 < start_lr < end_lr"),
                                         ((1.0, 1e-3), "0 < start_lr < end_lr"),
                                         ((1e-5, 1.0, 1), "at least 2 batches"),
                                         ((1e-5, 1.0, 2.5), "num_it must be a whole number")])
def test_bad_arguments_are_refused_before_anything_changes(args, match):
    learn = trained_learner()
    before = snapshot(learn)
    with pytest.raises(ValueError, match=match):
        learn.lr_find(*args)
    assert_same(before, snapshot(learn))


# ---------------------------------------------------------------------- the suggestion
def test_suggestions_on_a_known_curve():
    lrs = np.geomspace(1e-4, 1.0, 81)
    losses = 2 - np.tanh(2 * (np.log10(lrs) + 2)) + np.maximum(np.log10(lrs) + 1, 0) ** 2 * 5
    got = lr_suggestions(lrs, losses)
    assert got._fields == ("steepest", "min_div10", "valley")
    assert got.steepest == pytest.approx(1e-2, rel=1e-9)  # tanh is steepest at its centre
    assert got.min_div10 == pytest.approx(lrs[np.argmin(losses)] / 10, rel=1e-12)


def test_valley_is_the_middle_of_the_longest_descent_and_lies_on_the_curve():
    from minifast.lr_finder import valley

    # a short dip at the start, then the long descent over points 2..11 (with a bump), a blow-up
    losses = np.array([2.0, 1.0, 3.0, 2.9, 2.8, 2.95, 2.6, 2.4, 2.2, 2.0, 1.8, 1.6, 5.0])
    assert valley(losses) == 2 + (11 - 2) // 2  # the bump at 5 does not break the descent
    # after unfreeze(): lowest at the first point, rising after -- min/10 is left of the curve
    lrs = np.geomspace(1e-6, 1e-2, 40)
    rising = 1.0 + np.linspace(0, 1, 40) ** 2 + 0.01 * np.sin(np.arange(40))
    got = lr_suggestions(lrs, rising)
    assert got.min_div10 < lrs[0] and lrs[0] <= got.valley <= lrs[-1]
    assert got.valley in lrs


def test_suggestions_ignore_nan_and_refuse_a_flat_lr():
    lrs = np.geomspace(1e-4, 1.0, 5)
    got = lr_suggestions(lrs, np.array([3.0, 2.0, 1.0, 0.5, np.nan]))
    assert got.min_div10 == pytest.approx(lrs[3] / 10)
    with pytest.raises(ValueError, match="strictly increasing"):
        lr_suggestions(np.full(5, 1e-3), np.arange(5.0))


# ---------------------------------------------------------------------- a real problem
def check_lr_find_on_mnist(model, bs, n_train, tmp_path):
    """lr_find on the MNIST sample: weights unchanged, suggestions where the loss falls, a PNG."""
    import matplotlib.pyplot as plt

    learn = Learner(model, mnist_sample_data(bs=bs, n_train=n_train), device="cpu")
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with learn.silent():
        returned = learn.lr_find(1e-5, 10)
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())
    ax = learn.sched.plot()
    ax.figure.savefig(tmp_path / "lr_find.png")
    plt.close("all")
    lrs, smooth = np.array(learn.recorder.lrs)[:, -1], learn.recorder.smooth_losses()
    shown_lrs, shown = lrs[10:-5], smooth[10:-5]  # what the plot shows
    lr_min = shown_lrs[np.argmin(shown)]
    steepest, min_10, valley = learn.sched.suggestions()
    assert returned == (steepest, min_10, valley)  # lr_find returns what the plot marks
    assert shown_lrs[0] <= valley < lr_min and valley in shown_lrs
    assert shown_lrs[0] <= steepest < lr_min and shown_lrs[0] <= min_10 < lr_min
    at = np.interp(np.log([steepest, min_10]), np.log(shown_lrs), shown)
    assert np.all(at < shown[0])  # the loss there is already lower than at the start of the plot
    assert shown.min() < 0.8 * shown[0]  # and it really falls: a real curve, not noise
    assert len(ax.lines) >= 4 and (tmp_path / "lr_find.png").stat().st_size > 1000


def test_mnist_sample_mlp_suggestion_lies_where_the_loss_falls(tmp_path):
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    check_lr_find_on_mnist(mlp, bs=32, n_train=3200, tmp_path=tmp_path)  # 100 batches


@pytest.mark.slow
def test_mnist_sample_cnn_suggestion_lies_where_the_loss_falls(tmp_path):
    torch.manual_seed(0)
    check_lr_find_on_mnist(simple_cnn(), bs=64, n_train=None, tmp_path=tmp_path)  # 125 batches


def test_lr_find_returns_none_when_the_sweep_is_too_short():
    learn = synth_learner()
    with learn.silent():
        assert learn.lr_find(num_it=2) is None  # two points: no curve to read
