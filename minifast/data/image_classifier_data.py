"""ImageClassifierData: labelled images for training, validation and test, with their loaders.

The fastai 0.7 constructors, each for one way a data set comes on disk:

    from_paths   PATH/train/<class>/*.jpg, PATH/valid/<class>/*.jpg   (ImageNet style)
    from_csv     PATH/labels.csv (id,label) + PATH/train/<id>.jpg     (Kaggle style)
    from_arrays  uint8 arrays in memory                               (MNIST, CIFAR-10)
    from_folder  PATH/<class>/*.jpg, split for you by `valid_pct`     (a folder you collected)

File constructors decode every image once before training (`on_bad`): broken files are named
and left out, or raise, instead of crashing an epoch. Test items have label 0 (unknown).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from .download import cache_dir
from .image_datasets import ArraysDataset, FilesDataset
from .images import PathLike, list_images, scan_images
from .labels import (
    check_class_counts,
    check_label_range,
    class_folders,
    encode_labels,
    files_by_class,
    int_labels,
    read_labels_csv,
)
from .loaders import default_num_workers, make_loader
from .resize import resize_images
from .split import get_cv_idxs, split_by_idxs, split_by_pct
from .stats import channel_stats
from .transforms import IMAGENET_STATS, tfms_from_stats

Split = tuple[list[Path], np.ndarray]  # (files, labels)
NOT_CLASSES = ("models", "tmp")  # folders the course writes into PATH: never classes


def _check_tfms(tfms, sz: int) -> tuple:
    if tfms is None:
        return tfms_from_stats(IMAGENET_STATS, sz)
    if not (isinstance(tfms, (tuple, list)) and len(tfms) == 2 and all(map(callable, tfms))):
        raise ValueError("tfms must be a pair (train_tfms, valid_tfms), "
                         "e.g. from tfms_from_model(arch, sz)")
    return tuple(tfms)


def _take(fnames: Sequence[Path], y: np.ndarray, idxs: np.ndarray) -> Split:
    return [fnames[i] for i in idxs], y[idxs]


def _without(split: Split, bad: set[Path]) -> Split:
    keep = np.array([f not in bad for f in split[0]], dtype=bool)
    return [f for f, k in zip(split[0], keep) if k], split[1][keep]


def _check_usable(path: Path, trn: Split, val: Split, kept: tuple[Split, Split],
                  classes: Sequence[str]) -> None:
    """After unreadable files are left out: each split still has images, and no class lost all
    of its images (it would stay a class with none, silently)."""
    for name, (files, _) in (("training", kept[0]), ("validation", kept[1])):
        if not files:
            raise ValueError(f"{path}: no usable {name} images")
    had = np.bincount(np.concatenate([trn[1], val[1]]), minlength=len(classes))
    has = np.bincount(np.concatenate([kept[0][1], kept[1][1]]), minlength=len(classes))
    lost = [c for i, c in enumerate(classes) if had[i] > 0 and has[i] == 0]
    if lost:
        raise ValueError(f"{path}: every image of class(es) {lost} is unreadable (see the "
                         "warning above): fix or replace those files, or remove the class")
    check_class_counts(classes, kept[0][1], kept[1][1], str(path))


def _array_pair(pair, name: str) -> tuple[np.ndarray, np.ndarray]:
    """`(x, y)` checked: uint8 images [N, H, W(, 3)] with N >= 1 and one whole-number label each."""
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise ValueError(f"{name} must be a pair (x, y) of images and labels")
    x = np.asarray(pair[0])
    if x.dtype != np.uint8 or not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3)):
        raise ValueError(f"{name}[0]: images must be uint8 [N, H, W] or [N, H, W, 3]; got {x.dtype} "
                         f"{list(x.shape)} (convert with (x * 255).astype(np.uint8) if in [0, 1])")
    if len(x) == 0:
        raise ValueError(f"{name}[0] has no images (shape {list(x.shape)})")
    return x, int_labels(pair[1], f"{name}[1] (labels)", len(x))


def _test_split(path: Path, test_name: str | None) -> Split:
    if test_name is None:
        return [], np.zeros(0, dtype=np.int64)
    files = list_images(path / test_name, recursive=True)
    if not files:
        raise ValueError(f"test folder {path / test_name} has no images")
    return files, np.zeros(len(files), dtype=np.int64)


class ImageClassifierData:
    """Train/valid/test datasets of labelled images and a DataLoader for each.

    `trn_ds`, `val_ds`, `test_ds` (or None) give `(image [3, sz, sz], label)`; `classes` names
    the labels, `c` counts them; `tfms = (train_tfms, valid_tfms)`. `num_workers=None` picks a
    number from the data set's size (see `loaders.py`).
    """

    def __init__(self, path: PathLike, trn_ds, val_ds, classes: Sequence[str], tfms: tuple,
                 bs: int = 64, test_ds=None, num_workers: int | None = None):
        self.path, self.classes, self.tfms = Path(path), list(classes), tuple(tfms)
        self.trn_ds, self.val_ds, self.test_ds = trn_ds, val_ds, test_ds
        for name, ds in (("training", trn_ds), ("validation", val_ds)):
            if len(ds) == 0:  # else torch's "num_samples=0", or a validation loss of 0/0
                raise ValueError(f"{path}: the {name} set is empty")
        # One worker setting for all loaders, from the training set's size (see loaders.py).
        self.bs = bs
        self.num_workers = default_num_workers(len(trn_ds)) if num_workers is None else num_workers
        self.sz = getattr(self.tfms[1], "sz", None)
        # A lone last sample makes a batch of 1, which BatchNorm cannot train on: drop only that.
        lone = len(trn_ds) % bs == 1 and len(trn_ds) > 1
        self.train_dl = make_loader(trn_ds, bs, shuffle=True, num_workers=self.num_workers,
                                    drop_last=lone)
        self.valid_dl = make_loader(val_ds, bs, num_workers=self.num_workers)
        self.test_dl = (make_loader(test_ds, bs, num_workers=self.num_workers)
                        if test_ds is not None else None)

    @property
    def c(self) -> int:
        """The number of classes (the model's number of outputs)."""
        return len(self.classes)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def _from_files(cls, path: Path, trn: Split, val: Split, test: Split, classes: Sequence[str],
                    tfms, bs: int, num_workers: int | None, on_bad: str) -> ImageClassifierData:
        """Scan all files in one pass (one warning for all bad ones), then build the datasets."""
        tfms = _check_tfms(tfms, 224)
        bad = scan_images(trn[0] + val[0] + test[0], on_bad)
        kept = _without(trn, bad), _without(val, bad)
        _check_usable(path, trn, val, kept, classes)
        (trn, val), test = kept, _without(test, bad)
        trn_ds, val_ds = FilesDataset(*trn, tfms[0]), FilesDataset(*val, tfms[1])
        test_ds = FilesDataset(*test, tfms[1]) if test[0] else None
        return cls(path, trn_ds, val_ds, classes, tfms, bs, test_ds, num_workers)

    @classmethod
    def from_paths(cls, path: PathLike, bs: int = 64, tfms=None, trn_name: str = "train",
                   val_name: str = "valid", test_name: str | None = None,
                   num_workers: int | None = None, on_bad: str = "warn") -> ImageClassifierData:
        """ImageNet-style folders: `path/trn_name/<class>/*`, `path/val_name/<class>/*` and
        optionally `path/test_name/*`."""
        path = Path(path)
        classes = class_folders(path / trn_name)
        trn = files_by_class(path / trn_name, classes, classes)
        val = files_by_class(path / val_name, class_folders(path / val_name), classes)
        return cls._from_files(path, trn, val, _test_split(path, test_name), classes, tfms, bs,
                               num_workers, on_bad)

    @classmethod
    def from_csv(cls, path: PathLike, folder: str, csv_fname: PathLike, bs: int = 64, tfms=None,
                 val_idxs=None, suffix: str = "", test_name: str | None = None,
                 classes: Sequence[str] | None = None, num_workers: int | None = None,
                 on_bad: str = "warn") -> ImageClassifierData:
        """A CSV of `id,label` rows naming `path/folder/<id><suffix>`; `val_idxs` (CSV row numbers,
        0 = first row after the header) are held out, by default `get_cv_idxs(n_rows)`."""
        path = Path(path)
        # 'labels.csv' (inside path) or the course's f'{PATH}labels.csv' (a path of its own)
        csv_path = path / csv_fname if (path / csv_fname).is_file() else Path(csv_fname)
        fnames, names = read_labels_csv(csv_path, path / folder, suffix, classes)
        y, classes = encode_labels(names, classes, str(csv_path))
        val_idxs = get_cv_idxs(len(fnames)) if val_idxs is None else val_idxs
        trn_idxs, val_idxs = split_by_idxs(len(fnames), val_idxs)
        return cls._from_files(path, _take(fnames, y, trn_idxs), _take(fnames, y, val_idxs),
                               _test_split(path, test_name), classes, tfms, bs, num_workers, on_bad)

    @classmethod
    def from_folder(cls, path: PathLike, bs: int = 64, tfms=None, valid_pct: float = 0.2,
                    seed: int = 42, test_name: str | None = None,
                    num_workers: int | None = None, on_bad: str = "warn") -> ImageClassifierData:
        """One folder of images per class, `path/<class>/*`; a random `valid_pct` is held out
        (reproducible from `seed`). Folders named `test_name`, `models` and `tmp` are not classes."""
        path = Path(path)
        classes = class_folders(path, exclude=(*NOT_CLASSES, *([test_name] if test_name else [])))
        fnames, y = files_by_class(path, classes, classes)
        trn_idxs, val_idxs = split_by_pct(len(fnames), valid_pct, seed)
        return cls._from_files(path, _take(fnames, y, trn_idxs), _take(fnames, y, val_idxs),
                               _test_split(path, test_name), classes, tfms, bs, num_workers, on_bad)

    @classmethod
    def from_arrays(cls, path: PathLike, trn: tuple, val: tuple, bs: int = 64, tfms=None,
                    classes: Sequence[str] | None = None, test: np.ndarray | None = None,
                    num_workers: int | None = None) -> ImageClassifierData:
        """uint8 image arrays [N, H, W] (grey) or [N, H, W, 3] with int labels: `trn = (x, y)`,
        `val = (x, y)`, `test = x`. `classes=None` names the labels "0", "1", ..."""
        (x_trn, y_trn), (x_val, y_val) = _array_pair(trn, "trn"), _array_pair(val, "val")
        y_max = int(max(y_trn.max(), y_val.max()))
        classes = [str(i) for i in range(y_max + 1)] if classes is None else list(classes)
        check_label_range(y_trn, len(classes), "trn[1] (labels)")
        check_label_range(y_val, len(classes), "val[1] (labels)")
        check_class_counts(classes, y_trn, y_val, "from_arrays")
        tfms = _check_tfms(tfms, int(x_trn.shape[1]))
        trn_ds, val_ds = ArraysDataset(x_trn, y_trn, tfms[0]), ArraysDataset(x_val, y_val, tfms[1])
        test_ds = (None if test is None
                   else ArraysDataset(test, np.zeros(len(test), np.int64), tfms[1]))
        return cls(path, trn_ds, val_ds, classes, tfms, bs, test_ds, num_workers)

    # ------------------------------------------------------------------ loaders and tools
    def make_dl(self, split: str, augment: bool = False, shuffle: bool = False,
                bs: int | None = None) -> DataLoader:
        """A new DataLoader over `split` ('train'|'valid'|'test'), with the training transforms
        when `augment` (TTA) or the validation ones (precompute: no randomness)."""
        ds = self._dataset(split).with_tfms(self.tfms[0] if augment else self.tfms[1])
        return make_loader(ds, bs or self.bs, shuffle=shuffle, num_workers=self.num_workers,
                           persistent=False)  # used for one pass: no workers left behind

    def _dataset(self, split: str):
        datasets = {"train": self.trn_ds, "valid": self.val_ds, "test": self.test_ds}
        if split not in datasets:
            raise ValueError(f"split={split!r}: expected 'train', 'valid' or 'test'")
        if datasets[split] is None:
            raise ValueError("this data has no test set: pass test_name= (or test=) when creating it")
        return datasets[split]

    def stats(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """Per-channel `(mean, std)` of `split`'s pixels in [0, 1]: every pixel of every image,
        each at its own size (for normalising a model trained from scratch)."""
        return channel_stats(self._dataset(split), self.num_workers)

    def show_batch(self, n: int = 8, split: str = "train", augment: bool = True, ncols: int = 4):
        """Plot `n` images of `split` with their class names (augmented as training sees them)."""
        import matplotlib.pyplot as plt

        x, y = next(iter(self.make_dl(split, augment=augment, shuffle=True, bs=n)))
        denorm = getattr(self.tfms[1], "denorm", lambda t: t.clamp(0, 1))
        nrows = -(-len(x) // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3 * nrows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, img, label in zip(axes.flat, denorm(x), y):
            ax.imshow(img.permute(1, 2, 0).numpy())
            ax.set_title(self.classes[int(label)] if split != "test" else "test")
        fig.tight_layout()
        return fig

    def resize(self, px: int, new_path: PathLike | None = None) -> ImageClassifierData:
        """The same data read from copies whose shorter side is `px`, written once under
        `new_path` (default: in the user cache, see `_resize_dir`)."""
        if not isinstance(self.trn_ds, FilesDataset):
            raise ValueError("resize() shrinks image files; this data is arrays already in memory")
        new_root = Path(new_path) if new_path is not None else self._resize_dir(px)
        sets = [self.trn_ds, self.val_ds, self.test_ds]
        new = [None if ds is None else FilesDataset(resize_images(ds.fnames, self.path, new_root, px),
                                                     ds.y, ds.tfms) for ds in sets]
        return ImageClassifierData(new_root, new[0], new[1], self.classes, self.tfms, self.bs,
                                   new[2], self.num_workers)

    def _resize_dir(self, px: int) -> Path:
        """`<cache>/resized/<folder name>-<hash of its full path>/<px>`: never inside the data
        folder itself, which may be shared or read-only (fastai 0.7 wrote to `PATH/tmp`)."""
        key = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:8]
        return cache_dir() / "resized" / f"{self.path.name}-{key}" / str(px)

    def __repr__(self) -> str:
        n_test = len(self.test_ds) if self.test_ds is not None else 0
        return (f"ImageClassifierData(train={len(self.trn_ds)}, valid={len(self.val_ds)}, "
                f"test={n_test}, classes={self.c}, sz={self.sz}, bs={self.bs})")
