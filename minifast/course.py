"""What every course notebook repeats, written once: the opening line, the figures, the splits.

Each notebook starts with `nb = Notebook()`, which says how it runs (quick or full mode, torch,
threads), seeds everything and makes a temporary folder for what the notebook writes. Figures are
recorded with `nb.result(name, value)` where they are measured; `nb.finish()` prints the hardware,
the wall time and one `RESULT <name> <value>` line per figure (so anyone can compare runs without
reading prose), then deletes the temporary folder. `over_splits` runs one recipe on several random
splits and prints the mean and the spread, because one split of a few hundred images is not
enough to tell two recipes apart. `try_exercise` runs an exercise's check.
"""
from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .seed import set_seed


class Notebook:
    """The run of one notebook: its mode, its temporary folder, its figures and its clock.

    `quick` is True when `MINIFAST_QUICK=1` (the test suite sets it): every code path runs on a
    tiny subset, so the figures mean nothing and the notebook should not assert them.
    """

    def __init__(self, seed: int = 42):
        os.environ.setdefault("TQDM_DISABLE", "1")  # plain-text epoch tables instead of widgets
        self.quick = os.environ.get("MINIFAST_QUICK") == "1"
        self.work = Path(tempfile.mkdtemp(prefix="minifast_course_"))
        self.results: dict[str, float] = {}
        self.start = time.perf_counter()
        set_seed(seed)
        print(f"{self.mode} mode | torch {torch.__version__} | {torch.get_num_threads()} threads")

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def minutes(self) -> float:
        """Minutes since the notebook started."""
        return (time.perf_counter() - self.start) / 60

    def result(self, name: str, value: float) -> float:
        """Record figure `name` (printed as a RESULT line by `finish`); returns `value`."""
        self.results[name] = float(value)
        return value

    def finish(self) -> dict[str, float]:
        """Print the hardware and wall-time line and the RESULT lines; delete the temporary folder."""
        minutes = self.result("minutes", self.minutes())
        cpu = platform.processor() or platform.machine()
        print(f"hardware: {cpu}, {os.cpu_count()} CPUs | torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads | {self.mode} mode, wall time {minutes:.1f} min")
        for name, value in self.results.items():
            print(f"RESULT {name} {value:.4g}")
        shutil.rmtree(self.work, ignore_errors=True)
        return self.results


def over_splits(run: Callable[[int], dict[str, float]], seeds: Sequence[int]) -> dict[str, np.ndarray]:
    """Run `run(seed)` for each seed and print each figure per split, its mean and its spread.

    `run` makes its own split from `seed` and returns its figures by name ({'recipe': 0.97, ...}).
    Returns {name: array of one value per seed}. The spread (max - min) is the honest error bar:
    two recipes whose means differ by less than it are not told apart by these splits.
    """
    rows = []
    for seed in seeds:
        rows.append(run(seed))
        print(f"split {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in rows[-1].items()), flush=True)
    table = {name: np.array([row[name] for row in rows]) for name in rows[0]}
    for name, values in table.items():
        print(f"{name:>12}: mean {values.mean():.4f}, spread {values.max() - values.min():.4f} "
              f"({values.min():.4f} to {values.max():.4f})")
    return table


def try_exercise(check: Callable[[object], None], answer: object) -> None:
    """Run `check(answer)`; while the answer is still the stub (it raises NotImplementedError),
    say "not done yet" and go on, so a notebook runs from top to bottom before its exercises
    are done. Any other error (a wrong answer) is raised."""
    try:
        check(answer)
    except NotImplementedError as e:
        print("not done yet:", e)
