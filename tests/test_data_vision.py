"""ImageClassifierData on small images the tests make: constructors, splits, loaders, tools."""
from __future__ import annotations

import os
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from minifast.data import ImageClassifierData, get_cv_idxs, split_by_pct, tfms_from_stats
from minifast.data.loaders import default_num_workers, make_loader
from minifast.data.stats import channel_stats
from tests.data_fakes import make_class_folders, save_image

STATS = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
TFMS = tfms_from_stats(STATS, 16)


# ---------------------------------------------------------------- splits
def test_get_cv_idxs_matches_its_seed_and_fastai_07():
    idxs = get_cv_idxs(50)
    assert idxs.tolist() == np.random.RandomState(42).permutation(50)[:10].tolist()
    assert get_cv_idxs(50).tolist() == idxs.tolist()           # deterministic
    assert get_cv_idxs(50, seed=1).tolist() != idxs.tolist()   # and depends on the seed
    folds = [set(get_cv_idxs(50, cv_idx=k)) for k in range(5)]
    assert set().union(*folds) == set(range(50)) and sum(map(len, folds)) == 50


def test_get_cv_idxs_does_not_touch_the_global_numpy_generator():
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    get_cv_idxs(100, seed=7)
    assert np.random.rand() == expected


def test_split_by_pct_partitions():
    trn, val = split_by_pct(10, 0.3, seed=3)
    assert len(val) == 3 and sorted(trn.tolist() + val.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="cv_idx=5"):
        get_cv_idxs(10, cv_idx=5)


# ---------------------------------------------------------------- constructors
def test_from_paths_counts_classes_and_test(tmp_path):
    make_class_folders(tmp_path / "train", {"cat": 5, "dog": 3})
    make_class_folders(tmp_path / "valid", {"cat": 2, "dog": 1}, seed=50)
    for i in range(4):
        save_image(tmp_path / "test" / f"t{i}.png", seed=90 + i)
    data = ImageClassifierData.from_paths(tmp_path, bs=4, tfms=TFMS, test_name="test")
    assert data.classes == ["cat", "dog"] and data.c == 2 and data.sz == 16 and data.bs == 4
    assert (len(data.trn_ds), len(data.val_ds), len(data.test_ds)) == (8, 3, 4)
    assert data.trn_ds.y.tolist() == [0] * 5 + [1] * 3 and data.val_ds.y.tolist() == [0, 0, 1]
    assert data.test_ds.y.tolist() == [0, 0, 0, 0]  # test labels are unknown: 0
    assert data.trn_ds.fnames[5] == tmp_path / "train" / "dog" / "000.jpg"
    x, y = data.trn_ds[0]
    assert x.shape == (3, 16, 16) and y == 0
    xb, yb = next(iter(data.test_dl))
    assert xb.shape == (4, 3, 16, 16)


def test_from_paths_refuses_a_validation_class_not_in_training(tmp_path):
    make_class_folders(tmp_path / "train", {"cat": 2, "dog": 2})
    make_class_folders(tmp_path / "valid", {"cat": 1, "cow": 1})
    with pytest.raises(ValueError, match=r"valid[/\\]cow: 'cow' is not one of the training classes"):
        ImageClassifierData.from_paths(tmp_path, tfms=TFMS)


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    make_class_folders(tmp_path, {"cat": 3, "dog": 3})
    (tmp_path / "emu").mkdir()
    with pytest.raises(ValueError, match=f"class folder {tmp_path / 'emu'} has no images"):
        ImageClassifierData.from_folder(tmp_path, tfms=TFMS)


def _csv_layout(root, n=10, labels="abc"):
    rows = ["id,label"]
    for i in range(n):
        save_image(root / "train" / f"id{i}.jpg", seed=i)
        rows.append(f"id{i},{labels[i % len(labels)]}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def test_from_csv_counts_and_validation_rows(tmp_path):
    _csv_layout(tmp_path)
    data = ImageClassifierData.from_csv(tmp_path, "train", tmp_path / "labels.csv", tfms=TFMS,
                                        val_idxs=[1, 4], suffix=".jpg")
    assert data.classes == ["a", "b", "c"]
    assert [f.name for f in data.val_ds.fnames] == ["id1.jpg", "id4.jpg"]
    assert data.val_ds.y.tolist() == [1, 1] and len(data.trn_ds) == 8
    default = ImageClassifierData.from_csv(tmp_path, "train", "labels.csv", tfms=TFMS, suffix=".jpg")
    assert sorted(f.name for f in default.val_ds.fnames) == sorted(f"id{i}.jpg" for i in get_cv_idxs(10))


def test_csv_id_without_file_is_an_error_naming_the_row(tmp_path):
    _csv_layout(tmp_path)
    (tmp_path / "train" / "id2.jpg").unlink()
    with pytest.raises(ValueError, match=r"labels.csv line 4: id 'id2' has no file .*id2.jpg"):
        ImageClassifierData.from_csv(tmp_path, "train", "labels.csv", tfms=TFMS, suffix=".jpg")


def test_csv_unknown_label_is_an_error_naming_the_row(tmp_path):
    _csv_layout(tmp_path)
    with pytest.raises(ValueError, match=r"labels.csv line 4: unknown label 'c'"):
        ImageClassifierData.from_csv(tmp_path, "train", "labels.csv", tfms=TFMS, suffix=".jpg",
                                     classes=["a", "b"])


def test_csv_row_without_label_is_an_error(tmp_path):
    _csv_layout(tmp_path)
    with open(tmp_path / "labels.csv", "a") as f:
        f.write("id3,\n")
    with pytest.raises(ValueError, match=r"line 12: expected 'id,label'"):
        ImageClassifierData.from_csv(tmp_path, "train", "labels.csv", tfms=TFMS, suffix=".jpg")


def test_from_folder_split_follows_valid_pct_and_seed(tmp_path):
    make_class_folders(tmp_path, {"a": 10, "b": 10})
    (tmp_path / "models").mkdir()  # what a Learner writes next to the data: not a class
    d1 = ImageClassifierData.from_folder(tmp_path, tfms=TFMS, valid_pct=0.25, seed=1, on_bad="off")
    d2 = ImageClassifierData.from_folder(tmp_path, tfms=TFMS, valid_pct=0.25, seed=1, on_bad="off")
    d3 = ImageClassifierData.from_folder(tmp_path, tfms=TFMS, valid_pct=0.25, seed=2, on_bad="off")
    assert d1.classes == ["a", "b"] and (len(d1.trn_ds), len(d1.val_ds)) == (15, 5)
    assert d1.val_ds.fnames == d2.val_ds.fnames and d1.val_ds.fnames != d3.val_ds.fnames
    all_files = sorted((tmp_path / c / f"{i:03d}.jpg") for c in "ab" for i in range(10))
    assert sorted(d1.val_ds.fnames) == [all_files[i] for i in sorted(get_cv_idxs(20, val_pct=0.25, seed=1))]


def test_from_arrays_grey_and_rgb(tmp_path):
    rng = np.random.default_rng(0)
    x_grey, y = rng.integers(0, 256, (12, 16, 16), dtype=np.uint8), np.arange(12) % 3
    data = ImageClassifierData.from_arrays(tmp_path, (x_grey, y), (x_grey[:4], y[:4]), bs=5, tfms=TFMS,
                                           test=x_grey[:2])
    assert data.classes == ["0", "1", "2"] and data.c == 3 and data.trn_ds.fnames is None
    x0, y0 = data.val_ds[1]
    assert x0.shape == (3, 16, 16) and y0 == 1
    torch.testing.assert_close(x0[0], x0[2])  # grey: the channel repeated
    torch.testing.assert_close(x0[0], (torch.from_numpy(x_grey[1]) / 255 - 0.5) / 0.25)
    x_rgb = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    rgb = ImageClassifierData.from_arrays(tmp_path, (x_rgb, y[:6]), (x_rgb, y[:6]), tfms=TFMS,
                                          classes=["x", "y", "z"])
    assert rgb.classes == ["x", "y", "z"] and len(rgb.train_dl) == 1


def test_from_arrays_refuses_bad_input(tmp_path):
    x = np.zeros((4, 8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="labels must be in"):
        ImageClassifierData.from_arrays(tmp_path, (x, [0, 1, 2, 3]), (x, [0, 1, 2, 3]), classes=["a", "b"])
    with pytest.raises(ValueError, match="must be uint8"):
        ImageClassifierData.from_arrays(tmp_path, (x.astype(np.float32), [0] * 4), (x, [0] * 4))
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        ImageClassifierData.from_arrays(tmp_path, (x, [0] * 3), (x, [0] * 4))


# ---------------------------------------------------------------- loaders, make_dl, fingerprint
def test_make_dl_augment_and_splits(tmp_path):
    make_class_folders(tmp_path, {"a": 6, "b": 6})
    data = ImageClassifierData.from_folder(tmp_path, bs=4, tfms=tfms_from_stats(STATS, 12, max_zoom=2.0),
                                           on_bad="off")
    x1, _ = next(iter(data.make_dl("train")))
    x2, _ = next(iter(data.make_dl("train")))
    assert torch.equal(x1, x2)  # augment=False: the validation transforms, no randomness
    torch.manual_seed(0)
    xa, _ = next(iter(data.make_dl("train", augment=True, bs=3)))
    assert xa.shape == (3, 3, 12, 12) and not torch.equal(xa, x1[:3])
    with pytest.raises(ValueError, match="no test set"):
        data.make_dl("test")
    with pytest.raises(ValueError, match="split='trn'"):
        data.make_dl("trn")


def test_train_dl_drops_only_a_lone_last_item(tmp_path):
    x = np.zeros((9, 8, 8), dtype=np.uint8)
    data = ImageClassifierData.from_arrays(tmp_path, (x, [0] * 9), (x, [0] * 9), bs=4)
    assert len(data.train_dl) == 2 and len(data.valid_dl) == 3


def test_loader_settings():
    ds = torch.utils.data.TensorDataset(torch.zeros(10))
    dl = make_loader(ds, bs=2)
    assert dl.num_workers == 0 and dl.pin_memory == torch.cuda.is_available()
    assert default_num_workers(100) == 0 and default_num_workers(50_000) >= 1
    x = np.zeros((300, 8, 8), dtype=np.uint8)
    assert ImageClassifierData.from_arrays(".", (x, [0] * 300), (x[:5], [0] * 5)).valid_dl.num_workers >= 1
    dl = make_loader(ds, bs=2, num_workers=1)
    assert dl.persistent_workers
    assert not make_loader(ds, 2, num_workers=1, persistent=False).persistent_workers
    with pytest.raises(ValueError, match="bs=0"):
        make_loader(ds, bs=0)


def test_fingerprints_are_stable_and_change_with_the_items(tmp_path):
    make_class_folders(tmp_path, {"a": 3, "b": 3})
    data = ImageClassifierData.from_folder(tmp_path, tfms=TFMS, valid_pct=0.34, on_bad="off")
    fp = data.trn_ds.fingerprint()
    assert fp == data.trn_ds.fingerprint() == data.make_dl("train").dataset.fingerprint()
    f = data.trn_ds.fnames[0]
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert data.trn_ds.fingerprint() != fp
    x = np.zeros((4, 8, 8), dtype=np.uint8)
    arrays = ImageClassifierData.from_arrays(tmp_path, (x, [0] * 4), (x, [0] * 4))
    fa = arrays.trn_ds.fingerprint()
    x[2, 3, 3] = 1
    assert arrays.trn_ds.fingerprint() != fa


# ---------------------------------------------------------------- stats, show_batch, resize
def test_stats_match_numpy_on_the_same_images(tmp_path):
    files = [save_image(tmp_path / "a" / f"{i}.png", seed=i, h=10 + i, w=7 + 2 * i) for i in range(5)]
    files += [save_image(tmp_path / "b" / f"{i}.png", seed=10 + i, h=9, w=13, mode="L") for i in range(4)]
    data = ImageClassifierData.from_folder(tmp_path, tfms=TFMS, valid_pct=0.3, seed=0)
    from minifast.data import open_image
    px = np.concatenate([np.asarray(open_image(f), dtype=np.float64).reshape(-1, 3) / 255
                         for f in data.trn_ds.fnames])
    mean, std = data.stats()
    np.testing.assert_allclose(mean, px.mean(0), atol=1e-3)
    np.testing.assert_allclose(std, px.std(0), atol=1e-3)
    np.testing.assert_allclose(mean, px.mean(0), atol=1e-10)  # float64 sums: in fact exact


def test_stats_on_arrays(tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (7, 5, 6, 3), dtype=np.uint8)
    data = ImageClassifierData.from_arrays(tmp_path, (x, [0] * 7), (x[:2], [0, 0]))
    mean, std = channel_stats(data.trn_ds, num_workers=0)
    np.testing.assert_allclose(mean, (x / 255).reshape(-1, 3).mean(0), atol=1e-10)
    np.testing.assert_allclose(std, (x / 255).reshape(-1, 3).std(0), atol=1e-10)


def test_show_batch_titles_images_with_class_names(tmp_path):
    make_class_folders(tmp_path, {"cat": 4, "dog": 4})
    data = ImageClassifierData.from_folder(tmp_path, tfms=TFMS, valid_pct=0.25, on_bad="off")
    fig = data.show_batch(n=5, ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(fig.axes) == 6 and len(titles) == 5 and set(titles) <= {"cat", "dog"}
    fig.savefig(tmp_path / "batch.png")
    plt.close(fig)


def test_resize_writes_small_copies_once_and_keeps_the_split(tmp_path):
    src = tmp_path / "src"
    make_class_folders(src, {"a": 3, "b": 3})
    save_image(src / "a" / "big.png", seed=7, h=60, w=90, mode="RGBA")
    data = ImageClassifierData.from_folder(src, tfms=TFMS, valid_pct=0.3, on_bad="off")
    small = data.resize(12, new_path=tmp_path / "small")
    assert small.path == tmp_path / "small" and small.classes == data.classes
    assert [f.relative_to(small.path) for f in small.trn_ds.fnames] == \
        [f.relative_to(src) for f in data.trn_ds.fnames]
    assert small.val_ds.y.tolist() == data.val_ds.y.tolist()
    from PIL import Image
    with Image.open(tmp_path / "small" / "a" / "big.png") as im:
        assert im.size == (18, 12) and im.mode == "RGB"
    mtimes = [f.stat().st_mtime_ns for f in small.trn_ds.fnames]
    again = data.resize(12, new_path=tmp_path / "small")  # already there: nothing rewritten
    assert [f.stat().st_mtime_ns for f in again.trn_ds.fnames] == mtimes
    xb, _ = next(iter(small.train_dl))
    assert xb.shape[1:] == (3, 16, 16)
    assert not list((tmp_path / "small").rglob("*.tmp"))


def test_resize_defaults_to_the_user_cache_not_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    make_class_folders(tmp_path / "pets", {"a": 2, "b": 2})
    data = ImageClassifierData.from_folder(tmp_path / "pets", tfms=TFMS, valid_pct=0.5, on_bad="off")
    small = data.resize(8)
    assert small.path.parent.parent == tmp_path / "cache" / "minifast" / "resized"
    assert small.path.name == "8" and small.path.parent.name.startswith("pets-")
    assert sorted(p.name for p in (tmp_path / "pets").iterdir()) == ["a", "b"]  # nothing written there

def test_a_learner_trains_on_image_data(tmp_path):
    from torch import nn

    import minifast
    from minifast import Learner

    assert {"ImageClassifierData", "tfms_from_model", "get_cv_idxs", "get_dataset"} <= set(minifast.__all__)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (20, 16, 16), dtype=np.uint8), np.arange(20) % 2
    data = ImageClassifierData.from_arrays(tmp_path, (x, y), (x[:6], y[:6]), bs=8, tfms=TFMS)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, data.c))
    learn = Learner(model, data, device="cpu", path=tmp_path)
    with learn.silent():
        learn.fit(1e-2, 1)
    probs, targets = learn.predict()
    assert probs.shape == (6, 2) and targets.tolist() == y[:6].tolist()


def test_worker_processes_give_the_same_batches(tmp_path):
    make_class_folders(tmp_path, {"a": 4, "b": 4})
    kw = dict(tfms=TFMS, valid_pct=0.5, bs=2, on_bad="off")
    with_workers = ImageClassifierData.from_folder(tmp_path, num_workers=2, **kw)
    without = ImageClassifierData.from_folder(tmp_path, num_workers=0, **kw)
    assert with_workers.valid_dl.num_workers == 2 and with_workers.valid_dl.persistent_workers
    for (xa, ya), (xb, yb) in zip(with_workers.valid_dl, without.valid_dl):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert sum(len(x) for x, _ in with_workers.train_dl) == 4


def test_an_edit_that_keeps_the_size_and_restores_the_mtime_changes_the_fingerprint(tmp_path):
    """Same size, mtime set back (os.utime, `cp -p`, sync tools): the change time still moved."""
    make_class_folders(tmp_path, {"a": 3, "b": 3})
    data = ImageClassifierData.from_folder(tmp_path, tfms=TFMS, valid_pct=0.34, on_bad="off")
    f = data.trn_ds.fnames[0]
    fp, st, content = data.trn_ds.fingerprint(), f.stat(), bytearray(f.read_bytes())
    time.sleep(0.01)  # so that the change time can differ at any file system's resolution
    content[-1] ^= 0xFF
    f.write_bytes(bytes(content))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (f.stat().st_size, f.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert data.trn_ds.fingerprint() != fp
