"""What `learn.save` writes and `learn.load` reads: weights, optimiser, and the state of the run.

A checkpoint holds the model and optimiser state and, so that `fit(..., resume=name)` can go on
where a run stopped (callbacks/resume.py): the epochs done, a description of the fit (epoch count
and schedule), the lr of the last batch done (`lr_trace`), every random generator's state, and
the state of each callback that has one (`state_dict()`: EarlyStopping's best value and patience,
SaveModel's best value...).
The file itself is written and read by checkpoint.py: atomically, checksummed, tensors only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import check_opt_state, load_checkpoint
from .distributed import save_on_main
from .loop import Loop  # the hints name the Learner's base: learner.py imports this file
from .schedule import ParamScheduler
from .seed import get_rng_states


def epochs_done(learn: Loop) -> int:
    """Epochs completed so far in the current (or last) fit: the last Recorder row's epoch + 1.

    The Recorder writes a row at the end of each epoch, so a fit stopped mid-epoch (Ctrl-C)
    counts only its whole epochs.
    """
    recorder = learn.recorder
    rows = getattr(recorder, "values", None) if recorder is not None else None
    return int(rows[-1][0]) + 1 if rows else learn.start_epoch


def named_dls(learn: Loop) -> dict[str, Any]:
    """The learner's DataLoaders by name (a learner built for inference may have none)."""
    names = ("train_dl", "valid_dl")
    return {n: getattr(learn.data, n) for n in names if getattr(learn.data, n, None) is not None}


def fit_description(learn: Loop) -> dict[str, Any]:
    """The fit's plan: `n_epoch` and the registered ParamScheduler's class and plain arguments
    (None without one). A resume compares it with the new fit's: the lr is a function of both."""
    sched = next((cb for cb in learn.cbs if isinstance(cb, ParamScheduler)), None)
    if sched is None:
        return {"n_epoch": learn.n_epoch, "schedule": None}
    args = {k: plain(v) for k, v in sorted(vars(sched).items()) if k != "learn"}
    return {"n_epoch": learn.n_epoch,
            "schedule": {"class": sched.name, **{k: v for k, v in args.items() if v is not None}}}


def plain(value: Any) -> Any:
    """`value` as floats, ints, strings and lists (loadable with weights_only), or None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [plain(v) for v in np.asarray(value, dtype=object).ravel().tolist()]
        return None if any(v is None for v in items) else items
    if isinstance(value, slice):
        return f"slice({value.start}, {value.stop})"
    return None  # functions and other objects: left out of the description


def lr_trace(learn: Loop) -> dict[str, Any] | None:
    """The lr of the last training batch of the epochs done, and whether the lr varied before it.

    Read from the Recorder, which keeps the last fit's lrs after the fit; the fit's schedule
    callback is gone by then, so `learn.save` after a stopped fit (Ctrl-C) cannot describe it.
    A resume compares this lr with the new fit's at the same batch (callbacks/resume.py). None
    when the Recorder does not hold that batch (no fit yet, or its record was replaced).
    """
    recorder, dl = learn.recorder, getattr(learn.data, "train_dl", None)
    lrs = getattr(recorder, "lrs", None) if recorder is not None else None
    if not lrs or dl is None or len(dl) == 0:
        return None
    n_iter, done = len(dl), epochs_done(learn)
    last = (done - learn.start_epoch) * n_iter - 1  # its index in this fit's record
    if not 0 <= last < len(lrs):
        return None
    seen = lrs[:last + 1]
    return {"step": done * n_iter - 1, "n_iter": n_iter, "lrs": [float(v) for v in lrs[last]],
            "varied": any(v != seen[0] for v in seen)}


def stateful_callbacks(learn: Loop) -> dict[str, Any]:
    """`{key: cb}` for every callback with `state_dict`/`load_state_dict` methods, in order. The key
    is the class name, with `_1`, `_2`... for a second, third instance of the same class."""
    found, seen = {}, {}
    for cb in learn.cbs:
        if callable(getattr(cb, "state_dict", None)):
            n = seen[cb.name] = seen.get(cb.name, -1) + 1
            found[cb.name if n == 0 else f"{cb.name}_{n}"] = cb
    return found


def training_state(learn: Loop) -> dict[str, Any]:
    """The entries `learn.save` adds for a resume: epochs done, the fit's plan, RNG and callback
    states. `n_epoch` is kept for checkpoints read by older code."""
    return {"epoch": epochs_done(learn), "n_epoch": learn.n_epoch, "fit": fit_description(learn),
            "lr_trace": lr_trace(learn), "rng": get_rng_states(named_dls(learn)),
            "cbs": {key: cb.state_dict() for key, cb in stateful_callbacks(learn).items()}}


def save_learner(learn: Loop, name: str, with_opt: bool = True,
                 extra: dict | None = None) -> Path:
    """`learn.save(name)`: model (and optimiser) state plus what a resume needs, written atomically
    to `<learn.path>/models/<name>.pth`. Under DDP every rank calls it and only rank 0 writes."""
    state = {"model": learn.model.state_dict()}
    if with_opt and learn.opt is not None:
        state["opt"], state["opt_type"] = learn.opt.state_dict(), type(learn.opt).__name__
    state.update(training_state(learn))
    state.update(extra or {})
    return save_on_main(state, learn.path / "models" / f"{name}.pth")


def read_and_check(learn: Loop, name: str, with_opt: bool = True) -> dict:
    """Read checkpoint `name` and check model and optimiser state against this learner: every
    check runs before anything is loaded, so a refusal changes nothing."""
    path = learn.path / "models" / f"{name}.pth"
    state = load_checkpoint(path, learn.model)  # model keys and shapes
    if with_opt and "opt" in state:
        if learn.opt is None:
            learn.create_opt()
        check_opt_state(learn.opt, state["opt"], str(path), state.get("opt_type", ""))
    return state


def load_states(learn: Loop, state: dict, with_opt: bool = True) -> None:
    """Load a checked state's model (and optimiser) into the learner."""
    learn.model.load_state_dict(state["model"])
    if with_opt and "opt" in state:
        learn.opt.load_state_dict(state["opt"])


def load_learner_state(learn: Loop, name: str, with_opt: bool = True) -> dict:
    """`learn.load(name)`: read, check, then load; refuses (and changes nothing) on any mismatch."""
    state = read_and_check(learn, name, with_opt)
    load_states(learn, state, with_opt)
    return state
