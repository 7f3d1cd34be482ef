"""tune: a small hyper-parameter search, grid or random, over a function that builds a Learner.

    def make_learner(lr, wd):
        return Learner(make_model(), data, wd=wd)

    result = tune(make_learner, {"lr": [1e-3, 1e-2, 1e-1], "wd": [0.0, 0.01]},
                  fit=lambda learn, p: learn.fit_one_cycle(2, p["lr"]))
    print(result)            # one row per trial, best first
    result.best_params       # {'lr': 0.01, 'wd': 0.01}

Each trial: the same seed (so trials differ only in their params), a fresh learner from
`make_learner(**params)`, the same fit recipe (the fixed budget), and `metric` read from the
last epoch. Grid search tries every combination; random search tries `n_trials` distinct ones
(Bergstra & Bengio 2012: random search finds good values in fewer trials when few params
matter). Pruning stops a trial that is clearly worse than the earlier ones at the same epoch
(Optuna's MedianPruner). See docs/tune.md.
"""
from __future__ import annotations

import itertools
import math
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from .callback import Callback, CancelFitException
from .distributed import is_main_process
from .learner import Learner
from .seed import dataloader_generators, set_seed

FitRecipe = Callable[[Learner, dict], None]


def fit_one_cycle_1(learn: Learner, params: dict) -> None:
    """The default recipe: one epoch of one-cycle at `params['lr']`."""
    learn.fit_one_cycle(1, params["lr"])


class MedianPruner:
    """Stop a trial whose metric after epoch e is worse than the median of the earlier trials'
    metric after epoch e (Optuna's MedianPruner). The first `n_startup` trials always run in
    full, and no trial is judged before it has run `n_warmup` epochs."""

    def __init__(self, n_startup: int = 2, n_warmup: int = 1):
        self.n_startup, self.n_warmup = n_startup, n_warmup

    def should_prune(self, curve: list[float], history: list[list[float]], mode: str) -> bool:
        """`curve`: this trial's metric per epoch so far; `history`: the earlier trials' curves."""
        epoch = len(curve) - 1
        earlier = [c[epoch] for c in history if len(c) > epoch and not math.isnan(c[epoch])]
        if len(curve) < self.n_warmup or len(earlier) < max(self.n_startup, 1):
            return False
        return _worse(curve[-1], statistics.median(earlier), mode)


class TrialMonitor(Callback):
    """Record `metric` after every epoch of a trial (over all the fits of its recipe) and stop
    the trial when the pruner says so: then every later fit of the recipe stops at once."""

    order = 70  # after the Recorder (50) has written the epoch's row

    def __init__(self, metric: str, mode: str, pruner: MedianPruner | None,
                 history: list[list[float]]):
        self.metric, self.mode, self.pruner, self.history = metric, mode, pruner, history
        self.curve: list[float] = []
        self.pruned = False

    def before_fit(self):
        if self.pruned:
            raise CancelFitException()

    def after_epoch(self):
        log = self.learn.recorder.log
        if self.metric not in log:
            raise KeyError(f"tune: metric {self.metric!r} is not a column of the epoch table; "
                           f"columns are {list(log)}")
        self.curve.append(float(log[self.metric]))
        pruner = self.pruner
        if pruner is not None and pruner.should_prune(self.curve, self.history, self.mode):
            self.pruned = True
            raise CancelFitException()


class TuneResult:
    """The trials, best first (`table`: one dict per trial), and the best trial's params."""

    def __init__(self, table: list[dict], param_names: list[str], metric: str, mode: str):
        self.table, self.param_names, self.metric, self.mode = table, param_names, metric, mode

    @property
    def best(self) -> dict:
        return self.table[0]

    @property
    def best_params(self) -> dict:
        return {name: self.best[name] for name in self.param_names}

    def __str__(self) -> str:
        cols = [*self.param_names, self.metric, "epochs", "status", "seconds"]
        rows = [[_table_cell(row[c]) for c in cols[:-1]] + [f"{row['seconds']:.2f}"] for row in self.table]
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"TuneResult({len(self.table)} trials, best {self.metric}: " \
               f"{self.best[self.metric]:.6g} with {self.best_params})"


def tune(make_learner: Callable[..., Learner], space: dict[str, list],
         fit: FitRecipe = fit_one_cycle_1, metric: str = "valid_loss", mode: str = "auto",
         n_trials: int | None = None, search: str = "grid", seed: int = 0,
         prune: bool | MedianPruner = False, verbose: bool = True) -> TuneResult:
    """Try combinations of `space` and rank them by `metric` after the last epoch.

    `make_learner(**params)` builds a fresh Learner; `fit(learn, params)` trains it (the same
    budget for every trial). `mode` 'min'/'max'; 'auto' is 'min' for names with 'loss' or
    'error', else 'max'. `prune=True` uses `MedianPruner()`. Pruned trials rank last.
    """
    mode = _check_args(space, metric, mode, search, n_trials)
    trials = _choose(space, search, n_trials, seed)
    pruner = MedianPruner() if prune is True else (prune or None)
    history: list[list[float]] = []
    table, generators = [], {}
    for i, params in enumerate(trials):
        monitor = TrialMonitor(metric, mode, pruner, history)
        row = _run_trial(make_learner, fit, params, seed, monitor, generators)
        history.append(row.pop("curve"))
        table.append(row)
        if verbose and is_main_process():  # under torchrun, one printout
            print(f"trial {i + 1}/{len(trials)} {params}: {metric} {row[metric]:.6g} "
                  f"({row['status']})")
    table.sort(key=lambda r: (r["status"] != "done", _rank_key(r[metric], mode)))
    return TuneResult(table, list(space), metric, mode)


def _run_trial(make_learner: Callable[..., Learner], fit: FitRecipe, params: dict, seed: int,
               monitor: TrialMonitor, generators: dict[int, tuple]) -> dict[str, Any]:
    """One trial: reseed, build, fit with the monitor, and return its row.

    `generators` keeps the start state of every DataLoader generator seen: data built once and
    shared by all trials would otherwise shuffle differently in each trial."""
    start = time.perf_counter()
    set_seed(seed)  # identical init and global-RNG shuffles for every trial
    learn = make_learner(**params)
    for dl in (learn.data.train_dl, getattr(learn.data, "valid_dl", None)):
        for gen in dataloader_generators(dl):
            if id(gen) in generators:
                gen.set_state(generators[id(gen)][1])
            else:  # keep `gen` itself too, so that its id cannot be reused by a new object
                generators[id(gen)] = (gen, gen.get_state())
    try:
        with learn.silent(), learn.added_cbs([monitor]):
            fit(learn, params)
    except Exception as e:
        e.add_note(f"(in tune, the trial with params {params})")
        raise
    if not monitor.curve:
        raise ValueError(f"tune: the trial with params {params} ran no epoch, so it has no "
                         f"{monitor.metric}; check the fit recipe")
    return {**params, monitor.metric: monitor.curve[-1], "epochs": len(monitor.curve),
            "status": "pruned" if monitor.pruned else "done",
            "seconds": time.perf_counter() - start, "curve": monitor.curve}


def _choose(space: dict[str, list], search: str, n_trials: int | None, seed: int) -> list[dict]:
    """The trials' params: the whole grid in order, or `n_trials` distinct random combinations."""
    names, values = list(space), [list(v) for v in space.values()]
    size = math.prod(len(v) for v in values)
    if search == "grid":
        if n_trials is not None and n_trials < size:
            raise ValueError(f"tune: the grid has {size} combinations but n_trials={n_trials}; "
                             "use search='random' to try only some of them")
        return [dict(zip(names, combo)) for combo in itertools.product(*values)]
    picks = random.Random(seed).sample(range(size), min(n_trials, size))
    return [dict(zip(names, _combination(values, i))) for i in picks]


def _combination(values: list[list], index: int) -> list:
    """The `index`-th combination of `itertools.product(*values)`, without building the product."""
    combo = []
    for options in reversed(values):
        index, k = divmod(index, len(options))
        combo.append(options[k])
    return combo[::-1]


def _check_args(space: dict, metric: str, mode: str, search: str, n_trials: int | None) -> str:
    if not isinstance(space, dict) or not space:
        raise ValueError("tune: space must be a non-empty dict {param name: [values to try]}")
    for name, options in space.items():
        if not isinstance(options, (list, tuple)) or len(options) == 0:
            raise ValueError(f"tune: space[{name!r}] must be a non-empty list of values to try, "
                             f"got {options!r}")
    if search not in ("grid", "random"):
        raise ValueError(f"tune: search must be 'grid' or 'random', got {search!r}")
    if search == "random" and (n_trials is None or n_trials < 1):
        raise ValueError(f"tune: search='random' needs n_trials >= 1, got {n_trials!r}")
    if mode == "auto":
        return "min" if ("loss" in metric or "error" in metric) else "max"
    if mode not in ("min", "max"):
        raise ValueError(f"tune: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _worse(value: float, reference: float, mode: str) -> bool:
    if math.isnan(value):
        return True
    return value > reference if mode == "min" else value < reference


def _rank_key(value: float, mode: str) -> tuple[bool, float]:
    """Sort key: best first, NaN (a diverged trial) last."""
    if math.isnan(value):
        return (True, 0.0)
    return (False, value if mode == "min" else -value)


def _table_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
