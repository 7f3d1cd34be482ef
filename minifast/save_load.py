"""What `learn.save` writes and `learn.load` reads: weights, optimiser, and the state of the run.

A checkpoint holds the model and optimiser state and, so that `fit(..., resume=name)` can go on
where a run stopped, the epochs done and every random generator's state (see resume.py).
The file itself is written and read by checkpoint.py: atomically, tensors only.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .checkpoint import load_checkpoint
from .distributed import save_on_main, unwrap_model
from .seed import get_rng_states

if TYPE_CHECKING:
    from .learner import Learner


def epochs_done(learn: "Learner") -> int:
    """Epochs completed so far in the current (or last) fit: the last Recorder row's epoch + 1.

    The Recorder writes a row at the end of each epoch, so a fit stopped mid-epoch (Ctrl-C)
    counts only its whole epochs.
    """
    recorder = learn.recorder
    rows = getattr(recorder, "values", None) if recorder is not None else None
    return int(rows[-1][0]) + 1 if rows else learn.start_epoch


def named_dls(learn: "Learner") -> dict[str, Any]:
    """The learner's DataLoaders by name (a learner built for inference may have none)."""
    names = ("train_dl", "valid_dl")
    return {n: getattr(learn.data, n) for n in names if getattr(learn.data, n, None) is not None}


def training_state(learn: "Learner") -> dict[str, Any]:
    """The entries `learn.save` adds to a checkpoint: epochs done, planned epochs, RNG states."""
    return {"epoch": epochs_done(learn), "n_epoch": learn.n_epoch,
            "rng": get_rng_states(named_dls(learn))}


def save_learner(learn: "Learner", name: str, with_opt: bool = True, extra: Optional[dict] = None) -> Path:
    """`learn.save(name)`: model (and optimiser) state plus what a resume needs, written atomically
    to `<learn.path>/models/<name>.pth`. Under DDP every rank calls it and only rank 0 writes."""
    state = {"model": unwrap_model(learn.model).state_dict()}
    if with_opt and learn.opt is not None:
        state["opt"] = learn.opt.state_dict()
    state.update(training_state(learn))  # epochs done + RNG states: what resume needs
    state.update(extra or {})
    return save_on_main(state, learn.path / "models" / f"{name}.pth")


def load_learner_state(learn: "Learner", name: str, with_opt: bool = True) -> dict:
    """`learn.load(name)`: read, check, then load; refuses (and changes nothing) on any mismatch."""
    model = unwrap_model(learn.model)  # the plain model, also while DDP wraps it
    state = load_checkpoint(learn.path / "models" / f"{name}.pth", model)
    model.load_state_dict(state["model"])
    if with_opt and "opt" in state:
        if learn.opt is None:
            learn.create_opt()
        learn.opt.load_state_dict(state["opt"])
    return state
