"""ConvLearner: transfer learning from a pretrained body, the course's core move (fastai 0.7).

    learn = ConvLearner.pretrained(resnet34, data, precompute=True)  # body frozen, head new
    learn.fit(1e-2, 3)                                                # train the head (cached)
    learn.precompute = False                                          # back to images + augmentation
    learn.unfreeze()                                                  # train everything, with
    learn.fit(np.array([1e-4, 1e-3, 1e-2]), 3, cycle_len=1, cycle_mult=2)  # an lr per layer group
    log_preds, y = learn.TTA()

Layer groups: the body's two halves, then the head. Only `precompute`, `TTA`, `predict_image` and
BatchNorm freezing are new here; the loop, freezing and differential lrs are the plain Learner's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..callback import Callback
from ..layer_groups import modules_of, params_of
from ..learner import Learner
from ..metrics import accuracy
from .archs import Arch, get_arch, num_features
from .head import TransferModel, create_head
from .precompute import precomputed_data
from .predict import predict_image, tta


class BnFreeze(Callback):
    """Keep the BatchNorm layers of frozen layer groups in eval mode while training.

    Why: frozen layers were trained with ImageNet's running statistics. Updating those from a few
    batches of new images would change what the frozen layers compute, under a head that is
    learning to read them (fastai v1 `BnFreeze`).

    `whole_body=True` (fastai 0.7's `learn.bn_freeze(True)`) keeps *every* group's BatchNorm but
    the last (the new head) in eval mode, trainable or not. Why: after `unfreeze()`, BatchNorm in
    train mode normalises each batch by that batch's own statistics instead of the running ones
    the pretrained weights (and the trained head) were used to. On a small data set with images
    like ImageNet's, that shift alone can undo much of what the head learned: the training loss
    jumps at the first fine-tuning step. The weights and BatchNorm's scale/shift still train.
    The price: no batch statistics keep large steps in check, so keep the lrs modest (CIFAR-10
    at 128 px with AdamW: a top lr of 4e-3 diverged; 1.5e-3 worked in two script runs and
    diverged in one notebook run; 1e-3 held but its training loss still rose before falling).
    """

    order = -5  # after TrainEvalCallback (-10) has put the whole model in train mode

    def __init__(self, whole_body: bool = False):
        self.whole_body = whole_body

    def before_train(self):
        groups = self.learn.layer_groups
        for i, group in enumerate(groups):
            params = list(params_of(group))
            frozen = bool(params) and not any(p.requires_grad for p in params)
            if frozen or (self.whole_body and i < len(groups) - 1):
                for module in modules_of(group):
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()


class ConvLearner(Learner):
    """A Learner for a `TransferModel` (pretrained body + new head) on image data.

    Starts frozen (only the head trains). `precompute=True` trains the head on cached body
    activations; `train_bn=True` lets frozen groups' BatchNorm layers keep training mode.
    """

    def __init__(self, model: TransferModel, data, body_groups: Sequence[nn.Module],
                 precompute: bool = False, train_bn: bool = False, loss_func=None,
                 opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
                 metrics: Sequence[Callable] = (accuracy,), cbs: Iterable[Callback] = (),
                 wd: float = 0.01, path: Union[str, Path, None] = None,
                 device: Union[str, torch.device, None] = None, arch: Optional[str] = None,
                 channels_last: bool = False):
        cbs = list(cbs) if train_bn else [BnFreeze(), *cbs]
        path = path if path is not None else getattr(data, "path", ".")
        super().__init__(model, data, loss_func=loss_func, opt_func=opt_func, metrics=metrics,
                         cbs=cbs, wd=wd, layer_groups=[*body_groups, model.head], path=path,
                         device=device)
        self.image_data, self.train_bn, self.arch = data, train_bn, arch
        self.precompute_dir: Optional[Path] = None
        self.freeze()
        if channels_last:  # before precompute, so computing the cached activations is faster too
            self.to_channels_last()
        self.precompute = precompute

    @classmethod
    def pretrained(cls, arch: Arch, data, ps: Union[None, float, Sequence[float]] = None,
                   xtra_fc: Optional[Sequence[int]] = None, custom_head: Optional[nn.Module] = None,
                   precompute: bool = False, pretrained: bool = True, train_bn: bool = False,
                   opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
                   metrics: Sequence[Callable] = (accuracy,), wd: float = 0.01,
                   path: Union[str, Path, None] = None, device: Union[str, torch.device, None] = None,
                   cbs: Iterable[Callback] = (), channels_last: bool = False) -> "ConvLearner":
        """The body of ImageNet model `arch` (frozen) + a new head for `data.c` classes.

        `ps`, `xtra_fc`: the default head's dropouts and hidden layers (see `create_head`);
        `custom_head` replaces it. `pretrained=False` starts from random weights.
        `channels_last=True`: see `Learner.to_channels_last` (often much faster on the CPU).
        """
        spec = get_arch(arch)
        if custom_head is None and not getattr(data, "c", None):
            raise ValueError("ConvLearner.pretrained: data.c (the number of classes) is unknown; "
                             "give data with classes, or a custom_head")
        body = spec.cut(spec.make(pretrained))
        head = custom_head if custom_head is not None else create_head(
            num_features(body), data.c, xtra_fc, ps)
        groups = [body[: spec.split_at], body[spec.split_at:]]
        return cls(TransferModel(body, head), data, groups, precompute=precompute,
                   train_bn=train_bn, opt_func=opt_func, metrics=metrics, cbs=cbs, wd=wd,
                   path=path, device=device, arch=spec.name, channels_last=channels_last)

    def bn_freeze(self, do_freeze: bool = True) -> None:
        """Keep the body's BatchNorm statistics fixed even when the body trains (fastai 0.7).

        Use it before fine-tuning an unfrozen body on a small set of ImageNet-like photos; see
        `BnFreeze.whole_body` for why. `bn_freeze(False)` goes back to the default: BatchNorm of
        trainable groups uses batch statistics and updates its running ones.
        """
        bn_cb = self.get_cb(BnFreeze)
        if bn_cb is None:  # train_bn=True left it out: frozen groups' BatchNorm still trains
            if not do_freeze:
                return
            bn_cb = BnFreeze()
            self.add_cb(bn_cb)
        bn_cb.whole_body = do_freeze

    # ------------------------------------------------------------------ precompute
    @property
    def precompute(self) -> bool:
        """True while the head trains on cached body activations (`learn.data` holds them)."""
        return self.model.precomputed

    @precompute.setter
    def precompute(self, value: bool) -> None:
        if value:
            trainable = [i for i, g in enumerate(self.layer_groups[:-1])
                         if any(p.requires_grad for p in params_of(g))]
            if trainable:
                raise ValueError(f"precompute=True trains the head alone on cached activations, but "
                                 f"layer groups {trainable} are trainable; call learn.freeze() first")
            # Computed (or read) before anything changes: an error leaves the learner as it was.
            self.data, self.precompute_dir = precomputed_data(
                self.model, self.image_data, self.path / "tmp" / "precompute", self.device)
        else:
            self.data = self.image_data
        self.model.precomputed = bool(value)

    def set_data(self, data) -> None:
        """Swap in new image data (e.g. bigger images: progressive resizing), keeping the model."""
        if self.precompute:
            self.data, self.precompute_dir = precomputed_data(
                self.model, data, self.path / "tmp" / "precompute", self.device)
        else:
            self.data = data
        self.image_data = data

    def freeze_to(self, n: int) -> None:
        """As Learner.freeze_to, but refuses to unfreeze the body while precompute is on
        (the cached activations would silently keep the body's old output)."""
        n_groups = len(self.layer_groups)
        first_trainable = n % n_groups if -n_groups <= n < 0 else n
        if self.precompute and first_trainable < n_groups - 1:
            raise ValueError(f"freeze_to({n}) would train the body, but precompute=True trains the "
                             f"head on cached activations: set learn.precompute = False first")
        super().freeze_to(n)

    # ------------------------------------------------------------------ inference
    def TTA(self, n_aug: int = 4, is_test: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Test-time augmentation: `(log_preds[n_aug + 1, N, C], targets)`; see `predict.tta`."""
        return tta(self.model, self.image_data, n_aug, is_test, self.device)

    def predict_image(self, img: Union[str, Path, Image.Image]) -> tuple[str, int, torch.Tensor]:
        """`(class_name, class_idx, probs)` for one image file or PIL image."""
        tfms = getattr(self.image_data, "tfms", None)
        if tfms is None:
            raise ValueError("predict_image needs the data's transforms (data.tfms); "
                             f"{type(self.image_data).__name__} has none")
        return predict_image(self.model, tfms[1], getattr(self.image_data, "classes", None), img,
                             self.device)

    def export(self, path: Union[str, Path]) -> Path:
        """Write one file for inference (weights, classes, arch, head, transform); read it back
        with `load_learner(path)`. Tensors and plain containers only: see vision/export.py."""
        # Imported here only to keep this edit to one place; no import cycle (export.py does not
        # import this file), so it may move to the imports at the top.
        from .export import export_learner

        return export_learner(self, path)
