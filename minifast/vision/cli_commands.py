"""`minifast train FOLDER` and `minifast predict MODEL IMAGE...`: the course recipe from a shell.

train: one folder of images per class -> lr_find on the head (cached features) -> `fine_tune`:
the head alone, then every layer with differential lrs -> keep whichever of the two models has
the better validation accuracy -> report accuracy (plain and TTA) -> save `<out>/model.pth` with
`learn.export`: weights, class names, architecture, head and transform.
predict: `load_learner` rebuilds the model from that file (no download needed) and prints the
class and probability of each image. Both use the export format of vision/export.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..callback import Callback
from ..data import ImageClassifierData, transforms_side_on
from .archs import PretrainedWeightsUnavailable, tfms_from_model
from .conv_learner import ConvLearner
from .export import load_learner

XTRA_FC, PS = [512], [0.25, 0.5]  # the head's hidden layer and dropouts (the export records them)
HEAD_ONLY = "head_only"  # checkpoint of the head-only model, kept until the better one is chosen


def run_train(args) -> int:
    """Fine-tune `args.arch` on `args.folder`; returns the exit code (0 ok, 1 error)."""
    folder = Path(args.folder)
    out = Path(args.out) if args.out else folder / "models"
    try:
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder (expected one sub-folder of images per class)")
        tfms = tfms_from_model(args.arch, args.size, aug_tfms=transforms_side_on, max_zoom=1.1)
        data = ImageClassifierData.from_folder(folder, bs=args.bs, tfms=tfms, valid_pct=args.valid_pct)
        learn = ConvLearner.pretrained(args.arch, data, xtra_fc=XTRA_FC, ps=PS, precompute=True,
                                       path=out, channels_last=args.channels_last)
    except (ValueError, FileNotFoundError, PretrainedWeightsUnavailable) as e:
        print(f"minifast train: error: {e}", file=sys.stderr)
        return 1
    print(f"{len(data.trn_ds)} training and {len(data.val_ds)} validation images, "
          f"classes: {', '.join(data.classes)}")
    head_acc, tuned_acc = train_head_then_all(learn, args.epochs, args.bn_freeze)
    kept = keep_better(learn, head_acc, tuned_acc)
    print(f"validation accuracy: head only {head_acc:.4f}, fine-tuned {tuned_acc:.4f}; kept the "
          f"{kept} model")
    log_preds, y = learn.TTA()
    plain = float((log_preds[0].argmax(-1) == y).mean())
    with_tta = float((np.exp(log_preds).mean(0).argmax(-1) == y).mean())
    print(f"validation accuracy: {plain:.4f} (with TTA: {with_tta:.4f})")
    path = learn.export(out / "model.pth")
    print(f"saved {path} (load it with minifast.load_learner, or `minifast predict`)")
    return 0


class SaveHeadOnly(Callback):
    """Inside `fine_tune`: after its first fit (the head alone), save the model and note its
    validation accuracy, so that `keep_better` can go back to it."""

    order = 80  # after the Recorder (50) has written the last epoch's row

    def __init__(self):
        self.accuracy: float | None = None

    def after_fit(self):
        if self.accuracy is None:  # the first fit only
            self.accuracy = final_accuracy(self.learn)
            self.learn.save(HEAD_ONLY, with_opt=False)


def final_accuracy(learn) -> float:
    """The validation accuracy of the fit's last epoch (the Recorder's last row)."""
    return float(learn.recorder.log["accuracy"])


def train_head_then_all(learn, epochs: int, bn_freeze: bool | None = None) -> tuple[float, float]:
    """lr_find on the head, then `learn.fine_tune(epochs, lr, freeze_epochs=epochs)` on a learner
    in precompute mode; returns the validation accuracy of (head only, fine-tuned).

    `bn_freeze` None keeps the learner's policy (`ConvLearner.pretrained`: the body's BatchNorm
    statistics stay fixed while it fine-tunes); True / False sets it (`ConvLearner.bn_freeze`).
    """
    with learn.silent():  # the finder's own per-epoch rows say nothing useful here
        suggested = learn.lr_find(num_it=50)
    # None: too few points to read a curve (a tiny data set)
    lr = float(np.clip(suggested.min_div10, 1e-4, 1e-1)) if suggested is not None else 1e-2
    print(f"lr_find suggests lr {lr:.1e}; training the head on cached features ({epochs} "
          f"epoch(s)), then all layers with differential learning rates ({epochs} epoch(s))")
    if bn_freeze is not None:
        learn.bn_freeze(bn_freeze)
    head_only = SaveHeadOnly()
    with learn.added_cbs([head_only]):
        learn.fine_tune(epochs, base_lr=lr, freeze_epochs=epochs)
    return head_only.accuracy, final_accuracy(learn)


def keep_better(learn, head_acc: float, tuned_acc: float) -> str:
    """Keep the fine-tuned model unless the head-only one was strictly better on the validation
    set; then load it back from its checkpoint. Returns which was kept: "head-only" or
    "fine-tuned". Why: on a small or unusual data set, training the body can overfit."""
    kept = "head-only" if head_acc > tuned_acc else "fine-tuned"
    if kept == "head-only":
        learn.load(HEAD_ONLY, with_opt=False)
    (learn.path / "models" / f"{HEAD_ONLY}.pth").unlink(missing_ok=True)
    return kept


def run_predict(args) -> int:
    """Print `image  class  probability` per image; exit code 1 if any image failed."""
    try:
        inf = load_learner(args.model, device=args.device)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"minifast predict: error: {e}", file=sys.stderr)
        return 1
    failed = 0
    for image in args.images:
        try:
            name, idx, probs = inf.predict(image)
        except (OSError, ValueError) as e:  # missing or unreadable file: say which, go on
            print(f"minifast predict: error: {image}: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{image}\t{name}\t{float(probs[idx]):.4f}")
    return 1 if failed else 0
