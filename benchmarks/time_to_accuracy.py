"""Wall time to a target accuracy: MNIST (a small CNN from scratch) and Pokémon (transfer learning).

Each recipe is written out below in full; the clock starts before the data is read and stops at
the end of the first epoch whose validation accuracy reaches the target (then training stops).

- MNIST: the full 60,000 training digits from the IDX files, tested on the 10,000 test digits;
  normalised tensors in memory; a 4-conv CNN with BatchNorm (16-32-64-128 channels, 3 stride-2
  convs, global average pool); random shifts of up to 2 px; AdamW, `fit_one_cycle(8, 1e-2)`,
  batch 128. Target 99.3%.
- Pokémon: `ImageClassifierData.from_folder` (20% held out, seed 42) at 224 px,
  `ConvLearner.pretrained(efficientnet_lite0, precompute=True)`: the frozen body's features are
  computed once (the clock includes it), then the head trains on them with `fit_one_cycle`.
  Target 97%.

    python benchmarks/time_to_accuracy.py --task mnist --threads 2
    python benchmarks/time_to_accuracy.py --task pokemon --json out.json --markdown out.md
    python benchmarks/time_to_accuracy.py --smoke      # bundled MNIST sample + 24 tiny images
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
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minifast import Callback, CancelFitException, DataBunch, Learner, accuracy

REPO = Path(__file__).resolve().parent.parent
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class StopAtTarget(Callback):
    """After each epoch: note the accuracy and the time since `start`; stop once it reaches `target`."""

    order = 70  # after the Recorder (50), whose row it reads

    def __init__(self, target: float, start: float):
        self.target, self.start, self.history, self.reached_s = target, start, [], None

    def after_epoch(self):
        acc, elapsed = self.learn.recorder.log["accuracy"], time.perf_counter() - self.start
        self.history.append({"epoch": self.learn.epoch + 1, "accuracy": acc, "elapsed_s": elapsed})
        if acc >= self.target and self.reached_s is None:
            self.reached_s = elapsed
            raise CancelFitException()


class RandomShift(Callback):
    """Augmentation on the batch tensor: move each training image by up to `px` pixels each way
    (zero padding), a different shift per image. Cheap next to the convolutions."""

    def __init__(self, px: int = 2):
        self.px = px

    def before_batch(self):
        if not self.learn.training:
            return
        xb, p = self.learn.xb, self.px
        n, size = xb.shape[0], xb.shape[-1]
        padded = torch.nn.functional.pad(xb, (p, p, p, p))
        rows = torch.randint(0, 2 * p + 1, (n, 1)) + torch.arange(size)  # [n, size]
        cols = torch.randint(0, 2 * p + 1, (n, 1)) + torch.arange(size)
        batch = torch.arange(n)[:, None, None]
        self.learn.xb = padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def conv_bn(ni: int, nf: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ni, nf, 3, stride, 1, bias=False), nn.BatchNorm2d(nf), nn.ReLU())


def mnist_cnn() -> nn.Sequential:
    """28x28 -> 28 (16 ch) -> 14 (32) -> 7 (64) -> 4 (128) -> pool -> 10 classes."""
    return nn.Sequential(conv_bn(1, 16, 1), conv_bn(16, 32, 2), conv_bn(32, 64, 2),
                         conv_bn(64, 128, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(128, 10))


def mnist_arrays(smoke: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if smoke:  # the sample shipped in the package: no data set needed
        from minifast.data.samples import load_mnist_sample
        x_trn, y_trn, x_val, y_val = load_mnist_sample()
        return x_trn[:512], y_trn[:512], x_val[:256], y_val[:256]
    from minifast.data.course_datasets import get_dataset, load_mnist
    return load_mnist(get_dataset("mnist"))


def to_dataset(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    images = (torch.from_numpy(np.array(x)).float().div_(255) - MNIST_MEAN) / MNIST_STD
    return TensorDataset(images.unsqueeze(1), torch.from_numpy(np.asarray(y, dtype=np.int64)))


def run_mnist(epochs: int, max_lr: float, bs: int, target: float, seed: int, smoke: bool) -> dict:
    start = time.perf_counter()
    x_trn, y_trn, x_val, y_val = mnist_arrays(smoke)
    g = torch.Generator().manual_seed(seed)
    data = DataBunch(DataLoader(to_dataset(x_trn, y_trn), batch_size=bs, shuffle=True, generator=g),
                     DataLoader(to_dataset(x_val, y_val), batch_size=512))
    load_s = time.perf_counter() - start
    torch.manual_seed(seed)
    stop = StopAtTarget(target, start)
    learn = Learner(mnist_cnn(), data, metrics=[accuracy], cbs=[RandomShift(2), stop], device="cpu")
    learn.fit_one_cycle(epochs, max_lr)
    return {"task": "mnist", "n_train": len(x_trn), "n_valid": len(x_val), "target": target,
            "reached_s": stop.reached_s, "data_load_s": load_s, "history": stop.history,
            "recipe": f"mnist_cnn() 16-32-64-128 BN, RandomShift(2), AdamW wd=0.01, bs={bs}, "
                      f"fit_one_cycle({epochs}, {max_lr}), seed {seed}"}


def smoke_image_folder(root: Path) -> Path:
    """Two classes x 12 small coloured images: enough to run the Pokémon recipe end to end."""
    from PIL import Image
    rng = np.random.RandomState(0)
    for c, colour in enumerate(("red", "blue")):
        (root / colour).mkdir(parents=True, exist_ok=True)
        for i in range(12):
            pixels = rng.randint(0, 60, (40, 40, 3)).astype(np.uint8)
            pixels[..., 0 if c == 0 else 2] += 180
            Image.fromarray(pixels).save(root / colour / f"{i:03d}.png")
    return root


def run_pokemon(epochs: int, max_lr: float, bs: int, sz: int, target: float, seed: int,
                smoke: bool) -> dict:
    from minifast import ConvLearner, ImageClassifierData, efficientnet_lite0, tfms_from_model
    from minifast.data.course_datasets import get_dataset

    work = Path(tempfile.mkdtemp(prefix="minifast_tta_"))  # a cold precompute cache
    start = time.perf_counter()
    folder = smoke_image_folder(work / "images") if smoke else get_dataset("pokemon")
    tfms = tfms_from_model(efficientnet_lite0, sz)
    data = ImageClassifierData.from_folder(folder, bs=bs, tfms=tfms, valid_pct=0.2, seed=42)
    torch.manual_seed(seed)
    stop = StopAtTarget(target, start)
    learn = ConvLearner.pretrained(efficientnet_lite0, data, precompute=True, path=work,
                                   device="cpu", cbs=[stop])
    precompute_s = time.perf_counter() - start
    learn.fit_one_cycle(epochs, max_lr)
    return {"task": "pokemon", "n_train": len(data.trn_ds), "n_valid": len(data.val_ds),
            "target": target, "reached_s": stop.reached_s, "precompute_s": precompute_s,
            "history": stop.history,
            "recipe": f"ConvLearner.pretrained(efficientnet_lite0, precompute=True), {sz} px, "
                      f"bs={bs}, head only: fit_one_cycle({epochs}, {max_lr}), seed {seed}"}


def to_markdown(results: list[dict], threads: int) -> str:
    lines = [f"torch threads: {threads}", "",
             "| task | target | reached after | epochs run | accuracy per epoch (elapsed s) | recipe |",
             "|---|---|---|---|---|---|"]
    for r in results:
        reached = f"{r['reached_s']:.1f} s" if r["reached_s"] is not None else "not reached"
        hist = ", ".join(f"{h['accuracy']:.4f} ({h['elapsed_s']:.0f})" for h in r["history"])
        lines.append(f"| {r['task']} | {r['target']:.1%} | {reached} | {len(r['history'])} | "
                     f"{hist} | {r['recipe']} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["mnist", "pokemon", "all"], default="all")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--mnist-epochs", type=int, default=8)
    p.add_argument("--mnist-lr", type=float, default=1e-2)
    p.add_argument("--pokemon-epochs", type=int, default=5)
    p.add_argument("--pokemon-lr", type=float, default=1e-2)
    p.add_argument("--sz", type=int, default=224, help="Pokémon image size (default 224)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--smoke", action="store_true", help="tiny data, 1 epoch: checks it runs (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.mnist_epochs, args.pokemon_epochs, args.sz = 1, 1, 32
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "MINIFAST_DATA" not in os.environ and (REPO.parent / "shared" / "data").is_dir():
        os.environ["MINIFAST_DATA"] = str(REPO.parent / "shared" / "data")
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    if args.task in ("mnist", "all"):
        results.append(run_mnist(args.mnist_epochs, args.mnist_lr, 128, 0.993, args.seed, args.smoke))
    if args.task in ("pokemon", "all"):
        results.append(run_pokemon(args.pokemon_epochs, args.pokemon_lr, 64 if not args.smoke else 8,
                                   args.sz, 0.97, args.seed, args.smoke))
    table = to_markdown(results, torch.get_num_threads())
    print(table)
    if args.json:
        args.json.write_text(json.dumps({"torch_threads": torch.get_num_threads(),
                                         "results": results}, indent=2))
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
