"""Inference on images: one image (`predict_image`), or a whole split with test-time augmentation.

TTA (fastai 0.7 `learn.TTA()`): predict each validation image as it is and `n_aug` times with the
training augmentations (random crops, flips, small rotations), then average. The model has seen
many views of each object during training; averaging its answers over several views of the same
image removes some of the luck of one centre crop.

Both run through `Learner.get_preds` with the full model as the forward function (images in,
whatever the precompute mode): the one inference loop of minifast.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data import ImageClassifierData
from ..data.images import check_image_size, open_image, to_rgb
from ..messages import MinifastWarning
from .head import TransferModel

ImageLike = str | Path | Image.Image


def tta(learn, n_aug: int = 4, is_test: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`(log_preds[n_aug + 1, N, C], targets[N])` over the validation (or test) images.

    Pass 0 is the plain (centre-crop) view, passes 1..n_aug use the training augmentations.
    Numpy arrays as in the course: `probs = np.mean(np.exp(log_preds), 0)`.
    """
    data = learn.image_data
    if not isinstance(data, ImageClassifierData):
        raise ValueError(f"TTA needs image data that can make augmented DataLoaders "
                         f"(ImageClassifierData); got {type(data).__name__}")
    if n_aug < 0:
        raise ValueError(f"n_aug={n_aug}: the number of augmented passes must be >= 0")
    if is_test and data.test_ds is None:
        raise ValueError("TTA(is_test=True): this data has no test set (give test_name=... when "
                         "creating the ImageClassifierData)")
    split = "test" if is_test else "valid"
    passes, targets = [], None
    for i in range(n_aug + 1):
        dl = data.make_dl(split, augment=i > 0, shuffle=False)
        log_preds, targets = learn.get_preds(dl, activation=_log_softmax, forward=learn.model.full_forward)
        passes.append(log_preds.numpy())
    if n_aug > 0 and all(np.array_equal(p, passes[0]) for p in passes[1:]):
        warnings.warn("TTA: the augmented passes equal the plain one, so the training transforms "
                      "have no randomness; give tfms_from_model(..., aug_tfms=transforms_side_on)",
                      MinifastWarning, stacklevel=3)
    return np.stack(passes), targets.numpy()


def image_batch(img: ImageLike, tfm) -> torch.Tensor:
    """One image file or PIL image (any mode) as a batch of one, through `tfm`. An unreadable
    or truncated file, or one too long and thin to resize (`check_image_size`), raises
    `BadImageError` naming it (see `open_image`)."""
    if isinstance(img, Image.Image):
        check_image_size(img.size)  # a PIL image has no file name to give
        img = to_rgb(img)
    else:
        img = open_image(img)
    return tfm(img)[None]


def predict_one(learn, img: ImageLike) -> tuple[str, int, torch.Tensor]:
    """`(class_name, class_idx, probs)` for one image, through the validation transform
    (resize, centre crop, normalise) and `learn.get_preds`."""
    data = learn.image_data
    if not isinstance(data, ImageClassifierData):
        raise ValueError("predict_image needs the data's transforms (ImageClassifierData.tfms); "
                         f"{type(data).__name__} has none")
    batch = [(image_batch(img, data.tfms[1]), torch.zeros(1, dtype=torch.long))]  # a one-batch "loader"
    probs, _ = learn.get_preds(batch, activation=_softmax, forward=learn.model.full_forward)
    return _named(probs[0], data.classes)


def predict_image(model: TransferModel, tfm, classes: Sequence[str] | None, img: ImageLike,
                  device: torch.device | None = None) -> tuple[str, int, torch.Tensor]:
    """`(class_name, class_idx, probs)` for a bare model, without a Learner (what `load_learner`
    in export.py returns). A ConvLearner's `predict_image` goes through `get_preds` instead."""
    x = image_batch(img, tfm)
    device = device if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.full_forward(x.to(device))
    finally:
        model.train(was_training)
    return _named(_softmax(out.float())[0].cpu(), classes)


def _named(probs: torch.Tensor, classes: Sequence[str] | None) -> tuple[str, int, torch.Tensor]:
    idx = int(probs.argmax())
    return (str(classes[idx]) if classes is not None else str(idx)), idx, probs


def _softmax(out: torch.Tensor) -> torch.Tensor:
    return torch.softmax(out.float(), dim=1)


def _log_softmax(out: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(out.float(), dim=1)
