"""TTA, predict_image, ClassificationInterpretation and the train/predict CLI, on a tiny image folder."""
from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from minifast import ClassificationInterpretation, ConvLearner, efficientnet_lite0
from minifast.data import ImageClassifierData, transforms_side_on
from minifast.vision.archs import tfms_from_model
from minifast.vision.cli_commands import run_predict, run_train, train_head_then_all
from minifast.vision.export import load_learner
from minifast.vision.interpret import confusion_matrix, most_confused


def image_folder(root: Path, n_per_class: int = 8) -> Path:
    """Two classes, 'red' and 'blue': noisy 40x48 images of that colour (one RGBA, one grey)."""
    rng = np.random.RandomState(0)
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            px = np.clip(np.array(colour) + rng.randint(-40, 40, (40, 48, 3)), 0, 255).astype(np.uint8)
            img = Image.fromarray(px)
            if i == 1:
                img = img.convert("RGBA")
            img.save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture
def learn(tmp_path):
    folder = image_folder(tmp_path / "images")
    tfms = tfms_from_model(efficientnet_lite0, 32, aug_tfms=transforms_side_on, max_zoom=1.1)
    data = ImageClassifierData.from_folder(folder, bs=4, tfms=tfms, valid_pct=0.25, seed=0)
    torch.manual_seed(0)
    return ConvLearner.pretrained(efficientnet_lite0, data, path=tmp_path / "work", device="cpu")


def test_tta_shapes_and_plain_pass(learn):
    log_preds, y = learn.TTA(n_aug=2)
    n = len(learn.data.val_ds)
    assert n == 4 and log_preds.shape == (3, n, 2) and y.shape == (n,)
    assert isinstance(log_preds, np.ndarray)  # the course does np.mean(np.exp(log_preds), 0)
    assert np.allclose(np.exp(log_preds).sum(-1), 1, atol=1e-5)
    probs, targets = learn.get_preds()
    assert np.allclose(log_preds[0], probs.log().numpy(), atol=1e-5)  # pass 0: no augmentation
    assert np.array_equal(y, targets.numpy())
    assert not np.allclose(log_preds[1], log_preds[0], atol=1e-4)  # passes 1..: augmented


def test_tta_uses_images_even_with_precompute(learn):
    torch.manual_seed(0)
    plain = learn.TTA(n_aug=0)[0]
    learn.precompute = True
    assert np.allclose(learn.TTA(n_aug=0)[0], plain, atol=1e-5)


def test_predict_image_matches_get_preds(learn):
    probs, _ = learn.get_preds()
    fname = learn.data.val_ds.fnames[0]
    name, idx, p = learn.predict_image(fname)
    assert torch.allclose(p, probs[0], atol=1e-5)
    assert idx == int(probs[0].argmax()) and name == learn.data.classes[idx]
    name2, idx2, p2 = learn.predict_image(Image.open(fname).convert("RGBA"))  # PIL, any mode
    assert (name2, idx2) == (name, idx)


def test_confusion_matrix_and_most_confused_exact():
    cm = confusion_matrix(np.array([0, 1, 1, 2, 0, 0]), np.array([0, 1, 2, 2, 2, 1]), 3)
    assert cm.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert most_confused(cm, ["a", "b", "c"]) == [("b", "a", 1), ("c", "a", 1), ("c", "b", 1)]
    assert most_confused(np.array([[5, 3], [1, 4]]), ["x", "y"], min_val=2) == [("x", "y", 3)]


def test_interpretation_on_a_learner(learn, tmp_path):
    interp = ClassificationInterpretation(learn)
    probs, targets = learn.get_preds()
    cm = interp.confusion_matrix()
    assert cm.sum() == len(targets)
    assert np.trace(cm) == int((probs.argmax(1) == targets).sum())
    losses, idxs = interp.top_losses()
    expected = torch.nn.functional.nll_loss(probs.log(), targets, reduction="none")
    assert torch.allclose(losses, expected.sort(descending=True).values, atol=1e-5)
    interp.plot_confusion_matrix().figure.savefig(tmp_path / "cm.png")
    interp.plot_top_losses(3).savefig(tmp_path / "top.png")
    assert (tmp_path / "cm.png").stat().st_size > 0 and (tmp_path / "top.png").stat().st_size > 0


def test_cli_train_then_predict(tmp_path, capsys):
    folder = image_folder(tmp_path / "images")
    args = Namespace(folder=str(folder), arch="efficientnet_lite0", epochs=1, size=32, bs=4,
                     valid_pct=0.25, out=str(tmp_path / "out"), bn_freeze=False,
                     channels_last=True)  # saved from NHWC weights, predicted with a fresh NCHW model
    assert run_train(args) == 0
    model_file = tmp_path / "out" / "model.pth"
    out = capsys.readouterr().out
    assert model_file.is_file() and "validation accuracy" in out
    assert "model" in out.split("kept the ")[1]  # which of head-only and fine-tuned it kept
    assert not (tmp_path / "out" / "models" / "head_only.pth").exists()
    image = folder / "blue" / "003.png"
    images = [str(image), str(tmp_path / "nope.png")]
    code = run_predict(Namespace(model=str(model_file), images=images, device="cpu"))
    out, err = capsys.readouterr()
    assert code == 1 and "nope.png" in err  # a missing image is reported, the others still run
    path, name, prob = out.strip().split("\t")
    state = torch.load(model_file, weights_only=True)  # the export format: no pickled objects
    assert (state["format"], state["version"]) == ("minifast-export", 1)
    inf = load_learner(model_file)
    assert inf.classes == ["blue", "red"] and name in inf.classes
    x = tfms_from_model(efficientnet_lite0, 32)[1](Image.open(image).convert("RGB"))
    with torch.no_grad():
        expected = torch.softmax(inf.model(x[None]), 1)[0]
    assert name == inf.classes[int(expected.argmax())]
    assert float(prob) == pytest.approx(float(expected.max()), abs=1e-4)


@pytest.mark.parametrize("bn_freeze", [None, True, False])
def test_cli_fine_tune_keeps_the_body_statistics_unless_told_not_to(tmp_path, bn_freeze):
    data = ImageClassifierData.from_folder(image_folder(tmp_path / "images"), bs=4, valid_pct=0.25,
                                           tfms=tfms_from_model(efficientnet_lite0, 32))
    learn = ConvLearner.pretrained(efficientnet_lite0, data, precompute=True, path=tmp_path)
    before = {k: v.clone() for k, v in learn.model.body.state_dict().items()}
    train_head_then_all(learn, 1, bn_freeze=bn_freeze)  # None: `minifast train` without a flag
    after = learn.model.body.state_dict()
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    kept = all(torch.equal(before[k], after[k]) for k in stats)
    assert stats and kept == (bn_freeze is not False)
    assert not torch.equal(before["0.weight"], after["0.weight"])  # the body did train


def test_cli_errors_are_clear(tmp_path, capsys):
    args = Namespace(folder=str(tmp_path / "missing"), arch="efficientnet_lite0", epochs=1, size=32,
                     bs=4, valid_pct=0.25, out=None, bn_freeze=None, channels_last=False)
    assert run_train(args) == 1
    assert "is not a folder" in capsys.readouterr().err
    folder = image_folder(tmp_path / "images", n_per_class=2)
    args.folder, args.arch = str(folder), "resnet35"
    assert run_train(args) == 1
    assert "unknown architecture 'resnet35'" in capsys.readouterr().err
    (tmp_path / "bad.pth").write_bytes(b"junk")
    bad = Namespace(model=str(tmp_path / "bad.pth"), images=["x.png"], device="cpu")
    assert run_predict(bad) == 1
    assert "could not read checkpoint" in capsys.readouterr().err
