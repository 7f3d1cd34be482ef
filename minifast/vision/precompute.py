"""Precompute: run the frozen body once over the data, cache its output on disk, train the head on it.

While the body is frozen its output for an un-augmented image never changes, so computing it every
epoch is waste: the course's `precompute=True` (fastai 0.7) computes it once and trains the head
on the stored activations — seconds per epoch instead of minutes.

A cache must never be stale. Its key is a sha256 of everything the activations depend on: the
body's structure and weights, the transforms, the image size, and each data set's fingerprint
(file list, sizes, mtimes, labels). Change any of them and the key changes, so a new entry is
computed; old entries are never overwritten. Files are written atomically (temp file + rename).

    <learn.path>/tmp/precompute/<key>/train.pt, valid.pt, test.pt   ({"x": features, "y": targets})
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from ..checkpoint import save_checkpoint
from ..data import DataBunch
from ..distributed import is_main_process, main_process_first
from ..torch_utils import to_device
from .head import TransferModel

SPLITS = ("train", "valid", "test")


def precomputed_data(model: TransferModel, data, cache_root: Path, device: torch.device
                     ) -> tuple[DataBunch, Path]:
    """A DataBunch of cached features for `data`'s splits, computing the missing ones.

    Returns the DataBunch and the cache folder. The train features come from un-augmented images.
    """
    folder = Path(cache_root) / cache_key(model, data)
    arrays = {}
    # Under DDP (minifast/distributed.py) rank 0 computes and caches first, then the other ranks
    # read the cache. Before the process group starts, each rank computes; only rank 0 writes.
    with main_process_first():
        for split in SPLITS:
            dl = plain_dl(data, split)
            if dl is None:
                continue
            file = folder / f"{split}.pt"
            if file.is_file():
                arrays[split] = torch.load(file, map_location="cpu", weights_only=True)
            else:
                x, y = compute_features(model, dl, device)
                arrays[split] = {"x": x, "y": y}
                if is_main_process():
                    _save(arrays[split], file)
    train_dl = data.train_dl
    bunch = DataBunch(
        _feature_dl(arrays["train"], train_dl, shuffle=isinstance(train_dl.sampler, RandomSampler)),
        _feature_dl(arrays["valid"], data.valid_dl, shuffle=False),
        _feature_dl(arrays["test"], data.test_dl, shuffle=False) if "test" in arrays else None,
        classes=getattr(data, "classes", None))
    return bunch, folder


def compute_features(model: TransferModel, dl: DataLoader, device: torch.device
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """`model.features` of every batch of `dl`, in eval mode, gathered on the CPU."""
    was_training = model.training
    model.eval()
    xs, ys = [], []
    try:
        with torch.no_grad():
            for xb, yb in dl:
                xs.append(model.features(to_device(xb, device)).float().cpu())
                ys.append(yb.cpu() if isinstance(yb, torch.Tensor) else torch.as_tensor(yb))
    finally:
        model.train(was_training)
    return torch.cat(xs), torch.cat(ys)


def cache_key(model: TransferModel, data) -> str:
    """sha256 of all the activations depend on: body structure and weights, transforms, size, data."""
    h = hashlib.sha256()
    h.update(repr(model.body).encode())
    h.update(repr(model.head[: model.n_cached]).encode())
    for name, tensor in model.body.state_dict().items():
        h.update(name.encode())
        h.update(_tensor_bytes(tensor))
    h.update(f"tfms={getattr(data, 'tfms', None)!r} sz={getattr(data, 'sz', None)!r}".encode())
    for split in SPLITS:
        ds = dataset_of(data, split)
        h.update(f"|{split}:".encode())
        if ds is not None:
            h.update(dataset_fingerprint(ds, split))
    return h.hexdigest()[:32]


def dataset_of(data, split: str):
    """The data set behind a split: ImageClassifierData's `trn_ds`/`val_ds`/`test_ds`, or a
    DataBunch's `train_dl.dataset`/..."""
    name = {"train": "trn_ds", "valid": "val_ds", "test": "test_ds"}[split]
    if hasattr(data, name):
        return getattr(data, name)
    dl = getattr(data, f"{split}_dl", None)
    return None if dl is None else dl.dataset


def dataset_fingerprint(ds, split: str) -> bytes:
    """Bytes that change when the data set's items or labels change."""
    if hasattr(ds, "fingerprint"):
        labels = getattr(ds, "y", None)
        label_bytes = b"" if labels is None else np.ascontiguousarray(np.asarray(labels)).tobytes()
        return str(ds.fingerprint()).encode() + label_bytes
    if isinstance(ds, TensorDataset):
        return b"".join(_tensor_bytes(t) for t in ds.tensors)
    raise ValueError(f"precompute=True cannot tell when the {split} data set ({type(ds).__name__}) "
                     f"changes, so it cannot cache it safely. Use ImageClassifierData or a "
                     f"TensorDataset, give the data set a fingerprint() method, or precompute=False.")


def plain_dl(data, split: str) -> Optional[DataLoader]:
    """An un-augmented, unshuffled DataLoader over a split (None when the split is absent)."""
    if hasattr(data, "make_dl"):
        if dataset_of(data, split) is None:
            return None
        return data.make_dl(split, augment=False, shuffle=False)
    dl = getattr(data, f"{split}_dl", None)
    if dl is None or split != "train":
        return dl
    return DataLoader(dl.dataset, batch_size=dl.batch_size, shuffle=False)


def _save(arrays: dict, file: Path) -> None:
    try:
        save_checkpoint(arrays, file)  # atomic: a crash leaves no half-written file
    except OSError as e:
        raise OSError(f"cannot write the precompute cache {file} ({e.strerror or e}); give the "
                      f"learner a writable folder: ConvLearner.pretrained(..., path='some/dir')") from e


def _feature_dl(arrays: dict, like: Optional[DataLoader], shuffle: bool) -> DataLoader:
    # Same batch size and drop_last as the image DataLoader it replaces; same RNG when shuffled.
    bs = like.batch_size if like is not None and like.batch_size else 64
    drop_last = like.drop_last if like is not None else False
    generator = like.sampler.generator if shuffle else None
    return DataLoader(TensorDataset(arrays["x"], arrays["y"]), batch_size=bs, shuffle=shuffle,
                      drop_last=drop_last, generator=generator)


def _tensor_bytes(t: torch.Tensor) -> bytes:
    # A byte view works for every dtype (numpy has no bfloat16).
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
