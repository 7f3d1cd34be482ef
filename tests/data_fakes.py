"""Small image files for the data tests: every colour mode, and every kind of broken file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def rgb_array(seed: int, h: int = 20, w: int = 24) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save_image(path: Path, seed: int = 0, mode: str = "RGB", h: int = 20, w: int = 24) -> Path:
    """A random image of `mode` written to `path` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(rgb_array(seed, h, w))
    if mode == "RGBA":
        img = img.convert("RGBA")
    elif mode in ("L", "P", "CMYK"):
        img = img.convert(mode)
    elif mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    img.save(path)
    return path


def make_bad_files(folder: Path) -> list[Path]:
    """One of each kind of unreadable file: truncated JPEG and PNG, empty, not an image."""
    folder.mkdir(parents=True, exist_ok=True)
    good_jpg = save_image(folder / "_tmp.jpg", seed=99, h=64, w=64).read_bytes()
    good_png = save_image(folder / "_tmp.png", seed=99, h=64, w=64).read_bytes()
    (folder / "_tmp.jpg").unlink()
    (folder / "_tmp.png").unlink()
    bad = {"truncated.jpg": good_jpg[: len(good_jpg) // 2], "truncated.png": good_png[: len(good_png) // 2],
           "empty.jpg": b"", "notes.png": b"this is not an image\n"}
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    return sorted(folder / n for n in bad)


def make_class_folders(root: Path, counts: dict[str, int], seed: int = 0, suffix: str = ".jpg") -> list[Path]:
    """`root/<class>/<i>.jpg` with `counts[class]` small RGB images each."""
    files = []
    for k, (cls, n) in enumerate(counts.items()):
        for i in range(n):
            files.append(save_image(root / cls / f"{i:03d}{suffix}", seed=seed + 100 * k + i))
    return files
