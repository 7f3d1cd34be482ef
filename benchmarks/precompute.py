"""Precompute pays: an epoch of the head on cached features vs an epoch of the full frozen model.

With the body frozen, its output for an un-augmented image never changes, so `precompute=True`
(fastai 0.7) computes it once and trains the head alone on the stored activations. This script
measures, on the Pokémon set at 224 px with `ConvLearner.pretrained(efficientnet_lite0)`:

1. the first `precompute=True` (cache miss: the body's forward pass over train + valid);
2. a head epoch on the cached features (median of `--head-epochs` epochs);
3. an epoch of the full frozen model (`precompute=False`: every batch goes through the body);
4. a second `ConvLearner.pretrained(..., precompute=True)` on the same data (cache hit).

    python benchmarks/precompute.py --threads 2 --json out.json --markdown out.md
    python benchmarks/precompute.py --full-batches 4    # time 4 batches of step 3, scale to an epoch
    python benchmarks/precompute.py --smoke             # 24 tiny generated images (CI)
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

from minifast import Callback, CancelTrainException

REPO = Path(__file__).resolve().parent.parent


class StopAfter(Callback):
    """End the training phase after `n` batches (to time part of a long epoch); counts batches."""

    def __init__(self, n: int | None):
        self.n, self.done = n, 0

    def before_train(self):
        self.done = 0

    def after_batch(self):
        if self.learn.training:
            self.done += 1
            if self.n is not None and self.done >= self.n:
                raise CancelTrainException()


def timed_fit(learn, n_batches: int | None = None) -> tuple[float, int]:
    """Seconds for one epoch of `learn.fit(1e-2, 1)` (training phase only) and batches run."""
    stop, clock = StopAfter(n_batches), TrainClock()
    with learn.silent():
        learn.fit(1e-2, 1, cbs=[stop, clock])
    return clock.seconds, stop.done


class TrainClock(Callback):
    """Seconds from before_train to after_train: the training phase alone, without validation."""

    def before_train(self):
        self.start = time.perf_counter()

    def after_train(self):
        self.seconds = time.perf_counter() - self.start


def make_data(sz: int, bs: int, smoke: bool, work: Path):
    from minifast import ImageClassifierData, efficientnet_lite0, tfms_from_model, transforms_side_on
    if smoke:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from time_to_accuracy import smoke_image_folder
        folder = smoke_image_folder(work / "images")
    else:
        from minifast.data.course_datasets import get_dataset
        folder = get_dataset("pokemon")
    tfms = tfms_from_model(efficientnet_lite0, sz, aug_tfms=transforms_side_on, max_zoom=1.1)
    return ImageClassifierData.from_folder(folder, bs=bs, tfms=tfms, valid_pct=0.2, seed=42)


def run(sz: int, bs: int, head_epochs: int, full_batches: int | None, smoke: bool) -> dict:
    from minifast import ConvLearner, efficientnet_lite0

    work = Path(tempfile.mkdtemp(prefix="minifast_precompute_"))  # a cold cache
    data = make_data(sz, bs, smoke, work)
    torch.manual_seed(0)
    start = time.perf_counter()
    learn = ConvLearner.pretrained(efficientnet_lite0, data, precompute=True, path=work, device="cpu")
    learn.precomp.prepare()  # what the first fit would do: compute and cache the features
    first_precompute_s = time.perf_counter() - start
    head = [timed_fit(learn)[0] for _ in range(head_epochs)]

    learn.precompute = False  # the same frozen model, now fed images: the body runs every batch
    n_train_batches = len(learn.data.train_dl)
    full_s, done = timed_fit(learn, full_batches)
    full_epoch_s = full_s * n_train_batches / done  # == full_s when the whole epoch ran

    start = time.perf_counter()
    again = ConvLearner.pretrained(efficientnet_lite0, data, precompute=True, path=work, device="cpu")
    again.precomp.prepare()  # read from the cache
    cache_hit_s = time.perf_counter() - start
    same_cache = again.precompute_dir == learn.precompute_dir
    head_s = statistics.median(head)
    return {"sz": sz, "bs": bs, "n_train": len(data.trn_ds), "n_valid": len(data.val_ds),
            "train_batches": n_train_batches, "first_precompute_s": first_precompute_s,
            "head_epoch_s": head_s, "head_epochs_s": head, "full_epoch_s": full_epoch_s,
            "full_batches_timed": done, "speedup": full_epoch_s / head_s,
            "second_precompute_s": cache_hit_s, "cache_hit": same_cache,
            "torch_threads": torch.get_num_threads()}


def to_markdown(r: dict) -> str:
    full = (f"{r['full_epoch_s']:.1f} s" if r["full_batches_timed"] == r["train_batches"] else
            f"{r['full_epoch_s']:.1f} s (from {r['full_batches_timed']} of {r['train_batches']} batches)")
    return "\n".join([
        f"Pokémon, {r['n_train']} training / {r['n_valid']} validation images at {r['sz']} px, "
        f"efficientnet_lite0, batch {r['bs']}, {r['torch_threads']} torch thread(s)", "",
        "| measure | seconds |", "|---|---|",
        f"| first precompute (cache miss: body over train + valid) | {r['first_precompute_s']:.1f} |",
        f"| head epoch on cached features (median) | {r['head_epoch_s']:.3f} |",
        f"| full frozen model, one training epoch | {full} |",
        f"| second precompute=True (cache hit: {r['cache_hit']}) | {r['second_precompute_s']:.2f} |",
        f"| **speed-up per epoch** | **{r['speedup']:.0f}x** |"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sz", type=int, default=224)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--head-epochs", type=int, default=3)
    p.add_argument("--full-batches", type=int, default=None,
                   help="time only this many batches of the full-model epoch and scale up")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--smoke", action="store_true", help="24 tiny generated images (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.sz, args.bs, args.head_epochs = 32, 8, 1
    if "MINIFAST_DATA" not in os.environ and (REPO.parent / "shared" / "data").is_dir():
        os.environ["MINIFAST_DATA"] = str(REPO.parent / "shared" / "data")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run(args.sz, args.bs, args.head_epochs, args.full_batches, args.smoke)
    table = to_markdown(results)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0 if results["cache_hit"] else 1


if __name__ == "__main__":
    sys.exit(main())
