"""Loop overhead of several minifast source trees against the raw loop, in one interleaved run.

The shared harness (`../shared/bench/overhead_bench.py`) compares one minifast with the raw loop.
To see what a change to the loop costs, compare the trees side by side instead: this script
runs the harness's single-run mode in fresh processes, round-robin (raw, tree 1, tree 2, ...,
then again), each minifast process importing its tree through PYTHONPATH, so a disturbance of
the shared machine hits every side alike. It prints, per side, the ratio of minima and the ratio
of the fastest halves to the raw loop (the two figures docs/benchmarks.md reports).

    uptime
    git worktree add /tmp/before <commit>
    python benchmarks/overhead_ab.py --trees before=/tmp/before now=. --repeats 12 --out ab.json
    python benchmarks/overhead_ab.py --trees now=. --repeats 1 --n 640   # a smoke run (CI)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from benchmarks.import_after_warmup import HARNESS, fastest_half_mean, load_harness  # noqa: E402


def one_fit(framework: str, tree: str | None, a: argparse.Namespace, env: dict[str, str]) -> float:
    """fit_s of one fresh-process run of the harness (MLP, batch 64, pre-batched loader);
    a minifast run imports `tree` through PYTHONPATH."""
    if tree is not None:
        env = dict(env, PYTHONPATH=str(Path(tree).resolve()))
    cmd = [sys.executable, str(a.harness), "--framework", framework, "--model", "mlp", "--bs", "64",
           "--loader", "batched", "--threads", str(a.threads), "--n", str(a.n)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["fit_s"]


def ratios(side: list[float], raw: list[float]) -> tuple[float, float]:
    """(ratio of minima, ratio of the means of the fastest halves)."""
    return min(side) / min(raw), fastest_half_mean(side) / fastest_half_mean(raw)


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trees", nargs="+", required=True, metavar="NAME=PATH",
                    help="minifast source trees (the folder that holds minifast/)")
    ap.add_argument("--repeats", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=60000, help="samples per fit (the harness's default)")
    ap.add_argument("--harness", type=Path, default=HARNESS, help="path of overhead_bench.py")
    ap.add_argument("--out", help="write every fit time (JSON) here")
    a = ap.parse_args(argv)
    if not a.harness.exists():
        sys.exit(f"{a.harness} not found: pass --harness PATH to overhead_bench.py")
    trees = dict(t.split("=", 1) for t in a.trees)
    # the environment the harness's own driver gives each run (threads, malloc settings)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
               PYTHONWARNINGS="ignore", **load_harness(a.harness).FIXED_MALLOC_ENV)
    times: dict[str, list[float]] = {"raw": [], **{name: [] for name in trees}}
    for rep in range(a.repeats):
        times["raw"].append(one_fit("raw", None, a, env))
        for name, tree in trees.items():
            times[name].append(one_fit("minifast", tree, a, env))
        print(f"repeat {rep + 1}/{a.repeats}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()),
              file=sys.stderr, flush=True)
    for name in trees:
        by_min, by_half = ratios(times[name], times["raw"])
        print(f"{name}: ratio of minima {by_min:.3f}, ratio of fastest halves {by_half:.3f}")
    if a.out:
        Path(a.out).write_text(json.dumps(times, indent=1))
    return times


if __name__ == "__main__":
    main()
