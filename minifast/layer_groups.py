"""Layer groups: parts of a model that get their own learning rate and can be frozen together.

A layer group is a module, or a list of modules and parameters (fastai 0.7). The helpers here
walk groups, so the Learner (optimiser groups, freezing, summary) and BnFreeze (BatchNorm layers
of frozen groups) read them the same way.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch import nn

LayerGroup = nn.Module | Sequence[nn.Module | nn.Parameter]


def _items(group: LayerGroup) -> list[nn.Module | nn.Parameter]:
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


def param_groups(groups: Sequence[LayerGroup], model: nn.Module) -> list[dict]:
    """One optimiser param group per layer group, so each can get its own lr and weight decay.

    A parameter claimed by two groups goes to the first; one claimed by none is an error,
    because it would silently never train.
    """
    out, seen = [], set()
    for group in groups:
        params = [p for p in params_of(group) if id(p) not in seen]
        seen.update(id(p) for p in params)
        out.append({"params": params})
    leftover = [p for p in model.parameters() if id(p) not in seen]
    if leftover:
        raise ValueError(f"layer_groups miss {len(leftover)} of the model's parameter tensors;"
                         " every parameter must belong to exactly one layer group")
    return out


def first_trainable(n: int, n_groups: int) -> int:
    """The index of the first group `freeze_to(n)` trains; n < 0 counts from the end (fastai
    0.7: `freeze_to(-1)` trains only the last group)."""
    if not -n_groups <= n <= n_groups:
        raise ValueError(f"freeze_to({n}): this learner has {n_groups} layer groups")
    return n % n_groups if n < 0 else n


def freeze_groups(groups: Sequence[LayerGroup], n: int) -> None:
    """Freeze groups [0, n) and unfreeze the rest; n < 0 counts from the end (fastai 0.7)."""
    n = first_trainable(n, len(groups))
    for i, group in enumerate(groups):
        for p in params_of(group):
            p.requires_grad_(i >= n)


def describe_groups(groups: Sequence[LayerGroup]) -> list[str]:
    """One line per group: its parameter count and how many of them train."""
    lines = []
    for i, group in enumerate(groups):
        params = list(params_of(group))
        n, n_train = sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
        lines.append(f"  group {i}: {n:,} parameters, {n_train:,} trainable")
    return lines
