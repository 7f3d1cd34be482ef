"""Small tensor helpers: which device to use, and moving a batch there."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def default_device() -> torch.device:
    """The fastest device here: a CUDA GPU, then Apple's MPS (M-series Macs), then the CPU.

    Why this order: notebooks run unchanged on a GPU server, a student's Mac or a plain laptop.
    Pass `device=` to a Learner to choose; docs/devices.md says what has run where.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors inside a tuple/list/dict, to `device`."""
    if isinstance(batch, torch.Tensor):
        if batch.device == device:  # already there (CPU training): skip .to() and is_pinned(),
            return batch            # which would run on every batch (docs/benchmarks.md)
        # non_blocking only helps (and is only safe) when the source is pinned CPU memory
        return batch.to(device, non_blocking=batch.is_pinned())
    if isinstance(batch, (list, tuple)):
        return type(batch)([to_device(b, device) for b in batch])
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def check_not_empty(dl, what: str) -> None:
    """A clear error for a DataLoader with no batches, before a loop silently does nothing."""
    if dl is None or len(dl) == 0:
        raise ValueError(f"{what} is empty (0 batches): give the DataLoader at least one batch"
                         " (with drop_last=True, the data set must hold at least batch_size items)")


def default_activation(loss_func) -> Callable[[torch.Tensor], torch.Tensor]:
    """Softmax for a cross-entropy loss (predictions become probabilities), else identity."""
    is_ce = isinstance(loss_func, torch.nn.CrossEntropyLoss) or loss_func is torch.nn.functional.cross_entropy
    return (lambda out: torch.softmax(out, dim=1)) if is_ce else (lambda out: out)


def batch_size(yb) -> int:
    """How many samples a batch holds, read from its targets (the first, if there are several)."""
    if isinstance(yb, (list, tuple)):
        yb = yb[0]
    return yb.shape[0] if isinstance(yb, torch.Tensor) else len(yb)  # .shape: cheaper than len
