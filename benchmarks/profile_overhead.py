"""Where does the Learner's per-batch time go? cProfile of `Learner.fit` on the overhead benchmark.

Profiles one epoch of the MLP from `overhead.py` and prints the functions with the most *own*
time (tottime), so framework bookkeeping (dispatch, callbacks, tqdm) shows up next to the
PyTorch calls that do the real work. Used to find and remove loop overhead.

    python benchmarks/profile_overhead.py              # 938 batches of 64
    python benchmarks/profile_overhead.py --components # microseconds per batch, piece by piece
    python benchmarks/profile_overhead.py --smoke      # tiny, for CI
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import timeit
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: find overhead.py
from overhead import learner_fit, make_batches, make_model  # noqa: E402

from minifast import CancelBatchException, DataBunch, Learner  # noqa: E402
from minifast.interrupt import InterruptGuard  # noqa: E402
from minifast.torch_utils import to_device  # noqa: E402


def profile(n_batches: int, bs: int, top: int, sort: str, only: str) -> str:
    """Run one profiled epoch; return the pstats table (rows matching regex `only`) as text."""
    torch.set_num_threads(1)
    train, valid = make_batches(n_batches, bs, 42, False), make_batches(1, bs, 43, False)
    learner_fit(make_model("mlp", 128), train[:10], valid, "adamw", 1e-3, 0.01)  # warm-up
    profiler = cProfile.Profile()
    profiler.enable()
    learner_fit(make_model("mlp", 128), train, valid, "adamw", 1e-3, 0.01)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats(sort)
    stats.print_stats(only, top) if only else stats.print_stats(top)
    return out.getvalue()


def mid_epoch_learner(model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor,
                      opt_func=torch.optim.AdamW, wd: float = 0.01) -> Learner:
    """A Learner as it is in the middle of a training epoch of 938 batches like (xb, yb), so that
    each per-batch piece can be run alone: the loop's state set, a prediction and a loss, every
    callback's before_fit run (but InterruptGuard's: its SIGINT handler would outlive the caller;
    its per-step flags work without it) and the Recorder's before_epoch. The caller gives
    `learn.progress.bar` a bar and fires `after_fit` when done."""
    learn = Learner(model, DataBunch([(xb, yb)], [(xb, yb)]), device="cpu", opt_func=opt_func, wd=wd)
    learn.create_opt()
    learn.n_epoch, learn.epoch, learn.iter, learn.n_iter, learn.training = 1, 0, 0, 938, True
    learn.dl, learn.xb, learn.yb, learn.start_epoch = [(xb, yb)] * 938, xb, yb, 0
    learn.pred = learn.model(xb)
    learn.loss = learn.loss_func(learn.pred, yb)
    for cb in learn.cbs:
        if hasattr(cb, "before_fit") and not isinstance(cb, InterruptGuard):
            cb.before_fit()
    learn.recorder.before_epoch()
    return learn


def components(number: int = 200, repeat: int = 50) -> str:
    """Microseconds per call of each piece of per-batch framework work (timeit, best of `repeat`
    short runs: on a busy machine a long run is always interrupted by other processes, a short one
    often is not), on a learner in mid-epoch. The
    one-batch row fires all seven per-batch events of a training batch around an empty step."""
    torch.set_num_threads(1)
    (xb, yb), = make_batches(1, 64, 42, False)
    learn = mid_epoch_learner(make_model("mlp", 128), xb, yb)
    with open(os.devnull, "w") as devnull:
        from tqdm.auto import tqdm
        learn.progress.bar = tqdm(total=10**9, file=devnull)  # a bar as in training, drawn nowhere
        pieces = {
            "to_device((xb, yb))": lambda: to_device((xb, yb), learn.device),
            "dispatch an event no callback handles": lambda: learn("after_pred"),
            "learn.train_iter (the loop's position, a property)": lambda: learn.train_iter,
            "Recorder.after_loss (training batch)": learn.recorder.after_loss,
            "ProgressBar.after_batch (tqdm)": learn.progress.after_batch,
            "one batch's events around a no-op step": lambda: learn._with_events(
                lambda: [learn(e) for e in ("after_pred", "after_loss", "before_backward",
                                            "before_step", "after_step")],
                "batch", CancelBatchException),
        }
        lines = ["| per-batch piece | us per call |", "|---|---|"]
        for name, fn in pieces.items():
            timeit.timeit(fn, number=number)  # warm-up: the first timings of a process run slow
            best = min(timeit.repeat(fn, number=number, repeat=repeat)) / number
            lines.append(f"| {name} | {best * 1e6:.2f} |")
        learn("after_fit")  # closes the bar and takes InterruptGuard's SIGINT handler back out
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=938)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--top", type=int, default=30, help="how many functions to list")
    p.add_argument("--sort", default="tottime", choices=["tottime", "cumulative", "ncalls"])
    p.add_argument("--only", default="minifast|tqdm",
                   help="regex on file/function names: list only the framework ('' lists all)")
    p.add_argument("--components", action="store_true",
                   help="time each per-batch piece of framework work instead of profiling")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = p.parse_args(argv)
    if args.smoke:
        args.batches, args.bs, args.top = 5, 8, 5
    if args.components:
        print(components(number=50, repeat=3) if args.smoke else components())
    else:
        print(profile(args.batches, args.bs, args.top, args.sort, args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
