"""`learn.summary()`: each layer's output shape and parameter count, then the layer groups.

Why a forward pass: a layer's output shape depends on the input (image size, sequence length),
so the honest way to know it is to run one real batch and look. A forward hook on every layer
records what it returned; the hooks are removed, and the model's modes and the random number
generators are put back, so a summary never changes what the next fit does. Ideas: Keras'
`model.summary()`, fastai's `learn.summary()`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .layer_groups import describe_groups, params_of
from .torch_utils import check_not_empty, to_device


@dataclass(frozen=True)
class LayerRow:
    """One line of the summary: a layer, what it returned, the parameters it owns."""

    name: str                      # its path in the model, e.g. "body.0" ("" for the model itself)
    kind: str                      # its class, e.g. "Conv2d"
    out_shape: list | None         # [16, 32, 112, 112]; a list of shapes for a tuple; None: not run
    n_params: int                  # parameters it owns itself (not those of its children)
    trainable: bool | None         # do they all train? None when it owns none


def layer_rows(model: nn.Module, xb: Any) -> list[LayerRow]:
    """Run `model(xb)` once in eval mode, without gradients, and describe every layer that is a
    leaf or owns parameters. Eval mode: a training-mode pass would move BatchNorm's statistics."""
    layers = [(name, m) for name, m in model.named_modules()
              if not list(m.children()) or list(m.parameters(recurse=False))]
    shapes: dict[str, list] = {}

    def record(name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            shapes[name] = _shape(output)  # a layer called twice keeps its last output's shape
        return hook

    modes = [(m, m.training) for m in model.modules()]  # per layer: some may be frozen in eval
    handles = [m.register_forward_hook(record(name)) for name, m in layers]
    try:
        model.eval()
        with torch.no_grad():
            model(xb)
    finally:  # even when the forward pass fails: no hook or mode may be left behind
        for handle in handles:
            handle.remove()
        for m, training in modes:
            m.training = training
    return [_row(name, m, shapes.get(name)) for name, m in layers]


def _row(name: str, module: nn.Module, out_shape: list | None) -> LayerRow:
    own = list(module.parameters(recurse=False))
    trainable = all(p.requires_grad for p in own) if own else None
    return LayerRow(name, type(module).__name__, out_shape, sum(p.numel() for p in own), trainable)


def _shape(output: Any) -> list | None:
    if isinstance(output, torch.Tensor):
        return list(output.shape)
    if isinstance(output, (list, tuple)):
        return [_shape(o) for o in output]
    return None


def one_training_batch(learn) -> Any:
    """The inputs of the first training batch, on the learner's device. The RNG states (torch's
    and the DataLoader's own generator) are put back: drawing it must not change the next fit."""
    dl = learn.data.train_dl
    check_not_empty(dl, "train_dl (summary() runs one of its batches)")
    generator = getattr(dl, "generator", None)
    saved = generator.get_state() if generator is not None else None
    with torch.random.fork_rng(devices=[]):
        batch = next(iter(dl))
    if generator is not None:
        generator.set_state(saved)
    xb = batch[0] if isinstance(batch, (list, tuple)) else batch
    return to_device(xb, learn.device)


def format_rows(rows: list[LayerRow]) -> list[str]:
    """The rows as an aligned table."""
    def cell(row: LayerRow) -> list[str]:
        shape = "-" if row.out_shape is None else str(row.out_shape)
        train = {None: "", True: "yes", False: "no (frozen)"}[row.trainable]
        return [row.name or "(model)", row.kind, shape, f"{row.n_params:,}", train]

    table = [["layer", "type", "output shape", "params", "trainable"], *map(cell, rows)]
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    return ["  ".join(c.rjust(w) if i == 3 else c.ljust(w) for i, (c, w) in
                      enumerate(zip(r, widths))).rstrip() for r in table]


def model_summary(learn) -> str:
    """The text of `learn.summary()`: the layer table, totals, layer groups, callbacks."""
    xb = one_training_batch(learn)
    rows = layer_rows(learn.model, xb)
    params = list(learn.model.parameters())
    n, n_train = sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
    frozen = [i for i, group in enumerate(learn.layer_groups)
              if not any(p.requires_grad for p in params_of(group))]
    in_shape = list(xb.shape) if isinstance(xb, torch.Tensor) else "?"
    return "\n".join([
        f"{type(learn.model).__name__} on {learn.device}, input {in_shape} (one training batch)",
        *format_rows(rows),
        f"total: {n:,} parameters, {n_train:,} trainable, {n - n_train:,} frozen",
        f"layer groups ({len(learn.layer_groups)}; frozen: {frozen if frozen else 'none'}):",
        *describe_groups(learn.layer_groups),
        f"callbacks: {', '.join(cb.name for cb in learn.cbs)}",
    ])


def print_summary(learn) -> str:
    """Print `model_summary(learn)` and return it (for tests and logs)."""
    text = model_summary(learn)
    print(text)
    return text
