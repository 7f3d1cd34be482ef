"""Vision under attack: stale or damaged precompute caches, read-only data folders, bad images,
and API calls in the wrong state."""
from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from minifast import Callback, ConvLearner, MinifastWarning, efficientnet_lite0
from minifast.data import BadImageError, ImageClassifierData, transforms_side_on
from minifast.vision import precompute as precompute_module
from minifast.vision.archs import tfms_from_model
from minifast.vision.precompute import cache_root, writable, write_features
from tests.test_vision_learner import make_learner, tensor_data


def features(learn) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached validation features and the ones the current body computes."""
    cached = learn.precomp.prepare().valid_dl.dataset.tensors[0]
    fresh, _ = learn.get_preds(learn.data.valid_dl, activation=lambda t: t,
                               forward=learn.model.features)
    return cached, fresh


def array_data(tmp_path: Path, aug: bool = True, n: int = 8) -> ImageClassifierData:
    rng = np.random.RandomState(0)
    x, y = rng.randint(0, 255, (n, 40, 40, 3)).astype(np.uint8), np.arange(n) % 2
    tfms = tfms_from_model(efficientnet_lite0, 32, aug_tfms=transforms_side_on if aug else None)
    return ImageClassifierData.from_arrays(tmp_path / "arrays", (x, y), (x[:4], y[:4]), bs=4,
                                           tfms=tfms, classes=["a", "b"], num_workers=0)


# ---------------------------------------------------------------- stale features
def test_load_with_precompute_on_refreshes_the_features(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    learn.precomp.prepare()
    other = make_learner(tensor_data(), tmp_path)
    with torch.no_grad():
        for p in other.model.body.parameters():
            p.mul_(1.05)  # another body: what fine-tuning elsewhere would give
    other.save("changed")
    old_dir = learn.precompute_dir
    learn.load("changed")
    cached, fresh = features(learn)
    assert learn.precompute is True and learn.precompute_dir != old_dir
    assert torch.allclose(cached, fresh, atol=1e-5)


def test_a_failed_feature_computation_leaves_the_model_whole(tmp_path, monkeypatch):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(precompute_module, "feature_data", broken)
    with pytest.raises(OSError, match="disk full"), learn.silent():
        learn.fit(1e-3, 1)
    assert learn.model.precomputed is False and learn.precomp.features is None
    assert learn.data.train_dl.dataset.tensors[0].ndim == 4  # still the images


# ---------------------------------------------------------------- damaged cache files
def damage_and_reload(tmp_path, damage) -> tuple[ConvLearner, list, torch.Tensor]:
    first = make_learner(tensor_data(), tmp_path, precompute=True)
    original = first.precomp.prepare().valid_dl.dataset.tensors[0].clone()
    file = first.precompute_dir / "valid.pt"
    damage(file, first)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = make_learner(tensor_data(), tmp_path, precompute=True)
        second.precomp.prepare()
    messages = [str(w.message) for w in caught if "precompute cache" in str(w.message)]
    assert second.precompute_dir == first.precompute_dir
    assert all(str(file) in m for m in messages)
    return second, messages, original


def truncate(file: Path, _):
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def empty(file: Path, _):
    file.write_bytes(b"")


def flip_one_feature_byte(file: Path, learn):
    raw = bytearray(file.read_bytes())
    last_row = learn.precomp.features.valid_dl.dataset.tensors[0][-1].numpy().tobytes()  # unique
    at = raw.find(last_row)
    assert at > 0  # the tensor bytes are stored as they are: find them
    raw[at + len(last_row) // 2] ^= 0x40
    file.write_bytes(bytes(raw))


def wrong_rows(file: Path, learn):
    ds = learn.precomp.features.valid_dl.dataset
    write_features({"x": ds.tensors[0][:2], "y": ds.tensors[1][:2]}, file)  # valid file, 2 rows


def old_format(file: Path, learn):
    ds = learn.precomp.features.valid_dl.dataset
    torch.save({"x": ds.tensors[0] + 1, "y": ds.tensors[1]}, file)  # no rows, no checksum


@pytest.mark.parametrize("damage, reason", [
    (truncate, "cannot be read"), (empty, "cannot be read"), (flip_one_feature_byte, "sha256"),
    (wrong_rows, "has 2 rows where the data set has 4"), (old_format, "not a feature file")])
def test_a_damaged_cache_file_is_named_and_recomputed(tmp_path, damage, reason):
    second, messages, original = damage_and_reload(tmp_path, damage)
    assert len(messages) == 1 and reason in messages[0]
    recomputed = second.precomp.features.valid_dl.dataset.tensors[0]
    assert torch.allclose(recomputed, original, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recomputed file is whole again: no warning
        third = make_learner(tensor_data(), tmp_path, precompute=True)
        assert torch.equal(third.precomp.prepare().valid_dl.dataset.tensors[0], recomputed)


# ---------------------------------------------------------------- read-only data folder
def test_read_only_folder_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    real_access = precompute_module.os.access
    monkeypatch.setattr(precompute_module.os, "access",  # as on a read-only mount (root ignores chmod)
                        lambda p, mode: False if Path(p) == data_dir else real_access(p, mode))
    learn = make_learner(tensor_data(), data_dir, precompute=True)
    with pytest.warns(MinifastWarning, match=f"{data_dir} is not writable") as caught:
        learn.precomp.prepare()
    assert len(caught) == 1
    assert learn.precompute_dir.parent.parent == tmp_path / "user_cache" / "minifast" / "precompute"
    assert (learn.precompute_dir / "valid.pt").is_file() and not (data_dir / "tmp").exists()


def test_cache_root_chooser(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert cache_root(tmp_path) == tmp_path / "tmp" / "precompute"  # not there yet: parent writable
    a_file = tmp_path / "f"
    a_file.write_text("x")
    assert not writable(a_file / "tmp" / "precompute")
    fallback = cache_root(a_file)
    assert fallback.parent == tmp_path / "c" / "minifast" / "precompute"
    other = tmp_path / "other"
    other.write_text("y")
    assert cache_root(a_file) == fallback and cache_root(other) != fallback  # one folder per path


# ---------------------------------------------------------------- the precompute state
def test_precompute_on_and_off_do_no_work(tmp_path, monkeypatch):
    learn = make_learner(tensor_data(), tmp_path)
    calls = []
    learn.model.body.register_forward_hook(lambda *a: calls.append(1))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("precompute read a file"))
    learn.precompute = True
    learn.precompute = False
    assert calls == [] and learn.precompute_dir is None
    assert learn.data is learn.image_data and learn.data.train_dl.dataset.tensors[0].ndim == 4


def test_while_the_head_trains_on_the_cache_learn_data_holds_the_images(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    images = learn.data

    class Sees(Callback):
        def before_batch(self):
            seen.append((self.learn.data is images, self.learn.xb.ndim))
    seen = []
    with learn.silent():
        learn.fit(1e-3, 1, cbs=[Sees()])
    assert seen == [(True, 2), (True, 2)]  # a train and a valid batch of features
    assert learn.model.precomputed is False  # outside a fit the model is whole


def test_set_data_with_another_number_of_classes_is_refused(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    before = learn.data
    two = tensor_data(y=torch.arange(8) % 2)
    two.classes = ["a", "b"]
    with pytest.raises(ValueError, match="2 classes but the model's head outputs 3"):
        learn.set_data(two)
    assert learn.data is before and learn.precompute


def test_set_data_with_precompute_on_uses_the_new_images(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    learn.precomp.prepare()
    new = tensor_data(seed=1)
    learn.set_data(new)
    assert learn.image_data is new
    cached, fresh = features(learn)
    assert torch.allclose(cached, fresh, atol=1e-5)


def test_precompute_on_data_it_cannot_read_is_refused_by_type(tmp_path):
    data = tensor_data()
    plain = SimpleNamespace(train_dl=data.train_dl, valid_dl=data.valid_dl, test_dl=None,
                            classes=["a", "b", "c"], c=3, path=tmp_path)
    learn = make_learner(plain, tmp_path)
    learn.precompute = True
    with pytest.raises(TypeError, match="ImageClassifierData or a DataBunch.*SimpleNamespace"):
        with learn.silent():
            learn.fit(1e-3, 1)
    assert learn.model.precomputed is False and learn.data is plain


# ---------------------------------------------------------------- TTA and predict_image
@pytest.fixture
def image_learner(tmp_path):
    torch.manual_seed(0)
    return ConvLearner.pretrained(efficientnet_lite0, array_data(tmp_path), path=tmp_path / "w",
                                  device="cpu")


def test_tta_test_set_missing_is_explained(image_learner):
    with pytest.raises(ValueError, match="no test set"):
        image_learner.TTA(is_test=True)


def test_tta_without_augmentation_warns(tmp_path):
    torch.manual_seed(0)
    learn = ConvLearner.pretrained(efficientnet_lite0, array_data(tmp_path, aug=False),
                                   path=tmp_path / "w", device="cpu")
    with pytest.warns(UserWarning, match="no randomness"):
        log_preds, _ = learn.TTA(n_aug=2)
    assert np.array_equal(log_preds[1], log_preds[0])


def test_tta_with_precompute_on_matches_off(image_learner):
    plain = image_learner.TTA(n_aug=0)[0]
    image_learner.precompute = True
    assert np.allclose(image_learner.TTA(n_aug=0)[0], plain, atol=1e-5)
    assert image_learner.precompute  # TTA left the mode as it was


def test_predict_image_on_a_truncated_file_names_it(image_learner, tmp_path):
    from PIL import Image

    good = tmp_path / "good.jpg"
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(good)
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(good.read_bytes()[:200])
    assert image_learner.predict_image(good)[0] in ("a", "b")
    with pytest.raises(BadImageError, match="truncated.jpg"):
        image_learner.predict_image(bad)
    empty_file = tmp_path / "empty.png"
    empty_file.write_bytes(b"")
    with pytest.raises(BadImageError, match="empty.png"):
        image_learner.predict_image(empty_file)


def test_predict_image_on_tensor_data_is_explained(tmp_path):
    learn = make_learner(tensor_data(), tmp_path)
    with pytest.raises(ValueError, match="predict_image needs the data's transforms"):
        learn.predict_image(tmp_path / "x.jpg")


def test_tta_on_tensor_data_is_explained(tmp_path):
    learn = make_learner(tensor_data(), tmp_path)
    with pytest.raises(ValueError, match="TTA needs image data"):
        learn.TTA()


# ---------------------------------------------------------------- more ways to break precompute
def test_ctrl_c_while_computing_features_leaves_the_learner_as_it_was(tmp_path):
    learn = make_learner(tensor_data(n_train=8), tmp_path)
    learn.model.train()
    seen = []
    def interrupted(module, inp, out):
        seen.append(1)
        if len(seen) == 2:  # the second batch: one split half done
            raise KeyboardInterrupt
    hook = learn.model.body.register_forward_hook(interrupted)
    learn.precompute = True
    with pytest.raises(KeyboardInterrupt), learn.silent():
        learn.fit(1e-3, 1)
    hook.remove()
    assert learn.model.precomputed is False and learn.precomp.features is None
    assert not (tmp_path / "tmp").exists() or not any((tmp_path / "tmp").rglob("*.pt"))
    cached, fresh = features(learn)  # and it works afterwards
    assert torch.allclose(cached, fresh, atol=1e-5)


def test_test_set_features_match_the_full_model(tmp_path):
    data = tensor_data()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    data.test_dl = DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(3, dtype=torch.long)),
                              batch_size=2)
    learn = make_learner(data, tmp_path)
    full, _ = learn.get_preds(data.test_dl)
    learn.precompute = True
    head = learn.model.head[learn.model.n_cached:]  # the layers after the cached ones
    cached, _ = learn.get_preds(learn.precomp.prepare().test_dl, forward=head)
    assert sorted(p.name for p in learn.precompute_dir.iterdir()) == ["test.pt", "train.pt", "valid.pt"]
    assert cached.shape == (3, 3) and torch.allclose(cached, full, atol=1e-5)


def test_body_statistics_changed_by_train_bn_give_new_features(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, train_bn=True, precompute=True)
    learn.precomp.prepare()
    first_dir = learn.precompute_dir
    learn.precompute = False
    with learn.silent():
        learn.fit(1e-2, 1)  # frozen weights, but the body's BatchNorm statistics move
    learn.precompute = True
    cached, fresh = features(learn)
    assert learn.precompute_dir != first_dir
    assert torch.allclose(cached, fresh, atol=1e-5)


def test_fit_recomputes_features_of_a_body_changed_behind_its_back(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    other = make_learner(tensor_data(), tmp_path / "other")
    with torch.no_grad():
        for p in other.model.body.parameters():
            p.mul_(1.05)
    with learn.silent():
        learn.fit(1e-3, 1)
    old_dir = learn.precompute_dir
    learn.model.body.load_state_dict(other.model.body.state_dict())  # not through learn.load
    with learn.silent():
        learn.fit(1e-3, 1)
    assert learn.precompute_dir != old_dir
    cached, fresh = features(learn)
    assert torch.allclose(cached, fresh, atol=1e-5)
    calls = []
    learn.model.body.register_forward_hook(lambda *a: calls.append(1))
    with learn.silent():
        learn.fit(1e-3, 1)  # the body did not change since: no work
    assert calls == []


def test_the_body_is_hashed_once_per_change_not_once_per_fit(tmp_path, monkeypatch):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    keys = []
    real_key = precompute_module.cache_key
    monkeypatch.setattr(precompute_module, "cache_key", lambda *a: keys.append(1) or real_key(*a))
    with learn.silent():
        learn.fit(1e-3, 2)
        learn.fit(1e-3, 1)
    assert len(keys) == 1
    learn.load(learn.save("same").stem)  # weights written again (the same values)
    with learn.silent():
        learn.fit(1e-3, 1)
    assert len(keys) == 2


def seeded_run(tmp_path) -> list[float]:
    learn = make_learner(tensor_data(n_train=16, bs=4), tmp_path, precompute=True)
    torch.manual_seed(42)
    with learn.silent():
        learn.fit(1e-2, 2)
    return learn.recorder.losses


def test_a_seeded_script_trains_the_same_whether_or_not_a_cache_existed(tmp_path):
    first = seeded_run(tmp_path)  # computes the features
    assert (tmp_path / "tmp" / "precompute").is_dir()
    again = seeded_run(tmp_path)  # reads them
    assert again == first


def test_predict_image_refuses_a_long_thin_image_by_name(image_learner, tmp_path):
    """200,000 x 1 pixels: scaled to the model's size it would take gigabytes."""
    from PIL import Image

    line = tmp_path / "line.png"
    Image.new("RGB", (200_000, 1)).save(line)
    with pytest.raises(BadImageError, match=r"line\.png: cannot read this image \(200000 x 1 pixels: aspect"):
        image_learner.predict_image(line)
    with pytest.raises(ValueError, match="aspect ratio 200000:1 is over MAX_ASPECT_RATIO"):
        image_learner.predict_image(Image.new("RGB", (200_000, 1)))
