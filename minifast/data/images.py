"""Open any image file as RGB, and find unreadable files before training starts.

Real image folders hold RGBA PNGs, palette GIFs, 16-bit greyscale scans, CMYK JPEGs, PNGs named
`.jpg`, truncated downloads and the odd text file. A model wants RGB; a training run wants to
hear about broken files *before* epoch 1, not crash in the middle of epoch 3.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from ..messages import MinifastWarning

PathLike = str | Path
# Every extension Pillow can open (".jpg", ".png", ".gif", ".webp", ...): what folders are scanned for.
IMAGE_EXTS = frozenset(ext.lower() for ext in Image.registered_extensions())
ON_BAD = ("warn", "raise", "off")
# Training and prediction scale an image's *shorter* side to the model's size: a 100000 x 1 PNG
# (a few hundred bytes) would become 224 x 22,400,000 pixels, gigabytes, and end in a MemoryError
# naming no file. Pillow's decompression-bomb limit counts decoded pixels only (100,000 here), so
# the aspect ratio is bounded too. Raise it if your images really are this long (line scans).
MAX_ASPECT_RATIO = 50


class BadImageWarning(MinifastWarning):
    """Some files could not be decoded and were left out, or had to be read in part (a broken EXIF
    orientation); `.paths` lists them."""

    def __init__(self, message: str, paths: Sequence[Path] = ()):
        super().__init__(message)
        self.paths = list(paths)


class BadImageError(ValueError):
    """Some files could not be decoded; `.paths` lists them. `paths` has a default so that a
    DataLoader worker can re-raise this error as itself (torch rebuilds it from the message alone)."""

    def __init__(self, message: str, paths: Sequence[Path] = ()):
        super().__init__(message)
        self.paths = list(paths)


class ImageSizeError(ValueError):
    """An image whose size training cannot handle (see `check_image_size`)."""


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


# EXIF orientation (tag 0x0112) -> the transpose that turns the stored pixels upright.
ORIENTATION_TAG = 0x0112
UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
           4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
           6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
_warned_exif: set[str] = set()  # files already warned about: one warning per file, not per epoch


def upright(img: Image.Image, path: PathLike) -> Image.Image:
    """`img` turned upright by its EXIF orientation tag (phone photos store "rotate me" as a tag).

    Only the tag is read. Pillow's `ImageOps.exif_transpose` also re-encodes the whole EXIF
    block, which raises (TypeError, struct.error...) on the malformed tags real phone photos carry,
    so a file that decodes fine crashed epoch 1. A tag that cannot be used (unreadable, not
    0-8) is ignored with one `BadImageWarning` naming the file: the pixels still load, as stored.
    """
    try:
        value = img.getexif().get(ORIENTATION_TAG, 1)
        if value in UPRIGHT:
            return img.transpose(UPRIGHT[value])
        if value in range(0, 9):  # 1 = upright already; 0 = "unknown", written by some software
            return img
        problem = f"orientation tag is {value!r}, not 0-8"
    except Exception as e:  # noqa: BLE001 - a broken EXIF block raises whatever Pillow meets
        problem = f"EXIF unreadable ({type(e).__name__}: {e})"
    if str(path) not in _warned_exif:
        _warned_exif.add(str(path))
        warnings.warn(BadImageWarning(f"{path}: {problem}; EXIF orientation ignored, image "
                                      "used as stored (it may be rotated)", [Path(path)]),
                      stacklevel=2)
    return img


def decode_image(path: PathLike, draft: bool = False) -> Image.Image:
    """Decode `path` to an upright RGB image: the one reader behind training and the scan.

    `draft=True` (the scan) decodes JPEGs at 1/8 scale: every byte is still read and entropy-
    decoded, so truncated or corrupt files still fail, at a fraction of the cost.
    """
    if os.path.getsize(path) == 0:
        raise ValueError("empty file (0 bytes)")
    with Image.open(path) as img:  # over 2 x Image.MAX_IMAGE_PIXELS: DecompressionBombError
        check_image_size(img.size)  # read from the header: refused before any pixel is decoded
        if draft:
            img.draft("RGB", (img.width // 8 or 1, img.height // 8 or 1))
        img.load()
        return to_rgb(upright(img, path))


def check_image_size(size: tuple[int, int]) -> None:
    """Refuse an image whose shorter side, scaled to the training size, makes the longer side
    huge: `ImageSizeError` with the size and the limit (callers add the file name)."""
    width, height = size
    if min(width, height) < 1:
        raise ImageSizeError(f"{width} x {height} pixels: an image needs at least 1 pixel each way")
    ratio = max(width, height) / min(width, height)
    if ratio > MAX_ASPECT_RATIO:
        raise ImageSizeError(
            f"{width} x {height} pixels: aspect ratio {ratio:.0f}:1 is over MAX_ASPECT_RATIO "
            f"({MAX_ASPECT_RATIO}:1). Training scales the shorter side to the model's size, so "
            f"the longer side would be {ratio:,.0f} times that ({round(224 * ratio):,} pixels "
            "at 224). Crop it, or raise "
            "minifast.data.images.MAX_ASPECT_RATIO if such images are meant to be there")


def open_image(path: PathLike) -> Image.Image:
    """Read an image file as an RGB PIL image, upright by its EXIF orientation tag.

    Any failure to decode raises `BadImageError` naming the file (a missing file stays a
    `FileNotFoundError`, which names it already), so that no caller - a DataLoader worker in
    epoch 3, `predict_image` - ever shows a bare Pillow error without the path.
    """
    try:
        return decode_image(path)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError...
        raise BadImageError(f"{path}: cannot read this image ({_reason(e)})", [Path(path)]) from e


def _reason(e: Exception) -> str:
    if isinstance(e, Image.DecompressionBombError):
        return f"{type(e).__name__}: {e} Raise PIL.Image.MAX_IMAGE_PIXELS if you trust this file"
    plain = isinstance(e, ImageSizeError) or str(e).startswith("empty file")
    return str(e) if plain else f"{type(e).__name__}: {e}"


def check_image(path: PathLike) -> str | None:
    """None if `path` decodes the way training will decode it (`decode_image`), else why not."""
    try:
        decode_image(path, draft=True)
    except Exception as e:  # noqa: BLE001 - any exception means "unusable", whatever Pillow raised
        return _reason(e)
    return None


def find_bad_images(paths: Sequence[Path], n_threads: int | None = None) -> dict[Path, str]:
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
