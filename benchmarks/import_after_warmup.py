"""What does importing a framework *between the warm-up and the fit* cost a raw PyTorch loop?

`../shared/bench/overhead_bench.py` (the fresh-process harness) warms torch up with
raw-loop batches, then imports the framework under test, then times its fit; its raw side
imports nothing. So the framework's fit also pays for whatever the import did to the process:
the objects it allocated sit where the warm-up's freed memory was, and the fit's tensors need
fresh pages. This script measures that part alone: the harness's own raw loop (its functions,
loaded from its file) in fresh processes, alternately without and with `import minifast` at
the point where the harness imports a framework. Same loop, same data, same weights.

    python benchmarks/import_after_warmup.py --repeats 15 --json out.json
    python benchmarks/import_after_warmup.py --smoke      # tiny sizes, seconds (CI)

Reported per side: median and minimum fit time, the mean of the fastest half (the runs the
machine disturbed least), and the median number of minor page faults during the fit.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "overhead_bench.py"
SIDES = ("plain", "imported")


def load_harness(path: Path):
    """The shared harness as a module, for its data, model, loader and raw loop."""
    spec = importlib.util.spec_from_file_location("overhead_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_fit(side: str, args: argparse.Namespace) -> dict:
    """The harness's raw fit (MLP, batch 64, batched loader, SGD), in this fresh process."""
    import torch
    from torch import nn

    h = load_harness(args.harness)
    torch.set_num_threads(args.threads)
    ds = h.make_data(args.n, 0)
    torch.manual_seed(0)
    model = h.make_model("mlp")
    make_opt, _ = h.make_opt_factory("sgd", None)
    loss_fn = nn.CrossEntropyLoss()
    warm = copy.deepcopy(model)
    h.plain_steps(warm, h.make_loader(ds, 64, "batched", 100), make_opt(warm.parameters()), loss_fn,
                  max_batches=10)
    del warm
    dl = h.make_loader(ds, 64, "batched", 0)
    if side == "imported":
        importlib.import_module("minifast")  # where the harness imports the framework under test
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    h.plain_steps(model, dl, make_opt(model.parameters()), loss_fn)
    fit_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"side": side, "fit_s": fit_s, "minflt": after.ru_minflt - before.ru_minflt,
            "checksum": float(sum(p.double().sum() for p in model.parameters()))}


def bench(args: argparse.Namespace) -> dict:
    # The harness's own malloc settings (its default, --malloc fixed): comparable page-fault counts
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               **load_harness(args.harness).FIXED_MALLOC_ENV)
    runs = []
    for rep in range(args.repeats):
        for side in (SIDES if rep % 2 == 0 else SIDES[::-1]):
            load = os.getloadavg()[0]
            proc = subprocess.run([sys.executable, __file__, "--one", side, "--n", str(args.n),
                                   "--threads", str(args.threads), "--harness", str(args.harness)],
                                  capture_output=True, text=True, env=env, timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f"the {side} process (repeat {rep}) failed:\n{proc.stderr[-3000:]}")
            runs.append({**json.loads(proc.stdout.strip().splitlines()[-1]), "rep": rep, "load": load})
    return summarise(runs, args)


def fastest_half_mean(times: list[float]) -> float:
    """Mean of the fastest half of `times` (at least one): the runs the machine disturbed least."""
    half = sorted(times)[:max(1, len(times) // 2)]
    return sum(half) / len(half)


def summarise(runs: list[dict], args: argparse.Namespace) -> dict:
    out = {"config": {"n": args.n, "threads": args.threads, "repeats": args.repeats},
           "runs": runs, "sides": {}}
    for side in SIDES:
        times = [r["fit_s"] for r in runs if r["side"] == side]
        out["sides"][side] = {"median_s": statistics.median(times), "min_s": min(times),
                              "fastest_half_mean_s": fastest_half_mean(times),
                              "median_minflt": statistics.median(r["minflt"] for r in runs
                                                                 if r["side"] == side)}
    plain, imported = out["sides"]["plain"], out["sides"]["imported"]
    out["ratio_of_medians"] = imported["median_s"] / plain["median_s"]
    out["ratio_of_fastest_halves"] = imported["fastest_half_mean_s"] / plain["fastest_half_mean_s"]
    out["same_weights"] = len({round(r["checksum"], 6) for r in runs}) == 1
    loads = [r["load"] for r in runs]
    out["load_1min"] = [min(loads), max(loads)]
    return out


def markdown(res: dict) -> str:
    rows = [f"| {side} | {s['median_s']:.3f} | {s['min_s']:.3f} | {s['fastest_half_mean_s']:.3f} "
            f"| {s['median_minflt']:.0f} |" for side, s in res["sides"].items()]
    return "\n".join([
        f"raw loop of the shared harness, {res['config']['threads']} thread(s), "
        f"{res['config']['repeats']} interleaved pairs, load {res['load_1min'][0]:.2f}-"
        f"{res['load_1min'][1]:.2f}", "",
        "| `import minifast` after the warm-up | median s | min s | fastest half, mean s "
        "| page faults in the fit (median) |", "|---|---|---|---|---|", *rows, "",
        f"ratio of medians {res['ratio_of_medians']:.3f}x, of the fastest halves "
        f"{res['ratio_of_fastest_halves']:.3f}x; same weights: {res['same_weights']}"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15, help="interleaved pairs (default 15)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2, as the harness)")
    p.add_argument("--n", type=int, default=60000, help="samples (default 60000: 938 batches)")
    p.add_argument("--harness", type=Path, default=HARNESS, help="path of overhead_bench.py")
    p.add_argument("--json", type=Path, help="write the full results here")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI: checks it runs")
    p.add_argument("--one", choices=SIDES, help=argparse.SUPPRESS)  # a child: one fit, one JSON line
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats, args.n = 1, 640
    if not args.harness.is_file():
        p.error(f"--harness {args.harness} does not exist: give the path of overhead_bench.py")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(one_fit(args.one, args)))
        return 0
    res = bench(args)
    print(markdown(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
