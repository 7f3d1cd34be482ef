"""Precompute: run the frozen body once over the data, cache its output on disk, train the head on it.

While the body is frozen its output for an un-augmented image never changes, so computing it every
epoch is waste: the course's `precompute=True` (fastai 0.7) computes it once and trains the head
on the stored activations — seconds per epoch instead of minutes.

A cache must never be stale. Its key is a sha256 of everything the activations depend on: the
body's structure and weights, the transforms, the image size, and each data set's fingerprint
(file list, sizes, mtimes, labels). Change any of them and the key changes, so a new entry is
computed. Nor may it be damaged: each file holds its row count and the SHA-256 checksum that
`save_checkpoint` adds to everything it writes, and a file that cannot be read, has the wrong
number of rows or fails its checksum is named in a warning and recomputed. Files are written
atomically (temp file + rename).

    <cache root>/<key>/train.pt, valid.pt, test.pt   {"x", "y", "rows", "checksum"}

The cache root is `<learn.path>/tmp/precompute` (fastai 0.7's `tmp/` beside the data), or, when
that cannot be written (a read-only data folder), `<user cache>/precompute/<hash of learn.path>`.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from ..callback import Callback
from ..checkpoint import checksum, save_checkpoint
from ..data import DataBunch, ImageClassifierData
from ..data.download import cache_dir
from ..distributed import is_main_process, main_process_first
from ..messages import MinifastWarning
from .head import TransferModel

SPLITS = ("train", "valid", "test")


class Precompute(Callback):
    """While `on`, each fit trains and validates the head on the body's cached activations
    instead of the images: the callback swaps the loop's loaders, as `Distributed` swaps in its
    shards, so `learn.data` always holds the images.

    Turning it on or off only sets `on`; the features are read or computed when a fit needs them
    (`before_fit`), and again only when the data or the body's weights changed since: a change
    of weights is seen from PyTorch's per-tensor version counters, so the body's weights are
    hashed once per change, not once per fit. During the fit the model runs only its head
    (`model.precomputed`); outside a fit it is the whole model, so predictions and TTA use the
    images as usual.
    """

    order = -35  # after Resume (-40) loads weights, before Distributed (-30) shards the loaders

    def __init__(self, on: bool = False):
        self.on = on
        self.features: DataBunch | None = None  # the cached features of `self.seen_data`
        self.folder: Path | None = None  # their cache entry
        self.root: Path | None = None  # chosen on first use: see cache_root
        self.seen_data, self.seen_body = None, None

    def before_fit(self):
        if self.on:
            self.prepare()
            self.learn.model.precomputed = True

    def prepare(self) -> DataBunch:
        """The features of `learn.data` for the body as it is now: kept from the last fit,
        read from the cache, or computed. A fit calls it; call it yourself to build the cache
        at a moment of your choosing."""
        learn = self.learn
        body = body_versions(learn.model)
        if self.features is None or self.seen_data is not learn.data or self.seen_body != body:
            if self.root is None:
                self.root = cache_root(learn.path)
            # Computing features builds DataLoader iterators, each drawing a seed from torch's
            # global generator; reading the cache draws none. fork_rng puts the generator back,
            # so a seeded script trains the same whether or not a cache existed.
            with torch.random.fork_rng(devices=[]):
                self.features, self.folder = feature_data(learn, learn.data, self.root)
            self.seen_data, self.seen_body = learn.data, body  # computing changes no weight
        return self.features

    def before_train(self):
        if self.on:
            self.learn.dl = self.features.train_dl

    def before_validate(self):
        if self.on:
            self.learn.dl = self.features.valid_dl

    def after_fit(self):
        self.learn.model.precomputed = False


def body_versions(model: TransferModel) -> list[tuple[int, int]]:
    """(id, version) of each tensor of the body: PyTorch bumps a tensor's `_version` at every
    in-place change (an optimiser step, `load_state_dict`), so an unchanged list means unchanged
    weights, without hashing them."""
    return [(id(t), t._version) for t in model.body.state_dict(keep_vars=True).values()]


class ImageSplits(NamedTuple):
    """What precompute reads from image data: an un-augmented, unshuffled loader per split, and
    a description of the transforms for the cache key."""
    loaders: dict[str, DataLoader]
    tfms: str


def image_splits(data) -> ImageSplits:
    """The one interface precompute uses: an `ImageClassifierData` (its `make_dl` gives loaders
    without augmentation) or a `DataBunch` (its data sets are used as they are)."""
    if isinstance(data, ImageClassifierData):
        present = [s for s, ds in zip(SPLITS, (data.trn_ds, data.val_ds, data.test_ds)) if ds is not None]
        loaders = {s: data.make_dl(s, augment=False, shuffle=False) for s in present}
        return ImageSplits(loaders, f"tfms={data.tfms!r} sz={data.sz!r}")
    if isinstance(data, DataBunch):
        dls = zip(SPLITS, (data.train_dl, data.valid_dl, data.test_dl))
        loaders = {s: DataLoader(dl.dataset, batch_size=dl.batch_size or 64, shuffle=False,
                                 collate_fn=dl.collate_fn) for s, dl in dls if dl is not None}
        return ImageSplits(loaders, "DataBunch")
    raise TypeError(f"precompute=True needs an ImageClassifierData or a DataBunch (it must know "
                    f"each split's un-augmented images); got {type(data).__name__}. Wrap your "
                    f"loaders in DataBunch(train_dl, valid_dl), or use precompute=False.")


def feature_data(learn, data, root: Path) -> tuple[DataBunch, Path]:
    """A DataBunch of cached features for `data`'s splits, computing missing or damaged files.

    Returns it and the cache folder. Features come from `learn.get_preds` with the body as the
    forward function: the same inference loop as predictions, TTA and predict_image.
    """
    splits = image_splits(data)
    folder = Path(root) / cache_key(learn.model, splits)
    arrays = {}
    # Under DDP (minifast/distributed.py) rank 0 computes and caches first, then the other ranks
    # read the cache. Before the process group starts, each rank computes; only rank 0 writes.
    with main_process_first():
        for split, dl in splits.loaders.items():
            file = folder / f"{split}.pt"
            arrays[split] = read_features(file, len(dl.dataset))
            if arrays[split] is None:
                x, y = learn.get_preds(dl, activation=_identity, forward=learn.model.features)
                arrays[split] = {"x": x, "y": y}
                if is_main_process():
                    write_features(arrays[split], file)
    bunch = DataBunch(
        _feature_dl(arrays["train"], data.train_dl, shuffle=isinstance(data.train_dl.sampler, RandomSampler)),
        _feature_dl(arrays["valid"], data.valid_dl, shuffle=False),
        _feature_dl(arrays["test"], data.test_dl, shuffle=False) if "test" in arrays else None,
        classes=data.classes)
    return bunch, folder


def cache_key(model: TransferModel, splits: ImageSplits) -> str:
    """sha256 of all the activations depend on: body structure and weights, transforms, data."""
    h = hashlib.sha256()
    h.update(repr(model.body).encode())
    h.update(repr(model.head[: model.n_cached]).encode())
    for name, tensor in model.body.state_dict().items():
        h.update(name.encode())
        h.update(_byte_view(tensor))
    h.update(splits.tfms.encode())
    for split in SPLITS:
        h.update(f"|{split}:".encode())
        if split in splits.loaders:
            h.update(dataset_fingerprint(splits.loaders[split].dataset, split))
    return h.hexdigest()[:32]


def dataset_fingerprint(ds, split: str) -> bytes:
    """Bytes that change when the data set's items or labels change: its `fingerprint()`
    (FilesDataset, ArraysDataset, your own), or a TensorDataset's tensors."""
    if hasattr(ds, "fingerprint"):
        return str(ds.fingerprint()).encode()
    if isinstance(ds, TensorDataset):
        return tensors_sha256(*ds.tensors).encode()
    raise ValueError(f"precompute=True cannot tell when the {split} data set ({type(ds).__name__}) "
                     f"changes, so it cannot cache it safely. Use ImageClassifierData or a "
                     f"TensorDataset, give the data set a fingerprint() method, or precompute=False.")


def cache_root(path: Path) -> Path:
    """`<path>/tmp/precompute`, or the user cache when `path` cannot be written (a read-only
    data folder: fastai 0.7 would fail there), with a one-line message saying where."""
    local = Path(path) / "tmp" / "precompute"
    if writable(local):
        return local
    digest = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16]
    fallback = cache_dir() / "precompute" / digest
    warnings.warn(f"precompute: {path} is not writable; caching the features in {fallback}",
                  MinifastWarning, stacklevel=2)
    return fallback


def writable(folder: Path) -> bool:
    """True if `folder`, or else the nearest folder above it that exists, can be written."""
    for p in (folder, *folder.parents):
        if p.exists():
            return p.is_dir() and os.access(p, os.W_OK)
    return False


def read_features(file: Path, rows: int) -> dict | None:
    """`{"x", "y"}` from `file`, or None when it is missing or damaged (with a warning naming
    it): unreadable, not `rows` rows, or a checksum that does not match its tensors."""
    if not file.is_file():
        return None
    try:
        saved = torch.load(file, map_location="cpu", weights_only=True)
        problem = _damage(saved, rows)
    except Exception as e:  # noqa: BLE001 - truncated/empty files raise many kinds of errors
        problem = f"cannot be read ({type(e).__name__}: {str(e)[:80]})"
    if problem:
        warnings.warn(f"precompute cache {file} {problem}; recomputing it", MinifastWarning,
                      stacklevel=3)
        return None
    return {"x": saved["x"], "y": saved["y"]}


def _damage(saved, rows: int) -> str | None:
    """Why a loaded cache file cannot be used, or None."""
    if not isinstance(saved, dict) or not {"x", "y", "rows", "checksum"} <= saved.keys():
        return "is not a feature file of this minifast version"
    x, y = saved["x"], saved["y"]
    if saved["rows"] != rows or len(x) != rows or len(y) != rows:
        return f"has {len(x)} rows where the data set has {rows}"
    if saved["checksum"] != checksum(saved):  # save_checkpoint's SHA-256 of the whole record
        return "fails its sha256 check (corrupted bytes)"
    return None


def write_features(arrays: dict, file: Path) -> None:
    x, y = arrays["x"], arrays["y"]
    record = {"x": x, "y": y, "rows": len(x)}
    try:
        save_checkpoint(record, file)  # atomic, and adds the SHA-256 checksum that _damage checks
    except OSError as e:
        raise OSError(f"cannot write the precompute cache {file} ({e.strerror or e}); give the "
                      f"learner a writable folder: ConvLearner.pretrained(..., path='some/dir')") from e


def tensors_sha256(*tensors: torch.Tensor) -> str:
    """sha256 of the tensors' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(_byte_view(t))
    return h.hexdigest()


def _feature_dl(arrays: dict, like: DataLoader | None, shuffle: bool) -> DataLoader:
    # Same batch size and drop_last as the image DataLoader it replaces; same RNG when shuffled.
    bs = like.batch_size if like is not None and like.batch_size else 64
    drop_last = like.drop_last if like is not None else False
    generator = like.sampler.generator if shuffle else None
    return DataLoader(TensorDataset(arrays["x"], arrays["y"]), batch_size=bs, shuffle=shuffle,
                      drop_last=drop_last, generator=generator)


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def _byte_view(t: torch.Tensor):
    # A uint8 numpy view, no copy: works for every dtype (numpy has no bfloat16).
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
