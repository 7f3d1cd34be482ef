"""The course's data sets by name: find them (or download them), then load them ready to train.

    path = get_dataset("mnist")     # $MINIFAST_DATA/mnist, else the user cache, else download
    data = mnist_data(bs=128)       # ImageClassifierData from the original IDX files

MNIST and CIFAR-10 download from their original places with checksums. Pokémon and dog breeds
have no stable public address: put them in `$MINIFAST_DATA/<name>` (see `MISSING_HELP`).
"""
from __future__ import annotations

import gzip
import os
import pickle
import zlib
from pathlib import Path

import numpy as np

from .download import Fetch, Resource, cache_dir, download, file_hash
from .image_classifier_data import ImageClassifierData
from .labels import read_labels_csv
from .split import get_cv_idxs
from .transforms import IMAGENET_STATS, tfms_from_stats

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror
RESOURCES: dict[str, list[Resource]] = {
    "mnist": [
        Resource(MNIST_URL + "train-images-idx3-ubyte.gz",
                 "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                 "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Resource(MNIST_URL + "train-labels-idx1-ubyte.gz",
                 "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                 "d53e105ee54ea40749a09fcbcd1e9432"),
        Resource(MNIST_URL + "t10k-images-idx3-ubyte.gz",
                 "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                 "9fb629c4189551a2d022fa330f9573f3"),
        Resource(MNIST_URL + "t10k-labels-idx1-ubyte.gz",
                 "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                 "ec29112dd5afa0611ce80d1b7f02629c"),
    ],
    "cifar10": [
        Resource("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                 "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                 "c58f30108f718f92721af3b95e74349a", extract=True),
    ],
}
MISSING_HELP = {
    "pokemon": "one folder per class of images (bulbasaur/, charmander/, ...)",
    "dogbreeds": "labels.csv (id,breed) and train/<id>.jpg, as in Kaggle's Dog Breed Identification",
}
# Statistics of the full training sets (the course's numbers), per RGB channel.
MNIST_STATS = ((0.1307,) * 3, (0.3081,) * 3)
CIFAR10_STATS = ((0.4914, 0.48216, 0.44653), (0.24703, 0.24349, 0.26159))


def is_complete(name: str, folder: Path) -> bool:
    """Does `folder` hold data set `name` (its key files, not a checksum of every file)?"""
    if name == "mnist":
        return all((folder / r.filename).is_file() for r in RESOURCES["mnist"])
    if name == "cifar10":
        return len(_cifar_files(folder, "data_batch_*")) > 0
    if name == "dogbreeds":
        return (folder / "labels.csv").is_file() and (folder / "train").is_dir()
    return folder.is_dir() and any(p.is_dir() for p in folder.iterdir())


def get_dataset(name: str, fetch: Fetch | None = None, verify: bool = False) -> Path:
    """The local folder of data set `name` ('mnist', 'cifar10', 'pokemon', 'dogbreeds').

    Looks in `$MINIFAST_DATA/<name>`, then `<cache_dir()>/data/<name>`, else downloads there
    (checksummed, unpacked safely, moved into place atomically). `verify=True` also checks every
    file against the folder's sha256 manifests (slow, so off by default).
    """
    if name not in RESOURCES and name not in MISSING_HELP:
        raise ValueError(f"unknown data set {name!r}; known: {sorted([*RESOURCES, *MISSING_HELP])}")
    env = os.environ.get("MINIFAST_DATA")
    for folder in ([Path(env) / name] if env else []) + [cache_dir() / "data" / name]:
        if is_complete(name, folder):
            if verify:
                verify_dataset(folder)
            return folder
    if name in MISSING_HELP:
        raise FileNotFoundError(
            f"data set {name!r} has no public download address. Put it in $MINIFAST_DATA/{name} "
            f"({MISSING_HELP[name]}) and set MINIFAST_DATA (now {env!r}).")
    target = cache_dir() / "data" / name
    if target.exists():
        raise FileExistsError(f"{target} exists but does not hold {name}: remove it and try again")
    return download(RESOURCES[name], target, fetch)


def _manifest_lines(folder: Path) -> list[tuple[Path, str]]:
    entries = []
    for manifest, prefix in ((folder / "MANIFEST.sha256", ""), (folder / "IMAGES.sha256", ""),
                             (folder.parent / "MANIFEST.sha256", folder.name + "/")):
        if manifest.is_file():
            for n, line in enumerate(manifest.read_text("utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                if len(line.split(maxsplit=1)) != 2:
                    raise ValueError(f"{manifest} line {n}: expected '<sha256>  <file>', got {line!r}")
                digest, rel = line.split(maxsplit=1)
                rel = rel.lstrip("*")  # sha256sum's binary-mode marker
                if rel.startswith(prefix):
                    entries.append((manifest.parent / rel, digest))
    return entries


def verify_dataset(folder: Path) -> None:
    """Check every file listed in the folder's sha256 manifests; raise naming the first bad one."""
    entries = _manifest_lines(folder)
    if not entries:
        raise ValueError(f"{folder}: no MANIFEST.sha256 or IMAGES.sha256 to verify against")
    for path, digest in entries:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is listed in a manifest but missing")
        if file_hash(path) != digest:
            raise ValueError(f"{path}: sha256 differs from its manifest; the file is corrupt")


# ---------------------------------------------------------------------- readers of the originals
def read_idx(path: Path) -> np.ndarray:
    """An IDX file (LeCun's MNIST format, optionally gzipped) as a uint8 array.

    A truncated or corrupt file is an error naming it (and the fix), not a bare EOFError or
    reshape error: the data set folder is found by its file names, not by a checksum.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, OSError, zlib.error) as e:
        raise ValueError(f"{path}: truncated or corrupt ({type(e).__name__}: {e}); delete it to "
                         "download it again") from e
    if len(data) < 4 or data[0] * 256 + data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (header {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != 4 + 4 * ndim + int(np.prod(shape)):
        raise ValueError(f"{path}: {len(data)} bytes, but its header promises a uint8 array of "
                         f"shape {list(shape)}: truncated? Delete it to download it again")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(x_train [60000, 28, 28], y_train, x_test [10000, 28, 28], y_test)` from the IDX files."""
    x_trn, y_trn, x_val, y_val = (read_idx(path / r.filename) for r in RESOURCES["mnist"])
    return x_trn, y_trn.astype(np.int64), x_val, y_val.astype(np.int64)


def _cifar_files(folder: Path, pattern: str) -> list[Path]:
    """CIFAR batch files in `folder` or in the archive's own `cifar-10-batches-py/` inside it."""
    return sorted(folder.glob(pattern)) + sorted(folder.glob(f"cifar-10-batches-py/{pattern}"))


class CifarUnpickler(pickle.Unpickler):
    """Unpickle a CIFAR-10 batch, refusing any class but numpy's array and dtype.

    A pickle can run any code while it loads; a batch file found in `$MINIFAST_DATA` has no
    checksum. CIFAR's pickles hold only dicts, lists, strings, bytes and numpy arrays.
    """

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"),
               ("_codecs", "encode")}  # how Python 3 writes bytes in a protocol-2 pickle

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch "
                                         "holds only numpy arrays")
        return super().find_class(module, name)


def read_cifar_pickle(path: Path) -> dict:
    """A CIFAR-10 python pickle as a dict; an error naming the file if it is corrupt or hostile."""
    try:
        with open(path, "rb") as f:
            return CifarUnpickler(f, encoding="latin1").load()  # Python 2 pickles: latin-1 bytes
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a readable CIFAR-10 batch ({type(e).__name__}: {e}); "
                         "delete it to download it again") from e


CIFAR_ROW = 3 * 32 * 32  # one image: 1024 red, then 1024 green, then 1024 blue bytes
N_CIFAR_CLASSES = 10


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch's images [N, 32, 32, 3] and labels [N], each checked against the format:
    a damaged file must be named, not fail later in a reshape or train on shifted labels."""
    d = read_cifar_pickle(path)
    problem = _cifar_batch_problem(d)
    if problem:
        raise ValueError(f"{path}: not a valid CIFAR-10 batch: {problem}; delete it to download "
                         "it again")
    x = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), np.asarray(d["labels"], dtype=np.int64)


def _cifar_batch_problem(d) -> str | None:
    """What is wrong with an unpickled batch, or None: data must be [N, 3072] uint8 and labels
    N integers in 0-9."""
    if not isinstance(d, dict) or "data" not in d or "labels" not in d:
        keys = sorted(map(str, d)) if isinstance(d, dict) else type(d).__name__
        return f"expected a dict with 'data' and 'labels', found {keys}"
    data, labels = np.asarray(d["data"]), np.asarray(d["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_ROW:
        return (f"'data' is {data.dtype} of shape {data.shape}; expected uint8 rows of "
                f"{CIFAR_ROW} bytes (3 x 32 x 32)")
    if labels.ndim != 1 or len(labels) != len(data):
        return f"{labels.size} label(s) for {len(data)} image(s)"
    if labels.dtype.kind not in "iu":
        return f"labels must be integers 0-{N_CIFAR_CLASSES - 1}, found {labels.dtype}"
    outside = labels[(labels < 0) | (labels >= N_CIFAR_CLASSES)]
    if outside.size:
        return f"{outside.size} label(s) outside 0-{N_CIFAR_CLASSES - 1}, e.g. {outside[0]}"
    return None


def load_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """`(x_train [N, 32, 32, 3], y_train, x_test, y_test, class names)` from the python pickles.

    Every `data_batch_*` found is training data; the test set is `test_batch`, or the shared
    folder's `partial/test_batch_first1000`.
    """
    batches = [_read_cifar_batch(p) for p in _cifar_files(path, "data_batch_*")]
    test = (_cifar_files(path, "test_batch") or _cifar_files(path, "partial/test_batch_first1000"))
    if not batches or not test:
        raise FileNotFoundError(f"{path}: expected CIFAR-10 data_batch_* and test_batch files")
    x_val, y_val = _read_cifar_batch(test[0])
    metas = _cifar_files(path, "batches.meta")
    meta = read_cifar_pickle(metas[0]) if metas else {}
    classes = meta.get("label_names") if isinstance(meta, dict) else None
    if not isinstance(classes, list) or len(classes) != N_CIFAR_CLASSES:
        where = metas[0] if metas else path / "batches.meta"
        raise ValueError(f"{where}: expected the {N_CIFAR_CLASSES} CIFAR-10 class names under "
                         "'label_names'; delete the folder to download it again")
    return (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]),
            x_val, y_val, list(classes))


# ---------------------------------------------------------------------- ready-to-train data
def mnist_data(bs: int = 64, sz: int = 28, tfms=None, num_workers: int | None = None,
               fetch: Fetch | None = None) -> ImageClassifierData:
    """MNIST, 60,000 training and 10,000 validation (the test set) digits as RGB images."""
    path = get_dataset("mnist", fetch)
    x_trn, y_trn, x_val, y_val = load_mnist(path)
    tfms = tfms or tfms_from_stats(MNIST_STATS, sz)
    return ImageClassifierData.from_arrays(path, (x_trn, y_trn), (x_val, y_val), bs=bs, tfms=tfms,
                                           num_workers=num_workers)


def cifar10_data(bs: int = 64, sz: int = 32, tfms=None, num_workers: int | None = None,
                 fetch: Fetch | None = None) -> ImageClassifierData:
    """CIFAR-10: the training batches found, validated on the test batch; classes by name."""
    path = get_dataset("cifar10", fetch)
    x_trn, y_trn, x_val, y_val, classes = load_cifar10(path)
    tfms = tfms or tfms_from_stats(CIFAR10_STATS, sz)
    return ImageClassifierData.from_arrays(path, (x_trn, y_trn), (x_val, y_val), bs=bs, tfms=tfms,
                                           classes=classes, num_workers=num_workers)


def pokemon_data(bs: int = 64, sz: int = 224, tfms=None, valid_pct: float = 0.2, seed: int = 42,
                 num_workers: int | None = None, on_bad: str = "warn") -> ImageClassifierData:
    """The 5-class Pokédex set (one folder per class), `valid_pct` held out by `seed`."""
    return ImageClassifierData.from_folder(get_dataset("pokemon"), bs=bs,
                                           tfms=tfms or tfms_from_stats(IMAGENET_STATS, sz),
                                           valid_pct=valid_pct, seed=seed,
                                           num_workers=num_workers, on_bad=on_bad)


def dogbreeds_data(bs: int = 64, sz: int = 224, tfms=None, val_pct: float = 0.2, seed: int = 42,
                   num_workers: int | None = None, on_bad: str = "warn") -> ImageClassifierData:
    """Dog breeds, Kaggle layout (labels.csv + train/<id>.jpg); `get_cv_idxs` holds out `val_pct`."""
    path = get_dataset("dogbreeds")
    n_rows = len(read_labels_csv(path / "labels.csv", path / "train", ".jpg")[0])  # as from_csv reads it
    return ImageClassifierData.from_csv(path, "train", path / "labels.csv", bs=bs,
                                        tfms=tfms or tfms_from_stats(IMAGENET_STATS, sz),
                                        val_idxs=get_cv_idxs(n_rows, val_pct=val_pct, seed=seed),
                                        suffix=".jpg", num_workers=num_workers, on_bad=on_bad)
