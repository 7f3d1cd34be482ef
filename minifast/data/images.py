"""Open any image file as RGB, and find unreadable files before training starts.

Real image folders hold RGBA PNGs, palette GIFs, 16-bit greyscale scans, CMYK JPEGs, PNGs named
`.jpg`, truncated downloads and the odd text file. A model wants RGB; a training run wants to
hear about broken files *before* epoch 1, not crash in the middle of epoch 3.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageOps

PathLike = Union[str, Path]
# Every extension Pillow can open (".jpg", ".png", ".gif", ".webp", ...): what folders are scanned for.
IMAGE_EXTS = frozenset(ext.lower() for ext in Image.registered_extensions())
ON_BAD = ("warn", "raise", "off")


class BadImageWarning(UserWarning):
    """Some files could not be decoded and were left out; `.paths` lists them."""

    def __init__(self, message: str, paths: Sequence[Path]):
        super().__init__(message)
        self.paths = list(paths)


class BadImageError(ValueError):
    """Some files could not be decoded (raised when `on_bad='raise'`); `.paths` lists them."""

    def __init__(self, message: str, paths: Sequence[Path]):
        super().__init__(message)
        self.paths = list(paths)


def is_image_file(path: Path) -> bool:
    """True for a visible file whose extension Pillow knows."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTS


def list_images(folder: PathLike, recursive: bool = False) -> list[Path]:
    """The image files in `folder` (and its subfolders when `recursive`), in sorted order."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if is_image_file(p))


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert a PIL image of any mode to RGB.

    Transparent images are composited on white (a transparent background is "nothing", and
    black would invent dark edges); 16-bit greyscale is scaled down to 8 bits rather than clipped.
    """
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode.startswith("I"):  # "I;16", "I;16B", "I" (what 16-bit PNGs open as): 0..65535
        px = np.asarray(img, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(np.rint(px), 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode == "F":
        return Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV: Pillow knows these


def open_image(path: PathLike) -> Image.Image:
    """Read an image file as an RGB PIL image, turned upright by its EXIF orientation tag."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)  # phone photos store "rotate me" as a tag
        return to_rgb(img)


def check_image(path: PathLike) -> Optional[str]:
    """Fully decode `path`; None if it is a good image, else why it is not.

    JPEGs are decoded at 1/8 scale (`draft`): every byte is still read, so a truncated file still
    fails, at a fraction of the cost. Any exception means "unusable", whatever Pillow raised.
    """
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as img:
            img.draft("RGB", (img.width // 8 or 1, img.height // 8 or 1))
            img.load()
            to_rgb(img)
    except Exception as e:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError...
        return f"{type(e).__name__}: {e}"
    return None


def find_bad_images(paths: Sequence[Path], n_threads: Optional[int] = None) -> dict[Path, str]:
    """`{path: reason}` for every file in `paths` that cannot be decoded.

    Decoding runs in threads: Pillow releases the GIL while it decodes.
    """
    n_threads = n_threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(n_threads) as pool:
        reasons = list(pool.map(check_image, paths))
    return {Path(p): r for p, r in zip(paths, reasons) if r is not None}


def scan_images(fnames: Sequence[Path], on_bad: str = "warn") -> set[Path]:
    """Decode every file; return the unreadable ones after warning about them, or raise.

    `on_bad`: 'warn' (one `BadImageWarning` naming each bad file; the caller leaves them out),
    'raise' (`BadImageError` before any training), 'off' (no scan: trust the files, pay nothing).
    """
    if on_bad not in ON_BAD:
        raise ValueError(f"on_bad={on_bad!r}: expected one of {ON_BAD}")
    if on_bad == "off" or len(fnames) == 0:
        return set()
    bad = find_bad_images(fnames)
    if not bad:
        return set()
    listing = "\n".join(f"  {p}: {why}" for p, why in bad.items())
    if on_bad == "raise":
        raise BadImageError(f"{len(bad)} unreadable image file(s); fix or remove them, or pass "
                            f"on_bad='warn' to skip them:\n{listing}", list(bad))
    warnings.warn(BadImageWarning(f"skipped {len(bad)} unreadable image file(s):\n{listing}",
                                  list(bad)), stacklevel=3)
    return set(bad)
