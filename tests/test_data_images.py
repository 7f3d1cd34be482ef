"""open_image: every mode -> RGB; the scan for unreadable files; the bad-file matrix end to end."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from minifast.data import BadImageError, BadImageWarning, ImageClassifierData, open_image
from minifast.data.images import check_image, find_bad_images, to_rgb
from tests.data_fakes import make_bad_files, make_class_folders, save_image


def test_rgba_is_composited_on_white(tmp_path):
    px = np.zeros((2, 2, 4), dtype=np.uint8)
    px[0, 0] = (255, 0, 0, 0)      # fully transparent red -> white
    px[0, 1] = (255, 0, 0, 255)    # opaque red -> red
    px[1, 0] = (0, 0, 0, 128)      # half-transparent black -> mid grey
    Image.fromarray(px, "RGBA").save(tmp_path / "a.png")
    out = np.asarray(open_image(tmp_path / "a.png"))
    assert open_image(tmp_path / "a.png").mode == "RGB"
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [255, 0, 0]
    assert out[1, 0].tolist() == [127, 127, 127]


def test_palette_with_transparency_is_composited(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 255, 0, 255, 0] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.info["transparency"] = 0  # palette entry 0 (blue) is transparent
    img.save(tmp_path / "p.png", transparency=0)
    out = np.asarray(open_image(tmp_path / "p.png"))
    assert out[0].tolist() == [[255, 255, 255], [0, 255, 0]]


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    px = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(px).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = np.asarray(open_image(tmp_path / "g16.png"))
    assert out[0, :, 0].tolist() == [0, 100, 255] and (out[..., 0] == out[..., 2]).all()


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("P", ".png"), ("CMYK", ".jpg"), ("RGB", ".gif")])
def test_other_modes_become_rgb(tmp_path, mode, suffix):
    path = save_image(tmp_path / f"x{suffix}", seed=1, mode=mode)
    img = open_image(path)
    assert img.mode == "RGB" and img.size == (24, 20)


def test_cmyk_white_is_white():
    assert to_rgb(Image.new("CMYK", (1, 1), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)


def test_png_data_in_a_jpg_named_file_opens(tmp_path):
    save_image(tmp_path / "x.png", mode="RGBA").rename(tmp_path / "x.jpg")
    assert open_image(tmp_path / "x.jpg").mode == "RGB"


def test_check_image_names_each_kind_of_bad_file(tmp_path):
    bad = make_bad_files(tmp_path)
    reasons = {p.name: check_image(p) for p in bad}
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert "truncated" in reasons["truncated.jpg"] and "truncated" in reasons["truncated.png"]
    assert reasons["notes.png"].startswith("UnidentifiedImageError")
    assert check_image(save_image(tmp_path / "ok.jpg")) is None
    assert set(find_bad_images(bad + [tmp_path / "ok.jpg"])) == set(bad)


def _folder_with_bad_files(root):
    make_class_folders(root, {"cat": 6, "dog": 6})
    bad = make_bad_files(root / "cat") + make_bad_files(root / "dog")
    return bad


def test_bad_files_are_skipped_with_a_warning_listing_exactly_them(tmp_path):
    bad = _folder_with_bad_files(tmp_path)
    with pytest.warns(BadImageWarning) as rec:
        data = ImageClassifierData.from_folder(tmp_path, bs=4, valid_pct=0.25, num_workers=0)
    assert len(rec) == 1
    assert sorted(rec[0].message.paths) == bad
    message = str(rec[0].message)
    assert message.startswith("skipped 8 unreadable image file(s)")
    assert sorted(line.split(": ")[0].strip() for line in message.splitlines()[1:]) == [str(p) for p in bad]
    kept = data.trn_ds.fnames + data.val_ds.fnames
    assert len(kept) == 12 and not set(kept) & set(bad)
    for xb, _ in data.train_dl:  # a whole epoch runs: nothing bad is left to crash it
        assert xb.shape[1:] == (3, 224, 224)


def test_on_bad_raise_stops_before_training_and_names_the_files(tmp_path):
    bad = _folder_with_bad_files(tmp_path)
    with pytest.raises(BadImageError, match="8 unreadable image file") as err:
        ImageClassifierData.from_folder(tmp_path, on_bad="raise", num_workers=0)
    assert sorted(err.value.paths) == bad
    assert all(str(p) in str(err.value) for p in bad)


def test_on_bad_off_skips_the_scan(tmp_path):
    _folder_with_bad_files(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = ImageClassifierData.from_folder(tmp_path, on_bad="off", valid_pct=0.25)
    assert len(data.trn_ds) + len(data.val_ds) == 20


def test_unknown_on_bad_value_is_refused(tmp_path):
    make_class_folders(tmp_path, {"a": 2, "b": 2})
    with pytest.raises(ValueError, match="on_bad='skip'"):
        ImageClassifierData.from_folder(tmp_path, on_bad="skip")


def test_bad_files_in_csv_data_are_skipped_too(tmp_path):
    (tmp_path / "train").mkdir()
    rows = ["id,label"]
    for i in range(10):
        save_image(tmp_path / "train" / f"im{i}.jpg", seed=i)
        rows.append(f"im{i},{'ab'[i % 2]}")
    (tmp_path / "train" / "im3.jpg").write_bytes(b"")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(BadImageWarning) as rec:
        data = ImageClassifierData.from_csv(tmp_path, "train", "labels.csv", suffix=".jpg", val_idxs=[0, 1])
    assert rec[0].message.paths == [tmp_path / "train" / "im3.jpg"]
    assert len(data.trn_ds) == 7 and len(data.val_ds) == 2
