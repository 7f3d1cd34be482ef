"""Downloads: checksums, safe extraction, atomic placement, and where get_dataset looks."""
from __future__ import annotations

import io
import shutil
import tarfile
import zipfile

import pytest

from minifast.data import get_dataset
from minifast.data.download import Resource, download, file_hash, safe_extract


def _tar_gz(path, members: dict[str, bytes], symlinks: dict[str, str] | None = None):
    symlinks = symlinks or {}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in symlinks.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def _nothing_left(folder):
    return not folder.exists() or list(folder.iterdir()) == []


def test_download_checks_unpacks_and_moves_into_place(tmp_path):
    archive = _tar_gz(tmp_path / "set.tar.gz", {"set/a.txt": b"hello", "set/sub/b.txt": b"world"})
    res = Resource(archive.as_uri(), file_hash(archive), file_hash(archive, "md5"), extract=True)
    out = download([res], tmp_path / "cache" / "set")
    assert (out / "set" / "sub" / "b.txt").read_bytes() == b"world"
    assert not (out / "set.tar.gz").exists()  # the archive is removed once unpacked
    manifest = (out / "MANIFEST.sha256").read_text()
    assert f"{file_hash(out / 'set' / 'a.txt')}  set/a.txt" in manifest
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["set"]  # no temporary folder left


def test_checksum_mismatch_is_refused_and_nothing_is_kept(tmp_path):
    archive = _tar_gz(tmp_path / "set.tar.gz", {"a.txt": b"hello"})
    res = Resource(archive.as_uri(), "0" * 64, extract=True)
    with pytest.raises(ValueError, match="checksum mismatch .* sha256"):
        download([res], tmp_path / "cache" / "set")
    assert _nothing_left(tmp_path / "cache")


def test_md5_mismatch_is_refused_too(tmp_path):
    archive = _tar_gz(tmp_path / "set.tar.gz", {"a.txt": b"hello"})
    with pytest.raises(ValueError, match="md5"):
        download([Resource(archive.as_uri(), file_hash(archive), "0" * 32)], tmp_path / "cache" / "set")
    assert _nothing_left(tmp_path / "cache")


@pytest.mark.parametrize("members, links", [
    ({"../evil.txt": b"x"}, {}),
    ({"ok/../../evil.txt": b"x"}, {}),
    ({"/tmp/evil.txt": b"x"}, {}),
    ({"ok.txt": b"x"}, {"link": "../../evil.txt"}),
    ({"ok.txt": b"x"}, {"link": "/etc/passwd"}),
])
def test_path_traversal_tar_is_refused(tmp_path, members, links):
    archive = _tar_gz(tmp_path / "evil.tar.gz", {"fine.txt": b"y", **members}, links)
    res = Resource(archive.as_uri(), file_hash(archive), extract=True)
    with pytest.raises(ValueError, match="refusing to extract"):
        download([res], tmp_path / "cache" / "deep" / "set")
    assert _nothing_left(tmp_path / "cache" / "deep")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "cache" / "evil.txt").exists()


def test_path_traversal_zip_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("fine.txt", "y")
        z.writestr("../evil.txt", "x")
    with pytest.raises(ValueError, match=r"refusing to extract member '\.\./evil.txt'"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_a_failing_fetch_leaves_nothing(tmp_path):
    def fetch(url, dest):
        dest.write_bytes(b"partial")
        raise ConnectionError("network down")
    with pytest.raises(ConnectionError):
        download([Resource("https://example.invalid/a.gz", "0" * 64)], tmp_path / "cache" / "x", fetch)
    assert _nothing_left(tmp_path / "cache")


# ---------------------------------------------------------------- get_dataset
@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """No $MINIFAST_DATA and an empty user cache under tmp_path."""
    monkeypatch.delenv("MINIFAST_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "minifast" / "data"


def test_get_dataset_downloads_mnist_with_real_checksums(no_data, data_dir):
    calls = []

    def fetch(url, dest):  # stands in for the network: the same bytes as the real files
        calls.append(url)
        shutil.copyfile(data_dir / "mnist" / url.rsplit("/", 1)[1], dest)
    path = get_dataset("mnist", fetch=fetch)
    assert path == no_data / "mnist" and len(calls) == 4
    assert calls[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    assert get_dataset("mnist", fetch=lambda u, d: pytest.fail("downloaded twice"), verify=True) == path


def test_get_dataset_refuses_a_corrupt_mnist_download(no_data):
    def fetch(url, dest):
        dest.write_bytes(b"not mnist")
    with pytest.raises(ValueError, match="checksum mismatch for https://ossci"):
        get_dataset("mnist", fetch=fetch)
    assert _nothing_left(no_data)


def test_get_dataset_prefers_minifast_data(monkeypatch, data_dir):
    monkeypatch.setenv("MINIFAST_DATA", str(data_dir))
    assert get_dataset("dogbreeds") == data_dir / "dogbreeds"


def test_get_dataset_explains_where_to_put_sets_without_a_url(no_data):
    where = r"no public download address. Put it in \$MINIFAST_DATA/pokemon"
    with pytest.raises(FileNotFoundError, match=where):
        get_dataset("pokemon")
    with pytest.raises(ValueError, match="unknown data set 'imagenet'"):
        get_dataset("imagenet")


def test_verify_catches_a_changed_file(monkeypatch, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"x")
    (tmp_path / "MANIFEST.sha256").write_text(f"{'0' * 64}  mnist/t10k-labels-idx1-ubyte.gz\n")
    monkeypatch.setenv("MINIFAST_DATA", str(tmp_path))
    assert get_dataset("mnist") == folder  # presence only: no hashing by default
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: sha256 differs"):
        get_dataset("mnist", verify=True)


def _fake_cifar_tar(path, n_train=30, n_test=10):
    """A cifar-10-python.tar.gz look-alike: the same layout and pickle format, few images."""
    import pickle

    import numpy as np
    rng = np.random.default_rng(0)
    members = {}
    for name, n in (("data_batch_1", n_train), ("data_batch_2", n_train), ("test_batch", n_test)):
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": (np.arange(n) % 10).tolist(), "batch_label": name}
        members[f"cifar-10-batches-py/{name}"] = pickle.dumps(batch, protocol=2)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({"label_names": names}, protocol=2)
    return _tar_gz(path, members), members


def test_cifar10_download_to_ready_data(no_data, tmp_path, monkeypatch):
    import pickle

    import numpy as np

    from minifast.data import course_datasets as datasets

    archive, members = _fake_cifar_tar(tmp_path / "cifar-10-python.tar.gz")
    fake = Resource(archive.as_uri(), file_hash(archive), extract=True)
    monkeypatch.setitem(datasets.RESOURCES, "cifar10", [fake])
    data = datasets.cifar10_data(bs=8)
    assert (len(data.trn_ds), len(data.val_ds), data.classes[9]) == (60, 10, "truck")
    assert (no_data / "cifar10" / "cifar-10-batches-py" / "data_batch_2").is_file()
    first = pickle.loads(members["cifar-10-batches-py/data_batch_1"])["data"][0]
    img = np.asarray(data.trn_ds.get_image(0))  # [32, 32, 3] from the R, G, B planes
    assert img[0, 1].tolist() == [first[1], first[1024 + 1], first[2048 + 1]]
