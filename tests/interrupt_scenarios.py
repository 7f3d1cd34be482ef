"""Ctrl-C at exact moments of a DataLoader's life, each in its own process (signal handlers and
fork hooks are process-wide): `python tests/interrupt_scenarios.py <scenario>` prints one line
of JSON with what happened. Used by tests/test_interrupt_loaders.py."""
from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
import sys
import time

import torch
from torch.utils.data import TensorDataset
from torch.utils.data import dataloader as torch_dataloader

from minifast.data.loaders import make_loader

DS = TensorDataset(torch.arange(16.0)[:, None], torch.arange(16))


def ctrl_c() -> None:
    """A Ctrl-C, delivered to this process now; Python runs the handler at the next bytecode."""
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(3):  # a few bytecodes, so the handler runs here, inside the hook
        pass


def passes_ok(dl, n: int = 3) -> bool:
    """`n` full passes that give every item once."""
    return all(sorted(int(v) for _, y in dl for v in y) == list(range(16)) for _ in range(n))


def pass_interrupted(dl) -> bool:
    """One pass over `dl`: True when the Ctrl-C came out of it as a KeyboardInterrupt."""
    try:
        list(dl)
    except KeyboardInterrupt:
        return True
    return False


def reset_interrupted() -> dict:
    """Ctrl-C while persistent workers are being reset for the next pass."""
    dl = make_loader(DS, bs=4, num_workers=2, persistent=True)
    assert passes_ok(dl, 1)
    it_class = torch_dataloader._MultiProcessingDataLoaderIter
    real_reset, real_get = it_class._reset, it_class._get_data
    armed = []

    def reset(self, loader, first_iter=False):
        armed.append(True)
        return real_reset(self, loader, first_iter)

    def get_data(self):
        if armed:
            armed.clear()
            ctrl_c()
        return real_get(self)
    it_class._reset, it_class._get_data = reset, get_data
    interrupted = pass_interrupted(dl)
    it_class._reset, it_class._get_data = real_reset, real_get
    try:
        ok = passes_ok(dl)
    except Exception as e:  # noqa: BLE001 - the broken loader raises KeyError(_ResumeIteration)
        ok = f"{type(e).__name__}: {e}"
    return {"interrupted": interrupted, "later_passes": ok}


def fork_hook_interrupted() -> dict:
    """Ctrl-C inside a fork hook (Python prints exceptions raised there, and goes on)."""
    armed = [True]

    def hook():
        if armed:
            armed.clear()
            ctrl_c()
    os.register_at_fork(after_in_parent=hook)
    dl = make_loader(DS, bs=4, num_workers=2, shuffle=True)
    interrupted = pass_interrupted(dl)
    return {"interrupted": interrupted, "later_passes": passes_ok(dl, 1)}


def start_interrupted() -> dict:
    """Ctrl-C just after the first of two fresh workers has started."""
    real_start = multiprocessing.process.BaseProcess.start
    armed = [True]

    def start(self):
        real_start(self)
        if armed:
            armed.clear()
            ctrl_c()
    multiprocessing.process.BaseProcess.start = start
    dl = make_loader(DS, bs=4, num_workers=2, shuffle=True)
    interrupted = pass_interrupted(dl)
    multiprocessing.process.BaseProcess.start = real_start
    gc.collect()
    return {"interrupted": interrupted, "children": live_children(), "later_passes": passes_ok(dl, 1)}


def live_children() -> int:
    """Child processes still running after up to 5 s (workers stop within a fraction of that)."""
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(multiprocessing.active_children())


if __name__ == "__main__":
    scenario = {"reset": reset_interrupted, "fork_hook": fork_hook_interrupted,
                "start": start_interrupted}[sys.argv[1]]
    print(json.dumps(scenario()))
