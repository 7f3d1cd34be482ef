"""The four shared data sets, loaded by minifast; counts from SOURCES.md. Fast tests decode only
a few dozen images; the full scans are marked slow."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from minifast.data import ImageClassifierData, open_image
from minifast.data.course_datasets import (
    cifar10_data,
    dogbreeds_data,
    load_cifar10,
    load_mnist,
    mnist_data,
    pokemon_data,
    verify_dataset,
)

POKEMON = {"bulbasaur": 234, "charmander": 238, "mewtwo": 239, "pikachu": 234, "squirtle": 222}


@pytest.fixture
def shared(monkeypatch, data_dir):
    monkeypatch.setenv("MINIFAST_DATA", str(data_dir))
    return data_dir


def test_mnist_from_the_idx_files(shared):
    x_trn, y_trn, x_val, y_val = load_mnist(shared / "mnist")
    assert x_trn.shape == (60000, 28, 28) and x_val.shape == (10000, 28, 28)
    assert np.bincount(y_val).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(y_trn).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    data = mnist_data(bs=32)
    assert (len(data.trn_ds), len(data.val_ds), data.c, data.sz) == (60000, 10000, 10, 28)
    x, y = data.val_ds[0]
    assert x.shape == (3, 28, 28) and y == y_val[0]


def test_mnist_statistics_match_the_known_values(shared):
    x = load_mnist(shared / "mnist")[0]
    n = x.size
    mean = x.sum(dtype=np.uint64) / n / 255
    std = np.sqrt((x.astype(np.uint32) ** 2).sum(dtype=np.uint64) / n / 255**2 - mean**2)
    assert abs(mean - 0.1307) < 1e-4 and abs(std - 0.3081) < 1e-4
    few = ImageClassifierData.from_arrays(shared / "mnist", (x[:500], np.zeros(500)), (x[:10], np.zeros(10)))
    got_mean, got_std = few.stats()  # the streaming computation, through PIL, on 500 real digits
    np.testing.assert_allclose(got_mean, [x[:500].mean() / 255] * 3, atol=1e-3)
    np.testing.assert_allclose(got_std, [(x[:500] / 255).std()] * 3, atol=1e-3)


def test_cifar10_from_the_pickles(shared):
    x_trn, y_trn, x_val, y_val, classes = load_cifar10(shared / "cifar10")
    assert x_trn.shape == (40000, 32, 32, 3) and x_val.shape == (1000, 32, 32, 3)
    assert np.bincount(y_val).tolist() == [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]
    assert np.bincount(y_trn[:10000]).tolist() == [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    data = cifar10_data(bs=16)
    assert data.classes[:3] == ["airplane", "automobile", "bird"] and data.c == 10
    xb, yb = next(iter(data.make_dl("valid")))
    assert xb.shape == (16, 3, 32, 32)


def test_pokemon_folder_counts(shared):
    data = pokemon_data(sz=32, on_bad="off")  # counts from the listing: no decoding
    assert data.classes == sorted(POKEMON) and data.c == 5
    assert len(data.trn_ds) + len(data.val_ds) == 1167 and len(data.val_ds) == int(0.2 * 1167)
    y = np.concatenate([data.trn_ds.y, data.val_ds.y])
    assert np.bincount(y).tolist() == [POKEMON[c] for c in data.classes]


def test_pokemon_mixed_modes_decode_to_rgb(shared):
    odd = ["charmander/00000033.jpg", "mewtwo/00000142.jpg", "squirtle/00000075.jpg"]  # RGBA PNG in .jpg
    for rel in odd:
        assert open_image(shared / "pokemon" / rel).mode == "RGB"
    data = pokemon_data(bs=8, sz=32, on_bad="off")
    xb, yb = next(iter(data.make_dl("valid", bs=24)))
    assert xb.shape == (24, 3, 32, 32) and xb.isfinite().all()


def test_dogbreeds_csv(shared):
    data = dogbreeds_data(sz=32, on_bad="off")
    assert data.c == 16 and data.classes[0] == "afghan_hound"
    assert (len(data.trn_ds), len(data.val_ds)) == (768, 192)
    assert np.bincount(np.concatenate([data.trn_ds.y, data.val_ds.y])).tolist() == [60] * 16
    x, y = data.val_ds[0]
    assert x.shape == (3, 32, 32) and data.val_ds.fnames[0].suffix == ".jpg"


def test_verify_mnist_against_the_manifest(shared):
    verify_dataset(shared / "mnist")


@pytest.mark.slow
@pytest.mark.parametrize("loader", [pokemon_data, dogbreeds_data])
def test_every_real_image_is_readable(shared, loader):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any BadImageWarning fails the test
        data = loader(sz=64, on_bad="raise")
    mean, std = data.stats()
    assert ((0 < mean) & (mean < 1)).all() and ((0 < std) & (std < 0.5)).all()


@pytest.mark.slow
def test_pokemon_image_manifest(shared):
    verify_dataset(shared / "pokemon")
