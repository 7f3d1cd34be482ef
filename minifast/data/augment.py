"""The course's augmentations by name: `RandomRotate`, `RandomLighting`, `RandomFlip`, `RandomDihedral`.

Each is a small description that `tfms_from_stats` turns into a `torchvision.transforms.v2`
transform when it builds a pipeline. Why not v2 objects right away: importing torchvision costs
about a second (it loads its models and ops), and `import minifast` should not pay that until a
transform is really needed. Any v2 transform can also be put in `aug_tfms` directly.
"""
from __future__ import annotations

from collections.abc import Callable


class Augmentation:
    """Base class: `build()` returns the v2 transform; `repr()` is stable (a cache key uses it)."""

    def build(self) -> Callable:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RandomRotate(Augmentation):
    """Rotate by a random angle in [-deg, deg] (fastai 0.7 `RandomRotate(10)`)."""

    def __init__(self, deg: float = 10):
        self.deg = deg

    def build(self) -> Callable:
        from torchvision.transforms import v2

        return v2.RandomRotation(self.deg)

    def __repr__(self) -> str:
        return f"RandomRotate({self.deg})"


class RandomLighting(Augmentation):
    """Random brightness and contrast changes (fastai 0.7 `RandomLighting(0.05, 0.05)`)."""

    def __init__(self, b: float = 0.05, c: float = 0.05):
        self.b, self.c = b, c

    def build(self) -> Callable:
        from torchvision.transforms import v2

        return v2.ColorJitter(brightness=self.b, contrast=self.c)

    def __repr__(self) -> str:
        return f"RandomLighting({self.b}, {self.c})"


class RandomFlip(Augmentation):
    """Left-right flip with probability 1/2: right for photos taken from the side."""

    def build(self) -> Callable:
        from torchvision.transforms import v2

        return v2.RandomHorizontalFlip()


class RandomDihedral(Augmentation):
    """One of the 8 flips/rotations of the square at random: right for top-down images."""

    def build(self) -> Callable:
        return dihedral()


def dihedral() -> Callable:
    """A random element of the dihedral group D4 (8 flips/rotations by multiples of 90 degrees).

    Horizontal flip x vertical flip x (0 or 90 degrees) gives all 8, each with probability 1/8.
    `expand=True` makes Pillow rotate by an exact transpose, also for non-square images.
    """
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
                       v2.RandomApply([v2.RandomRotation((90, 90), expand=True)], p=0.5)])


def build_augmentations(aug_tfms) -> list[Callable]:
    """v2 transforms for a list that mixes `Augmentation`s and ready transforms."""
    return [t.build() if isinstance(t, Augmentation) else t for t in (aug_tfms or [])]


# fastai 0.7: RandomRotate(10), RandomLighting(0.05, 0.05) [, RandomFlip() | RandomDihedral()]
transforms_basic = [RandomRotate(10), RandomLighting(0.05, 0.05)]
transforms_side_on = transforms_basic + [RandomFlip()]
transforms_top_down = transforms_basic + [RandomDihedral()]
