"""Where labels come from: one folder per class, or a `labels.csv` of `id,label` rows.

Every mistake in the layout is reported with the folder or the CSV row at fault.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .images import list_images


def class_folders(root: Path, exclude: Sequence[str] = ()) -> list[str]:
    """The names of the visible subfolders of `root`, sorted: the classes, in label order."""
    if not root.is_dir():
        raise FileNotFoundError(f"folder {root} does not exist")
    names = sorted(p.name for p in root.iterdir()
                   if p.is_dir() and not p.name.startswith(".") and p.name not in exclude)
    if not names:
        raise ValueError(f"{root} has no class folders: expected one subfolder of images per class")
    return names


def files_by_class(root: Path, names: Sequence[str], classes: Sequence[str]
                   ) -> tuple[list[Path], np.ndarray]:
    """The images in `root/<name>/` for each folder name, labelled by its index in `classes`."""
    fnames: list[Path] = []
    labels: list[int] = []
    for name in names:
        if name not in classes:
            raise ValueError(f"{root / name}: '{name}' is not one of the training classes "
                             f"{list(classes)}")
        files = list_images(root / name, recursive=True)
        if not files:
            raise ValueError(f"class folder {root / name} has no images: add some or remove "
                             "the folder")
        fnames += files
        labels += [classes.index(name)] * len(files)
    return fnames, np.array(labels, dtype=np.int64)


def read_labels_csv(csv_path: Path, folder: Path, suffix: str = "",
                    classes: Optional[Sequence[str]] = None) -> tuple[list[Path], list[str]]:
    """`(files, label names)` from a CSV of `id,label` rows (a header line first).

    Each id names the file `folder/<id><suffix>` (Kaggle style: `labels.csv` + `train/<id>.jpg`).
    When `classes` is given, a label outside it is an error.
    """
    if not csv_path.is_file():
        raise FileNotFoundError(f"labels file {csv_path} does not exist")
    fnames, names, seen = [], [], {}
    with open(csv_path, newline="") as f:
        rows = csv.reader(f)
        next(rows, None)  # the header
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            where = f"{csv_path.name} line {line}"
            if len(row) < 2 or not row[0].strip() or not row[1].strip():
                raise ValueError(f"{where}: expected 'id,label', got {row!r}")
            iid, label = row[0].strip(), row[1].strip()
            if classes is not None and label not in classes:
                raise ValueError(f"{where}: unknown label '{label}' (classes are {list(classes)})")
            if iid in seen:
                raise ValueError(f"{where}: id '{iid}' already given on line {seen[iid]}")
            path = folder / f"{iid}{suffix}"
            if not path.is_file():
                raise ValueError(f"{where}: id '{iid}' has no file {path} (check `suffix=`)")
            seen[iid] = line
            fnames.append(path)
            names.append(label)
    if not fnames:
        raise ValueError(f"{csv_path} has no rows after its header")
    return fnames, names


def encode_labels(names: Sequence[str], classes: Optional[Sequence[str]], where: str
                  ) -> tuple[np.ndarray, list[str]]:
    """Label names -> ints. `classes=None`: the sorted distinct names; else every name must be in it."""
    if classes is None:
        classes = sorted(set(names))
    index = {c: i for i, c in enumerate(classes)}
    for row, name in enumerate(names):
        if name not in index:
            raise ValueError(f"{where} item {row}: unknown label '{name}' "
                             f"(classes are {list(classes)})")
    return np.array([index[n] for n in names], dtype=np.int64), list(classes)
