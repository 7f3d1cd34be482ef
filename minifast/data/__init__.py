"""Data: DataBunch for plain DataLoaders; vision data, transforms and data sets."""
from .core import DataBunch

__all__ = ["DataBunch"]
