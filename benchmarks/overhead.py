"""How much slower is `Learner.fit` than the raw PyTorch loop it replaces?

Both sides train the same model (same initial weights), on the same pre-batched tensors, with the
same optimiser, lr, weight decay and loss, for one epoch, then evaluate the same validation batches:

    raw loop                                  Learner.fit(lr, 1), default callbacks
    model.train()                             TrainEval, Recorder, ProgressBar
    for xb, yb in train:                      (tqdm bar, per-batch loss/lr/mom record,
        loss = loss_func(model(xb), yb)        one table line per epoch)
        loss.backward(); opt.step()
        opt.zero_grad(set_to_none=True)
    model.eval(); with torch.no_grad():
    for xb, yb in valid:  # loss and accuracy, weighted by batch size, as the Recorder does
        ...

Raw and Learner runs are interleaved (raw, learner, learner, raw, ...) in one process, so load on
a shared machine hits both alike; the script reports medians, their ratio and the overhead in
ms per training batch, and checks that both end with the same weights and losses (same math).

    python benchmarks/overhead.py                        # MLP, batch 64, 938 batches, 7 repeats
    python benchmarks/overhead.py --model cnn --threads 2 --json out.json --markdown out.md
    python benchmarks/overhead.py --smoke                # tiny sizes, seconds (CI)

`--fresh` measures the *cold* path instead: every fit runs in a new Python process (as a user's
script does), after a few raw-loop warm-up batches on a copy of the model so torch's own one-off
costs are not charged to whoever goes first (as ../shared/bench/overhead_bench.py does). The
processes alternate raw, minifast, minifast, raw, ... and the script reports the ratio of medians,
the ratio of minima (the least disturbed runs) and the spread of the per-pair ratios, with the
load average before each process:

    python benchmarks/overhead.py --fresh --threads 2 --opt sgd --repeats 9 --json out.json
"""
from __future__ import annotations

import argparse
import copy
import functools
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from minifast import DataBunch, Learner, accuracy

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def make_batches(n_batches: int, bs: int, seed: int, image: bool) -> Batches:
    """Random MNIST-shaped inputs (784 values or 1x28x28) with labels a fixed linear rule gives,
    so the task is learnable and the loss really goes down. The rule is the same for every seed."""
    rule = torch.randn(784, 10, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        x = torch.randn(bs, 784, generator=g)
        y = (x @ rule).argmax(dim=1)
        batches.append((x.view(bs, 1, 28, 28) if image else x, y))
    return batches


def make_model(kind: str, hidden: int) -> nn.Module:
    """`mlp`: 784 -> hidden -> 10; `cnn`: two stride-2 3x3 convs (8, 16 channels), pool, linear;
    `linear`: 784 -> 10, so little compute that the framework's own cost per batch stands out."""
    if kind == "linear":
        return nn.Linear(784, 10)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
                             nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    raise ValueError(f"--model {kind!r}: choose 'mlp', 'cnn' or 'linear'")


def make_opt(name: str, params, lr: float, wd: float) -> torch.optim.Optimizer:
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    raise ValueError(f"--opt {name!r}: choose 'adamw' or 'sgd'")


def raw_fit(model: nn.Module, train: Batches, valid: Batches, opt_name: str, lr: float,
            wd: float) -> dict:
    """The loop a user writes by hand; validation mirrors the Recorder's weighted sums."""
    loss_func = nn.CrossEntropyLoss()
    opt = make_opt(opt_name, model.parameters(), lr, wd)
    model.train()
    for xb, yb in train:
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    model.eval()
    total_loss, total_acc, count = 0.0, 0.0, 0
    with torch.no_grad():
        for xb, yb in valid:
            pred = model(xb)
            bs = len(yb)
            total_loss = total_loss + loss_func(pred, yb) * bs
            total_acc = total_acc + accuracy(pred, yb) * bs
            count += bs
    return {"last_train_loss": float(loss.detach()), "valid_loss": float(total_loss / count),
            "accuracy": float(total_acc / count)}


def learner_fit(model: nn.Module, train: Batches, valid: Batches, opt_name: str, lr: float,
                wd: float) -> dict:
    """`Learner.fit(lr, 1)` with its default callbacks and `metrics=[accuracy]`."""
    def opt_func(params, lr, weight_decay):
        return make_opt(opt_name, params, lr, weight_decay)
    learn = Learner(model, DataBunch(train, valid), loss_func=nn.CrossEntropyLoss(),
                    opt_func=opt_func, metrics=[accuracy], wd=wd, device="cpu")
    learn.fit(lr, 1)
    log = learn.recorder.log
    return {"last_train_loss": float(learn.recorder.losses[-1]), "valid_loss": log["valid_loss"],
            "accuracy": log["accuracy"]}


def timed(fn: Callable[[], dict]) -> tuple[float, float, dict]:
    """Wall-clock and process CPU seconds of `fn()`, and what it returned."""
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - start_cpu, out


def run(model_kind: str = "mlp", bs: int = 64, n_batches: int = 938, valid_batches: int = 1,
        repeats: int = 7, threads: int = 1, hidden: int = 128, opt_name: str = "adamw",
        lr: float = 1e-3, wd: float = 0.01, seed: int = 42, peers: bool = False) -> dict:
    """Time raw loop and Learner (and installed peers) interleaved; return a results dict."""
    torch.set_num_threads(threads)
    image = model_kind == "cnn"
    train = make_batches(n_batches, bs, seed, image)
    valid = make_batches(valid_batches, bs, seed + 1, image)
    torch.manual_seed(seed)
    init = make_model(model_kind, hidden).state_dict()

    def fresh() -> nn.Module:
        model = make_model(model_kind, hidden)
        model.load_state_dict(init)
        return model

    runners = {"raw": raw_fit, "minifast": learner_fit}
    if peers:
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # peers.py, beside this file
        from peers import available_peers  # optional frameworks: only when asked for
        runners.update(available_peers())
    for fn in runners.values():  # warm-up: first calls pay for lazy init in torch and tqdm
        fn(fresh(), train[:20], valid, opt_name, lr, wd)
    times: dict[str, list[float]] = {name: [] for name in runners}
    cpu_times: dict[str, list[float]] = {name: [] for name in runners}
    outs: dict[str, dict] = {}
    models: dict[str, nn.Module] = {}
    for r in range(repeats):
        order = list(runners) if r % 2 == 0 else list(reversed(runners))  # cancel drift
        for name in order:
            model = fresh()
            run = functools.partial(runners[name], model, train, valid, opt_name, lr, wd)
            wall, cpu, outs[name] = timed(run)
            times[name].append(wall)
            cpu_times[name].append(cpu)
            models[name] = model
    return _summarise(times, cpu_times, outs, models, n_batches, dict(
        model=model_kind, hidden=hidden if model_kind == "mlp" else None, bs=bs,
        n_batches=n_batches, valid_batches=valid_batches, repeats=repeats, threads=threads,
        opt=opt_name, lr=lr, wd=wd, seed=seed))


def _summarise(times: dict, cpu_times: dict, outs: dict, models: dict, n_batches: int,
               config: dict) -> dict:
    """Medians and ratios. `ratio` is median(loop) / median(raw) over wall-clock times;
    `paired_ratio` the median of each repeat's loop/raw ratio (robust to slow drifts in load);
    `cpu_ratio` the same as `ratio` on process CPU time (ignores time spent descheduled)."""
    raw_med, raw_cpu = statistics.median(times["raw"]), statistics.median(cpu_times["raw"])
    rows = {}
    for name, ts in times.items():
        med, cpu = statistics.median(ts), statistics.median(cpu_times[name])
        diff = max((a - b).abs().max().item() for a, b in
                   zip(models[name].state_dict().values(), models["raw"].state_dict().values()))
        rows[name] = {"median_s": med, "min_s": min(ts), "ratio": med / raw_med,
                      "paired_ratio": statistics.median(t / r for t, r in zip(ts, times["raw"])),
                      "overhead_ms_per_batch": (med - raw_med) / n_batches * 1e3,
                      # fastest repeat vs fastest raw: the least disturbed by other processes
                      "overhead_us_per_batch_min": (min(ts) - min(times["raw"])) / n_batches * 1e6,
                      "median_cpu_s": cpu, "cpu_ratio": cpu / raw_cpu,
                      "times_s": ts, "cpu_times_s": cpu_times[name],
                      "max_weight_diff_vs_raw": diff, **outs[name]}
    return {"config": config, "machine": machine(), "results": rows}


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": __import__("os").cpu_count(), "torch_threads": torch.get_num_threads()}


def check_same_math(results: dict, tol: float = 1e-5) -> list[str]:
    """Problems if the Learner did not compute what the raw loop computed (empty list: fine)."""
    raw, learner = results["results"]["raw"], results["results"]["minifast"]
    problems = []
    for key in ("last_train_loss", "valid_loss", "accuracy"):
        if abs(raw[key] - learner[key]) > tol * max(1.0, abs(raw[key])):
            problems.append(f"{key}: raw {raw[key]!r} vs minifast {learner[key]!r}")
    if learner["max_weight_diff_vs_raw"] > tol:
        problems.append(f"final weights differ by up to {learner['max_weight_diff_vs_raw']:.3g}")
    return problems


def to_markdown(results: dict) -> str:
    c = results["config"]
    model = {"mlp": f"MLP 784-{c['hidden']}-10", "cnn": "small CNN", "linear": "Linear 784-10"}[c["model"]]
    lines = [f"{model}, batch {c['bs']}, {c['n_batches']} training batches + {c['valid_batches']} "
             f"validation batch(es), {c['opt']} lr={c['lr']} wd={c['wd']}, {c['threads']} thread(s), "
             f"median of {c['repeats']} interleaved repeats",
             "", "| loop | median s/epoch | ratio vs raw | paired ratio | CPU-time ratio "
             "| overhead ms/batch | overhead us/batch (min) | final valid loss |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results["results"].items():
        lines.append(f"| {name} | {r['median_s']:.3f} | {r['ratio']:.3f}x | "
                     f"{r['paired_ratio']:.3f}x | {r['cpu_ratio']:.3f}x | "
                     f"{r['overhead_ms_per_batch']:+.4f} | {r['overhead_us_per_batch_min']:+.1f} | "
                     f"{r['valid_loss']:.6f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- fresh-process mode
# As in ../shared/bench/overhead_bench.py: glibc's *dynamic* mmap threshold makes page faults
# (and so run time) depend on what the process allocated before; pinning it makes runs comparable.
FIXED_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def one_fresh_fit(loop: str, args: argparse.Namespace) -> dict:
    """One timed fit of `loop` ('raw' or 'minifast') in this process, which has trained nothing yet
    except `args.warmup` raw-loop batches on a copy of the model (torch's own first-use costs)."""
    torch.set_num_threads(args.threads)
    image = args.model == "cnn"
    train = make_batches(args.batches, args.bs, args.seed, image)
    valid = make_batches(args.valid_batches, args.bs, args.seed + 1, image)
    torch.manual_seed(args.seed)
    model = make_model(args.model, args.hidden)
    lr, wd = 1e-3, 0.01
    raw_fit(copy.deepcopy(model), train[:args.warmup], valid, args.opt, lr, wd)
    runner = {"raw": raw_fit, "minifast": learner_fit}[loop]
    wall, cpu, out = timed(lambda: runner(model, train, valid, args.opt, lr, wd))
    with torch.no_grad():
        checksum = float(sum(p.double().sum() for p in model.parameters()))
    return {"loop": loop, "wall_s": wall, "cpu_s": cpu, "checksum": checksum, **out}


def fresh_bench(args: argparse.Namespace) -> dict:
    """Spawn one process per fit, alternating raw/minifast (ABBA, so a drift in load cancels)."""
    config = ["--model", args.model, "--bs", str(args.bs), "--batches", str(args.batches),
              "--valid-batches", str(args.valid_batches), "--threads", str(args.threads),
              "--hidden", str(args.hidden), "--opt", args.opt, "--seed", str(args.seed),
              "--warmup", str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), **FIXED_MALLOC_ENV)
    runs: list[dict] = []
    for rep in range(args.repeats):
        for loop in (("raw", "minifast") if rep % 2 == 0 else ("minifast", "raw")):
            load = os.getloadavg()
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--one", loop,
                                   *config], capture_output=True, text=True, env=env, timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f"the {loop} process (repeat {rep}) failed:\n{proc.stderr[-3000:]}")
            run = json.loads(proc.stdout.strip().splitlines()[-1])  # last line: the JSON result
            runs.append({**run, "rep": rep, "load_1min_before": load[0],
                         "load_1min_after": os.getloadavg()[0]})
            print(f"[{rep}] {loop:8s} {run['wall_s']:.3f} s  (load {load[0]:.2f})", file=sys.stderr)
    return summarise_fresh(runs, vars(args))


def summarise_fresh(runs: list[dict], config: dict) -> dict:
    """Ratio of medians, ratio of minima, and the per-repeat minifast/raw ratios with their range."""
    wall = {loop: [r["wall_s"] for r in runs if r["loop"] == loop] for loop in ("raw", "minifast")}
    cpu = {loop: [r["cpu_s"] for r in runs if r["loop"] == loop] for loop in ("raw", "minifast")}
    pairs = sorted(m / r for m, r in zip(wall["minifast"], wall["raw"]))
    sums = {loop: next(r["checksum"] for r in runs if r["loop"] == loop) for loop in wall}
    loads = [r["load_1min_before"] for r in runs]
    return {"mode": "fresh process per fit", "config": {k: v for k, v in config.items()
                                                        if isinstance(v, (int, float, str))},
            "machine": machine(), "runs": runs,
            "median_s": {k: statistics.median(v) for k, v in wall.items()},
            "min_s": {k: min(v) for k, v in wall.items()},
            "ratio_of_medians": statistics.median(wall["minifast"]) / statistics.median(wall["raw"]),
            "ratio_of_minima": min(wall["minifast"]) / min(wall["raw"]),
            "cpu_ratio_of_medians": statistics.median(cpu["minifast"]) / statistics.median(cpu["raw"]),
            "paired_ratios": pairs, "paired_median": statistics.median(pairs),
            "paired_range": [pairs[0], pairs[-1]],
            "same_weights": abs(sums["raw"] - sums["minifast"]) <= 1e-5 * max(1.0, abs(sums["raw"])),
            "load_1min": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)}}


def fresh_markdown(res: dict) -> str:
    c, load = res["config"], res["load_1min"]
    return "\n".join([
        f"{c['model']}, batch {c['bs']}, {c['batches']} batches, {c['opt']}, {c['threads']} thread(s), "
        f"one fresh process per fit, {c['repeats']} interleaved pairs; 1-min load "
        f"{load['min']:.2f}-{load['max']:.2f} (median {load['median']:.2f})", "",
        "| raw median s | minifast median s | ratio of medians | ratio of minima "
        "| paired ratio median [min, max] | CPU-time ratio | same weights |",
        "|---|---|---|---|---|---|---|",
        f"| {res['median_s']['raw']:.3f} | {res['median_s']['minifast']:.3f} "
        f"| {res['ratio_of_medians']:.3f}x | {res['ratio_of_minima']:.3f}x "
        f"| {res['paired_median']:.3f}x [{res['paired_range'][0]:.3f}, {res['paired_range'][1]:.3f}] "
        f"| {res['cpu_ratio_of_medians']:.3f}x | {res['same_weights']} |"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mlp", "cnn", "linear"], default="mlp")
    p.add_argument("--bs", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--batches", type=int, default=938, help="training batches per epoch")
    p.add_argument("--valid-batches", type=int, default=1, help="validation batches (default 1)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repeats (default 7)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--hidden", type=int, default=128, help="MLP hidden width (default 128)")
    p.add_argument("--opt", choices=["adamw", "sgd"], default="adamw")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--peers", action="store_true", help="also time fastai/Lightning/ignite if installed")
    p.add_argument("--json", type=Path, help="write the full results here")
    p.add_argument("--markdown", type=Path, help="write the markdown table here")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI: checks it runs")
    p.add_argument("--fresh", action="store_true",
                   help="one new Python process per fit (the cold path a user's script takes)")
    p.add_argument("--warmup", type=int, default=10,
                   help="--fresh: raw-loop batches on a model copy before the timed fit")
    p.add_argument("--one", choices=["raw", "minifast"], help=argparse.SUPPRESS)  # a --fresh child
    args = p.parse_args(argv)
    if args.smoke:
        args.batches, args.valid_batches, args.repeats, args.bs = 6, 2, 2, 8
    if min(args.bs, args.batches, args.valid_batches, args.repeats, args.threads) < 1:
        p.error("--bs, --batches, --valid-batches, --repeats and --threads must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:  # a child of --fresh: one fit, one JSON line
        print(json.dumps(one_fresh_fit(args.one, args)))
        return 0
    if args.fresh:
        results = fresh_bench(args)
        table = fresh_markdown(results)
        print(table)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        if args.markdown:
            args.markdown.write_text(table + "\n")
        if not results["same_weights"]:
            print("NOT THE SAME MATH: raw and minifast end with different weights", file=sys.stderr)
        return 0 if results["same_weights"] else 1
    results = run(args.model, args.bs, args.batches, args.valid_batches, args.repeats,
                  args.threads, args.hidden, args.opt, seed=args.seed, peers=args.peers)
    problems = check_same_math(results)
    results["same_math"] = not problems
    table = to_markdown(results)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.markdown:
        args.markdown.write_text(table + "\n")
    for problem in problems:
        print(f"NOT THE SAME MATH: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
