"""Backbones and heads: real ImageNet predictions, cuts, splits, lookup by name, missing weights."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn

from minifast import efficientnet_lite0, resnet18, resnet34
from minifast.vision.archs import (
    ARCHS,
    IMAGENET_STATS,
    LITE_STATS,
    PretrainedWeightsUnavailable,
    arch_stats,
    get_arch,
    num_features,
    tfms_from_model,
)
from minifast.vision.head import AdaptiveConcatPool2d, TransferModel, create_head


@pytest.fixture(scope="module")
def lite0():
    return efficientnet_lite0().eval()


@pytest.mark.parametrize("image, allowed", [("chelsea", {281, 282, 285}), ("coffee", {967})])
def test_lite0_packaged_weights_predict_imagenet_classes(lite0, image, allowed):
    skimage_data = pytest.importorskip("skimage.data")
    img = Image.fromarray(getattr(skimage_data, image)())
    x = tfms_from_model(efficientnet_lite0, 224)[1](img)  # resize, centre crop, (x - 0.5) / 0.5
    with torch.no_grad():
        top1 = int(lite0(x[None]).argmax())
    assert top1 in allowed  # chelsea: tabby/tiger/Egyptian cat (281/282/285); coffee: espresso 967


def test_lite0_body_is_extract_features(lite0):
    body = get_arch("efficientnet_lite0").cut(lite0)
    x = torch.randn(2, 3, 64, 80)  # not square, not 224: 'same' padding is computed per input
    with torch.no_grad():
        assert torch.allclose(body(x), lite0.extract_features(x), atol=1e-5)


def test_arch_is_found_by_constructor_or_name():
    assert get_arch(resnet34) is get_arch("resnet34") is ARCHS["resnet34"]
    assert arch_stats(resnet34) == IMAGENET_STATS
    assert arch_stats("efficientnet_lite0") == LITE_STATS == ((0.5,) * 3, (0.5,) * 3)


def test_unknown_arch_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown architecture 'resnet35'.*resnet34"):
        get_arch("resnet35")


@pytest.mark.parametrize("name, n_features, n_children", [
    ("efficientnet_lite0", 1280, 22), ("resnet18", 512, 8), ("densenet121", 1024, 13)])
def test_body_cut_split_and_features(name, n_features, n_children):
    spec = get_arch(name)
    body = spec.cut(spec.make(False))
    assert isinstance(body, nn.Sequential) and len(body) == n_children
    assert num_features(body) == n_features
    halves = [body[: spec.split_at], body[spec.split_at:]]
    n0, n1 = (sum(p.numel() for p in h.parameters()) for h in halves)
    assert n0 > 0 and n1 > 0 and n0 + n1 == sum(p.numel() for p in body.parameters())


def test_resnet_body_drops_pool_and_fc():
    body = get_arch(resnet18).cut(resnet18(pretrained=False))
    assert [type(m).__name__ for m in body][-2:] == ["Sequential", "Sequential"]  # layer3, layer4
    assert body(torch.zeros(1, 3, 64, 64)).shape == (1, 512, 2, 2)


def test_torchvision_weights_from_the_hub_cache_no_network(tmp_path, monkeypatch):
    # The file placed where torch hub looks: loaded as is, no download attempted.
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    torch.manual_seed(0)
    reference = resnet18(pretrained=False).state_dict()
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference, tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    loaded = resnet18(pretrained=True).state_dict()
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)


def test_missing_torchvision_weights_say_where_to_put_them(tmp_path, monkeypatch):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))  # an empty hub dir: the weights must be downloaded
    def offline(url, dst, *args, **kwargs):
        raise OSError("[Errno -2] Name or service not known")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    try:
        with pytest.raises(PretrainedWeightsUnavailable) as info:
            resnet18(pretrained=True)
    finally:
        torch.hub.set_dir(old)
    message = str(info.value)
    assert str(tmp_path / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "pretrained=False" in message


def test_corrupt_cached_weights_are_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsUnavailable, match="pretrained=False"):
        resnet18(pretrained=True)


# ---------------------------------------------------------------- the head
def test_concat_pool_is_max_then_avg():
    x = torch.randn(2, 3, 5, 7)
    out = AdaptiveConcatPool2d()(x)
    assert torch.equal(out[:, :3, 0, 0], x.amax(dim=(2, 3)))
    assert torch.allclose(out[:, 3:, 0, 0], x.mean(dim=(2, 3)))


def test_default_head_layers():
    head = create_head(1280, 5)
    names = [type(m).__name__ for m in head]
    assert names == ["AdaptiveConcatPool2d", "Flatten", "BatchNorm1d", "Dropout", "Linear", "ReLU",
                     "BatchNorm1d", "Dropout", "Linear"]
    assert [m.p for m in head if isinstance(m, nn.Dropout)] == [0.25, 0.5]
    assert (head[4].in_features, head[4].out_features, head[8].out_features) == (2560, 512, 5)


def test_head_ps_and_xtra_fc():
    head = create_head(64, 3, xtra_fc=[32, 16], ps=0.1)
    assert [m.p for m in head if isinstance(m, nn.Dropout)] == [0.1, 0.1, 0.1]
    assert [m.out_features for m in head if isinstance(m, nn.Linear)] == [32, 16, 3]
    no_hidden = create_head(64, 3, xtra_fc=[], ps=[0.0])
    assert [type(m).__name__ for m in no_hidden] == ["AdaptiveConcatPool2d", "Flatten",
                                                      "BatchNorm1d", "Linear"]
    with pytest.raises(ValueError, match="one dropout per linear layer"):
        create_head(64, 3, xtra_fc=[32], ps=[0.1, 0.2, 0.3])


def test_transfer_model_precomputed_forward_matches_full():
    body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    model = TransferModel(body, create_head(8, 4)).eval()
    assert model.n_cached == 2  # pooling + flatten go into the cache
    x = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        full, feats = model(x), model.features(x)
        model.precomputed = True
        assert feats.shape == (3, 16)
        assert torch.allclose(model(feats), full) and torch.allclose(model.full_forward(x), full)
