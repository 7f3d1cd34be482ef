"""Transfer-learning accuracy on the shared Pokémon and dog-breed sets, with wall times per phase.

The course recipe with EfficientNet-Lite0 (ImageNet weights, offline):
  1. precompute=True: cache the frozen body's features once, train the head on them;
  2. precompute=False: fine-tune the body's second layer group and the head, with augmentation
     (differential lrs, one SGDR cycle); the first half of the body stays frozen to keep the CPU
     cost down (`--unfreeze all` trains every group, as in the course);
  3. accuracy plain and with TTA (centre crop + 4 augmented views, probabilities averaged).

    .venv/bin/python benchmarks/transfer_accuracy.py                # both sets, full
    .venv/bin/python benchmarks/transfer_accuracy.py --quick        # 60 images, 64 px: a smoke run

Writes a JSON summary to benchmarks/results/transfer_accuracy.json (or --out).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minifast import ConvLearner, efficientnet_lite0  # noqa: E402
from minifast.data import ImageClassifierData, get_cv_idxs, transforms_side_on  # noqa: E402
from minifast.data.image_datasets import FilesDataset  # noqa: E402
from minifast.vision.archs import tfms_from_model

DATA = Path(os.environ.get("MINIFAST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def make_data(name: str, sz: int, bs: int, quick: bool) -> ImageClassifierData:
    tfms = tfms_from_model(efficientnet_lite0, sz, aug_tfms=transforms_side_on, max_zoom=1.1)
    if name == "pokemon":
        data = ImageClassifierData.from_folder(DATA / "pokemon", bs=bs, tfms=tfms, valid_pct=0.2, seed=42)
    else:
        n = sum(1 for _ in open(DATA / "dogbreeds" / "labels.csv")) - 1
        data = ImageClassifierData.from_csv(DATA / "dogbreeds", "train", DATA / "dogbreeds" / "labels.csv",
                                            bs=bs, tfms=tfms, val_idxs=get_cv_idxs(n), suffix=".jpg")
    if quick:  # a few images of each split: checks the pipeline, not the accuracy
        trn, val = data.trn_ds, data.val_ds
        keep = np.random.RandomState(0).permutation(len(trn))[:48]
        trn = FilesDataset([trn.fnames[i] for i in keep], trn.y[keep], tfms[0])
        val = FilesDataset(val.fnames[:12], val.y[:12], tfms[1])
        data = ImageClassifierData(data.path, trn, val, data.classes, tfms, bs)
    return data


def accuracy_of(log_preds: np.ndarray, y: np.ndarray) -> float:
    return float((log_preds.argmax(-1) == y).mean())


def run(name: str, sz: int, bs: int, head_lr: float, head_epochs: int, unfreeze: str,
        finetune_epochs: int, quick: bool, cache: Path,
        finetune_lrs: tuple = (1e-4, 3e-4, 1e-3), head_one_cycle: bool = False,
        bn_freeze: bool | None = None) -> dict:
    out = {"dataset": name, "sz": sz, "bs": bs, "head_lr": head_lr, "head_epochs": head_epochs,
           "head_one_cycle": head_one_cycle, "unfreeze": unfreeze, "bn_freeze": bn_freeze,
           "finetune_epochs": finetune_epochs, "finetune_lrs": list(finetune_lrs)}
    t0 = time.perf_counter()
    data = make_data(name, sz, bs, quick)
    out.update(n_train=len(data.trn_ds), n_valid=len(data.val_ds), classes=len(data.classes))
    torch.manual_seed(0)
    learn = ConvLearner.pretrained(efficientnet_lite0, data, precompute=True, path=cache)
    out["precompute_s"] = round(time.perf_counter() - t0, 1)
    t = time.perf_counter()
    if head_one_cycle:
        learn.fit_one_cycle(head_epochs, head_lr)
    else:
        learn.fit(head_lr, head_epochs)
    out["head_fit_s"] = round(time.perf_counter() - t, 1)
    out["head_acc"] = learn.recorder.log["accuracy"]
    print(name, "head on cached features:", out, flush=True)

    t = time.perf_counter()
    learn.precompute = False
    if unfreeze == "all":
        learn.unfreeze()
    else:
        learn.freeze_to(1)
    if bn_freeze is not None:  # None: ConvLearner.pretrained's default (body BatchNorm frozen)
        learn.bn_freeze(bn_freeze)
    learn.fit(np.array(finetune_lrs), 1, cycle_len=finetune_epochs)  # one cosine cycle
    out["finetune_s"] = round(time.perf_counter() - t, 1)
    out["finetune_acc"] = learn.recorder.log["accuracy"]

    t = time.perf_counter()
    log_preds, y = learn.TTA(n_aug=4)
    out["tta_s"] = round(time.perf_counter() - t, 1)
    out["plain_acc"] = accuracy_of(log_preds[0], y)
    out["tta_acc"] = accuracy_of(np.log(np.mean(np.exp(log_preds), 0)), y)
    out["total_s"] = round(time.perf_counter() - t0, 1)
    print(name, "done:", out, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["dogbreeds", "pokemon"])
    parser.add_argument("--sz", type=int, default=None, help="default: 224 dog breeds, 192 Pokémon")
    parser.add_argument("--bs", type=int, default=32)
    parser.add_argument("--head-lr", type=float, default=3e-3)
    parser.add_argument("--head-epochs", type=int, default=3)
    parser.add_argument("--head-one-cycle", action="store_true",
                        help="train the head with fit_one_cycle instead of a constant lr")
    parser.add_argument("--unfreeze", choices=["half", "all"], default="half")
    parser.add_argument("--bn-freeze", action=argparse.BooleanOptionalAction, default=None,
                        help="learn.bn_freeze(True/False) while fine-tuning (default: the "
                             "learner's policy, body BatchNorm in eval mode)")
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--finetune-lrs", type=float, nargs=3, default=[1e-4, 3e-4, 1e-3],
                        help="one lr per layer group: body first half, second half, head")
    parser.add_argument("--cache", default=None,
                        help="folder for the precompute cache (default: a new temp dir)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a machine shared by many processes, 2 threads "
                             "each spin-wait on each other and run 10-20x slower)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "transfer_accuracy.json"))
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")
    torch.set_num_threads(args.threads)
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="minifast_transfer_"))
    results = []
    for name in args.datasets:
        sz = args.sz or (64 if args.quick else {"dogbreeds": 224, "pokemon": 192}[name])
        results.append(run(name, sz, args.bs, args.head_lr, args.head_epochs, args.unfreeze,
                           args.finetune_epochs, args.quick, cache, tuple(args.finetune_lrs),
                           args.head_one_cycle, args.bn_freeze))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"torch_threads": torch.get_num_threads(),
                                              "results": results}, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
