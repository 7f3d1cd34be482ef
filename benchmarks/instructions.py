"""Loop overhead in CPU instructions (callgrind): deterministic where wall time is noise.

On a shared 2-core machine a fit's wall time moves by several per cent from run to run, as much
as the overhead we want to see. The number of instructions a fit executes does not move: under
valgrind's callgrind it is the same on every run, whatever else the machine does. So this script
counts them for the overhead harness's configuration (`../shared/bench/overhead_bench.py`: MLP
784-128-10, batch 64, pre-batched `DataLoader`, SGD momentum 0.9, one torch thread).

    # one count: instructions of one fit of N batches (only the fit is counted)
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \\
        --callgrind-out-file=cg.out python benchmarks/instructions.py loop default-prog 210
    grep ^summary cg.out
    # per batch = (count at 210 batches - count at 10 batches) / 200, so per-fit costs cancel
    # (fewer batches in between leave a run-to-run variation of ~1.4M instructions in the figure)

    # each per-batch piece of framework work alone (one callgrind part per piece, 200 calls each)
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \\
        --dump-after=functools_reduce --callgrind-out-file=pieces.out \\
        python benchmarks/instructions.py pieces
    python benchmarks/instructions.py report pieces.out     # instructions per call, per piece

`loop` variants: `raw` (the plain PyTorch loop), `default` (Learner with its default callbacks),
`bare` (TrainEval only), or `default-nan-guard` style names: the defaults minus some of
`nan` (TerminateOnNaN), `guard` (InterruptGuard), `rec` (Recorder), `prog` (ProgressBar).
Only the code inside `functools.reduce` is counted: that C function is the toggle. Without
valgrind the script just runs (that is what `--smoke` tests check). Results: docs/benchmarks.md.
"""
from __future__ import annotations

import copy
import functools
import math
import os
import re
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: find profile_overhead.py
from profile_overhead import mid_epoch_learner  # noqa: E402

from minifast import Callback, CancelValidException, DataBunch, Learner  # noqa: E402
from minifast.callback import CancelBatchException  # noqa: E402
from minifast.callbacks.nan import TerminateOnNaN  # noqa: E402
from minifast.callbacks.progress import ProgressBar, _Bar  # noqa: E402
from minifast.callbacks.recorder import Recorder  # noqa: E402
from minifast.hyper import get_hyper  # noqa: E402
from minifast.interrupt import InterruptGuard  # noqa: E402
from minifast.torch_utils import batch_size, to_device  # noqa: E402

DEFAULTS = {"nan": TerminateOnNaN, "guard": InterruptGuard, "rec": Recorder, "prog": ProgressBar}
PIECE_CALLS = 200


def counted(fn) -> None:
    """Run `fn()` inside `functools.reduce`, the C function that toggles callgrind's counting."""
    functools.reduce(lambda a, b: fn(), [0, 0])


def harness_setup(n_batches: int):
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(64 * n_batches, 1, 28, 28, generator=g),
                       torch.randint(0, 10, (64 * n_batches,), generator=g))
    sampler = BatchSampler(RandomSampler(ds, generator=torch.Generator().manual_seed(1)), 64, False)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    return DataLoader(ds, sampler=sampler, batch_size=None), model


class SkipValid(Callback):
    def before_validate(self):
        raise CancelValidException()


def loop(variant: str, n_batches: int) -> None:
    """One fit of `n_batches`, counted; the first 5 batches run uncounted on a copy (warm-up)."""
    dl, model = harness_setup(n_batches)
    loss_func, make_opt = nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)
    warm = copy.deepcopy(model)  # same shapes; the counted model keeps its initial weights
    warm_opt = make_opt(warm.parameters())
    for _, (xb, yb) in zip(range(5), dl):
        loss_func(warm(xb), yb).backward()
        warm_opt.step()
    if variant == "raw":
        def fit():
            opt = make_opt(model.parameters())
            model.train()
            for xb, yb in dl:
                loss = loss_func(model(xb), yb)
                loss.backward()
                opt.step()
                opt.zero_grad()
    else:
        learn = Learner(model, DataBunch(dl, dl), loss_func=loss_func, metrics=[], wd=0.0,
                        opt_func=lambda params, **kw: make_opt(params), cbs=[SkipValid()])
        drop = list(DEFAULTS) if variant == "bare" else variant.split("-")[1:]
        for name in drop:
            learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, DEFAULTS[name])])
        def fit():
            learn.fit(0.01, 1)
    counted(fit)


def pieces() -> dict[str, object]:
    """Each per-batch piece on a learner in mid-epoch, as `{name: zero-argument callable}`."""
    dl, model = harness_setup(1)
    xb, yb = next(iter(dl))
    learn = mid_epoch_learner(model, xb, yb, wd=0.0,
                              opt_func=lambda p, **kw: torch.optim.SGD(p, lr=0.01, momentum=0.9))
    learn.progress.bar = _Bar(total=10**9, file=open(os.devnull, "w"), miniters=1, mininterval=1e9)
    cb = {type(c): c for c in learn.cbs}
    guard = cb[InterruptGuard]
    return {
        "nothing (the measuring loop itself)": lambda: None,
        "loss.item()": learn.loss.item,
        "get_hyper(opt, 'mom')": lambda: get_hyper(learn.opt, "mom"),
        "batch_size(yb)": lambda: batch_size(yb),
        "to_device(xb, cpu) (the loop moves xb, then yb)": lambda: to_device(xb, learn.device),
        "learn.fire('after_pred'), no callback has it": lambda: learn.fire("after_pred"),
        "learn('after_pred'), the same through __call__": lambda: learn("after_pred"),
        "learn.train_iter (the loop's position, a property)": lambda: learn.train_iter,
        "Recorder.after_loss": cb[Recorder].after_loss,
        "TerminateOnNaN.after_loss": cb[TerminateOnNaN].after_loss,
        "InterruptGuard.before_step + after_step": lambda: (guard.before_step(), guard.after_step()),
        "ProgressBar.after_batch (tqdm update)": cb[ProgressBar].after_batch,
        "_with_events(no-op stage, 'batch')":
            lambda: learn._with_events(lambda: None, "batch", CancelBatchException),
        "the 7 events of a training batch, no-op stages": lambda: learn._with_events(
            lambda: [learn.fire(e) for e in ("after_pred", "after_loss", "before_backward",
                                            "before_step", "after_step")], "batch", CancelBatchException),
        "math.isfinite(1.0)": lambda: math.isfinite(1.0),
    }


def run_pieces(calls: int = PIECE_CALLS) -> list[str]:
    table = pieces()
    for fn in table.values():
        fn()
        fn()  # warm: the first calls of a function specialise its bytecode
        counted(lambda fn=fn: [fn() for _ in range(calls)])
    return list(table)


def report(out_file: str, calls: int = PIECE_CALLS) -> str:
    """Instructions per call of each piece, from callgrind's parts `<out_file>.1`, `.2`, ..."""
    names = list(pieces())
    counts = []
    for i in range(1, len(names) + 1):
        text = Path(f"{out_file}.{i}").read_text()
        counts.append(int(re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE).group(1)))
    base = counts[0] / calls
    lines = ["| per-batch piece | instructions per call |", "|---|---|"]
    lines += [f"| {name} | {c / calls - base:,.0f} |" for name, c in zip(names[1:], counts[1:])]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--smoke"]:
        loop("default", 3)
        loop("raw", 3)
        run_pieces(calls=2)
        return 0
    if len(argv) == 3 and argv[0] == "loop":
        loop(argv[1], int(argv[2]))
    elif argv == ["pieces"]:
        run_pieces()
    elif len(argv) == 2 and argv[0] == "report":
        print(report(argv[1]))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
