"""ClassificationInterpretation: where does the model go wrong, and on which images?

After training, look at the mistakes (fastai 0.7 lesson 1): the confusion matrix (which classes
are mixed up), the most confused pairs, and the images with the highest loss — often mislabelled
or ambiguous ones, sometimes a sign that the crop cut off what mattered.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from .conv_learner import ConvLearner


def confusion_matrix(preds: np.ndarray, targets: np.ndarray, n_classes: int) -> np.ndarray:
    """`cm[actual, predicted]` = how many items of class `actual` were predicted `predicted`."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(targets), np.asarray(preds)), 1)
    return cm


def most_confused(cm: np.ndarray, classes: Sequence[str], min_val: int = 1
                  ) -> list[tuple[str, str, int]]:
    """`(actual, predicted, count)` for off-diagonal cells with count >= min_val, largest first."""
    pairs = [(classes[a], classes[p], int(cm[a, p])) for a in range(len(cm)) for p in range(len(cm))
             if a != p and cm[a, p] >= min_val]
    return sorted(pairs, key=lambda t: -t[2])  # stable: ties keep (actual, predicted) order


class ClassificationInterpretation:
    """The learner's predictions on the validation set (or `dl`), ready to inspect.

    `probs[N, C]`, `targets[N]`, `preds[N]` (argmax) and `losses[N]` (cross-entropy per item).
    """

    def __init__(self, learn, dl: DataLoader | None = None):
        self.learn = learn
        probs, targets = learn.get_preds(dl)
        self.probs, self.targets = probs, targets.long()
        self.preds = probs.argmax(dim=1)
        # -log p(target); clamp: a probability of exactly 0 would give an infinite loss
        self.losses = -probs.gather(1, self.targets[:, None]).squeeze(1).clamp_min(1e-12).log()
        classes = getattr(learn.data, "classes", None)
        self.classes = list(classes) if classes is not None else [str(i) for i in range(probs.shape[1])]
        self.dataset = _image_dataset(learn) if dl is None else getattr(dl, "dataset", None)

    def confusion_matrix(self) -> np.ndarray:
        return confusion_matrix(self.preds.numpy(), self.targets.numpy(), len(self.classes))

    def most_confused(self, min_val: int = 1) -> list[tuple[str, str, int]]:
        return most_confused(self.confusion_matrix(), self.classes, min_val)

    def top_losses(self, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`(losses, indices)` of the `k` items with the highest loss (all when k is None)."""
        return self.losses.topk(len(self.losses) if k is None else min(k, len(self.losses)))

    def plot_confusion_matrix(self, normalize: bool = False, ax=None, cmap: str = "Blues"):
        """The matrix as an image, each cell labelled with its count (or row fraction)."""
        import matplotlib.pyplot as plt

        cm = self.confusion_matrix().astype(float)
        if normalize:
            cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax = ax if ax is not None else plt.subplots(figsize=(1 + 0.6 * len(cm),) * 2)[1]
        ax.imshow(cm, cmap=cmap)
        ticks = np.arange(len(self.classes))
        ax.set_xticks(ticks, self.classes, rotation=90)
        ax.set_yticks(ticks, self.classes)
        for (a, p), v in np.ndenumerate(cm):
            ax.text(p, a, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center",
                    color="white" if v > cm.max() / 2 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        return ax

    def plot_top_losses(self, k: int = 9, ncols: int = 3):
        """The `k` highest-loss images titled `predicted / actual / loss / prob of actual`."""
        import matplotlib.pyplot as plt

        losses, idxs = self.top_losses(k)
        nrows = max(1, -(-len(idxs) // ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3.3 * nrows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, loss, i in zip(axes.flat, losses.tolist(), idxs.tolist()):
            actual, pred = int(self.targets[i]), int(self.preds[i])
            if self.dataset is not None:
                ax.imshow(_show_image(self.dataset, i))
            ax.set_title(f"{self.classes[pred]} / {self.classes[actual]}\n"
                         f"{loss:.2f} / {float(self.probs[i, actual]):.2f}", fontsize=9)
        return fig


def _image_dataset(learn):
    """The validation images behind the learner: a ConvLearner's images even while precompute
    is on (its `learn.data` then holds the cached features)."""
    data = learn.image_data if isinstance(learn, ConvLearner) else learn.data
    return data.valid_dl.dataset


def _show_image(ds, i: int) -> np.ndarray:
    """Item `i` as an HxWx3 array in [0, 1] for imshow: the original file when there is one."""
    if hasattr(ds, "get_image"):
        return np.asarray(ds.get_image(i)) / 255.0
    x = ds[i][0]
    x = x.float()
    x = (x - x.min()) / (x.max() - x.min() + 1e-8)  # any normalisation -> [0, 1]
    return x.permute(1, 2, 0).numpy() if x.ndim == 3 else x.numpy()
