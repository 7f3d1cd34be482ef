"""`minifast train FOLDER` and `minifast predict MODEL IMAGE...`: the course recipe from a shell.

train: one folder of images per class -> lr_find on the head (cached features) -> fit the head ->
unfreeze -> fine-tune everything with differential lrs -> report accuracy (plain and TTA) -> save
`<out>/model.pth` with the weights, the class names and how to rebuild the transforms.
predict: rebuild the model from that file (no download needed) and print class and probability.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import check_state_dict, read_checkpoint, save_checkpoint
from .archs import PretrainedWeightsUnavailable, get_arch, num_features
from .head import TransferModel, create_head

XTRA_FC, PS = [512], [0.25, 0.5]  # the head, written into the model file so predict rebuilds it


def run_train(args) -> int:
    """Fine-tune `args.arch` on `args.folder`; returns the exit code (0 ok, 1 error)."""
    from ..data import ImageClassifierData, tfms_from_model, transforms_side_on
    from .conv_learner import ConvLearner

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
    fine_tune(learn, args.epochs, args.bn_freeze)
    log_preds, y = learn.TTA()
    plain = float((log_preds[0].argmax(-1) == y).mean())
    with_tta = float((np.exp(log_preds).mean(0).argmax(-1) == y).mean())
    print(f"validation accuracy: {plain:.4f} (with TTA: {with_tta:.4f})")
    path = save_checkpoint({"model": learn.model.state_dict(), "arch": learn.arch,
                            "classes": list(data.classes), "sz": int(args.size),
                            "stats": [tfms[1].mean.tolist(), tfms[1].std.tolist()],
                            "xtra_fc": XTRA_FC, "ps": PS}, out / "model.pth")
    print(f"saved {path}")
    return 0


def fine_tune(learn, epochs: int, bn_freeze: bool = False) -> float:
    """The course recipe on a learner in precompute mode; returns the head's lr.

    lr_find on the head -> one cycle on the head (cached features) -> precompute off, unfreeze
    -> one cycle on everything with lrs [lr/100, lr/10, lr] / 3 (differential lrs).
    `bn_freeze=True` keeps the body's BatchNorm statistics fixed while it fine-tunes
    (`ConvLearner.bn_freeze`: better for small sets of ImageNet-like photos).
    """
    from ..schedule import lr_suggestions

    with learn.silent():  # the finder's own per-epoch rows say nothing useful here
        learn.lr_find(num_it=50)
    try:
        lr = float(np.clip(lr_suggestions(np.array(learn.recorder.lrs)[:, -1],
                                          learn.recorder.smooth_losses())["min/10"], 1e-4, 1e-1))
    except ValueError:  # too few points to read a curve (a tiny data set)
        lr = 1e-2
    print(f"lr_find suggests lr {lr:.1e}; training the head on cached features ({epochs} epoch(s))")
    learn.fit_one_cycle(epochs, lr)
    print("fine-tuning all layers with differential learning rates")
    learn.precompute = False
    learn.unfreeze()
    learn.bn_freeze(bn_freeze)
    learn.fit_one_cycle(epochs, np.array([lr / 100, lr / 10, lr]) / 3)
    return lr


def load_model_file(path: Path) -> tuple[TransferModel, dict]:
    """Rebuild the model that `minifast train` saved in `path` (random init, then its weights)."""
    state = read_checkpoint(path)
    missing = [k for k in ("arch", "classes", "sz", "stats", "xtra_fc", "ps") if k not in state]
    if missing:
        raise ValueError(f"{path} was not written by `minifast train` (no {', '.join(missing)})")
    spec = get_arch(state["arch"])
    body = spec.cut(spec.make(False))  # no download: the file holds every weight
    model = TransferModel(body, create_head(num_features(body), len(state["classes"]),
                                            state["xtra_fc"], state["ps"]))
    check_state_dict(model, state["model"], str(path))
    model.load_state_dict(state["model"])
    return model.eval(), state


def run_predict(args) -> int:
    """Print `image  class  probability` per image; exit code 1 if any image failed."""
    from ..data import tfms_from_stats
    from .predict import predict_image

    try:
        model, state = load_model_file(Path(args.model))
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"minifast predict: error: {e}", file=sys.stderr)
        return 1
    tfm = tfms_from_stats(tuple(state["stats"]), state["sz"])[1]
    failed = 0
    for image in args.images:
        try:
            name, idx, probs = predict_image(model, tfm, state["classes"], image, torch.device("cpu"))
        except (OSError, ValueError) as e:  # missing or unreadable file: say which, go on
            print(f"minifast predict: error: {image}: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{image}\t{name}\t{float(probs[idx]):.4f}")
    return 1 if failed else 0
