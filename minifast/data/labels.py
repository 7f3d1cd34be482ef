"""Where labels come from: one folder per class, or a `labels.csv` of `id,label` rows.

Every mistake in the layout is reported with the folder or the CSV row at fault.
"""
from __future__ import annotations

import codecs
import csv
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..messages import MinifastWarning
from .images import list_images


class EmptyClassWarning(MinifastWarning):
    """A class has no training images: the model cannot learn it (it still has an output)."""


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


def read_csv_text(csv_path: Path) -> str:
    """The text of a CSV file: UTF-8 (a BOM, as Excel writes, is dropped) or UTF-16 with a BOM.

    Anything else (latin-1, cp1252, UTF-16 without a BOM) is an error naming the line, not a
    bare UnicodeDecodeError, and not a guess that could turn 'é' into 'Ã©' without a word.
    """
    raw = csv_path.read_bytes()
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    encoding = "utf-16" if utf16 else "utf-8-sig"
    fix = "re-save it as UTF-8 (Excel: 'CSV UTF-8'; or iconv -f latin1 -t utf-8)"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{csv_path} line {line}: byte {raw[e.start]:#04x} is not {encoding} "
                         f"text ({e.reason}); {fix}") from e
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise ValueError(f"{csv_path} line {line}: NUL characters (UTF-16 without a BOM?); {fix}")
    return text


def _check_header(header: list[str] | None, csv_path: Path, folder: Path, suffix: str) -> None:
    """The first line must name the columns: refuse an empty file, and a first line that is data."""
    if header is None:
        raise ValueError(f"{csv_path} is empty: expected a header line such as 'id,label', then "
                         "one 'id,label' row per image")
    if len(header) < 2:
        hint = " (separated by ';'? minifast reads commas)" if ";" in header[0] else ""
        raise ValueError(f"{csv_path} line 1: header {header!r} has {len(header)} column; "
                         f"expected at least two, 'id,label'{hint}")
    first = header[0].strip()
    if first and (folder / f"{first}{suffix}").is_file():
        raise ValueError(f"{csv_path} line 1 {header!r} looks like data, not a header: "
                         f"'{first}' names the file {folder / (first + suffix)}. The first line "
                         "is read as column names: add a header line such as 'id,label'")


def _check_row(row: list[str], n_cols: int, where: str, folder: Path, suffix: str) -> Path:
    """The file an `id,label` row names, after refusing a row that would be misread."""
    if len(row) > n_cols:
        raise ValueError(f"{where}: {len(row)} fields but the header has {n_cols}: {row!r}. "
                         'A label that contains a comma must be quoted: id,"a,b"')
    if len(row) < 2 or not row[0].strip() or not row[1].strip():
        raise ValueError(f"{where}: expected 'id,label', got {row!r}")
    iid = row[0].strip()
    path = folder / f"{iid}{suffix}"
    if Path(iid).is_absolute() or ".." in Path(iid).parts:
        raise ValueError(f"{where}: id '{iid}' points outside the image folder {folder}")
    if not path.is_file():
        raise ValueError(f"{where}: id '{iid}' has no file {path} (check `suffix=`)")
    return path


def read_labels_csv(csv_path: Path, folder: Path, suffix: str = "",
                    classes: Sequence[str] | None = None) -> tuple[list[Path], list[str]]:
    """`(files, label names)` from a CSV of `id,label` rows (a header line first).

    Each id names the file `folder/<id><suffix>` (Kaggle style: `labels.csv` + `train/<id>.jpg`).
    When `classes` is given, a label outside it is an error. Every row that could be misread
    (an unquoted comma, a missing header, space-separated tags) is an error naming its line.
    """
    if not csv_path.is_file():
        raise FileNotFoundError(f"labels file {csv_path} does not exist")
    rows = csv.reader(io.StringIO(read_csv_text(csv_path), newline=""))
    header = next(rows, None)
    _check_header(header, csv_path, folder, suffix)
    fnames, names, lines, seen, end = [], [], [], {}, 1
    for row in rows:
        start, end = end + 1, rows.line_num
        if not any(field.strip() for field in row):
            continue  # a blank line, or ',,' (what spreadsheets export for empty rows)
        where = f"{csv_path.name} line {end}"
        if start != end or any("\n" in field or "\r" in field for field in row):
            span = f"lines {start}-{end}" if start != end else f"line {end}"
            raise ValueError(f"{csv_path.name} {span}: a field runs over several lines: "
                             f"{row!r}. An unclosed '\"' quotes the rest of the file")
        path = _check_row(row, len(header), where, folder, suffix)
        iid, label = row[0].strip(), row[1].strip()
        if classes is not None and label not in classes:
            raise ValueError(f"{where}: unknown label '{label}' (classes are {list(classes)})")
        if iid in seen:
            raise ValueError(f"{where}: id '{iid}' already given on line {seen[iid]}")
        seen[iid] = rows.line_num
        fnames.append(path)
        names.append(label)
        lines.append(rows.line_num)
    if not fnames:
        raise ValueError(f"{csv_path} has no rows after its header")
    if classes is None:
        check_single_label(names, lines, csv_path.name)
    return fnames, names


def check_single_label(names: Sequence[str], lines: Sequence[int], where: str) -> None:
    """Refuse labels that look like space-separated tags (multi-label data, fastai 0.7's Planet).

    Read as one class each, 'cat dog' would silently become a class of its own. A label with
    spaces counts as tags when each of its words is a label of its own elsewhere, or when the
    same words come in another order ('dog cat'). 'golden retriever' alone is a class name.
    """
    singles = {n for n in names if len(n.split()) == 1}
    orders: dict[tuple[str, ...], str] = {}
    for name, line in zip(names, lines):
        tags = name.split()
        if len(tags) < 2:
            continue
        other = orders.setdefault(tuple(sorted(tags)), name)
        if all(t in singles for t in tags) or other != name:
            raise ValueError(
                f"{where} line {line}: label '{name}' looks like {len(tags)} space-separated tags "
                f"{tags}: multi-label data is not supported (one class per image). If '{name}' "
                "is really one class name, pass classes=[...] listing the classes")


def encode_labels(names: Sequence[str], classes: Sequence[str] | None, where: str
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


def int_labels(y, what: str, n_items: int | None = None) -> np.ndarray:
    """`y` as an int64 vector of class indices, refusing what a cast would change silently.

    `np.asarray(y, dtype=int64)` turns 1.5 into 1, NaN into -9223372036854775808 and a column of
    one-hot rows into a longer list; here each refusal names the argument (`what`) and the index.
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]  # a column vector [N, 1] is still one label per image
    if arr.ndim != 1:
        raise ValueError(f"{what}: labels of shape {list(arr.shape)}; expected one integer class "
                         "index per image, shape [N] (one-hot rows? pass y.argmax(1))")
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"{what}[{i}] = {arr[i]}: labels must be whole numbers (class "
                             f"indices); {len(bad)} of {len(arr)} are not")
    elif arr.dtype.kind not in "biu":
        odd = [i for i, v in enumerate(arr.tolist()) if not isinstance(v, int)]
        if odd:
            raise ValueError(f"{what}[{odd[0]}] = {arr[odd[0]]!r}: labels must be integer class "
                             f"indices, got {arr.dtype} (class names? use from_csv/from_folder)")
    if n_items is not None and len(arr) != n_items:
        raise ValueError(f"{what}: {n_items} images but {len(arr)} labels")
    return arr.astype(np.int64)


def check_label_range(y: np.ndarray, n_classes: int, what: str) -> None:
    """Every label must index a class: in [0, n_classes)."""
    bad = np.flatnonzero((y < 0) | (y >= n_classes))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{what}[{i}] = {y[i]}: labels must be in [0, {n_classes}) for "
                         f"{n_classes} classes ({len(bad)} are not)")


def check_class_counts(classes: Sequence[str], y_trn: np.ndarray, y_val: np.ndarray,
                       where: str) -> None:
    """Warn, naming them, about classes with no training image (e.g. all in the validation split)."""
    n_trn = np.bincount(y_trn, minlength=len(classes))
    n_val = np.bincount(y_val, minlength=len(classes))
    empty = [f"'{c}' ({n_val[i]} in validation)" for i, c in enumerate(classes) if n_trn[i] == 0]
    if empty:
        warnings.warn(EmptyClassWarning(
            f"{where}: {len(empty)} class(es) have no training images, so the model cannot "
            f"learn them: {', '.join(empty)}"), stacklevel=3)
