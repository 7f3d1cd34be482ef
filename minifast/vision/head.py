"""The new head on a pretrained body, and the model that joins them.

The head (fastai 0.7 `ConvnetBuilder`): pool the body's feature maps two ways — average and max,
side by side — flatten, then for each hidden layer BatchNorm -> Dropout -> Linear -> ReLU, and a
final BatchNorm -> Dropout -> Linear to the classes. The output is raw scores (logits): the loss
(cross-entropy) applies the softmax.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class AdaptiveConcatPool2d(nn.Module):
    """Max and average pooling to `size` x `size`, concatenated on channels: [N, 2C, size, size].

    Why both: the average says how much of a feature there is, the max where it is strongest;
    fastai found the pair beats either alone (fastai 0.7).
    """

    def __init__(self, size: int = 1):
        super().__init__()
        self.max_pool, self.avg_pool = nn.AdaptiveMaxPool2d(size), nn.AdaptiveAvgPool2d(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.max_pool(x), self.avg_pool(x)], dim=1)


def create_head(n_features: int, n_classes: int, xtra_fc: Sequence[int] | None = None,
                ps: None | float | Sequence[float] = None) -> nn.Sequential:
    """The default head for a body whose output has `n_features` channels.

    `xtra_fc`: sizes of hidden linear layers (default `[512]`; `[]` for none). `ps`: dropout
    before each linear layer, a float for all or a list with one per layer (default: 0.25 for the
    hidden layers, 0.5 before the last, as fastai 0.7).
    """
    xtra_fc = [512] if xtra_fc is None else list(xtra_fc)
    ps = _dropouts(ps, len(xtra_fc) + 1)
    sizes = [2 * n_features, *xtra_fc, n_classes]  # 2x: concat pooling doubles the channels
    layers: list[nn.Module] = [AdaptiveConcatPool2d(), nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.BatchNorm1d(n_in))
        if ps[i] > 0:
            layers.append(nn.Dropout(ps[i]))
        layers.append(nn.Linear(n_in, n_out))
        if i < len(xtra_fc):
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _dropouts(ps: None | float | Sequence[float], n_linear: int) -> list[float]:
    if ps is None:
        return [0.25] * (n_linear - 1) + [0.5]
    ps = [float(ps)] * n_linear if isinstance(ps, (int, float)) else [float(p) for p in ps]
    if len(ps) != n_linear:
        raise ValueError(f"ps={ps}: give one dropout per linear layer ({n_linear}: one per xtra_fc "
                         f"entry plus the final layer), or a single float")
    if any(not 0 <= p < 1 for p in ps):
        raise ValueError(f"ps={ps}: dropout probabilities must be in [0, 1)")
    return ps


# Layers with no parameters and no randomness: their output depends only on their input, so they
# can be run once, with the body, when activations are precomputed.
_CACHEABLE = (AdaptiveConcatPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten)


class TransferModel(nn.Module):
    """`head(body(x))`; with `precomputed = True` the input is already the cached features.

    The features are the body's output passed through the head's leading pooling/flatten layers
    (`n_cached` of them): small vectors, cheap to store. Then only the rest of the head runs.
    This is how precompute trains the head alone (fastai 0.7) while the model's state dict and
    layer groups stay the same in both modes.
    """

    def __init__(self, body: nn.Module, head: nn.Module):
        super().__init__()
        self.body = body
        self.head = head if isinstance(head, nn.Sequential) else nn.Sequential(head)
        self.n_cached = 0
        while self.n_cached < len(self.head) and isinstance(self.head[self.n_cached], _CACHEABLE):
            self.n_cached += 1
        self.precomputed = False

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the precompute cache stores for images `x`."""
        return self.head[: self.n_cached](self.body(x))

    def full_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> scores, whatever the mode (TTA and predict_image use this)."""
        return self.head(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.precomputed:
            return self.head[self.n_cached:](x)
        return self.full_forward(x)
