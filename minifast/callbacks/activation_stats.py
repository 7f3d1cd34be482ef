"""ActivationStats: watch what each layer outputs while the model trains.

A network trains well when every layer's activations keep a sensible scale: means near 0, stds
near 1, few "dead" units stuck at 0. Forward hooks (functions PyTorch calls after a module's
forward) record each layer's mean, std and histogram per training batch, and three plots show
them over time — the fastai course 2022 (lesson 16, miniai) teaches initialisation and
BatchNorm with exactly these: `plot_stats()`, `color_dim()` ("colorful dimension") and
`dead_chart()`.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn

from ..activation_plots import color_dim, dead_chart, plot_stats
from ..callback import Callback
from ..messages import MinifastWarning


class ActivationStats(Callback):
    """Per layer, every `every`-th training batch: the activations' mean, std and a histogram of
    their absolute values (`bins` over `hist_range`; values outside are not counted, as in
    `torch.histc`). Read them with `stacked('mean' | 'std' | 'hist')`, `dead_fraction()`, plots.

    `modules=None`: the layers with parameters of their own (fastai v2's choice: Linear, Conv,
    BatchNorm; also GRU, MultiheadAttention); the course watches the ReLUs: pass them. A tuple
    output (a GRU's `(output, h_n)`) is recorded by its first tensor; a layer that recorded
    nothing is left out after the fit, named in an `ActivationStatsWarning`. Hooks live only
    during a fit and only the model's own training forward pass is recorded; values stay on the
    device until read (no GPU sync).
    """

    run_in_lr_find = False  # the sweep is a probe, not part of the run: keep this fit's records

    def __init__(self, modules: Sequence[nn.Module] | None = None, every: int = 1,
                 bins: int = 40, hist_range: tuple[float, float] = (0, 10)):
        if every < 1 or bins < 1 or not hist_range[0] < hist_range[1]:
            raise ValueError(f"ActivationStats(every={every}, bins={bins}, hist_range={hist_range}):"
                             " every and bins must be >= 1 and hist_range (low, high) with low < high")
        self.modules, self.every, self.bins, self.hist_range = modules, every, bins, hist_range
        self.hooks, self.names, self.records = [], [], []
        self.fitted = False

    def before_fit(self):
        model = self.learn.model
        modules = modules_to_watch(model, self.modules)
        names = {id(m): name for name, m in model.named_modules()}
        self.names = [names.get(id(m), type(m).__name__) for m in modules]
        # Per layer, one entry per recorded batch: mean, std, histogram, number of activations.
        self.records = [{"mean": [], "std": [], "hist": [], "n": []} for _ in modules]
        self.recording, self.fitted = False, True
        self.remove_hooks()  # those of an earlier fit that never reached after_fit
        self.hooks = [m.register_forward_hook(recording_hook(self, r))
                      for m, r in zip(modules, self.records)]

    def before_batch(self):
        self.recording = self.learn.training and self.learn.train_iter % self.every == 0

    def after_pred(self):
        self.recording = False  # only the model's own forward pass of this batch

    def after_fit(self):
        self.remove_hooks()
        self.names, self.records = drop_silent_layers(self.names, self.records)

    def remove_hooks(self):
        self.recording = False
        for hook in self.hooks:
            hook.remove()
        self.hooks = []

    def stacked(self, key: str) -> torch.Tensor:
        """`key` ('mean', 'std', 'hist') for every layer, on the CPU: [layers, batches], or for
        'hist' [layers, bins, batches] (time along the x axis, as the course draws it)."""
        check_recorded(self.fitted, self.names, self.records)
        out = torch.stack([torch.stack(r[key]) for r in self.records]).cpu()
        return out.transpose(1, 2) if key == "hist" else out

    def dead_fraction(self) -> torch.Tensor:
        """[layers, batches]: fraction of all activations in the lowest bin (|a| near 0)."""
        counts = torch.tensor([r["n"] for r in self.records], dtype=torch.float32)
        return self.stacked("hist")[:, 0, :] / counts

    def plot_stats(self, figsize=(10, 4)):
        """Mean and std of each layer's activations over the recorded batches."""
        return plot_stats(self.names, self.stacked("mean"), self.stacked("std"), figsize)

    def color_dim(self, figsize=(11, 5)):
        """'Colorful dimension': per layer, the histogram (log scale) over time."""
        return color_dim(self.names, self.stacked("hist"), figsize)

    def dead_chart(self, figsize=(11, 5)):
        """Per layer, the fraction of activations in the lowest bin: near 1 means mostly dead."""
        return dead_chart(self.names, self.dead_fraction(), figsize)


class ActivationStatsWarning(MinifastWarning):
    """Some watched layers recorded nothing and were left out; the message names them."""


def recording_hook(stats: ActivationStats, record: dict):
    """A forward hook that appends its layer's statistics to `record` while `stats.recording`."""
    def hook(module, inputs, output):
        acts = first_tensor(output)
        if stats.recording and acts is not None:
            acts = acts.detach().float()
            record["mean"].append(acts.mean())
            record["std"].append(acts.std())
            record["hist"].append(torch.histc(acts.abs(), stats.bins, *stats.hist_range))
            record["n"].append(acts.numel())
    return hook


def modules_to_watch(model: nn.Module, modules: Sequence[nn.Module] | None) -> list[nn.Module]:
    """`modules`, or by default the model's layers with parameters; an error if there are none."""
    modules = list(modules) if modules is not None else layers_with_params(model)
    if not modules:
        raise ValueError(f"ActivationStats: {type(model).__name__} has no layer with parameters to "
                         "watch; pass the layers to record, e.g. ActivationStats(modules="
                         "[m for m in model.modules() if isinstance(m, nn.ReLU)])")
    return modules


def drop_silent_layers(names: list[str], records: list[dict]) -> tuple[list[str], list[dict]]:
    """Leave out, with a warning naming them, the layers that recorded nothing while others did
    (a sub-layer whose parent uses its weights directly, an output with no tensor). When all
    are silent, nothing is dropped: the readers then explain (`check_recorded`)."""
    silent = [name for name, r in zip(names, records) if not r["n"]]
    if not silent or len(silent) == len(names):
        return names, records
    warnings.warn(f"ActivationStats: layer(s) {silent} gave no tensor output during training "
                  "(never called, or not a tensor): left out", ActivationStatsWarning, stacklevel=2)
    kept = [(n, r) for n, r in zip(names, records) if r["n"]]
    return [n for n, _ in kept], [r for _, r in kept]


def check_recorded(fitted: bool, names: list[str], records: list[dict]) -> None:
    """A clear error when there is nothing to read: no fit yet, or a fit that recorded nothing."""
    if not fitted:
        raise ValueError("ActivationStats has recorded nothing yet: add it to a fit first")
    if not any(r["n"] for r in records):
        raise ValueError(f"ActivationStats recorded nothing in its fit: its layers {names} gave no "
                         "tensor output in a recorded training batch (were they called? did the "
                         "fit reach a training batch?); pass other modules=")


def layers_with_params(model: nn.Module) -> list[nn.Module]:
    """Modules with parameters of their own: Linear, Conv, BatchNorm, GRU, MultiheadAttention
    (whose projection weights are its own, not a child's)..."""
    return [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]


def first_tensor(output) -> torch.Tensor | None:
    """`output` if it is a tensor, else the first tensor in a tuple or list (a GRU's sequence
    output, attention's output), else None."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


# ---------------------------------------------------------------------- the course's plots
