"""What the Ctrl-C-safe optimiser step (`InterruptGuard`) costs inside a training loop.

The raw loop of `overhead.py`, with and without `guard.run_step(opt.step)` (the guard installed
once per epoch, as the Learner installs it once per fit), run
alternately; each batch is timed on its own (the time between the starts of consecutive batches)
and the script reports the median over all batches: a batch that another process interrupted
is an outlier and barely moves a median, so this works on a busy machine. The Learner wraps
every step this way (minifast/interrupt.py).

    python benchmarks/step_guard_cost.py            # 5 x 400 batches of 64, MLP, 1 thread
    python benchmarks/step_guard_cost.py --smoke
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: find overhead.py
from overhead import make_batches, make_model  # noqa: E402

from minifast.interrupt import InterruptGuard  # noqa: E402


def batch_times(model: nn.Module, train: list, guard: bool) -> list[float]:
    """Seconds between the starts of consecutive batches of one epoch of the raw loop."""
    loss_func = nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    starts = []
    with InterruptGuard() as step_guard:
        for xb, yb in train:
            starts.append(time.perf_counter())
            loss = loss_func(model(xb), yb)
            loss.backward()
            if guard:
                step_guard.run_step(opt.step)
            else:
                opt.step()
            opt.zero_grad(set_to_none=True)
    return [b - a for a, b in zip(starts, starts[1:])]


def run(n_batches: int, repeats: int) -> dict:
    torch.set_num_threads(1)
    train = make_batches(n_batches, 64, 42, False)
    torch.manual_seed(0)
    init = make_model("mlp", 128).state_dict()
    per_batch = {False: [], True: []}
    for r in range(repeats + 1):
        for guard in ((False, True) if r % 2 == 0 else (True, False)):
            model = make_model("mlp", 128)
            model.load_state_dict(init)
            times = batch_times(model, train, guard)
            if r > 0:  # repeat 0 is a warm-up
                per_batch[guard] += times[10:]
    plain, guarded = statistics.median(per_batch[False]), statistics.median(per_batch[True])
    return {"batches_timed": len(per_batch[False]), "plain_us": plain * 1e6,
            "guarded_us": guarded * 1e6, "guard_cost_us": (guarded - plain) * 1e6}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=400)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.batches, args.repeats = 15, 1
    r = run(args.batches, args.repeats)
    print(f"median per batch over {r['batches_timed']} batches each: raw loop {r['plain_us']:.1f} us, "
          f"with InterruptGuard.run_step(opt.step) {r['guarded_us']:.1f} us, "
          f"difference {r['guard_cost_us']:+.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
