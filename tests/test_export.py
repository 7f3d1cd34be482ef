"""learn.export -> load_learner: one safe file, the same predictions, clear refusals; and ONNX."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from minifast import ConvLearner, efficientnet_lite0, load_learner, tfms_from_model
from minifast.checkpoint import save_checkpoint
from minifast.cli import build_parser
from minifast.data import ImageClassifierData
from minifast.vision.cli_commands import run_predict
from minifast.vision.export import VERSION, head_config
from tests.data_fakes import make_class_folders

SZ = 32


@pytest.fixture(scope="module")
def learn(tmp_path_factory):
    """A ConvLearner on three classes of tiny random images, its head trained a little (so the
    weights differ from a fresh build's), in train mode as it would be after fit. Built once for
    this file (a few seconds); tests that change it put it back."""
    root = tmp_path_factory.mktemp("export")
    make_class_folders(root / "images", {"ant": 4, "bee": 4, "cat": 4})
    data = ImageClassifierData.from_folder(root / "images", bs=4, valid_pct=0.25, seed=0,
                                           tfms=tfms_from_model(efficientnet_lite0, SZ))
    torch.manual_seed(0)
    learn = ConvLearner.pretrained(efficientnet_lite0, data, xtra_fc=[16], ps=[0.1, 0.2],
                                   path=root / "work", device="cpu")
    with learn.silent():
        learn.fit(1e-2, 1)
    return learn


def test_export_then_load_gives_the_same_predictions(learn, tmp_path):
    inf = load_learner(learn.export(tmp_path / "m.pth"))
    assert inf.classes == ["ant", "bee", "cat"] and inf.arch == "efficientnet_lite0"
    fname = learn.data.val_ds.fnames[0]
    name, idx, probs = learn.predict_image(fname)
    name2, idx2, probs2 = inf.predict(fname)
    assert (name2, idx2) == (name, idx) and torch.allclose(probs2, probs, atol=1e-6, rtol=0)
    assert inf.predict_image(Image.open(fname))[1] == idx  # PIL in, the fastai 0.7 name
    expected, targets = learn.get_preds()
    from_dl, dl_targets = inf.get_preds(learn.data.valid_dl)
    from_files, no_targets = inf.get_preds(list(learn.data.val_ds.fnames), bs=2)
    assert torch.allclose(from_dl, expected, atol=1e-6, rtol=0) and torch.equal(dl_targets, targets)
    assert torch.allclose(from_files, expected, atol=1e-6, rtol=0) and no_targets is None


def test_export_file_holds_only_tensors_and_plain_containers(learn, tmp_path):
    learn.export(tmp_path / "m.pth")
    state = torch.load(tmp_path / "m.pth", weights_only=True)  # refuses any pickled object
    assert (state["format"], state["version"], state["arch"]) == ("minifast-export", 1,
                                                                  "efficientnet_lite0")
    assert state["classes"] == ["ant", "bee", "cat"]
    assert state["head"] == {"n_features": 1280, "xtra_fc": [16], "ps": [pytest.approx(0.1),
                                                                        pytest.approx(0.2)]}
    assert state["tfms"]["sz"] == SZ and state["tfms"]["crop"] == "center"
    assert state["tfms"]["mean"] == [0.5, 0.5, 0.5] and state["tfms"]["std"] == [0.5, 0.5, 0.5]
    assert "opt" not in state and all(t.device.type == "cpu" for t in state["model"].values())
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic: no temp


def test_export_from_channels_last_loads_into_a_plain_model(learn, tmp_path):
    fname = learn.data.val_ds.fnames[1]
    expected = learn.predict_image(fname)[2]
    learn.to_channels_last()
    try:
        state = torch.load(learn.export(tmp_path / "m.pth"), weights_only=True)
    finally:
        learn.model.to(memory_format=torch.contiguous_format)  # the same values, plain layout
    assert all(t.is_contiguous() for t in state["model"].values())  # stored NCHW
    assert torch.allclose(load_learner(tmp_path / "m.pth").predict(fname)[2], expected, atol=1e-5)


def test_head_config_refuses_a_custom_head():
    head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    with pytest.raises(ValueError, match="custom one"):
        head_config(head)


def test_export_of_a_custom_head_refused_and_old_file_kept(learn, tmp_path):
    target = tmp_path / "m.pth"
    target.write_bytes(b"the previous export")
    head = learn.model.head
    learn.model.head = torch.nn.Sequential(*head[:-1], torch.nn.Linear(16, 3), torch.nn.Softmax(1))
    try:
        with pytest.raises(ValueError, match="custom one"):
            learn.export(target)
    finally:
        learn.model.head = head
    assert target.read_bytes() == b"the previous export"


def _rewrite(path: Path, **changes) -> Path:
    """The export at `path` with some entries changed (None: removed), written back."""
    state = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    return save_checkpoint(state, path)


@pytest.mark.parametrize("changes, error, message", [
    ({"arch": "resnet35"}, ValueError, "unknown architecture 'resnet35'"),
    ({"version": VERSION + 1}, ValueError, "format version 2, but this minifast reads version 1"),
    ({"format": None}, ValueError, "is not a minifast export"),
    ({"classes": None}, ValueError, "incomplete export: no classes"),
    ({"tfms": {"sz": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "crop": "random"}}, ValueError,
     "unknown crop 'random'"),
    ({"classes": ["a", "b"]}, ValueError, "does not fit this model"),  # head built for 2, has 3
])
def test_bad_export_files_are_refused_clearly(learn, tmp_path, changes, error, message):
    path = _rewrite(learn.export(tmp_path / "m.pth"), **changes)
    before = path.read_bytes()
    with pytest.raises(error, match=message):
        load_learner(path)
    assert path.read_bytes() == before


def test_missing_unreadable_and_checkpoint_files_are_refused(learn, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_learner(tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(RuntimeError, match="could not read checkpoint"):
        load_learner(tmp_path / "junk.pth")
    saved = learn.save("stage1")  # a training checkpoint is not an export
    with pytest.raises(ValueError, match="is not a minifast export"):
        load_learner(saved)


def test_cli_predict_reads_an_export(learn, tmp_path, capsys):
    """`minifast predict` reads what learn.export wrote; train -> predict: test_vision_inference."""
    fname = learn.data.val_ds.fnames[0]
    name, idx, probs = learn.predict_image(fname)
    args = build_parser().parse_args(["predict", str(learn.export(tmp_path / "m.pth")), str(fname)])
    assert args.device == "cpu" and run_predict(args) == 0
    path, printed_name, prob = capsys.readouterr().out.strip().split("\t")
    assert printed_name == name and float(prob) == pytest.approx(float(probs[idx]), abs=1e-4)


def test_onnx_export_matches_the_learner(learn, tmp_path):
    """The docs/export.md recipe: the exported model in ONNX Runtime agrees to 1e-4."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")  # torch.onnx.export(dynamo=True) writes the graph with it
    ort = pytest.importorskip("onnxruntime")
    inf = load_learner(learn.export(tmp_path / "m.pth"))
    x = torch.stack([inf.tfm(Image.open(f).convert("RGB")) for f in learn.data.val_ds.fnames])
    torch.onnx.export(inf.model, (x[:1],), tmp_path / "m.onnx", input_names=["images"],
                      output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},),
                      dynamo=True, external_data=False)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    logits = torch.from_numpy(session.run(["logits"], {"images": x.numpy()})[0])  # batch of 3
    with torch.no_grad():
        assert torch.allclose(logits, inf.model(x), atol=1e-4, rtol=0)
    expected, _ = learn.get_preds()
    assert logits.shape == (3, 3) and torch.allclose(logits.softmax(1), expected, atol=1e-4, rtol=0)


def test_export_to_a_full_disk_names_the_file_and_keeps_the_old_one(learn, tmp_path, monkeypatch):
    from tests.full_disk import full_disk

    path = tmp_path / "model.mfx"
    learn.export(path)
    before = path.read_bytes()
    full_disk(monkeypatch, room=4096)
    with pytest.raises(OSError, match=r"could not write .*model\.mfx: the disk holding .* is full"
                                      r".*Nothing was lost: .*is unchanged"):
        learn.export(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.mfx"]
