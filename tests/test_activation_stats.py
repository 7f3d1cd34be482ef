"""ActivationStats: values against a hand computation, which modules, hooks removed, the plots."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minifast import ActivationStats, Callback, DataBunch, Learner, ProgressBar
from minifast.callbacks.activation_stats import ActivationStatsWarning


def tiny_model() -> nn.Sequential:
    """Linear(2, 2) with weights chosen so its outputs on X are easy numbers, then ReLU."""
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        model[0].bias.copy_(torch.tensor([0.0, 0.5]))
    return model


X = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
# model[0](X) = [[1, -1.5], [3, 1.5]];  ReLU -> [[1, 0], [3, 1.5]]


def fit(model, stats, n_epoch=2, x=X, bs=2, lr=0.0, cbs=(), quiet=True):
    ds = TensorDataset(x, torch.zeros(len(x), 1))
    valid = TensorDataset(100 * torch.ones(4, 2), torch.zeros(4, 1))  # would change every statistic
    learn = Learner(model, DataBunch(DataLoader(ds, batch_size=bs), DataLoader(valid, batch_size=2)),
                    loss_func=nn.MSELoss(), opt_func=torch.optim.SGD, metrics=[], wd=0.0,
                    cbs=[stats, *cbs], device="cpu")
    with learn.silent() if quiet else learn.removed_cbs(ProgressBar):  # silent() hides warnings
        learn.fit(lr, n_epoch)  # lr 0: the weights, hence the statistics, stay as computed by hand
    return learn


def test_values_match_a_hand_computation():
    model = tiny_model()
    stats = ActivationStats(modules=[model[0], model[1]], bins=4, hist_range=(0, 4))
    fit(model, stats)
    assert stats.names == ["0", "1"]
    # Linear: acts 1, -1.5, 3, 1.5 -> mean 1, deviations 0, -2.5, 2, 0.5 -> var 10.5 / 3
    # ReLU:   acts 1, 0, 3, 1.5    -> mean 1.375, deviations -.375, -1.375, 1.625, .125 -> var 4.6875 / 3
    expected_means = [[1.0, 1.0], [1.375, 1.375]]  # one column per training batch (2 epochs x 1)
    expected_stds = [[math.sqrt(3.5)] * 2, [math.sqrt(4.6875 / 3)] * 2]
    torch.testing.assert_close(stats.stacked("mean"), torch.tensor(expected_means))
    torch.testing.assert_close(stats.stacked("std"), torch.tensor(expected_stds))
    # |acts| in bins [0,1) [1,2) [2,3) [3,4]: Linear 1, 1.5, 3, 1.5 -> 0 3 0 1; ReLU 1, 0, 3, 1.5 -> 1 2 0 1
    hists = stats.stacked("hist")
    assert hists.shape == (2, 4, 2)  # layers, bins, recorded batches
    assert hists[0, :, 0].tolist() == [0, 3, 0, 1] and hists[1, :, 1].tolist() == [1, 2, 0, 1]
    assert stats.dead_fraction().tolist() == [[0.0, 0.0], [0.25, 0.25]]


def test_default_modules_are_the_leaf_layers_with_parameters():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)),
                          nn.Linear(4, 1))
    stats = ActivationStats()
    fit(model, stats, n_epoch=1)
    assert stats.names == ["0", "2.0", "2.1", "3"]
    assert stats.stacked("mean").shape == (4, 1)


def test_every_records_every_nth_training_batch():
    x = torch.randn(8, 2)
    stats = ActivationStats(every=3)
    fit(tiny_model(), stats, n_epoch=2, x=x, bs=2)  # 8 training batches: 0, 3, 6 recorded
    assert stats.stacked("mean").shape == (2, 3)


class Boom(Callback):
    def after_pred(self):
        raise RuntimeError("boom")


def hook_count(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_hooks_are_removed_after_fit_and_after_an_error():
    model = tiny_model()
    stats = ActivationStats()
    fit(model, stats, n_epoch=1)
    assert hook_count(model) == 0
    with pytest.raises(RuntimeError, match="boom"):
        fit(model, stats, n_epoch=1, cbs=[Boom()])
    assert hook_count(model) == 0
    model(X)  # a forward pass outside fit records nothing
    assert stats.stacked("mean").shape == (2, 1)  # the batch recorded before the error


def test_reading_before_a_fit_says_what_to_do():
    with pytest.raises(ValueError, match="add it to a fit"):
        ActivationStats().stacked("mean")


@pytest.mark.parametrize("kwargs", [{"every": 0}, {"bins": 0}, {"hist_range": (1, 1)}])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="ActivationStats"):
        ActivationStats(**kwargs)


def test_the_three_plots_draw_one_panel_per_layer():
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    stats = ActivationStats(modules=[model[1], model[3], model[4]])
    fit(model, stats, n_epoch=3, x=torch.randn(8, 2), lr=0.1)
    fig = stats.plot_stats()
    assert [len(ax.lines) for ax in fig.axes] == [3, 3]
    assert len(fig.axes[0].lines[0].get_xdata()) == 12  # 3 epochs x 4 batches
    for fig in (stats.color_dim(), stats.dead_chart()):
        assert sum(ax.get_visible() for ax in fig.axes) == 3  # a 2x2 grid, one panel hidden
    plt.close("all")


# ---------------------------------------------------------------- layers that return tuples
class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru, self.head = nn.GRU(2, 4, batch_first=True), nn.Linear(4, 1)

    def forward(self, x):
        out, _ = self.gru(x[:, None, :])  # a GRU returns (output, h_n)
        return self.head(out[:, -1])


class AttentionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn, self.head = nn.MultiheadAttention(2, 1, batch_first=True), nn.Linear(2, 1)

    def forward(self, x):
        q = x[:, None, :]
        out, _ = self.attn(q, q, q)  # attention returns (output, weights)
        return self.head(out[:, 0])


def test_a_gru_is_recorded_by_its_output_sequence():
    model, stats = GRUNet(), ActivationStats()
    fit(model, stats, n_epoch=2)
    assert stats.names == ["gru", "head"]
    out, _ = model.gru(X[:, None, :])
    torch.testing.assert_close(stats.stacked("mean")[0], out.mean().detach().repeat(2))


def test_attention_is_recorded_and_its_unused_projection_left_out_by_name():
    """MultiheadAttention's weights are its own (in_proj_weight); its out_proj child is never
    called as a module, so it records nothing: left out with a warning naming it."""
    stats = ActivationStats()
    with pytest.warns(ActivationStatsWarning, match=r"\[.attn.out_proj.\] gave no tensor output"):
        fit(AttentionNet(), stats, n_epoch=2, quiet=False)
    assert stats.names == ["attn", "head"] and stats.stacked("std").shape == (2, 2)


def test_nothing_to_hook_is_refused_when_the_fit_starts():
    with pytest.raises(ValueError, match="no layer with parameters to watch; pass the layers"):
        fit(tiny_model(), ActivationStats(modules=[]), n_epoch=1)


def test_layers_that_never_ran_are_explained_not_blamed_on_the_fit():
    model = tiny_model()
    unused = nn.Linear(2, 2)  # watched, but not part of the model's forward
    stats = ActivationStats(modules=[unused])
    fit(model, stats, n_epoch=1)
    with pytest.raises(ValueError, match=r"recorded nothing in its fit: its layers \['Linear'\]"):
        stats.stacked("mean")
