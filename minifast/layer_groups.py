"""Layer groups: parts of a model that get their own learning rate and can be frozen together.

A layer group is a module, or a list of modules and parameters (fastai 0.7). These two helpers
walk one, so the Learner (optimiser groups, freezing) and BnFreeze (BatchNorm layers of frozen
groups) read groups the same way.
"""
from __future__ import annotations

from typing import Iterator, Sequence, Union

from torch import nn

LayerGroup = Union[nn.Module, Sequence[Union[nn.Module, nn.Parameter]]]


def _items(group: LayerGroup) -> list[Union[nn.Module, nn.Parameter]]:
    """A group as a list: a lone module is a group of one."""
    return [group] if isinstance(group, nn.Module) else list(group)


def params_of(group: LayerGroup) -> Iterator[nn.Parameter]:
    """The parameters of a layer group."""
    for item in _items(group):
        if isinstance(item, nn.Module):
            yield from item.parameters()
        else:
            yield item


def modules_of(group: LayerGroup) -> Iterator[nn.Module]:
    """Every module inside a layer group (loose parameters have none)."""
    for item in _items(group):
        if isinstance(item, nn.Module):
            yield from item.modules()
