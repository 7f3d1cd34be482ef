"""Saving and loading checkpoints safely: atomic writes, checksums, tensor-only loads, checks first.

A checkpoint is precious: a crash while writing must never destroy the previous one (nor leave
its full-size temp file behind for ever), a file from a stranger must not run code
(`weights_only=True`), a file damaged on disk must be noticed (a checksum), and a checkpoint
that does not fit the model or the optimiser must be refused *before* anything changes
(`load_state_dict` copies the matching tensors before it complains about the rest).
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Temp files are `.<name>.<pid>-<host>.<random>.tmp`: the writer's pid and (a hash of) its host
# name say whether the writer still lives. Older temp files have no pid: only their age counts.
HOST_ID = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
TEMP_NAME = re.compile(r"^\..+?\.(?:(?P<pid>\d+)-(?P<host>[0-9a-f]{8})\.)?[a-z0-9_]{8}\.tmp$")
STALE_AFTER_S = 600  # a temp file untouched this long belongs to a save that died


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write `state` plus its checksum to a temp file beside `path`, then rename it into place.

    `os.replace` is atomic on POSIX and Windows: readers see the old file or the new one, never
    half of one. Temp files left by saves killed earlier (kill -9, power loss) are removed first.
    """
    path = Path(path)
    state = {**state, "checksum": checksum(state)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-{HOST_ID}.",
                                   suffix=".tmp")
    except OSError as e:  # a read-only data folder (fastai 0.7 puts models/ next to the data)
        raise OSError(e.errno, f"cannot write {path} ({e.strerror or e}); nothing was written. "
                      "Give the learner a writable folder: Learner(..., path='some/dir') or "
                      "ConvLearner.pretrained(..., path='some/dir')") from e
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        os_error = _os_error_in(e) if isinstance(e, Exception) else None
        if os_error is None:
            raise
        raise OSError(os_error.errno, _write_failure(path, os_error)) from e
    return path


def _os_error_in(e: BaseException) -> OSError | None:
    """The OSError behind `e`, if any: torch.save turns a failed write into its own
    RuntimeError ("[enforce fail at inline_container.cc] unexpected pos"), naming neither the
    file nor the cause, with the OSError only as its context."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _write_failure(path: Path, e: OSError) -> str:
    """A message for a write that failed: the file, the cause, and that nothing was lost."""
    kept = (f"{path} is unchanged (the old file is kept)" if path.exists() else
            f"no file was written at {path}")
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        try:
            free = f"{shutil.disk_usage(path.parent).free / 2**20:,.1f} MiB free"
        except OSError:
            free = "free space unknown"
        cause = f"the disk holding {path.parent} is full ({free}; {e.strerror or e})"
        fix = "Free some space, or give another folder (Learner(..., path='some/dir')), and save again"
    else:
        cause = f"{e.strerror or e}"
        fix = "Check the folder and save again"
    return f"could not write {path}: {cause}. Nothing was lost: {kept}. {fix}"


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete this folder's checkpoint temp files whose writer is dead or that are old.

    A save killed by SIGKILL cannot clean up after itself: its temp file is as large as the
    checkpoint. A writer on this host with a pid that no longer runs is dead; a file untouched
    for `STALE_AFTER_S` seconds (or from another host) is stale. Live saves are never touched.
    """
    removed, now = [], time.time()
    for tmp in folder.glob(".*.tmp"):
        match = TEMP_NAME.match(tmp.name)
        if match is None:
            continue  # not ours
        dead = match["host"] == HOST_ID and not pid_alive(int(match["pid"]))
        try:
            if dead or now - tmp.stat().st_mtime > STALE_AFTER_S:
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:  # another process cleaned it up first
            pass
    return removed


def pid_alive(pid: int) -> bool:
    """Is process `pid` running? Used to tell a writer that died (kill -9) from a live one, here
    and by the data downloads and resizes, which leave their own temp files."""
    if os.name == "nt":
        return True  # os.kill(pid, 0) would end the process on Windows: never clean there
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def checksum(state: Any) -> str:
    """SHA-256 over every tensor's dtype, shape and bytes and every plain value, in order.

    Why: torch.load does not check the data it reads; a flipped bit in a weight loads silently.
    The top-level "checksum" entry itself is left out. Cost: docs/fault_tolerance.md.
    """
    h = hashlib.sha256()
    if isinstance(state, dict):
        state = {k: v for k, v in state.items() if k != "checksum"}
    _feed(h, state)
    return h.hexdigest()


def _feed(h, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # the raw bytes, any dtype
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            h.update(repr(key).encode())
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__}{len(obj)}".encode())
        for item in obj:
            _feed(h, item)
    else:
        h.update(repr(obj).encode())


def read_checkpoint(path: str | Path, kind: str = "model") -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True` (tensors and plain containers only) and verify
    its checksum; `kind` is the entry it must have. The checksum entry is removed."""
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
    if not isinstance(state, dict) or kind not in state:
        raise RuntimeError(f"{path} is not a minifast checkpoint (no {kind!r} entry)")
    stored = state.pop("checksum", None)  # files written before checksums existed have none
    if stored is not None and checksum(state) != stored:
        raise RuntimeError(f"checkpoint {path} is damaged: its data does not match the checksum "
                           "written with it (a changed byte on disk or in a copy). Nothing was "
                           "loaded; use another checkpoint or copy the file again.")
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


# Group entries that only select an implementation or that newer torch versions add: not part
# of what the optimiser *is*, so they may differ between a checkpoint and this optimiser.
OPT_FLAGS = {"params", "foreach", "maximize", "capturable", "differentiable", "fused",
             "decoupled_weight_decay", "initial_lr"}


def check_opt_state(opt: torch.optim.Optimizer, saved: dict, source: str,
                    saved_type: str = "") -> None:
    """Refuse an optimiser state that `opt.load_state_dict` would half-load or that would break
    the next step: another optimiser type (SGD's `momentum_buffer` vs AdamW's `exp_avg`, `betas`),
    another number of param groups, or other parameter counts or shapes per group."""
    own, fix = opt.state_dict(), "load only the weights with learn.load(name, with_opt=False)"
    mine = type(opt).__name__
    if saved_type and saved_type != mine:
        raise ValueError(f"{source} holds the state of a {saved_type} optimiser, this learner uses "
                         f"{mine}: its moments do not apply; nothing was loaded. To {fix}")
    groups, own_groups = saved["param_groups"], own["param_groups"]
    if len(groups) != len(own_groups):
        raise ValueError(f"{source} has {len(groups)} optimiser param group(s), this optimiser "
                         f"{len(own_groups)} (one per layer group); nothing was loaded. Build the "
                         f"learner with the same layer_groups, or {fix}")
    for i, (g, mine_g) in enumerate(zip(groups, own_groups)):
        keys, own_keys = set(g) - OPT_FLAGS, set(mine_g) - OPT_FLAGS
        if keys != own_keys:
            raise ValueError(f"{source}: param group {i} has settings {sorted(keys)}, this "
                             f"{mine} has {sorted(own_keys)}: another optimiser type; nothing was "
                             f"loaded. Use the same opt_func, or {fix}")
        if len(g["params"]) != len(mine_g["params"]):
            raise ValueError(f"{source}: param group {i} has {len(g['params'])} parameter tensors,"
                             f" this optimiser {len(mine_g['params'])}; nothing was loaded")
    _check_opt_tensors(opt, saved, source)


def _check_opt_tensors(opt: torch.optim.Optimizer, saved: dict, source: str) -> None:
    """Each saved per-parameter buffer shaped like a parameter must have that parameter's shape."""
    params = [p for group in opt.param_groups for p in group["params"]]
    ids = [i for group in saved["param_groups"] for i in group["params"]]
    for param, idx in zip(params, ids):
        for name, value in saved["state"].get(idx, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                raise ValueError(f"{source}: optimiser buffer {name!r} of parameter {idx} has "
                                 f"shape {tuple(value.shape)}, the parameter {tuple(param.shape)};"
                                 " nothing was loaded")


def load_checkpoint(path: str | Path, model: nn.Module) -> dict[str, Any]:
    """Read and check a checkpoint against `model`; the caller then loads it."""
    state = read_checkpoint(path)
    check_state_dict(model, state["model"], str(path))
    return state


def _short(items: list[str], n: int = 8) -> str:
    more = f" ... and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more
