"""The CUDA path: mixed precision (fp16 + GradScaler, bf16), channels-last, pinned memory with
non_blocking copies, precompute and TTA, save on the GPU / load on the CPU.

Marked `cuda` and skipped without a GPU. On a GPU machine:

    pytest -m cuda tests/test_cuda.py -v

`MINIFAST_TEST_DEVICE=cpu pytest -m cuda tests/test_cuda.py` runs the same checks on the CPU: a
dry run of the tests' own logic (it proves nothing about CUDA). docs/cuda.md says what has run.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from minifast import (
    Callback,
    ConvLearner,
    DataBunch,
    GradientAccumulation,
    GradientClipping,
    Learner,
    MixedPrecision,
    efficientnet_lite0,
)
from minifast.data import ImageClassifierData, transforms_side_on
from minifast.vision.archs import tfms_from_model
from tests.conftest import synth_data
from tests.data_fakes import make_class_folders
from tests.test_vision_learner import tensor_data

DEVICE = os.environ.get("MINIFAST_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def mlp_learner(data=None) -> Learner:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 1))
    data = data if data is not None else synth_data(n_train=256, n_valid=64)
    return Learner(model, data, loss_func=nn.MSELoss(), metrics=[], opt_func=torch.optim.AdamW,
                   wd=0.0, device=DEVICE)


class PredDtype(Callback):
    def before_fit(self):
        self.dtypes = set()

    def after_pred(self):
        self.dtypes.add(self.learn.pred.dtype)


# ---------------------------------------------------------------- mixed precision
def test_fp16_with_grad_scaler_trains():
    learn, mp, probe = mlp_learner(), MixedPrecision(dtype=torch.float16), PredDtype()
    with learn.silent():
        learn.fit(1e-2, 4, cbs=[mp, probe])
    assert mp.scaler is not None and probe.dtypes == {torch.float16}
    valid = learn.recorder.metric("valid_loss")
    assert valid[-1] < valid[0] / 4, valid
    assert all(p.dtype == torch.float32 and p.device.type == DEVICE for p in learn.model.parameters())


def test_default_precision_on_cuda_is_fp16_with_a_scaler():
    learn, mp = mlp_learner(), MixedPrecision()
    with learn.silent():
        learn.fit(1e-2, 1, cbs=[mp])
    expected = torch.float16 if DEVICE == "cuda" else torch.bfloat16
    assert mp.fit_dtype == expected and (mp.scaler is not None) == (DEVICE == "cuda")


def test_bf16_trains():
    if DEVICE == "cuda" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    learn, mp, probe = mlp_learner(), MixedPrecision(dtype=torch.bfloat16), PredDtype()
    with learn.silent():
        learn.fit(1e-2, 4, cbs=[mp, probe])
    assert mp.scaler is None and probe.dtypes == {torch.bfloat16}
    valid = learn.recorder.metric("valid_loss")
    assert valid[-1] < valid[0] / 4, valid


def test_fp16_with_accumulation_and_clipping_trains():
    learn = mlp_learner()
    cbs = [GradientAccumulation(64), MixedPrecision(dtype=torch.float16), GradientClipping(1.0)]
    with learn.silent():
        learn.fit(1e-2, 6, cbs=cbs)
    valid = learn.recorder.metric("valid_loss")
    assert valid[-1] < valid[0] / 2, valid
    assert cbs[2].last_norm is not None and torch.isfinite(cbs[2].last_norm)


# ---------------------------------------------------------------- memory layout and transfers
def conv_learner(data, tmp_path, **kwargs) -> ConvLearner:
    torch.manual_seed(0)
    return ConvLearner.pretrained(efficientnet_lite0, data, path=tmp_path, device=DEVICE, **kwargs)


def test_channels_last_gives_the_same_predictions_and_trains(tmp_path):
    data = tensor_data(n_train=8, n_valid=8)
    plain, nhwc = conv_learner(data, tmp_path), conv_learner(data, tmp_path, channels_last=True)
    conv = next(m for m in nhwc.model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(nhwc.get_preds()[0], plain.get_preds()[0], atol=1e-3, rtol=1e-3)
    nhwc.unfreeze()
    with nhwc.silent():
        nhwc.fit(1e-3, 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)  # the step kept the layout
    assert np.isfinite(nhwc.recorder.metric("valid_loss")[-1])


def test_pinned_batches_train_exactly_as_unpinned_ones():
    """to_device copies pinned batches with non_blocking=True; the result must not change."""
    def loaders(pin: bool) -> DataBunch:
        data = synth_data(n_train=256, n_valid=64)
        ds_t, ds_v = data.train_dl.dataset, data.valid_dl.dataset
        return DataBunch(DataLoader(ds_t, batch_size=16, pin_memory=pin),
                         DataLoader(ds_v, batch_size=16, pin_memory=pin))

    pinned_data = loaders(True)
    if DEVICE == "cuda":
        assert next(iter(pinned_data.train_dl))[0].is_pinned()
    runs = []
    for data in (pinned_data, loaders(False)):
        learn = mlp_learner(data)
        with learn.silent():
            learn.fit(1e-2, 2)
        runs.append([p.detach().cpu() for p in learn.model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def image_learner(tmp_path, device=DEVICE) -> ConvLearner:
    folder = tmp_path / "images"
    if not folder.exists():
        make_class_folders(folder, {"red": 8, "blue": 8})  # 16 random 20x24 RGB images
    tfms = tfms_from_model(efficientnet_lite0, 32, aug_tfms=transforms_side_on, max_zoom=1.1)
    data = ImageClassifierData.from_folder(folder, bs=4, tfms=tfms, valid_pct=0.25, seed=0)
    torch.manual_seed(0)
    return ConvLearner.pretrained(efficientnet_lite0, data, path=tmp_path / "work", device=device)


def test_image_data_pins_memory_when_there_is_a_gpu(tmp_path):
    learn = image_learner(tmp_path)
    assert learn.data.train_dl.pin_memory == torch.cuda.is_available()


# ---------------------------------------------------------------- precompute, TTA, save/load
def test_precompute_head_gives_the_full_model_predictions(tmp_path):
    learn = conv_learner(tensor_data(n_train=8, n_valid=4), tmp_path, precompute=True)
    with learn.silent():
        learn.fit(1e-2, 2)
    cached, _ = learn.get_preds()  # cached body features through the head
    learn.precompute = False
    full, _ = learn.get_preds()  # images through the whole model on the device
    torch.testing.assert_close(cached, full, atol=1e-4, rtol=1e-4)


def test_tta_on_the_device_matches_the_cpu(tmp_path):
    learn, on_cpu = image_learner(tmp_path), image_learner(tmp_path, device="cpu")
    log_preds, y = learn.TTA(n_aug=2)
    assert log_preds.shape == (3, 4, 2) and np.allclose(np.exp(log_preds).sum(-1), 1, atol=1e-4)
    probs, targets = learn.get_preds()
    assert np.allclose(log_preds[0], probs.log().numpy(), atol=1e-4)  # pass 0: no augmentation
    assert np.array_equal(y, targets.numpy())
    assert np.allclose(log_preds[0], on_cpu.TTA(n_aug=0)[0][0], atol=1e-3)


def test_save_on_the_device_load_on_the_cpu(tmp_path):
    data = tensor_data(n_train=8, n_valid=4)
    learn = conv_learner(data, tmp_path)
    with learn.silent():
        learn.fit(1e-2, 1)
    learn.save("gpu_model")
    torch.manual_seed(1)  # a different random head, so loading has something to do
    on_cpu = ConvLearner.pretrained(efficientnet_lite0, data, path=tmp_path, device="cpu")
    on_cpu.load("gpu_model")
    assert all(v.device.type == "cpu" for v in on_cpu.model.state_dict().values())
    assert all(s["exp_avg"].device.type == "cpu" for s in on_cpu.opt.state.values() if "exp_avg" in s)
    torch.testing.assert_close(on_cpu.get_preds()[0], learn.get_preds()[0], atol=1e-4, rtol=1e-4)
