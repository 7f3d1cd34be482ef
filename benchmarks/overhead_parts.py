"""What each part of `Learner.fit`'s per-batch work costs, against the raw loop, in one process.

The shared harness (`../shared/bench/overhead_bench.py`) gives one figure for the whole fit. To
see what it is made of, this script trains the harness's model (MLP 784-128-10, batch 64, its
pre-batched loader, SGD momentum 0.9) with several Learners that differ in one thing, round-robin
with the raw loop in one process (the order reversed every other round, so a slow spell of the
shared machine hits every side), and prints for each side the ratio of minima, the ratio of the
fastest halves and the microseconds per batch above the raw loop:

    all              the Learner's five default callbacks
    -Recorder ...    the defaults without that one
    TrainEval only   no per-batch callback: the loop's own events
    no-op handlers   TrainEval, plus empty methods at the per-batch events the four others
                     handle (six calls a batch): what calling them costs, without their bodies

    uptime
    python benchmarks/overhead_parts.py --rounds 16
    python benchmarks/overhead_parts.py --rounds 1 --n 640      # a smoke run (CI)

In one process the figures come out near the harness's (fresh processes); they are for
comparing the sides with each other. docs/benchmarks.md has a run.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from benchmarks.import_after_warmup import HARNESS, fastest_half_mean, load_harness  # noqa: E402
from benchmarks.instructions import DEFAULTS, SkipValid  # noqa: E402
from minifast import Callback, DataBunch, Learner  # noqa: E402

PER_BATCH_DEFAULTS = list(DEFAULTS.values())  # every default but TrainEval runs at every batch


class NoOpRecorder(Callback):
    """Where the Recorder reads the loss, an empty method."""

    def after_loss(self):
        pass


class NoOpNaN(Callback):
    """Where TerminateOnNaN checks the loss (and, if asked, the gradients), empty methods."""

    def after_loss(self):
        pass

    def before_step(self):
        pass


class NoOpGuard(Callback):
    """Where InterruptGuard holds and releases Ctrl-C, empty methods."""

    def before_step(self):
        pass

    def after_step(self):
        pass


class NoOpBar(Callback):
    """Where ProgressBar moves its bar, an empty method."""

    def after_batch(self):
        pass


def sides(h, dl, lr: float) -> dict:
    """name -> a function that trains a fresh copy of the model for one epoch and returns seconds."""
    model0, loss_fn = h.make_model("mlp"), torch.nn.CrossEntropyLoss()
    make_opt = lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9)  # noqa: E731

    def raw() -> float:
        model = copy.deepcopy(model0)
        opt = make_opt(model.parameters())
        start = time.perf_counter()
        h.plain_steps(model, dl, opt, loss_fn)
        return time.perf_counter() - start

    def learner(drop=(), add=()):
        def fit() -> float:
            learn = Learner(copy.deepcopy(model0), DataBunch(dl, dl), loss_func=loss_fn,
                            opt_func=lambda params, **kw: make_opt(params), metrics=[],
                            cbs=[SkipValid(), *add], wd=0.0)
            learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, tuple(drop))])
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                start = time.perf_counter()  # the bar draws on stderr; the epoch table goes
                learn.fit(lr, 1)             # to stdout, once per fit, and is not shown
                return time.perf_counter() - start
        return fit

    out = {"raw": raw, "all": learner()}
    for cls in PER_BATCH_DEFAULTS:
        out[f"-{cls.__name__}"] = learner(drop=[cls])
    out["TrainEval only"] = learner(drop=PER_BATCH_DEFAULTS)
    no_ops = [NoOpRecorder(), NoOpNaN(), NoOpGuard(), NoOpBar()]
    out["no-op handlers"] = learner(drop=PER_BATCH_DEFAULTS, add=no_ops)
    return out


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=16, help="fits of each side (default 16)")
    p.add_argument("--n", type=int, default=60000, help="samples, 64 per batch (default 60000)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--harness", type=Path, default=HARNESS)
    a = p.parse_args(argv)
    if not a.harness.exists():
        p.error(f"the shared harness is not at {a.harness}; pass --harness PATH")
    if a.rounds < 1 or a.n < 64:
        p.error("--rounds must be at least 1 and --n at least 64 (one batch)")
    torch.set_num_threads(a.threads)
    h = load_harness(a.harness)
    dl = h.make_loader(h.make_data(a.n, 0), 64, "batched", 0)
    fits = sides(h, dl, lr=0.01)
    for fit in fits.values():  # warm-up: torch's one-off costs, and each side's first fit
        fit()
    times: dict[str, list[float]] = {name: [] for name in fits}
    for r in range(a.rounds):
        for name in (list(fits) if r % 2 == 0 else list(fits)[::-1]):
            times[name].append(fits[name]())
    raw_min, raw_half, n_batches = min(times["raw"]), fastest_half_mean(times["raw"]), len(dl)
    print(f"{a.rounds} rounds, {n_batches} batches, {a.threads} threads")
    print("| side | ratio of minima | ratio of fastest halves | us per batch above raw |")
    print("|---|---|---|---|")
    for name, t in times.items():
        half = fastest_half_mean(t)
        print(f"| {name} | {min(t) / raw_min:.3f} | {half / raw_half:.3f} | "
              f"{(half - raw_half) / n_batches * 1e6:+.1f} |")
    return times


if __name__ == "__main__":
    main()
