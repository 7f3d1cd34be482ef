"""The data side under attack: inputs users really have, each either read right or refused by name.

Groups: images that passed the scan and crashed an epoch (EXIF), CSVs and label arrays that were
silently misread, downloads killed with kill -9, a read-only data folder, then hostile inputs of
every kind (our own adversarial cases). Every test builds its few tiny files in tmp_path.
"""
from __future__ import annotations

import os
import random
import signal
import stat
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from minifast.data import BadImageError, BadImageWarning, ImageClassifierData, open_image, tfms_from_stats
from minifast.data.download import Resource, download, file_hash, remove_stale_partials
from minifast.data.images import check_image
from minifast.data.labels import EmptyClassWarning
from tests.data_fakes import make_class_folders, save_image

TFMS = tfms_from_stats(((0.5,) * 3, (0.25,) * 3), 8)
REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- helpers
def exif_jpeg(path: Path, entries: list[tuple[int, int, int, bytes]], size=(8, 4)) -> Path:
    """A JPEG, left half red and right half blue, whose EXIF IFD0 holds `entries` exactly as
    given: (tag, TIFF type, count, value bytes). Raw bytes, so a tag can have the wrong type."""
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
    exif = b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0"
    px = np.zeros((size[1], size[0], 3), np.uint8)
    px[:, : size[0] // 2] = (255, 0, 0)
    px[:, size[0] // 2:] = (0, 0, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(px).save(path, "JPEG", quality=95, exif=exif)
    return path


ORIENT_6 = (0x0112, 3, 1, struct.pack("<H", 6))        # "rotate 90 clockwise to view"
XRES_AS_TEXT = (0x011A, 2, 4, b"abc\0")                  # XResolution (a RATIONAL) stored as ASCII


def phone_photo(path: Path) -> Path:
    """Orientation 6 plus one malformed tag: what makes `ImageOps.exif_transpose` raise."""
    return exif_jpeg(path, [ORIENT_6, XRES_AS_TEXT])


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def csv_folder(root: Path, n: int = 6) -> Path:
    """root/train/im<i>.jpg for i < n."""
    for i in range(n):
        save_image(root / "train" / f"im{i}.jpg", seed=i)
    return root


def from_csv(root: Path, **kw) -> ImageClassifierData:
    kw.setdefault("val_idxs", [0])
    return ImageClassifierData.from_csv(root, "train", "labels.csv", suffix=".jpg", tfms=TFMS,
                                        bs=2, num_workers=0, **kw)


def arrays(n: int = 4) -> np.ndarray:
    return np.zeros((n, 8, 8), dtype=np.uint8)


# ---------------------------------------------------------------- 1. EXIF (issue item 4)
def test_the_crafted_phone_photo_really_breaks_pillows_exif_transpose(tmp_path):
    """The precondition of the next tests: plain Pillow fails on this file, in the EXIF step."""
    path = phone_photo(tmp_path / "phone.jpg")
    with Image.open(path) as img:
        img.load()  # the pixels decode fine
        with pytest.raises(TypeError):
            ImageOps.exif_transpose(img)


def test_malformed_exif_loads_upright(tmp_path):
    img = open_image(phone_photo(tmp_path / "phone.jpg"))
    assert img.size == (4, 8)  # stored 8 x 4, orientation 6: turned upright
    px = np.asarray(img).astype(int)
    assert px[0, :, 0].min() > 200 and px[0, :, 2].max() < 60    # top row red (was left)
    assert px[-1, :, 2].min() > 200 and px[-1, :, 0].max() < 60  # bottom row blue (was right)


def test_malformed_exif_passes_the_scan_and_a_whole_epoch(tmp_path):
    """Before: the scan (on_bad='raise') passed, then epoch 1 raised TypeError with no file name."""
    make_class_folders(tmp_path, {"a": 3, "b": 3})
    phone_photo(tmp_path / "a" / "phone.jpg")
    data = ImageClassifierData.from_folder(tmp_path, bs=2, tfms=TFMS, valid_pct=0.3,
                                           num_workers=0, on_bad="raise")
    assert tmp_path / "a" / "phone.jpg" in data.trn_ds.fnames + data.val_ds.fnames
    shapes = {tuple(xb.shape[1:]) for dl in (data.train_dl, data.valid_dl) for xb, _ in dl}
    assert shapes == {(3, 8, 8)} and len(data.trn_ds) + len(data.val_ds) == 7


def test_an_unusable_orientation_tag_warns_once_naming_the_file(tmp_path):
    path = exif_jpeg(tmp_path / "odd.jpg", [(0x0112, 2, 2, b"6\0")])  # orientation as text '6'
    with pytest.warns(BadImageWarning, match="odd.jpg: orientation tag is '6'") as rec:
        img = open_image(path)
    assert rec[0].message.paths == [path] and img.size == (8, 4)  # used as stored
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_image(path)  # once per file: not again every epoch


def test_an_exif_block_pillow_cannot_read_is_ignored_with_a_warning(tmp_path, monkeypatch):
    path = exif_jpeg(tmp_path / "broken.jpg", [ORIENT_6])

    def broken_getexif(self):
        raise SyntaxError("not a TIFF file")  # what some Pillow versions raise on junk EXIF
    monkeypatch.setattr(Image.Image, "getexif", broken_getexif)
    with pytest.warns(BadImageWarning, match=r"broken.jpg: EXIF unreadable \(SyntaxError"):
        assert open_image(path).size == (8, 4)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_decode_error_in_an_epoch_names_the_file(tmp_path, num_workers):
    """on_bad='off' trusts the files: a truncated one must still fail with its name, also from a
    worker process (BadImageError survives torch's re-raise as itself)."""
    make_class_folders(tmp_path, {"a": 2, "b": 2})
    good = (tmp_path / "a" / "000.jpg").read_bytes()
    (tmp_path / "a" / "000.jpg").write_bytes(good[: len(good) // 2])
    data = ImageClassifierData.from_folder(tmp_path, bs=4, tfms=TFMS, valid_pct=0.25,
                                           num_workers=num_workers, on_bad="off")
    with pytest.raises(BadImageError, match=r"a/000\.jpg: cannot read this image"):
        for dl in (data.train_dl, data.valid_dl):
            list(dl)


def test_open_image_names_a_truncated_file(tmp_path):
    """What `predict_image(path)` calls: the error says which file."""
    path = save_image(tmp_path / "x.jpg", h=64, w=64)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(BadImageError, match="x.jpg: cannot read this image") as err:
        open_image(path)
    assert err.value.paths == [path]


# ---------------------------------------------------------------- 2. CSVs (issue item 7)
def test_an_unquoted_comma_in_a_label_is_an_error_naming_file_and_line(tmp_path):
    csv_folder(tmp_path)
    write_csv(tmp_path / "labels.csv", "id,label\nim0,a\nim1,a,b\nim2,b\n")
    with pytest.raises(ValueError, match=r'labels.csv line 3: 3 fields but the header has 2.*"a,b"'):
        from_csv(tmp_path)


def test_a_quoted_comma_is_one_label(tmp_path):
    csv_folder(tmp_path, 4)
    write_csv(tmp_path / "labels.csv", 'id,label\nim0,"a,b"\nim1,"a,b"\nim2,c\nim3,c\n')
    assert from_csv(tmp_path).classes == ["a,b", "c"]


def test_a_csv_without_header_is_an_error_not_a_lost_row(tmp_path):
    csv_folder(tmp_path)
    write_csv(tmp_path / "labels.csv", "im0,a\nim1,b\nim2,a\n")
    with pytest.raises(ValueError, match=r"line 1 \['im0', 'a'\] looks like data, not a header"):
        from_csv(tmp_path)


def test_space_separated_tags_are_refused_as_multi_label(tmp_path):
    csv_folder(tmp_path)
    write_csv(tmp_path / "labels.csv", "id,tags\nim0,cat\nim1,dog\nim2,cat dog\nim3,dog\n")
    with pytest.raises(ValueError, match=r"line 4: label 'cat dog' looks like 2 space-separated "
                                         r"tags.*multi-label data is not supported"):
        from_csv(tmp_path)


def test_tags_in_two_orders_are_refused_too(tmp_path):
    csv_folder(tmp_path)
    write_csv(tmp_path / "labels.csv", "id,tags\nim0,haze primary\nim1,primary haze\n")
    with pytest.raises(ValueError, match="line 3: label 'primary haze'"):
        from_csv(tmp_path)


def test_class_names_with_spaces_still_work(tmp_path):
    csv_folder(tmp_path)
    rows = ["golden retriever", "beagle", "golden retriever", "beagle", "flat coated", "beagle"]
    write_csv(tmp_path / "labels.csv", "id,breed\n" + "".join(f"im{i},{r}\n" for i, r in enumerate(rows)))
    assert from_csv(tmp_path).classes == ["beagle", "flat coated", "golden retriever"]
    # and classes= confirms a name that looks like tags
    write_csv(tmp_path / "labels.csv", "id,l\nim0,a\nim1,b\nim2,a b\nim3,a b\n")
    assert from_csv(tmp_path, classes=["a", "a b", "b"], val_idxs=[3]).c == 3


def test_a_latin1_csv_is_an_error_naming_the_line_and_the_fix(tmp_path):
    csv_folder(tmp_path)
    write_csv(tmp_path / "labels.csv", "id,label\nim0,cafe\nim1,caf\xe9\n", "latin-1")
    with pytest.raises(ValueError, match=r"labels.csv line 3: byte 0xe9 is not utf-8-sig.*UTF-8"):
        from_csv(tmp_path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_bom_and_utf16_csvs_read_like_utf8(tmp_path, encoding):
    csv_folder(tmp_path, 4)
    text = "id,label\nim0,caf\xe9\nim1,th\xe9\nim2,caf\xe9\nim3,th\xe9\n"
    if encoding in ("utf-16-le", "utf-16-be"):  # with a BOM written by hand: what Excel does
        write_csv(tmp_path / "labels.csv", "\ufeff" + text, encoding)
    else:
        write_csv(tmp_path / "labels.csv", text, encoding)
    data = from_csv(tmp_path)
    assert data.classes == ["caf\xe9", "th\xe9"] and data.trn_ds.y.tolist() == [1, 0, 1]


def test_utf16_without_bom_is_an_error_not_garbage(tmp_path):
    csv_folder(tmp_path)
    write_csv(tmp_path / "labels.csv", "id,label\nim0,a\n", "utf-16-le")
    with pytest.raises(ValueError, match="line 1: NUL characters .UTF-16 without a BOM"):
        from_csv(tmp_path)


def test_a_class_only_in_the_validation_split_is_named(tmp_path):
    csv_folder(tmp_path)
    write_csv(tmp_path / "labels.csv", "id,label\nim0,a\nim1,a\nim2,b\nim3,b\nim4,emu\n")
    with pytest.warns(EmptyClassWarning, match=r"1 class\(es\) have no training images.*'emu' "
                                               r"\(1 in validation\)"):
        data = from_csv(tmp_path, val_idxs=[4])
    assert data.classes == ["a", "b", "emu"]


def test_a_class_whose_only_image_is_unreadable_is_an_error(tmp_path):
    make_class_folders(tmp_path, {"cat": 3, "dog": 3})
    (tmp_path / "emu").mkdir()
    (tmp_path / "emu" / "only.jpg").write_bytes(b"")
    with pytest.warns(BadImageWarning), \
            pytest.raises(ValueError, match=r"every image of class\(es\) \['emu'\] is unreadable"):
        ImageClassifierData.from_folder(tmp_path, tfms=TFMS, valid_pct=0.3, num_workers=0)


# ---------------------------------------------------------------- 2. label arrays (issue item 7)
def test_float_labels_are_refused_not_truncated():
    with pytest.raises(ValueError, match=r"trn\[1\] \(labels\)\[0\] = 0.5: labels must be whole "
                                         r"numbers.*4 of 4"):
        ImageClassifierData.from_arrays("x", (arrays(), [0.5, 1.5, 0.5, 1.5]), (arrays(), [0, 1, 0, 1]))


def test_whole_number_floats_are_fine():
    data = ImageClassifierData.from_arrays("x", (arrays(), np.array([0., 1., 0., 1.])),
                                           (arrays(), [0, 1, 0, 1]), tfms=TFMS)
    assert data.trn_ds.y.tolist() == [0, 1, 0, 1] and data.trn_ds.y.dtype == np.int64


@pytest.mark.parametrize("bad, index, shown", [
    ([0, 1, np.nan, 1], 2, "nan"), ([0, np.inf, 0, 1], 1, "inf"), ([0, 1, -np.inf, 1], 2, "-inf"),
])
def test_nan_and_inf_labels_name_argument_and_index(bad, index, shown):
    with pytest.raises(ValueError, match=rf"val\[1\] \(labels\)\[{index}\] = {shown}: labels"):
        ImageClassifierData.from_arrays("x", (arrays(), [0, 1, 0, 1]), (arrays(), bad))


def test_string_labels_name_argument_and_index():
    with pytest.raises(ValueError, match=r"trn\[1\] \(labels\)\[0\] = np.str_\('cat'\): labels "
                                         r"must be integer class indices.*from_csv"):
        ImageClassifierData.from_arrays("x", (arrays(), ["cat", "dog", "cat", "dog"]),
                                        (arrays(), [0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"trn\[1\] \(labels\)\[2\] = None"):
        ImageClassifierData.from_arrays("x", (arrays(), np.array([0, 1, None, 1], dtype=object)),
                                        (arrays(), [0, 1, 0, 1]))


def test_empty_training_arrays_are_a_clear_error():
    """Before: torch's 'num_samples should be a positive integer value, but got num_samples=0'."""
    with pytest.raises(ValueError, match=r"trn\[0\] has no images \(shape \[0, 8, 8\]\)"):
        ImageClassifierData.from_arrays("x", (arrays(0), []), (arrays(), [0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"val\[0\] has no images"):
        ImageClassifierData.from_arrays("x", (arrays(), [0, 1, 0, 1]), (arrays(0), []))


# ---------------------------------------------------------------- 3. kill -9 during a download
def test_stale_partial_folders_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is now free
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        stale = tmp_path / f".mnist.partial-{dead.pid}"
        running = tmp_path / f".cifar10.partial-{alive.pid}"
        mine = tmp_path / f".pokemon.partial-{os.getpid()}"
        for folder in (stale, running, mine):
            (folder / "sub").mkdir(parents=True)
            (folder / "sub" / "big.bin").write_bytes(b"x" * 100)
        (tmp_path / ".notes.partial-abc").mkdir()  # not a pid: not ours to judge
        assert remove_stale_partials(tmp_path) == [stale]
        assert not stale.exists() and running.exists() and mine.exists()
        assert (tmp_path / ".notes.partial-abc").exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_download_killed_with_sigkill_is_cleaned_by_the_next_one(tmp_path):
    src = tmp_path / "a.txt"
    src.write_bytes(b"hello")
    cache = tmp_path / "cache"
    script = ("import time\nfrom pathlib import Path\n"
              "from minifast.data.download import Resource, download\n"
              "def fetch(url, dest):\n"
              "    dest.write_bytes(b'half'); print('fetching', flush=True); time.sleep(60)\n"
              f"download([Resource('file:///a.txt', '0' * 64)], Path({str(cache / 'set')!r}), fetch)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "fetching"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    partial = cache / f".set.partial-{proc.pid}"
    assert (partial / "a.txt").read_bytes() == b"half"  # what kill -9 leaves behind
    download([Resource(src.as_uri(), file_hash(src))], cache / "other")
    assert sorted(p.name for p in cache.iterdir()) == ["other"]


# ---------------------------------------------------------------- 4. a read-only data folder
def _listing(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0,
                                       p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_a_read_only_data_folder_loads_and_nothing_is_written_in_it(tmp_path, monkeypatch):
    """chmod -R a-w, then every data operation. Root ignores permissions, so the proof is the
    listing: no file appears, changes or goes under the data folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "data"
    make_class_folders(root / "pets", {"cat": 4, "dog": 4})
    csv_folder(root / "kaggle")
    rows = "".join(f"im{i},{'ab'[i % 2]}\n" for i in range(6))
    write_csv(root / "kaggle" / "labels.csv", "id,label\n" + rows)
    phone_photo(root / "pets" / "cat" / "phone.jpg")
    (root / "pets" / "dog" / "broken.jpg").write_bytes(b"")
    before = _listing(root)
    modes = {p: p.stat().st_mode for p in [root, *root.rglob("*")]}
    for p in modes:
        p.chmod(modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        with pytest.warns(BadImageWarning):
            pets = ImageClassifierData.from_folder(root / "pets", bs=4, tfms=TFMS, num_workers=0)
        kaggle = from_csv(root / "kaggle")
        for data in (pets, kaggle):
            for dl in (data.train_dl, data.valid_dl, data.make_dl("train", augment=True)):
                list(dl)
            data.stats()
        small = pets.resize(6)
        assert small.path.is_relative_to(tmp_path / "cache")
        list(small.train_dl)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert _listing(root) == before


# ---------------------------------------------------------------- 5. our own hostile CSVs
@pytest.mark.parametrize("text, message", [
    ("", r"labels.csv is empty: expected a header line"),
    ("id,label\n", r"labels.csv has no rows after its header"),
    ("id,label\n\n\n", r"labels.csv has no rows after its header"),
    ("id;label\nim0;a\n", r"header \['id;label'\] has 1 column.*separated by ';'"),
    ("id,label\nim0,a\nim0,b\n", r"line 3: id 'im0' already given on line 2"),
    ("id,label\n../im0,a\n", r"line 2: id '../im0' points outside the image folder"),
    ("id,label\nsub/../../im0,a\n", r"line 2: id 'sub/../../im0' points outside"),
    ("id,label\n/etc/passwd,a\n", r"line 2: id '/etc/passwd' points outside"),
    ("id,label\nim9,a\n", r"line 2: id 'im9' has no file .*im9.jpg \(check `suffix=`\)"),
    ("id,label\nim0,\n", r"line 2: expected 'id,label', got \['im0', ''\]"),
    ("id,label\nim0\n", r"line 2: expected 'id,label', got \['im0'\]"),
    ('id,label\nim0,"a\nim1,b\n', r"lines 2-3: a field runs over several lines.*unclosed"),
    ('id,label\nim1,b\n"im0,a\n', r"line 3: a field runs over several lines"),
])
def test_hostile_csvs_are_refused_by_line(tmp_path, text, message):
    csv_folder(tmp_path)
    (tmp_path / "im0.jpg").write_bytes(b"outside")
    write_csv(tmp_path / "labels.csv", text)
    with pytest.raises(ValueError, match=message):
        from_csv(tmp_path)


def test_crlf_blank_lines_and_spaces_read_like_a_clean_csv(tmp_path):
    csv_folder(tmp_path)
    clean = "id,label\nim0,a\nim1,b\nim2,a\nim3,b\n"
    messy = "id,label\r\n im0 , a \r\nim1,b\r\n\r\n,,\r\nim2,a\r\nim3,b\r\n\r\n\r\n"
    write_csv(tmp_path / "labels.csv", clean)
    a = from_csv(tmp_path, val_idxs=[1])
    write_csv(tmp_path / "labels.csv", messy)
    b = from_csv(tmp_path, val_idxs=[1])
    assert (a.classes, a.trn_ds.fnames, a.trn_ds.y.tolist(), a.val_ds.fnames) == \
        (b.classes, b.trn_ds.fnames, b.trn_ds.y.tolist(), b.val_ds.fnames)


def test_a_quoted_line_break_is_refused_not_read_as_a_class(tmp_path):
    csv_folder(tmp_path)
    write_csv(tmp_path / "labels.csv", 'id,label\nim1,b\nim0,"two\nlines"\nim2,b\n')
    with pytest.raises(ValueError, match="labels.csv lines 3-4: a field runs over several lines"):
        from_csv(tmp_path)


# ---------------------------------------------------------------- 5. our own hostile label arrays
@pytest.mark.parametrize("trn_y, message", [
    ([0, 1, 0], r"trn\[1\] \(labels\): 4 images but 3 labels"),
    (np.int64(1), r"trn\[1\] \(labels\): labels of shape \[\]"),
    (np.eye(4, dtype=np.int64)[:, :2], r"shape \[4, 2\].*one-hot rows\? pass y.argmax\(1\)"),
    ([0, -1, 0, 1], r"trn\[1\] \(labels\)\[1\] = -1: labels must be in \[0, 2\)"),
    ([0, 1, 0, 2], r"trn\[1\] \(labels\)\[3\] = 2: labels must be in \[0, 2\) for 2 classes"),
])
def test_hostile_label_arrays_are_refused_by_argument_and_index(trn_y, message):
    with pytest.raises(ValueError, match=message):
        ImageClassifierData.from_arrays("x", (arrays(), trn_y), (arrays(), [0, 1, 0, 1]),
                                        classes=["a", "b"])


def test_a_label_column_vector_is_one_label_per_image():
    data = ImageClassifierData.from_arrays("x", (arrays(), np.array([[0], [1], [0], [1]])),
                                           (arrays(), [0, 1, 0, 1]), tfms=TFMS)
    assert data.trn_ds.y.tolist() == [0, 1, 0, 1]


def test_a_class_index_with_no_images_at_all_is_named():
    with pytest.warns(EmptyClassWarning, match=r"'1' \(0 in validation\)"):
        data = ImageClassifierData.from_arrays("x", (arrays(), [0, 2, 0, 2]), (arrays(), [0, 2, 0, 2]),
                                               tfms=TFMS)
    assert data.classes == ["0", "1", "2"]


def test_images_that_are_not_uint8_name_the_argument():
    with pytest.raises(ValueError, match=r"val\[0\]: images must be uint8"):
        ImageClassifierData.from_arrays("x", (arrays(), [0, 1, 0, 1]),
                                        (arrays().astype(np.float32), [0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"trn must be a pair \(x, y\)"):
        ImageClassifierData.from_arrays("x", arrays(), (arrays(), [0, 1, 0, 1]))


# ---------------------------------------------------------------- 5. our own hostile images
def _hostile_images(folder: Path) -> dict[str, bool]:
    """name -> should it load? Every odd kind of file a scraped folder holds."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8))
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    rgb.convert("P").save(folder / "palette_transparent.png", transparency=0)
    Image.fromarray(np.arange(480, dtype=np.uint16).reshape(20, 24) * 100).save(folder / "grey16.png")
    Image.fromarray(np.random.default_rng(1).random((20, 24), np.float32) * 255).save(folder / "float.tif")
    rgb.convert("1").save(folder / "one_bit.png")
    rgb.convert("LA").save(folder / "grey_alpha.png")
    rgb.save(folder / "animated.gif", save_all=True, append_images=[rgb.rotate(90)])
    rgb.save(folder / "png_inside.jpg", format="PNG")
    phone_photo(folder / "phone.jpg")
    good = (folder / "cmyk.jpg").read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "text.jpg").write_text("<html>404 Not Found</html>")
    (folder / "header_only.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return {"cmyk.jpg": True, "palette_transparent.png": True, "grey16.png": True, "float.tif": True,
            "one_bit.png": True, "grey_alpha.png": True, "animated.gif": True, "png_inside.jpg": True,
            "phone.jpg": True, "empty.jpg": False, "truncated.jpg": False, "text.jpg": False,
            "header_only.png": False}


def test_every_hostile_image_is_rgb_or_refused_by_name_and_the_scan_agrees(tmp_path):
    for name, loads in _hostile_images(tmp_path).items():
        path = tmp_path / name
        assert (check_image(path) is None) == loads, name
        if loads:
            assert open_image(path).mode == "RGB", name
        else:
            with pytest.raises(BadImageError, match=name):
                open_image(path)


def test_the_scan_and_training_agree_on_truncated_and_corrupted_jpegs(tmp_path):
    """The scan decodes JPEGs at 1/8 scale (cheaper); it must reject exactly what training would."""
    path = save_image(tmp_path / "x.jpg", h=48, w=64)
    data, rng = path.read_bytes(), random.Random(0)
    versions = [data[:cut] for cut in range(1, len(data), max(1, len(data) // 40))]
    for _ in range(40):
        b = bytearray(data)
        for _ in range(3):
            b[rng.randrange(len(b))] = rng.randrange(256)
        versions.append(bytes(b))
    for v in versions:
        path.write_bytes(v)
        scan_ok = check_image(path) is None
        try:
            open_image(path)
            load_ok = True
        except BadImageError:
            load_ok = False
        assert scan_ok == load_ok


def test_a_decompression_bomb_is_refused_by_name(tmp_path, monkeypatch):
    path = save_image(tmp_path / "big.png", h=40, w=40)  # 1,600 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 700)  # > 2x the limit: Pillow's error
    reason = check_image(path)
    assert reason.startswith("DecompressionBombError") and "MAX_IMAGE_PIXELS" in reason
    with pytest.raises(BadImageError, match="big.png: cannot read this image"):
        open_image(path)


def test_a_hostile_folder_trains_with_the_bad_files_named_and_left_out(tmp_path):
    expected = _hostile_images(tmp_path / "odd")
    make_class_folders(tmp_path, {"plain": 4})
    with pytest.warns(BadImageWarning) as rec:
        data = ImageClassifierData.from_folder(tmp_path, bs=4, tfms=TFMS, valid_pct=0.25, num_workers=0)
    skipped = [w.message for w in rec if str(w.message).startswith("skipped")]
    assert sorted(p.name for p in skipped[0].paths) == sorted(n for n, ok in expected.items() if not ok)
    assert len(data.trn_ds) + len(data.val_ds) == 13
    for dl in (data.train_dl, data.valid_dl):
        assert all(x.shape[1:] == (3, 8, 8) for x, _ in dl)


# ---------------------------------------------------------------- 5. files minifast reads and writes
def test_a_resize_killed_with_sigkill_leaves_no_temporary_file_after_the_next(tmp_path):
    make_class_folders(tmp_path / "d", {"a": 3, "b": 3})
    data = ImageClassifierData.from_folder(tmp_path / "d", tfms=TFMS, valid_pct=0.3, num_workers=0)
    data.resize(6, tmp_path / "small")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "small" / "a" / f".000.jpg.{dead.pid}.tmp"
    live = tmp_path / "small" / "a" / f".001.jpg.{os.getpid()}.tmp"
    stale.write_bytes(b"half an image")
    live.write_bytes(b"being written")
    data.resize(6, tmp_path / "small")
    assert not stale.exists() and live.exists()


def _mnist_like(folder: Path, payload: bytes) -> Path:
    import gzip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(payload))
    return path


def test_idx_files_that_are_cut_short_are_named(tmp_path):
    from minifast.data.course_datasets import read_idx
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") * 2
    good = _mnist_like(tmp_path / "ok", header + bytes(18))
    assert read_idx(good).shape == (2, 3, 3)
    short = _mnist_like(tmp_path / "short", header + bytes(10))
    with pytest.raises(ValueError, match=r"short/train-images-idx3-ubyte.gz: 26 bytes, but its "
                                         r"header promises .* shape \[2, 3, 3\]"):
        read_idx(short)
    cut = tmp_path / "cut" / "train-images-idx3-ubyte.gz"
    cut.parent.mkdir()
    cut.write_bytes(good.read_bytes()[:-12])  # the gzip stream stops early
    with pytest.raises(ValueError, match=r"cut/train-images-idx3-ubyte.gz: truncated or corrupt "
                                         r"\(EOFError.*delete it"):
        read_idx(cut)


def test_a_cifar_pickle_that_would_run_code_is_refused(tmp_path):
    import pickle

    from minifast.data.course_datasets import read_cifar_pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}, protocol=2))
    with pytest.raises(ValueError, match=r"data_batch_1: not a readable CIFAR-10 batch "
                                         r"\(UnpicklingError: refusing to load posix.system"):
        read_cifar_pickle(path)
    assert not (tmp_path / "pwned").exists()
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]},
                                  protocol=2)[:-40])
    with pytest.raises(ValueError, match="data_batch_1: not a readable CIFAR-10 batch"):
        read_cifar_pickle(path)


def test_a_malformed_manifest_line_is_named(tmp_path):
    from minifast.data.course_datasets import verify_dataset
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "MANIFEST.sha256").write_text(f"{file_hash(tmp_path / 'a.txt')}  a.txt\n\nGARBAGE\n")
    with pytest.raises(ValueError, match=r"MANIFEST.sha256 line 3: expected '<sha256>  <file>'"):
        verify_dataset(tmp_path)


# ---------------------------------------------------------------- extreme aspect ratios
def test_a_long_thin_png_is_refused_by_the_scan_naming_the_file(tmp_path):
    """A few hundred bytes, 100,000 pixels (under the bomb limit), but 224 x 22,400,000 once its
    shorter side is scaled for training: refused by name before training starts."""
    make_class_folders(tmp_path, {"a": 4, "b": 4})
    Image.new("RGB", (100_000, 1)).save(tmp_path / "a" / "line.png")
    assert (tmp_path / "a" / "line.png").stat().st_size < 1000
    with pytest.raises(BadImageError, match=r"line\.png: 100000 x 1 pixels: aspect ratio "
                                            r"100000:1 is over MAX_ASPECT_RATIO") as err:
        ImageClassifierData.from_folder(tmp_path, bs=4, tfms=TFMS, valid_pct=0.25,
                                        num_workers=0, on_bad="raise")
    assert [p.name for p in err.value.paths] == ["line.png"]


@pytest.mark.parametrize("size, ok", [((50, 1), True), ((1, 50), True), ((51, 1), False),
                                      ((1, 2000), False)])
def test_the_aspect_ratio_limit_is_the_same_for_scan_and_training(tmp_path, size, ok):
    path = tmp_path / "x.png"
    Image.new("RGB", size).save(path)
    assert (check_image(path) is None) == ok
    if ok:
        assert open_image(path).size == size
    else:
        with pytest.raises(BadImageError, match=r"x\.png: .* is over MAX_ASPECT_RATIO"):
            open_image(path)


# ---------------------------------------------------------------- malformed CIFAR-10 batches
def _cifar_folder(tmp_path, data, labels) -> Path:
    import pickle

    folder = tmp_path / "cifar"
    folder.mkdir()
    good = {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 3]}
    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": data, "labels": labels}, protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(good, protocol=2))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}, protocol=2))
    return folder


@pytest.mark.parametrize("data, labels, why", [
    (np.zeros((20, 3000), np.uint8), list(range(10)) * 2,
     r"'data' is uint8 of shape \(20, 3000\); expected uint8 rows of 3072 bytes"),
    (np.zeros((20, 3072), np.uint8), [0] * 19, r"19 label\(s\) for 20 image\(s\)"),
    (np.zeros((2, 3072), np.uint8), [0, 10], r"1 label\(s\) outside 0-9, e.g. 10"),
    (np.zeros((2, 3072), np.float32), [0, 1], r"'data' is float32"),
])
def test_a_malformed_cifar_batch_is_refused_naming_the_file_and_the_cause(tmp_path, data, labels, why):
    from minifast.data.course_datasets import load_cifar10

    folder = _cifar_folder(tmp_path, data, labels)
    with pytest.raises(ValueError, match=rf"cifar/data_batch_1: not a valid CIFAR-10 batch: {why}"):
        load_cifar10(folder)


def test_a_well_formed_cifar_folder_loads(tmp_path):
    from minifast.data.course_datasets import load_cifar10

    x, y, _, _, classes = load_cifar10(_cifar_folder(tmp_path, np.zeros((3, 3072), np.uint8), [9, 0, 5]))
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [9, 0, 5] and len(classes) == 10
