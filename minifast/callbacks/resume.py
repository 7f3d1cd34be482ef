"""Resume: continue a run from a checkpoint so that it equals the run that was never stopped.

Model and optimiser state are not enough. A resumed run must also know how many epochs are done
(the schedules are functions of the position in the fit, so the epoch count *is* the schedule
position), must follow the same plan (a one-cycle over 10 epochs is another lr curve than over 12),
must draw the same random numbers (the next shuffle, dropout masks, augmentations: every
generator's state), and its callbacks must remember what they knew (EarlyStopping's best value and
patience, SaveModel's best value). `learn.save` stores all of it (save_load.py); this callback
checks it all first, then loads it. `learn.fit(..., resume=name)` adds one for that fit.
Idea: Lightning's and fastai's "resume from checkpoint".
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..callback import Callback
from ..messages import MinifastWarning
from ..save_load import fit_description, load_states, named_dls, read_and_check, stateful_callbacks
from ..schedule import ParamScheduler
from ..seed import set_rng_states


class Resume(Callback):
    """Start this fit where the run saved as `<learn.path>/models/<name>.pth` stopped.

    `before_fit` reads and checks the checkpoint before changing anything, then loads the model,
    the optimiser (keeping this fit's lrs and wds) and the RNG states, and sets
    `learn.start_epoch`, from which the loop starts. Callback states are put back at the first
    `before_epoch`, after every callback's own `before_fit` has reset it.
    """

    order = -30  # first: the others' before_fit see the saved model, optimiser and epoch

    def __init__(self, name: str):
        self.fname, self.pending = name, None

    def before_fit(self):
        learn = self.learn
        path = learn.path / "models" / f"{self.fname}.pth"
        saved = read_and_check(learn, self.fname)  # model and optimiser checks
        check_resumable(saved, path, learn)
        set_rng_states(saved["rng"], named_dls(learn))  # checks the DataLoaders, then restores
        # fit_epochs set this fit's lrs and wds; the optimiser state carries the old run's
        this_fit = [(g["lr"], g["weight_decay"]) for g in learn.opt.param_groups]
        load_states(learn, saved)
        for group, (lr, wd) in zip(learn.opt.param_groups, this_fit):
            group["lr"], group["weight_decay"] = lr, wd
        self.pending = saved.get("cbs", {})
        unknown = sorted(set(self.pending) - set(stateful_callbacks(learn)))
        if unknown:
            warnings.warn(f"{path} holds the state of {unknown}, which this fit does not have: "
                          "that state is not used", MinifastWarning, stacklevel=2)
        learn.start_epoch = int(saved["epoch"])

    def before_epoch(self):
        if self.pending is None:
            return
        for key, cb in stateful_callbacks(self.learn).items():  # the keys learn.save used
            if key in self.pending:
                cb.load_state_dict(self.pending[key])
        self.pending = None


def check_resumable(saved: dict, path: Path, learn) -> None:
    """Refuse a checkpoint this fit cannot continue: no training state, no optimiser state, no
    epochs left, or another plan (epoch count or schedule) — the lr would jump."""
    if "epoch" not in saved or "rng" not in saved:
        raise ValueError(f"{path} has no training state (epoch, RNG states) to resume from: "
                         "it was not written by learn.save / SaveModel; to use only its weights, "
                         "call learn.load(name)")
    if "opt" not in saved:
        raise ValueError(f"{path} was saved with with_opt=False: resuming needs the optimiser "
                         "state too; save with learn.save(name, with_opt=True)")
    start, n_epoch = int(saved["epoch"]), learn.n_epoch
    if start >= n_epoch:
        raise ValueError(f"checkpoint {path.stem!r} has {start} epoch(s) done, so a fit of "
                         f"{n_epoch} epoch(s) has nothing left to do: ask for more than {start} "
                         "epochs")
    check_same_plan(saved.get("fit"), fit_description(learn), path)
    check_lr_continues(saved.get("lr_trace"), path, learn)


def check_same_plan(old, new: dict, path: Path) -> None:
    """Refuse another schedule or epoch count than the saved fit's description (written when
    the schedule was there to describe: by SaveModel during the fit)."""
    if old is None or (old["schedule"] is None and new["schedule"] is None):
        return  # constant lr (or an old file): the epoch count does not change the lr
    if old["schedule"] is not None and old["schedule"] != new["schedule"]:
        raise ValueError(f"{path} was saved by a fit with schedule {old['schedule']}, this fit has "
                         f"{new['schedule']}: resuming would make the lr jump. Resume with the "
                         "same call (same schedule and arguments) as the saved run")
    if old["n_epoch"] != new["n_epoch"]:
        raise ValueError(f"{path} was saved by a fit of {old['n_epoch']} epochs, this fit has "
                         f"{new['n_epoch']}: the schedule would be another curve and the lr would "
                         f"jump. Resume with n_epoch={old['n_epoch']}")


def check_lr_continues(trace, path: Path, learn) -> None:
    """Refuse a fit whose plan gives another lr than the saved run had at its last batch done,
    when the saved run's lr varied (a schedule). This is what catches a checkpoint written by
    `learn.save` after a stopped fit, whose description no longer names the schedule. A saved
    constant lr may be changed on purpose: that is allowed."""
    if not trace or not trace["varied"] or trace["n_iter"] != len(learn.data.train_dl):
        return
    step, n_groups = trace["step"], len(learn.opt.param_groups)
    sched = next((cb for cb in learn.cbs if isinstance(cb, ParamScheduler)), None)
    if sched is not None:
        lrs = sched.hypers_at(step, trace["n_iter"], learn.n_epoch, n_groups)["lr"]
    else:
        lrs = [g["lr"] for g in learn.opt.param_groups]
    if len(lrs) != len(trace["lrs"]) or not np.allclose(lrs, trace["lrs"], rtol=1e-6, atol=0):
        raise ValueError(f"{path}: the saved run's lr at its last batch done (batch {step} of the "
                         f"fit) was {_fmt(trace['lrs'])}, a scheduled lr; this fit gives "
                         f"{_fmt(lrs)} there, so resuming would make the lr jump. Resume with the "
                         "same call (same schedule, epochs and lrs) as the saved run")


def _fmt(lrs) -> str:
    return ", ".join(f"{float(v):.4g}" for v in lrs)
