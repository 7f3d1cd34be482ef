"""Small tensor helpers: which device to use, and moving a batch there."""
from __future__ import annotations

from typing import Any

import torch


def default_device() -> torch.device:
    """CUDA when there is a GPU, else the CPU: notebooks run unchanged on either."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors inside a tuple/list/dict, to `device`."""
    if isinstance(batch, torch.Tensor):
        if batch.device == device:  # already there (CPU training): skip .to() and is_pinned(),
            return batch            # which cost microseconds on every batch
        # non_blocking only helps (and is only safe) when the source is pinned CPU memory
        return batch.to(device, non_blocking=batch.is_pinned())
    if isinstance(batch, (list, tuple)):
        return type(batch)([to_device(b, device) for b in batch])
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
