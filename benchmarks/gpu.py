"""GPU throughput: training images per second, minifast's Learner vs a raw PyTorch loop, same device.

Two workloads:
    mnist_cnn            the demo's small CNN (minifast/demo.py) on the bundled MNIST sample
    efficientnet_lite0   fine-tuning (unfrozen, ImageNet weights) on random 224 px images

Both sides train the same model from the same weights on the same pre-made batches (pinned CPU
memory on CUDA, copied with non_blocking=True, as the Learner's `to_device` does), with AdamW
(wd 0.01) and cross-entropy. `--precision`: fp32, fp16 (autocast + GradScaler; MixedPrecision in
the Learner) or bf16 (autocast). `--channels-last` stores the weights NHWC on both sides. After
one warm-up epoch each, raw and Learner epochs alternate `--repeats` times; only the training
phase is timed, with `torch.cuda.synchronize()` before each clock reading. The Learner runs
with its default callbacks inside `learn.silent()` (no bar; overhead.py measures the bar).

    python benchmarks/gpu.py --json benchmarks/results/gpu.json --markdown benchmarks/results/gpu.md
    python benchmarks/gpu.py --precision fp16 --channels-last
    python benchmarks/gpu.py --device cpu --smoke        # 2 tiny batches per epoch: it runs
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from minifast import Callback, ConvLearner, DataBunch, Learner, MixedPrecision, efficientnet_lite0  # noqa: E402
from minifast.data.samples import mnist_sample_data  # noqa: E402
from minifast.demo import simple_cnn  # noqa: E402

DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
Batches = list[tuple[torch.Tensor, torch.Tensor]]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # CUDA runs asynchronously: wait before reading a clock


class TrainClock(Callback):
    """Seconds of the training phase (before_train to after_train), GPU work included."""

    def before_train(self):
        sync(self.learn.device)
        self.start = time.perf_counter()

    def after_train(self):
        sync(self.learn.device)
        self.seconds = time.perf_counter() - self.start


def mnist_batches(n_batches: int, bs: int) -> Batches:
    dl = mnist_sample_data(bs=bs, n_train=n_batches * bs).train_dl
    return [(x, y) for x, y in dl][:n_batches]


def image_batches(n_batches: int, bs: int, sz: int) -> Batches:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(bs, 3, sz, sz, generator=g), torch.randint(0, 10, (bs,), generator=g))
            for _ in range(n_batches)]


def pin(batches: Batches, device: torch.device) -> Batches:
    if device.type != "cuda":
        return batches
    return [(x.pin_memory(), y.pin_memory()) for x, y in batches]


def make_model(workload: str, data: DataBunch) -> nn.Module:
    torch.manual_seed(0)
    if workload == "mnist_cnn":
        return simple_cnn()
    model = ConvLearner.pretrained(efficientnet_lite0, data, device="cpu").model
    return model.requires_grad_(True)  # fine-tuning: the whole network trains


def raw_epoch(model: nn.Module, batches: Batches, device: torch.device,
              dtype: torch.dtype | None) -> tuple[float, float]:
    """One training epoch as a user writes it by hand: (seconds, last loss)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    model.train()
    sync(device)
    start = time.perf_counter()
    for xb, yb in batches:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = nn.functional.cross_entropy(model(xb), yb)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        opt.zero_grad(set_to_none=True)
    sync(device)
    return time.perf_counter() - start, float(loss.detach())


def learner_epoch(model: nn.Module, batches: Batches, device: torch.device,
                  dtype: torch.dtype | None, classes: list[str]) -> tuple[float, float]:
    """The same epoch with `Learner.fit(1e-4, 1)`: (seconds, last loss)."""
    clock = TrainClock()
    cbs = [clock] + ([MixedPrecision(dtype)] if dtype is not None else [])
    learn = Learner(model, DataBunch(batches, [], classes=classes), loss_func=nn.CrossEntropyLoss(),
                    metrics=[], wd=0.01, device=device, cbs=cbs)
    with learn.silent():
        learn.fit(1e-4, 1)
    return clock.seconds, float(learn.recorder.losses[-1])


def run_workload(workload: str, args, device: torch.device) -> dict:
    bs = args.bs or (256 if workload == "mnist_cnn" else 64)
    if workload == "mnist_cnn":
        batches = mnist_batches(args.batches or 31, bs)  # 31 x 256: the whole 8,000-digit sample
    else:
        batches = image_batches(args.batches or 20, bs, args.sz)
    batches = pin(batches, device)
    classes = [str(i) for i in range(10)]
    init = make_model(workload, DataBunch(batches, [], classes=classes))
    dtype = DTYPES[args.precision]

    def fresh() -> nn.Module:
        torch.manual_seed(1)  # the same dropout masks on both sides
        model = copy.deepcopy(init).to(device)
        return model.to(memory_format=torch.channels_last) if args.channels_last else model

    sides = {"raw": lambda: raw_epoch(fresh(), batches, device, dtype),
             "minifast": lambda: learner_epoch(fresh(), batches, device, dtype, classes)}
    for side in sides.values():  # warm-up: cuDNN autotuning, allocator, first-use costs
        side()
    seconds = {name: [] for name in sides}
    last_loss = {}
    for _ in range(args.repeats):  # interleaved, so a busy moment hits both sides alike
        for name, side in sides.items():
            secs, last_loss[name] = side()
            seconds[name].append(secs)
    n_images = sum(len(y) for _, y in batches)
    result = {"batch_size": bs, "n_batches": len(batches), "images_per_epoch": n_images}
    for name, secs in seconds.items():
        result[name] = {"images_per_s": n_images / statistics.median(secs), "seconds": secs,
                        "last_loss": last_loss[name]}
    result["minifast_vs_raw"] = result["minifast"]["images_per_s"] / result["raw"]["images_per_s"]
    return result


def table(results: dict) -> str:
    lines = ["| workload | raw loop (img/s) | minifast (img/s) | minifast / raw |",
             "|---|---:|---:|---:|"]
    for workload, r in results["workloads"].items():
        lines.append(f"| {workload} (bs {r['batch_size']}) | {r['raw']['images_per_s']:,.0f} | "
                     f"{r['minifast']['images_per_s']:,.0f} | {r['minifast_vs_raw']:.3f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:1, or cpu")
    parser.add_argument("--workloads", default="mnist_cnn,efficientnet_lite0")
    parser.add_argument("--precision", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--bs", type=int, default=None, help="default: 256 MNIST, 64 EfficientNet")
    parser.add_argument("--batches", type=int, default=None, help="batches per timed epoch")
    parser.add_argument("--sz", type=int, default=224, help="EfficientNet image size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="2 tiny batches, 1 repeat: it runs")
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA GPU (use --device cpu for a smoke run)")
    if args.smoke:
        args.bs, args.batches, args.sz, args.repeats = 4, 2, 32, 1
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    workloads = args.workloads.split(",")
    unknown = set(workloads) - {"mnist_cnn", "efficientnet_lite0"}
    if unknown:
        parser.error(f"--workloads: unknown {sorted(unknown)}; choose mnist_cnn, efficientnet_lite0")
    results = {"config": {**vars(args), "device_name": torch.cuda.get_device_name(device)
                          if device.type == "cuda" else platform.processor() or platform.machine(),
                          "torch": torch.__version__},
               "workloads": {w: run_workload(w, args, device) for w in workloads}}
    text = table(results)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
