"""Data: DataBunch for plain DataLoaders; vision data, transforms and data sets."""
from .augment import (
    RandomDihedral,
    RandomFlip,
    RandomLighting,
    RandomRotate,
    transforms_basic,
    transforms_side_on,
    transforms_top_down,
)
from .course_datasets import cifar10_data, dogbreeds_data, get_dataset, mnist_data, pokemon_data
from .databunch import DataBunch
from .image_classifier_data import ImageClassifierData
from .images import BadImageError, BadImageWarning, open_image
from .labels import EmptyClassWarning
from .split import get_cv_idxs, split_by_pct
from .transforms import IMAGENET_STATS, ImageTransforms, tfms_from_stats

__all__ = [
    "DataBunch", "ImageClassifierData", "ImageTransforms", "tfms_from_stats",
    "transforms_basic", "transforms_side_on", "transforms_top_down", "IMAGENET_STATS",
    "get_cv_idxs", "split_by_pct", "open_image", "BadImageError", "BadImageWarning",
    "EmptyClassWarning",
    "get_dataset", "mnist_data", "cifar10_data", "pokemon_data", "dogbreeds_data",
    "RandomRotate", "RandomLighting", "RandomFlip", "RandomDihedral",
]
