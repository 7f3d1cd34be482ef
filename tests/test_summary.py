"""learn.summary(): exact output shapes and parameter counts on a small known model; the forward
pass leaves nothing behind (hooks, modes, BatchNorm statistics, gradients, the next fit)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minifast import DataBunch, Learner
from minifast.summary import LayerRow, layer_rows


def small_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def image_learner(tmp_path) -> Learner:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 3, 6, 6, generator=g), torch.randint(0, 2, (12,), generator=g)
    train = DataLoader(TensorDataset(x[:8], y[:8]), batch_size=4, shuffle=True, generator=g)
    valid = DataLoader(TensorDataset(x[8:], y[8:]), batch_size=4)
    torch.manual_seed(0)
    model = small_cnn()
    learn = Learner(model, DataBunch(train, valid), layer_groups=[model[:3], model[3:]],
                    path=tmp_path, device="cpu")
    learn.freeze()
    return learn


def test_rows_have_exact_shapes_counts_and_frozen_state(tmp_path):
    learn = image_learner(tmp_path)
    rows = layer_rows(learn.model, torch.zeros(4, 3, 6, 6))
    assert rows == [
        LayerRow("0", "Conv2d", [4, 4, 6, 6], 3 * 4 * 3 * 3 + 4, False),
        LayerRow("1", "BatchNorm2d", [4, 4, 6, 6], 4 + 4, False),
        LayerRow("2", "ReLU", [4, 4, 6, 6], 0, None),
        LayerRow("3", "AdaptiveAvgPool2d", [4, 4, 1, 1], 0, None),
        LayerRow("4", "Flatten", [4, 4], 0, None),
        LayerRow("5", "Linear", [4, 2], 4 * 2 + 2, True),
    ]
    assert sum(r.n_params for r in rows) == sum(p.numel() for p in learn.model.parameters()) == 130


def test_a_module_with_its_own_parameter_and_children_is_counted_once():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale, self.lin = nn.Parameter(torch.ones(3)), nn.Linear(3, 3)

        def forward(self, x):
            return self.lin(x) * self.scale

    model = Scaled()
    rows = layer_rows(model, torch.zeros(2, 3))
    assert [(r.name, r.n_params, r.out_shape) for r in rows] == [("", 3, [2, 3]), ("lin", 12, [2, 3])]
    assert sum(r.n_params for r in rows) == sum(p.numel() for p in model.parameters())


def test_summary_text_names_layers_totals_and_frozen_groups(tmp_path, capsys):
    text = image_learner(tmp_path).summary()
    assert text == capsys.readouterr().out.rstrip("\n")
    lines = text.splitlines()
    assert lines[0] == "Sequential on cpu, input [4, 3, 6, 6] (one training batch)"
    assert lines[2].split() == ["0", "Conv2d", "[4,", "4,", "6,", "6]", "112", "no", "(frozen)"]
    assert lines[7].split() == ["5", "Linear", "[4,", "2]", "10", "yes"]
    assert "total: 130 parameters, 10 trainable, 120 frozen" in lines
    assert "layer groups (2; frozen: [0]):" in lines


def test_summary_leaves_no_hook_mode_statistic_or_gradient_behind(tmp_path):
    learn = image_learner(tmp_path)
    model = learn.model
    model.train()
    model[1].eval()  # a frozen BatchNorm in eval mode inside a training model must stay so
    bn_mean = model[1].running_mean.clone()
    learn.summary()
    assert [m.training for m in model] == [True, False, True, True, True, True]
    assert all(not m._forward_hooks for m in model.modules())
    assert torch.equal(model[1].running_mean, bn_mean)
    assert all(p.grad is None for p in model.parameters()) and torch.is_grad_enabled()


def test_summary_does_not_change_the_next_fit(tmp_path):
    """The batch it draws moves no random number generator: the same fit gives the same loss."""
    losses = []
    for with_summary in (False, True):
        learn = image_learner(tmp_path)
        if with_summary:
            learn.summary()
        with learn.silent():
            learn.fit(1e-2, 1)
        losses.append(learn.recorder.losses)
    assert losses[0] == losses[1]
