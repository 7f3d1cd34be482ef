"""ConvLearner: transfer learning from a pretrained body, the course's core move (fastai 0.7).

    learn = ConvLearner.pretrained(resnet34, data, precompute=True)  # body frozen, head new
    learn.fit(1e-2, 3)                                                # train the head (cached)
    learn.precompute = False                                          # back to images + augmentation
    learn.unfreeze()                                                  # train everything, with
    learn.fit(np.array([1e-5, 1e-4, 1e-3]), 2, cycle_len=1, cycle_mult=2)  # an lr per layer group
    log_preds, y = learn.TTA()

(lrs for AdamW, the default optimiser: the course's [1e-4, 1e-3, 1e-2] were for SGD.) After
`unfreeze()` the body's BatchNorm layers keep their ImageNet statistics (`bn_freeze`, on by default
for pretrained bodies).

Layer groups: the body's two halves, then the head. Only `precompute` (the `Precompute`
callback, precompute.py), `TTA`, `predict_image`, BatchNorm freezing (the `BnFreeze` callback)
and the channels-last layout are new here; the loop, freezing and differential lrs are the plain
Learner's.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..callback import Callback
from ..callbacks.bn_freeze import BnFreeze
from ..layer_groups import first_trainable, params_of
from ..learner import Learner
from ..metrics import accuracy
from .archs import Arch, get_arch, num_features
from .export import export_learner
from .head import TransferModel, create_head
from .precompute import Precompute
from .predict import predict_one, tta


class ConvLearner(Learner):
    """A Learner for a `TransferModel` (pretrained body + new head) on image data.

    Starts frozen (only the head trains). `precompute=True` trains the head on cached body
    activations; `train_bn=True` lets frozen groups' BatchNorm layers keep training mode;
    `bn_freeze=True` keeps every body BatchNorm layer in eval mode, trainable or not (see
    `bn_freeze`; `pretrained` turns it on for pretrained bodies).
    """

    def __init__(self, model: TransferModel, data, body_groups: Sequence[nn.Module],
                 precompute: bool = False, train_bn: bool = False, loss_func=None,
                 opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
                 metrics: Sequence[Callable] = (accuracy,), cbs: Iterable[Callback] = (),
                 wd: float = 0.01, path: str | Path | None = None,
                 device: str | torch.device | None = None, arch: str | None = None,
                 channels_last: bool | None = None, bn_freeze: bool = False):
        cbs = list(cbs) if train_bn and not bn_freeze else [BnFreeze(bn_freeze), *cbs]
        path = path if path is not None else getattr(data, "path", ".")
        self.precomp = Precompute()
        super().__init__(model, data, loss_func=loss_func, opt_func=opt_func, metrics=metrics,
                         cbs=[self.precomp, *cbs], wd=wd, layer_groups=[*body_groups, model.head],
                         path=path, device=device)
        self.train_bn, self.arch = train_bn, arch
        self.freeze()
        if channels_last is None:  # the CPU's convolutions run faster on NHWC (docs/benchmarks.md)
            channels_last = self.device.type == "cpu"
        if channels_last:  # before precompute, so computing the cached activations is faster too
            self.to_channels_last()
        self.precompute = precompute

    @classmethod
    def pretrained(cls, arch: Arch, data, ps: None | float | Sequence[float] = None,
                   xtra_fc: Sequence[int] | None = None, custom_head: nn.Module | None = None,
                   precompute: bool = False, pretrained: bool = True, train_bn: bool = False,
                   opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.AdamW,
                   metrics: Sequence[Callable] = (accuracy,), wd: float = 0.01,
                   path: str | Path | None = None, device: str | torch.device | None = None,
                   cbs: Iterable[Callback] = (), channels_last: bool | None = None,
                   bn_freeze: bool | None = None) -> ConvLearner:
        """The body of ImageNet model `arch` (frozen) + a new head for `data.c` classes.

        `ps`, `xtra_fc`: the default head's dropouts and hidden layers (see `create_head`);
        `custom_head` replaces it. `pretrained=False` starts from random weights.
        `channels_last` (default: True on the CPU, False elsewhere): see `to_channels_last`.
        `bn_freeze` (default: True for pretrained weights unless `train_bn`): the body's BatchNorm
        layers stay in eval mode after `unfreeze()`, so fine-tuning does not swap the ImageNet
        statistics the head was trained on for each batch's own (see `bn_freeze`); pass False,
        or call `learn.bn_freeze(False)`, for data far from ImageNet's photos.
        """
        spec = get_arch(arch)
        if custom_head is None and not getattr(data, "c", None):
            raise ValueError("ConvLearner.pretrained: data.c (the number of classes) is unknown; "
                             "give data with classes, or a custom_head")
        body = spec.cut(spec.make(pretrained))
        head = custom_head if custom_head is not None else create_head(
            num_features(body), data.c, xtra_fc, ps)
        groups = [body[: spec.split_at], body[spec.split_at:]]
        bn_freeze = pretrained and not train_bn if bn_freeze is None else bn_freeze
        return cls(TransferModel(body, head), data, groups, precompute=precompute,
                   train_bn=train_bn, opt_func=opt_func, metrics=metrics, cbs=cbs, wd=wd,
                   path=path, device=device, arch=spec.name, channels_last=channels_last,
                   bn_freeze=bn_freeze)

    def bn_freeze(self, do_freeze: bool = True) -> None:
        """Keep the body's BatchNorm statistics fixed even when the body trains (fastai 0.7).

        On by default for `ConvLearner.pretrained` with pretrained weights: fine-tuning a small set
        of ImageNet-like photos with batch statistics undoes much of what the head learned (see
        `BnFreeze.whole_body` and docs/transfer_learning.md). `bn_freeze(False)`: BatchNorm of
        trainable groups uses batch statistics and updates its running ones (data far from
        ImageNet, or a body trained from scratch).
        """
        bn_cb = self.get_cb(BnFreeze)
        if bn_cb is None:  # train_bn=True left it out: frozen groups' BatchNorm still trains
            if not do_freeze:
                return
            bn_cb = BnFreeze()
            self.add_cb(bn_cb)
        bn_cb.whole_body = do_freeze


    def to_channels_last(self) -> ConvLearner:
        """Store the model's image-shaped (4-d) weights channels-last (NHWC) in memory.

        Why: the CPU's convolution kernels (oneDNN) work on NHWC; with the default NCHW layout
        every convolution converts its tensors there and back. A convolution whose weight is
        channels-last makes its output channels-last too, so the inputs need not change. The
        results agree to float rounding and checkpoints load across layouts; the speed-up is
        measured in docs/benchmarks.md (fastai v2's name).
        """
        self.model.to(memory_format=torch.channels_last)
        return self

    # ------------------------------------------------------------------ precompute
    @property
    def precompute(self) -> bool:
        """True while the head trains on cached body activations (see `Precompute`).

        Setting it costs nothing: the features are read or computed (one pass of the body over
        every image: minutes on a big set) by the next fit that needs them.
        """
        return self.precomp.on

    @precompute.setter
    def precompute(self, value: bool) -> None:
        if value:
            trainable = [i for i, g in enumerate(self.layer_groups[:-1])
                         if any(p.requires_grad for p in params_of(g))]
            if trainable:
                raise ValueError(f"precompute=True trains the head alone on cached activations, "
                                 f"but layer groups {trainable} are trainable; call "
                                 f"learn.freeze() first")
        self.precomp.on = bool(value)

    @property
    def image_data(self):
        """The image data: `learn.data` (the same object; kept for code that used this name)."""
        return self.data

    @property
    def precompute_dir(self) -> Path | None:
        """The cache folder of the latest features (None until a fit first used them)."""
        return self.precomp.folder

    def set_data(self, data) -> None:
        """Swap in new image data (e.g. bigger images: progressive resizing), keeping the model;
        with precompute on, the next fit reads or computes the new data's features."""
        n_out = _n_outputs(self.model.head)
        if getattr(data, "c", None) and n_out is not None and data.c != n_out:
            raise ValueError(f"set_data: the new data has {data.c} classes but the model's head "
                             f"outputs {n_out}; for other classes build a new learner with "
                             f"ConvLearner.pretrained(arch, data)")
        self.data = data

    def freeze_to(self, n: int) -> None:
        """As Learner.freeze_to, but refuses to unfreeze the body while precompute is on
        (the cached activations would silently keep the body's old output)."""
        if self.precompute and first_trainable(n, len(self.layer_groups)) < len(self.layer_groups) - 1:
            raise ValueError(f"freeze_to({n}) would train the body, but precompute=True trains the "
                             f"head on cached activations: set learn.precompute = False first")
        super().freeze_to(n)

    def unfreeze(self) -> None:
        """Train every layer group; turns precompute off first, as fastai 0.7 does (a body that
        trains must see the images)."""
        self.precompute = False
        super().unfreeze()

    def fine_tune(self, epochs: int, base_lr: float = 2e-3, freeze_epochs: int = 1,
                  lr_mult: float = 100, pct_start: float = 0.3, div: float = 5.0) -> None:
        """Train the head, then everything: transfer learning in one call (fastai v2's recipe).

        1. freeze; one cycle of `freeze_epochs` for the head at `base_lr` (`pct_start=0.99`: the
           lr warms up for almost the whole cycle). With precompute on, this runs on the cache.
        2. halve `base_lr`; unfreeze (precompute goes off: a body that trains must see the
           images); one cycle of `epochs` with lrs spread geometrically from
           `base_lr / lr_mult` (early layers) to `base_lr` (head), starting at lr / `div`.
        """
        self.freeze()
        self.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99)
        base_lr /= 2
        self.unfreeze()
        self.fit_one_cycle(epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div)

    # ------------------------------------------------------------------ inference
    def TTA(self, n_aug: int = 4, is_test: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Test-time augmentation: `(log_preds[n_aug + 1, N, C], targets)`; see `predict.tta`."""
        return tta(self, n_aug, is_test)

    def predict_image(self, img: str | Path | Image.Image) -> tuple[str, int, torch.Tensor]:
        """`(class_name, class_idx, probs)` for one image file or PIL image."""
        return predict_one(self, img)

    def export(self, path: str | Path) -> Path:
        """Write one file for inference (weights, classes, arch, head, transform); read it back
        with `load_learner(path)`. Tensors and plain containers only: see vision/export.py."""
        return export_learner(self, path)


def _n_outputs(head: nn.Module) -> int | None:
    """The head's number of outputs: its last Linear layer's (None if it has none)."""
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None
