"""Where does the Learner's per-batch time go? cProfile of `Learner.fit` on the overhead benchmark.

Profiles one epoch of the MLP from `overhead.py` and prints the functions with the most *own*
time (tottime), so framework bookkeeping (dispatch, callbacks, tqdm) shows up next to the
PyTorch calls that do the real work. Used to find and remove loop overhead (issue 9).

    python benchmarks/profile_overhead.py              # 938 batches of 64
    python benchmarks/profile_overhead.py --smoke      # tiny, for CI
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path
from typing import Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: find overhead.py
from overhead import learner_fit, make_batches, make_model  # noqa: E402


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


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=938)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--top", type=int, default=30, help="how many functions to list")
    p.add_argument("--sort", default="tottime", choices=["tottime", "cumulative", "ncalls"])
    p.add_argument("--only", default="minifast|tqdm",
                   help="regex on file/function names: list only the framework ('' lists all)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = p.parse_args(argv)
    if args.smoke:
        args.batches, args.bs, args.top = 5, 8, 5
    print(profile(args.batches, args.bs, args.top, args.sort, args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
