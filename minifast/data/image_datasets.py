"""Datasets of labelled images: from files on disk, or from uint8 arrays in memory.

Each returns `(image_tensor, label_int)` with the transforms it was given applied to an RGB PIL
image. `fingerprint()` names the exact items (for caches such as precomputed activations).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .images import open_image
from .labels import int_labels

Transform = Callable[[Image.Image], torch.Tensor]


class FilesDataset(Dataset):
    """Image files `fnames` with integer labels `y`, decoded to RGB and transformed on access."""

    def __init__(self, fnames: Sequence[Path], y, tfms: Transform | None):
        self.fnames = [Path(f) for f in fnames]
        self.y = int_labels(y, "y", len(self.fnames))
        self.tfms = tfms

    def __len__(self) -> int:
        return len(self.fnames)

    def get_image(self, i: int) -> Image.Image:
        """Item `i` as an RGB PIL image, before transforms."""
        return open_image(self.fnames[i])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = self.get_image(i)
        return (self.tfms(img) if self.tfms is not None else img), int(self.y[i])

    def with_tfms(self, tfms: Transform | None) -> FilesDataset:
        """The same items with other transforms (e.g. the training ones, for TTA)."""
        return FilesDataset(self.fnames, self.y, tfms)

    def fingerprint(self) -> str:
        """A sha256 of every file's path, size, modification and change times, and the labels.

        Cheap: one `stat` per file, no file is read. It changes whenever a file is added,
        removed, renamed or rewritten. The change time (ctime) is there because the modification
        time can be set back (`os.utime`, `touch -d`, `cp -p`, some sync tools): an edit that
        keeps the size and restores the mtime would otherwise look unchanged. The kernel sets
        ctime on every write and every `utime`, and nothing can set it back. The price is a
        cache rebuilt without need after a `chmod`, or after copying the folder elsewhere.
        """
        h = hashlib.sha256()
        for f in self.fnames:
            st = f.stat()
            h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}\n".encode())
        h.update(self.y.tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return f"FilesDataset({len(self)} files)"


class ArraysDataset(Dataset):
    """uint8 images `x` [N, H, W] (grey) or [N, H, W, 3] (RGB) with integer labels `y`.

    Grey images become RGB (the channel repeated) so that ImageNet models and transforms apply.
    """

    def __init__(self, x: np.ndarray, y, tfms: Transform | None):
        x = np.asarray(x)
        if x.dtype != np.uint8 or not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3)):
            raise ValueError(f"images must be uint8 [N, H, W] or [N, H, W, 3]; got {x.dtype} "
                             f"{list(x.shape)} (convert with (x * 255).astype(np.uint8) if in [0, 1])")
        self.x, self.y, self.tfms = x, int_labels(y, "y", len(x)), tfms
        self.fnames = None

    def __len__(self) -> int:
        return len(self.x)

    def get_image(self, i: int) -> Image.Image:
        return Image.fromarray(self.x[i]).convert("RGB")

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = self.get_image(i)
        return (self.tfms(img) if self.tfms is not None else img), int(self.y[i])

    def with_tfms(self, tfms: Transform | None) -> ArraysDataset:
        return ArraysDataset(self.x, self.y, tfms)

    def fingerprint(self) -> str:
        """A sha256 of the image bytes (with their shape) and the labels."""
        h = hashlib.sha256(str(self.x.shape).encode())
        h.update(np.ascontiguousarray(self.x).tobytes())
        h.update(self.y.tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return f"ArraysDataset({len(self)} images of {list(self.x.shape[1:])})"
