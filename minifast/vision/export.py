"""Export a trained ConvLearner to one file for inference, and load it back without the data.

    learn.export("pets.pth")           # after training: weights + all that inference needs
    inf = load_learner("pets.pth")     # later, elsewhere: no data set, no download
    inf.predict("cat.jpg")             # -> ("cat", 0, tensor([0.97, 0.03]))

Why not `learn.save`: a checkpoint is for going on with training. It holds the optimiser and the
random generators, and you rebuild the learner (data and all) in code before loading it. An
export holds what inference needs and nothing else: the weights, the class names, how to rebuild
the model (architecture name + head shape) and the validation transform (size + normalisation).

The file is `torch.save` of plain containers (dict, list, str, int, float) and tensors, read back
with `torch.load(weights_only=True)`: opening a stranger's file cannot run code, as unpickling an
arbitrary object could (fastai's `export.pkl` pickles the whole Learner). Version 1 holds:

    {"format": "minifast-export", "version": 1, "arch": "efficientnet_lite0",
     "classes": ["cat", "dog"], "model": {name: tensor, ...},      # state dict, CPU, NCHW
     "head": {"n_features": 1280, "xtra_fc": [512], "ps": [0.25, 0.5]},
     "tfms": {"sz": 224, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "crop": "center"}}
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from ..checkpoint import check_state_dict, read_checkpoint
from ..data.images import PathLike, open_image, to_rgb
from ..data.transforms import ImageTransforms, tfms_from_stats
from ..distributed import save_on_main
from .archs import get_arch
from .head import TransferModel, create_head
from .predict import ImageLike, predict_image

FORMAT, VERSION = "minifast-export", 1
KEYS = ("arch", "classes", "model", "head", "tfms")


def head_config(head: nn.Sequential) -> dict[str, Any]:
    """`{"n_features", "xtra_fc", "ps"}` such that `create_head` rebuilds `head` exactly.

    Read from the layers themselves (each Linear's sizes, the Dropout before it), then checked by
    rebuilding: a custom head cannot be described by these numbers, and is refused.
    """
    linears = [m for m in head if isinstance(m, nn.Linear)]
    ps, p = [], 0.0
    for m in head:
        if isinstance(m, nn.Dropout):
            p = m.p
        elif isinstance(m, nn.Linear):
            ps, p = ps + [float(p)], 0.0
    if linears:
        config = {"n_features": linears[0].in_features // 2,  # concat pooling doubles the channels
                  "xtra_fc": [m.out_features for m in linears[:-1]], "ps": ps}
        rebuilt = create_head(config["n_features"], linears[-1].out_features,
                              config["xtra_fc"], config["ps"])
        if repr(rebuilt) == repr(head):
            return config
    raise ValueError("learn.export rebuilds the head from create_head's arguments (xtra_fc, ps), "
                     "but this model's head is a custom one. Save its weights with learn.save and "
                     "rebuild it in code, or export the model to ONNX (docs/export.md).")


def export_learner(learn, path: PathLike) -> Path:
    """`learn.export(path)`: write `learn`'s model and what inference needs to one file, atomically.

    Everything is checked before anything is written: an error leaves any old file at `path` as it
    was. Under DDP every rank calls it and only rank 0 writes.
    """
    data = learn.image_data
    classes, tfms = getattr(data, "classes", None), getattr(data, "tfms", None)
    if not classes:
        raise ValueError(f"learn.export needs the class names (data.classes); "
                         f"{type(data).__name__} has none")
    valid_tfm = tfms[1] if tfms is not None else None
    if not isinstance(valid_tfm, ImageTransforms):
        raise ValueError("learn.export rebuilds the validation transform from its size and "
                         "normalisation, so data.tfms must come from tfms_from_model or "
                         f"tfms_from_stats; got {type(valid_tfm).__name__}")
    if learn.arch is None:
        raise ValueError("learn.export needs the architecture's name (learn.arch); build the "
                         "learner with ConvLearner.pretrained(arch, ...)")
    model = learn.model
    head = head_config(model.head)
    n_out = model.head[-1].out_features
    if n_out != len(classes):
        raise ValueError(f"the head predicts {n_out} classes but data.classes has {len(classes)}")
    state = {"format": FORMAT, "version": VERSION, "arch": get_arch(learn.arch).name,
             "classes": [str(c) for c in classes], "head": head,
             "tfms": {"sz": int(valid_tfm.sz), "mean": valid_tfm.mean.tolist(),
                      "std": valid_tfm.std.tolist(), "crop": "center"},
             # CPU and plain (NCHW) layout: the file loads anywhere, into a freshly built model.
             "model": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}}
    return save_on_main(state, path)


def read_export(path: PathLike) -> dict[str, Any]:
    """Read and check an export file (tensors and plain containers only); clear errors otherwise."""
    state = read_checkpoint(path)  # FileNotFoundError if missing, RuntimeError if not readable
    if state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a minifast export (it has no format tag {FORMAT!r}; a "
                         f"learn.save checkpoint is not one). Write one with learn.export(path) "
                         f"or `minifast train`.")
    if state.get("version") != VERSION:
        raise ValueError(f"{path} is export format version {state.get('version')!r}, but this "
                         f"minifast reads version {VERSION}. Export the model again with this "
                         f"minifast, or load it with the minifast that wrote it.")
    missing = [k for k in KEYS if k not in state]
    if missing:
        raise ValueError(f"{path} is an incomplete export: no {', '.join(missing)}")
    if state["tfms"].get("crop") != "center":
        raise ValueError(f"{path}: unknown crop {state['tfms'].get('crop')!r}; this minifast "
                         f"rebuilds only 'center' (resize the shorter side, then centre crop)")
    return state


def build_model(state: dict[str, Any], path: PathLike) -> TransferModel:
    """The exported model: the architecture's body built without weights (no download), the head
    from its config, then every weight from the file (checked first)."""
    try:
        spec = get_arch(state["arch"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    head = state["head"]
    model = TransferModel(spec.cut(spec.make(False)), create_head(
        head["n_features"], len(state["classes"]), head["xtra_fc"], head["ps"]))
    check_state_dict(model, state["model"], str(path))
    model.load_state_dict(state["model"])
    return model.eval()


class InferenceLearner:
    """What `load_learner` returns: the model (eval mode), its class names and its transform.

    Only inference: no data, no optimiser, no callbacks. `predict` takes one image;
    `get_preds` takes many (files, PIL images or a DataLoader of transformed tensors).
    """

    def __init__(self, model: TransferModel, classes: Sequence[str], tfm: ImageTransforms,
                 arch: str, device: torch.device):
        self.model, self.classes, self.tfm = model.to(device), list(classes), tfm
        self.arch, self.device = arch, device

    def predict(self, img: ImageLike) -> tuple[str, int, torch.Tensor]:
        """`(class_name, class_idx, probs)` for one image file or PIL image (any mode)."""
        return predict_image(self.model, self.tfm, self.classes, img, self.device)

    def predict_image(self, img: ImageLike) -> tuple[str, int, torch.Tensor]:
        """The same as `predict` (ConvLearner's name for it)."""
        return self.predict(img)

    def get_preds(self, items: Sequence[ImageLike] | DataLoader, bs: int = 64
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`(probs[N, C], targets)` on the CPU, as `Learner.get_preds`.

        `items`: image files / PIL images (transformed here, `bs` at a time; targets is None) or
        a DataLoader whose batches are images already transformed, or `(images, targets)`.
        """
        if isinstance(items, DataLoader):
            batches = iter(items)
        else:
            if len(items) == 0:
                raise ValueError("get_preds: no images given")
            batches = (self._transform(items[i:i + bs]) for i in range(0, len(items), bs))
        preds, targs = [], []
        with torch.no_grad():
            for batch in batches:
                xb, yb = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
                preds.append(torch.softmax(self.model(xb.to(self.device)).float(), dim=1).cpu())
                if yb is not None:
                    targs.append(torch.as_tensor(yb).cpu())
        return torch.cat(preds), (torch.cat(targs) if targs else None)

    def _transform(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """Open each image as RGB and apply the validation transform: a batch [N, 3, sz, sz]."""
        return torch.stack([self.tfm(to_rgb(im) if isinstance(im, Image.Image) else open_image(im))
                            for im in images])


def load_learner(path: PathLike, device: str | torch.device | None = None) -> InferenceLearner:
    """Rebuild what `learn.export(path)` (or `minifast train`) wrote, ready to predict.

    `device=None` means the CPU: an exported model is usually served where there may be no GPU
    (fastai's default too); pass `device="cuda"` to use one. Refuses, with a message saying why,
    a missing file, a file that is not an export, another format version or an unknown arch.
    """
    state = read_export(path)
    model = build_model(state, path)
    tfm = tfms_from_stats((state["tfms"]["mean"], state["tfms"]["std"]), state["tfms"]["sz"])[1]
    return InferenceLearner(model, state["classes"], tfm, state["arch"],
                            torch.device(device if device is not None else "cpu"))
