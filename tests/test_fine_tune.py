"""ConvLearner.fine_tune: fastai v2's recipe — a one-cycle fit of the head, then of everything
with differential lrs — checked lr by lr against PyTorch's OneCycleLR."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minifast import Callback, ConvLearner, DataBunch
from minifast.vision.head import TransferModel, create_head
from tests.test_schedule import torch_one_cycle


class FitLog(Callback):
    """Keeps, per fit: which layer groups train, precompute, and the Recorder's per-batch lrs."""
    order = 51  # after the Recorder (50)

    def __init__(self):
        self.fits = []

    def before_fit(self):
        groups = self.learn.layer_groups
        self.fits.append({"trainable": [any(p.requires_grad for p in nn.ModuleList([g]).parameters())
                                        for g in groups], "precompute": self.learn.precompute})

    def after_fit(self):
        self.fits[-1]["lrs"] = np.array(self.learn.recorder.lrs)


def tiny_conv_learner(tmp_path, precompute: bool = False) -> ConvLearner:
    """A random 2-conv body in two layer groups + the default head: 8 images, 2 batches an epoch."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(12, 3, 8, 8, generator=g), torch.arange(12) % 3
    data = DataBunch(DataLoader(TensorDataset(x[:8], y[:8]), batch_size=4),
                     DataLoader(TensorDataset(x[8:], y[8:]), batch_size=4), classes=["a", "b", "c"])
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    model = TransferModel(body, create_head(8, 3, xtra_fc=[]))
    return ConvLearner(model, data, [body[:3], body[3:]], precompute=precompute, path=tmp_path,
                       device="cpu")


def test_fine_tune_lrs_per_group_match_two_one_cycles(tmp_path):
    learn, log = tiny_conv_learner(tmp_path), FitLog()
    learn.add_cb(log)
    learn.unfreeze()  # fine_tune freezes first, whatever the state it is given
    with learn.silent():
        learn.fine_tune(3, base_lr=2e-3, freeze_epochs=2)
    head_fit, all_fit = log.fits
    assert head_fit["trainable"] == [False, False, True]
    assert all_fit["trainable"] == [True, True, True]
    # 1. slice(2e-3): the head at 2e-3, frozen groups at a tenth; pct_start 0.99, div 25
    expected, _ = torch_one_cycle(4, [2e-4, 2e-4, 2e-3], 25.0, 0.99, 1e4, torch.optim.AdamW)
    np.testing.assert_allclose(head_fit["lrs"], expected, rtol=1e-6)
    # 2. base_lr halved: slice(1e-3 / 100, 1e-3) spread geometrically; pct_start 0.3, div 5
    expected, _ = torch_one_cycle(6, [1e-5, 1e-4, 1e-3], 5.0, 0.3, 1e4, torch.optim.AdamW)
    np.testing.assert_allclose(all_fit["lrs"], expected, rtol=1e-6)
    assert all_fit["lrs"][0] == pytest.approx([1e-5 / 5, 1e-4 / 5, 1e-3 / 5], rel=1e-9)


def test_fine_tune_trains_the_head_on_the_cache_then_the_body_on_images(tmp_path):
    learn, log = tiny_conv_learner(tmp_path, precompute=True), FitLog()
    learn.add_cb(log)
    body_before = {k: v.clone() for k, v in learn.model.body.state_dict().items()}
    with learn.silent():
        learn.fine_tune(1)
    assert [fit["precompute"] for fit in log.fits] == [True, False]
    assert learn.precompute is False
    changed = [not torch.equal(v, learn.model.body.state_dict()[k]) for k, v in body_before.items()]
    assert any(changed)  # the second fit trained the body
