"""Shrink a data set's images once and keep the copies: a course trick for fast early epochs.

Decoding a 3000 px photo to train at 64 px wastes most of an epoch. `resize_images` writes each
image with its shorter side scaled down to `px` (smaller images are copied as they are) under a
cache folder, keeping each file's path relative to the data set root, so labels still match.
Done once: a copy newer than its source is kept. Each copy is written to a temporary name and
renamed into place, so an interrupted run never leaves a half-written image behind; the
temporary file of a run killed with kill -9 is removed by the next run, once its pid is gone.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from ..checkpoint import pid_alive
from .images import open_image
from .loaders import cpu_count


def shrink(img: Image.Image, px: int) -> Image.Image:
    """`img` scaled so that its shorter side is `px` (never enlarged), aspect ratio kept."""
    ratio = px / min(img.size)
    if ratio >= 1:
        return img
    size = (max(px, round(img.width * ratio)), max(px, round(img.height * ratio)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _resize_one(src: Path, dst: Path, px: int) -> None:
    if dst.exists() and dst.stat().st_mtime_ns >= src.stat().st_mtime_ns:
        return  # already done by an earlier call
    dst.parent.mkdir(parents=True, exist_ok=True)
    img = shrink(open_image(src), px)  # RGB: transparency composited, odd modes converted
    fmt = Image.registered_extensions().get(src.suffix.lower(), "PNG")
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        img.save(tmp, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_tmp(folder: Path) -> list[Path]:
    """Remove the `.<name>.<pid>.tmp` files in `folder` whose process has died (kill -9)."""
    removed = []
    for tmp in folder.glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def resize_images(fnames: Sequence[Path], root: Path, new_root: Path, px: int) -> list[Path]:
    """Write shrunk copies of `fnames` (all under `root`) to `new_root`; return their new paths."""
    if not isinstance(px, int) or px < 1:
        raise ValueError(f"px={px!r}: the target size must be a positive int")
    root = root.resolve()
    srcs = [Path(f).resolve() for f in fnames]
    outside = [s for s in srcs if not s.is_relative_to(root)]
    if outside:
        raise ValueError(f"resize: {outside[0]} is not under the data folder {root}")
    dsts = [new_root / s.relative_to(root) for s in srcs]
    for folder in {d.parent for d in dsts if d.parent.is_dir()}:
        remove_stale_tmp(folder)
    with ThreadPoolExecutor(min(8, cpu_count())) as pool:  # Pillow releases the GIL
        list(pool.map(_resize_one, srcs, dsts, [px] * len(srcs)))
    return dsts
