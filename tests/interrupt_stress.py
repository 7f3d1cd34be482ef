"""Ctrl-C at random moments of many fits, as a terminal sends it (to the whole process group):
`python tests/interrupt_stress.py <n_tries> <seed>` prints one line of JSON. Run it in its own
session (start_new_session=True): it interrupts its own process group. Used by
tests/test_interrupt_loaders.py."""
from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sys
import threading
import time

import torch
from torch import nn
from torch.utils.data import TensorDataset

from minifast import DataBunch, Learner
from minifast.data.loaders import make_loader


def learner() -> Learner:
    torch.manual_seed(0)
    x = torch.randn(512, 4)
    y = (x.sum(1) > 0).long()
    data = DataBunch(make_loader(TensorDataset(x, y), bs=32, shuffle=True, num_workers=2),
                     make_loader(TensorDataset(x[:128], y[:128]), bs=64, num_workers=2))
    return Learner(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)), data, device="cpu")


def one_try(learn: Learner, delay: float) -> bool:
    """One fit with a Ctrl-C after `delay` seconds; True if it raised KeyboardInterrupt."""
    timer = threading.Timer(delay, os.killpg, (os.getpgid(0), signal.SIGINT))
    try:
        timer.start()
        learn.fit(1e-2, 2)
        timer.join()  # the Ctrl-C always comes; after the fit, it lands in here
        time.sleep(0.05)
    except KeyboardInterrupt:
        timer.join()
        return True
    return False


def main(n_tries: int, seed: int) -> dict:
    rng = random.Random(seed)
    learn = learner()
    with learn.silent():
        learn.fit(1e-2, 1)  # starts the persistent validation workers
        baseline = len(multiprocessing.active_children())
        start = time.perf_counter()
        learn.fit(1e-2, 2)
        fit_s = time.perf_counter() - start
        lost = sum(not one_try(learn, rng.uniform(0, fit_s * 1.2)) for _ in range(n_tries))
        learn.fit(1e-2, 2)  # still trains...
        preds, _ = learn.get_preds()  # ...and predicts
    deadline = time.monotonic() + 5  # fresh workers stop within a fraction of this
    while len(multiprocessing.active_children()) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"lost": lost, "baseline": baseline, "children": len(multiprocessing.active_children()),
            "preds": list(preds.shape), "fit_s": round(fit_s, 2)}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
