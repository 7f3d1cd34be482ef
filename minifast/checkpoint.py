"""Saving and loading checkpoints safely: atomic writes, tensor-only loads, checks before changes.

A checkpoint is precious: a crash while writing must never destroy the previous one, a file from
a stranger must not run code (`weights_only=True`), and a checkpoint that does not fit the model
must be refused *before* any weight changes (`load_state_dict` copies the matching tensors before
it complains about the rest).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn


def save_checkpoint(state: dict, path: Union[str, Path]) -> Path:
    """Write `state` with `torch.save` to a temp file beside `path`, then rename it into place.

    `os.replace` is atomic on POSIX and Windows: readers see the old file or the new one, never
    half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: Union[str, Path]) -> dict[str, Any]:
    """Read a checkpoint file with `weights_only=True`: tensors and plain containers only."""
    path = Path(path)
    if not path.is_file():
        saved = sorted(p.stem for p in path.parent.glob("*.pth")) if path.parent.is_dir() else []
        raise FileNotFoundError(f"no checkpoint at {path}; saved names here: {saved or 'none'}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RuntimeError(
            f"could not read checkpoint {path}: it is truncated, corrupt, or holds objects other "
            f"than tensors (refused for safety). Nothing was loaded. Cause: {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}") from e
    if not isinstance(state, dict) or "model" not in state:
        raise RuntimeError(f"{path} is not a minifast checkpoint (no 'model' entry)")
    return state


def check_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Raise a clear error naming missing, unexpected and mis-shaped keys; change nothing."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{source} does not fit this model; nothing was loaded."]
        if missing:
            parts.append(f"missing keys: {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_short(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches: {_short(shapes)}")
        raise ValueError("\n".join(parts))


def load_checkpoint(path: Union[str, Path], model: nn.Module) -> dict[str, Any]:
    """Read and check a checkpoint against `model`; the caller then loads it."""
    state = read_checkpoint(path)
    check_state_dict(model, state["model"], str(path))
    return state


def _short(items: list[str], n: int = 8) -> str:
    more = f" ... and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more

