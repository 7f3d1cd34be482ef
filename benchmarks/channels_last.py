"""Channels-last: the same fine-tuning step with the model's weights stored NHWC instead of NCHW.

`learn.to_channels_last()` (or `ConvLearner.pretrained(..., channels_last=True)`) only changes
how the 4-d weights are laid out in memory. This script measures what that buys on this machine:
two learners with the same weights (`efficientnet_lite0`, unfrozen, AdamW), one default and
one channels-last, each timed over the same random image batches — a training epoch (forward,
backward, step) and a `get_preds` pass — alternating between them over `--repeats` rounds after
a warm-up. It also checks both compute the same thing: their predictions before training agree.

    python benchmarks/channels_last.py --threads 2 --json out.json --markdown out.md
    python benchmarks/channels_last.py --smoke       # tiny sizes (CI): it runs, no timing claims
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.precompute import TrainClock  # noqa: E402  (run as a script or imported)
from minifast import ConvLearner, DataBunch, efficientnet_lite0  # noqa: E402


def random_data(n_batches: int, bs: int, sz: int) -> DataBunch:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n_batches * bs, 3, sz, sz, generator=g), torch.arange(n_batches * bs) % 10
    ds = TensorDataset(x, y)
    return DataBunch(DataLoader(ds, batch_size=bs), DataLoader(ds, batch_size=bs),
                     classes=[str(i) for i in range(10)])


def make_learner(data, path: Path, channels_last: bool) -> ConvLearner:
    torch.manual_seed(0)
    learn = ConvLearner.pretrained(efficientnet_lite0, data, path=path, device="cpu",
                                   channels_last=channels_last)
    learn.unfreeze()
    return learn


def time_epoch(learn) -> float:
    clock = TrainClock()
    with learn.silent():
        learn.fit(1e-5, 1, cbs=[clock])
    return clock.seconds


def time_preds(learn) -> float:
    start = time.perf_counter()
    learn.get_preds()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sz", type=int, default=128)
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument("--batches", type=int, default=4, help="batches per timed epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sz, args.bs, args.batches, args.repeats = 32, 4, 1, 1
    torch.set_num_threads(args.threads)
    data = random_data(args.batches, args.bs, args.sz)
    with tempfile.TemporaryDirectory() as tmp:
        learners = {"NCHW (default)": make_learner(data, Path(tmp), False),
                    "channels-last": make_learner(data, Path(tmp), True)}
        preds = [learn.get_preds()[0] for learn in learners.values()]
        same = bool(torch.allclose(preds[0], preds[1], atol=1e-4))
        for learn in learners.values():  # warm-up: first-call allocations and kernel choices
            time_epoch(learn)
        times = {name: {"train_s": [], "preds_s": []} for name in learners}
        for _ in range(args.repeats):
            for name, learn in learners.items():
                times[name]["train_s"].append(time_epoch(learn))
                times[name]["preds_s"].append(time_preds(learn))
    medians = {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}
    base, fast = medians["NCHW (default)"], medians["channels-last"]
    results = {
        "config": {**vars(args), "arch": "efficientnet_lite0", "torch": torch.__version__,
                   "cpus": os.cpu_count()},
        "same_predictions": same, "times": times, "medians": medians,
        "speedup_train": base["train_s"] / fast["train_s"],
        "speedup_preds": base["preds_s"] / fast["preds_s"],
    }
    per_batch = 1000 / args.batches
    lines = [f"efficientnet_lite0, {args.sz} px, batch {args.bs}, {args.threads} threads, "
             f"median of {args.repeats} (ms per batch); same predictions: {same}", "",
             "| layout | training step | inference (`get_preds`) |", "|---|---|---|"]
    lines += [f"| {name} | {m['train_s'] * per_batch:.0f} | {m['preds_s'] * per_batch:.0f} |"
              for name, m in medians.items()]
    lines += [f"| speed-up | {results['speedup_train']:.2f}x | {results['speedup_preds']:.2f}x |"]
    text = "\n".join(lines)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
