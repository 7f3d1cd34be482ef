"""Loop overhead in one warm process: the raw loop against Learner variants, fits alternating.

The shared harness (`../shared/bench/overhead_bench.py`) times each fit in a fresh process,
which is what a script pays. This script answers the next question, *which part* costs what: in
one process it alternates the raw loop, a default `Learner`, the `Learner` without one default
callback at a time, and the loop with no default callback, on the harness's problem (MLP
784-128-10, batch 64, 938 pre-batched batches, SGD momentum 0.9, 2 threads), and prints each
variant's fastest fit over the raw loop's fastest.

    python benchmarks/overhead_warm.py --repeats 7
"""
from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

from minifast import Callback, CancelValidException, DataBunch, Learner

DEFAULTS = ("ProgressBar", "Recorder", "InterruptGuard", "TerminateOnNaN")


class SkipValid(Callback):
    """The harness trains only: no validation on either side."""

    def before_validate(self):
        raise CancelValidException()


def problem(n: int = 60000) -> tuple[DataLoader, nn.Module]:
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))
    sampler = BatchSampler(RandomSampler(ds, generator=torch.Generator().manual_seed(1)), 64, False)
    torch.manual_seed(0)
    return DataLoader(ds, sampler=sampler, batch_size=None), nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def raw_fit(dl: DataLoader, model0: nn.Module) -> float:
    model, loss_func = copy.deepcopy(model0), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    model.train()
    for xb, yb in dl:
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return time.perf_counter() - start


def learner_fit(dl: DataLoader, model0: nn.Module, without: tuple[str, ...] = ()) -> float:
    learn = Learner(copy.deepcopy(model0), DataBunch(dl, dl), loss_func=nn.CrossEntropyLoss(),
                    opt_func=lambda p, **kw: torch.optim.SGD(p, lr=0.01, momentum=0.9),
                    metrics=[], cbs=[SkipValid()], wd=0.0)
    learn.remove_cbs([cb for cb in learn.cbs if cb.name in without])
    start = time.perf_counter()
    learn.fit(0.01, 1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fits of each variant")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dl, model0 = problem()
    variants: dict[str, Callable[[], float]] = {
        "raw loop": lambda: raw_fit(dl, model0),
        "Learner, default callbacks": lambda: learner_fit(dl, model0),
        **{f"without {name}": (lambda name=name: learner_fit(dl, model0, (name,))) for name in DEFAULTS},
        "loop only (no default callback)": lambda: learner_fit(dl, model0, DEFAULTS),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fit in variants.items():
            times[name].append(fit())
    base = min(times["raw loop"])
    print("| variant | fastest fit (s) | x raw |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {min(seconds):.4f} | {min(seconds) / base:.3f} |")


if __name__ == "__main__":
    main()
