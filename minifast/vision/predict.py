"""Inference on images: one image (`predict_image`), or a whole split with test-time augmentation.

TTA (fastai 0.7 `learn.TTA()`): predict each validation image as it is and `n_aug` times with the
training augmentations (random crops, flips, small rotations), then average. The model has seen
many views of each object during training; averaging its answers over several views of the same
image removes some of the luck of one centre crop.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ..torch_utils import to_device
from .head import TransferModel


def tta(model: TransferModel, data, n_aug: int = 4, is_test: bool = False,
        device: Optional[torch.device] = None) -> tuple[np.ndarray, np.ndarray]:
    """`(log_preds[n_aug + 1, N, C], targets[N])` over the validation (or test) images.

    Pass 0 is the plain (centre-crop) view, passes 1..n_aug use the training augmentations.
    Numpy arrays as in the course: `probs = np.mean(np.exp(log_preds), 0)`.
    """
    if not hasattr(data, "make_dl"):
        raise ValueError(f"TTA needs image data that can make augmented DataLoaders "
                         f"(ImageClassifierData); got {type(data).__name__}")
    if n_aug < 0:
        raise ValueError(f"n_aug={n_aug}: the number of augmented passes must be >= 0")
    split = "test" if is_test else "valid"
    if is_test and getattr(data, "test_ds", None) is None:
        raise ValueError("TTA(is_test=True): this data has no test set (give test_name=...)")
    device = device if device is not None else next(model.parameters()).device
    log_preds, targets = _log_preds(model, data.make_dl(split, augment=False, shuffle=False), device)
    passes = [log_preds]
    for _ in range(n_aug):
        passes.append(_log_preds(model, data.make_dl(split, augment=True, shuffle=False), device)[0])
    return np.stack(passes), targets


def _log_preds(model: TransferModel, dl: DataLoader, device: torch.device
               ) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities of the full model (images in, whatever the precompute mode), eval mode."""
    was_training = model.training
    model.eval()
    outs, targs = [], []
    try:
        with torch.no_grad():
            for xb, yb in dl:
                out = model.full_forward(to_device(xb, device))
                outs.append(torch.log_softmax(out.float(), dim=1).cpu())
                targs.append(torch.as_tensor(yb).cpu())
    finally:
        model.train(was_training)
    return torch.cat(outs).numpy(), torch.cat(targs).numpy()


def predict_image(model: TransferModel, tfm, classes: Optional[Sequence[str]],
                  img: Union[str, Path, Image.Image], device: Optional[torch.device] = None
                  ) -> tuple[str, int, torch.Tensor]:
    """`(class_name, class_idx, probs)` for one image file or PIL image, through `tfm`
    (the validation transform: resize, centre crop, normalise)."""
    from ..data.images import open_image, to_rgb

    img = to_rgb(img) if isinstance(img, Image.Image) else open_image(img)
    device = device if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.full_forward(tfm(img)[None].to(device))
    finally:
        model.train(was_training)
    probs = torch.softmax(out.float(), dim=1)[0].cpu()
    idx = int(probs.argmax())
    name = str(classes[idx]) if classes is not None else str(idx)
    return name, idx, probs
