"""Image transforms in the fastai 0.7 style, built from `torchvision.transforms.v2` pieces.

The course's pipeline (fastai 0.7 `image_gen`), kept in its order:

    train: scale (shorter side -> sz, or a random size in [sz, sz*max_zoom]) -> augmentations
           -> random crop sz x sz -> tensor in [0, 1] -> normalise with the model's stats
    valid: scale (shorter side -> sz) -> centre crop sz x sz -> tensor -> normalise

Augmentation lists: `transforms_side_on` (photos taken from the side: left/right flips are fine,
up/down are not), `transforms_top_down` (satellite, microscope: all 8 flips/rotations are fine).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image

from .augment import build_augmentations

# torchvision is imported inside the functions: it takes about a second, and `import minifast`
# should not pay for it before a transform is built (see augment.py).

Stats = tuple[Sequence[float], Sequence[float]]
IMAGENET_STATS: Stats = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


class ImageTransforms:
    """A PIL RGB image -> a normalised float tensor [3, sz, sz]; knows its `sz` and stats.

    A thin named wrapper around a `v2.Compose`, so that `show_batch` can undo the normalisation
    (`denorm`) and `repr()` is stable and complete (precompute uses it in a cache key).
    """

    def __init__(self, pipeline: Callable, sz: int, stats: Stats):
        self.pipeline, self.sz = pipeline, sz
        self.mean = torch.tensor([float(m) for m in stats[0]])
        self.std = torch.tensor([float(s) for s in stats[1]])

    def __call__(self, img: Image.Image) -> torch.Tensor:
        return self.pipeline(img)

    def denorm(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation of `x` [..., 3, H, W]: back to [0, 1] for display."""
        shape = (3, 1, 1)
        return (x * self.std.view(shape) + self.mean.view(shape)).clamp(0, 1)

    def __repr__(self) -> str:
        return f"ImageTransforms(sz={self.sz}, {self.pipeline!r})"


def _to_normalised_tensor(stats: Stats) -> list:
    from torchvision.transforms import v2

    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[float(m) for m in stats[0]], std=[float(s) for s in stats[1]])]


def tfms_from_stats(stats: Stats, sz: int, aug_tfms: Sequence[Callable] | None = None,
                    max_zoom: float | None = None) -> tuple[ImageTransforms, ImageTransforms]:
    """`(train_tfms, valid_tfms)` for images normalised with `stats = (mean, std)` per channel.

    `aug_tfms`: a list such as `transforms_side_on` (default: no augmentation). `max_zoom`: the
    training image's shorter side is scaled to a random size in [sz, sz * max_zoom] before the
    random sz x sz crop, so the model sees objects zoomed by up to `max_zoom` (fastai 0.7).
    """
    if not isinstance(sz, int) or sz < 1:
        raise ValueError(f"sz={sz!r}: the image size must be a positive int (e.g. 224)")
    if max_zoom is not None and max_zoom < 1:
        raise ValueError(f"max_zoom={max_zoom}: must be >= 1 (1.1 = zoom in by up to 10%)")
    from torchvision.transforms import v2

    if max_zoom is not None and max_zoom > 1:
        scale = v2.RandomResize(sz, int(round(sz * max_zoom)) + 1)  # shorter side in [sz, sz*max_zoom]
    else:
        scale = v2.Resize(sz)
    train = v2.Compose([scale, *build_augmentations(aug_tfms), v2.RandomCrop(sz),
                        *_to_normalised_tensor(stats)])
    valid = v2.Compose([v2.Resize(sz), v2.CenterCrop(sz), *_to_normalised_tensor(stats)])
    return ImageTransforms(train, sz, stats), ImageTransforms(valid, sz, stats)
