"""Transforms: the course's resize/crop policy, augmentation lists, dihedral, max_zoom, stats."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from minifast.data import IMAGENET_STATS, tfms_from_stats, transforms_side_on, transforms_top_down
from minifast.data.augment import dihedral
from minifast.vision.archs import tfms_from_model

STATS = ((0.5, 0.4, 0.3), (0.2, 0.25, 0.5))


def _img(h=40, w=60, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_valid_tfms_resize_shorter_side_then_centre_crop_then_normalise():
    img = _img(40, 60)
    _, valid = tfms_from_stats(STATS, 32)
    out = valid(img)
    ref = F.to_dtype(F.to_image(F.center_crop(F.resize(img, 32), 32)), torch.float32, scale=True)
    ref = (ref - torch.tensor(STATS[0]).view(3, 1, 1)) / torch.tensor(STATS[1]).view(3, 1, 1)
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(valid(img), out)  # no randomness at validation


def test_train_tfms_give_sz_square_tensors_and_vary():
    train, _ = tfms_from_stats(STATS, 24, aug_tfms=transforms_side_on, max_zoom=1.5)
    torch.manual_seed(0)
    outs = [train(_img(40, 60)) for _ in range(4)]
    assert all(o.shape == (3, 24, 24) for o in outs)
    assert not torch.equal(outs[0], outs[1])


def test_normalisation_of_a_constant_image():
    _, valid = tfms_from_stats(STATS, 8)
    out = valid(Image.new("RGB", (10, 10), (255, 0, 51)))
    expected = (torch.tensor([1.0, 0.0, 0.2]) - torch.tensor(STATS[0])) / torch.tensor(STATS[1])
    torch.testing.assert_close(out[:, 4, 4], expected)


def test_max_zoom_scales_the_shorter_side_between_sz_and_sz_times_max_zoom():
    train, _ = tfms_from_stats(STATS, 20, max_zoom=1.5)
    scale = train.pipeline.transforms[0]
    assert (scale.min_size, scale.max_size) == (20, 31)  # randint's upper end is exclusive
    torch.manual_seed(0)
    sizes = {min(scale(_img(40, 60)).size) for _ in range(200)}
    assert sizes == set(range(20, 31))


def test_max_zoom_below_one_is_refused():
    with pytest.raises(ValueError, match="max_zoom=0.9"):
        tfms_from_stats(STATS, 20, max_zoom=0.9)


def test_dihedral_gives_all_eight_symmetries_of_the_square():
    a = np.arange(9, dtype=np.uint8).reshape(3, 3) * 20
    img = Image.fromarray(np.stack([a] * 3, -1))
    expected = set()
    for k in range(4):
        expected.add(np.rot90(a, k).tobytes())
        expected.add(np.rot90(a[:, ::-1], k).tobytes())
    torch.manual_seed(0)
    got = [np.asarray(dihedral()(img))[..., 0].tobytes() for _ in range(400)]
    assert set(got) == expected and len(expected) == 8
    counts = np.unique(got, return_counts=True)[1]
    assert counts.min() > 25  # each about 1/8 of 400 = 50


def test_augmentation_lists_follow_the_course():
    names = [type(t).__name__ for t in transforms_side_on]
    assert names == ["RandomRotate", "RandomLighting", "RandomFlip"]
    top_down = [type(t).__name__ for t in transforms_top_down]
    assert top_down == ["RandomRotate", "RandomLighting", "RandomDihedral"]
    train, _ = tfms_from_stats(STATS, 24, aug_tfms=transforms_side_on)
    built = [type(t).__name__ for t in train.pipeline.transforms[1:4]]
    assert built == ["RandomRotation", "ColorJitter", "RandomHorizontalFlip"]


def test_repr_is_stable_and_names_everything():
    a = tfms_from_stats(STATS, 32, aug_tfms=transforms_top_down, max_zoom=1.1)
    b = tfms_from_stats(STATS, 32, aug_tfms=transforms_top_down, max_zoom=1.1)
    assert repr(a) == repr(b) and "0x" not in repr(a)
    assert "sz=32" in repr(a[0]) and "Normalize(mean=[0.5, 0.4, 0.3]" in repr(a[1])
    assert repr(tfms_from_stats(STATS, 33)) != repr(tfms_from_stats(STATS, 32))


def test_tfms_from_model_uses_the_architecture_stats():
    from minifast.vision.archs import arch_stats

    mean, std = arch_stats("resnet34")
    _, valid = tfms_from_model("resnet34", 16)
    out = valid(Image.new("RGB", (16, 16), (0, 0, 0)))
    torch.testing.assert_close(out[:, 0, 0], -torch.tensor(mean) / torch.tensor(std))
    torch.testing.assert_close(valid.mean, torch.tensor(IMAGENET_STATS[0]))


def test_tfms_from_model_takes_the_constructor_or_its_name():
    from minifast.vision.archs import resnet34

    assert repr(tfms_from_model(resnet34, 16)) == repr(tfms_from_model("resnet34", 16))


def test_denorm_undoes_normalisation():
    _, valid = tfms_from_stats(STATS, 8)
    img = _img(8, 8)
    back = valid.denorm(valid(img))
    torch.testing.assert_close(back, F.to_dtype(F.to_image(img), torch.float32, scale=True))
