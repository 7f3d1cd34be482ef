"""Checkpoint-and-resume: what a checkpoint must hold for a resumed run to equal an unbroken one.

Model and optimiser state are not enough. A resumed run must also know how many epochs are done
(the schedules are functions of `pct_train = epoch / n_epoch`, so the epoch count *is* the
schedule position) and must draw the same random numbers — the next epoch's shuffle, dropout
masks, augmentations — which needs every generator's state. `learn.save` stores `training_state`
beside the weights; `learn.fit(..., resume=name)` calls `resume_training`, which loads it all and
returns the epoch to start from. Idea: Lightning's and fastai's "resume from checkpoint".
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .save_load import named_dls
from .seed import set_rng_states

if TYPE_CHECKING:
    from .learner import Learner


def resume_training(learn: "Learner", name: str, n_epoch: int) -> int:
    """Load checkpoint `name` (model, optimiser, RNG states) and return the epoch to restart at.

    Called by `fit(..., resume=name)` before the loop starts, so that the first random draw of
    the resumed run is the one the unbroken run made at that epoch boundary.
    """
    from .checkpoint import check_state_dict, read_checkpoint

    path = learn.path / "models" / f"{name}.pth"
    saved = read_checkpoint(path)  # read (and refuse) before anything changes
    if "epoch" not in saved or "rng" not in saved:
        raise ValueError(f"{path} has no training state (epoch, RNG states) to resume from: "
                         "it was not written by learn.save / SaveModel; to use only its weights, "
                         "call learn.load(name)")
    if "opt" not in saved:
        raise ValueError(f"{path} was saved with with_opt=False: resuming needs the optimiser "
                         "state too; save with learn.save(name, with_opt=True)")
    start = int(saved["epoch"])
    if start >= n_epoch:
        raise ValueError(f"checkpoint {name!r} has {start} epoch(s) done, so a fit of {n_epoch} "
                         f"epoch(s) has nothing left to do: ask for more than {start} epochs")
    check_state_dict(learn.model, saved["model"], str(path))  # refuse before changing anything
    set_rng_states(saved["rng"], named_dls(learn))  # checks the DataLoaders, then restores
    learn.load(name, with_opt=True)
    return start
