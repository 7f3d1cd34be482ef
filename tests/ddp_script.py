"""Train tiny models with `distrib(learn)`; launched by tests/test_distributed.py.

    python -m torch.distributed.run --nproc_per_node=2 --standalone tests/ddp_script.py OUTDIR
    python tests/ddp_script.py OUTDIR              # the same script, one process

Three runs, all on a small classification problem:
  A. shuffled data, an MLP with BatchNorm, AdamW, `save` at the end: what a user runs.
  B. unshuffled data, a linear model, SGD: the run whose per-batch losses and final weights a
     single process with twice the batch size must reproduce (see the test).
  C. the other callbacks under DDP: lr_find, freeze/unfreeze, one-cycle, EarlyStopping,
     SaveModel and CSVLogger.
  D. `main_process_first` (what precompute uses): rank 0 fills a cache before the others look.
Each rank writes what the test compares to OUTDIR/ranks/; the library's own files (learn.save)
go to OUTDIR/rank<r>/, so the test can see that only rank 0 wrote anything.
"""
from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minifast import CSVLogger, DataBunch, EarlyStopping, Learner, SaveModel, accuracy, distrib
from minifast.distributed import is_main_process, main_process_first, rank

N_TRAIN, N_VALID, N_IN, N_OUT = 96, 37, 4, 3  # 37: the two validation shards differ (19, 18)


def make_data(bs: int, shuffle: bool) -> DataBunch:
    """Points in R^4, labelled by which of three fixed directions they point most along."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N_TRAIN + N_VALID, N_IN, generator=g)
    y = (x @ torch.randn(N_IN, N_OUT, generator=g)).argmax(dim=1)
    train = TensorDataset(x[:N_TRAIN], y[:N_TRAIN])
    valid = TensorDataset(x[N_TRAIN:], y[N_TRAIN:])
    return DataBunch(DataLoader(train, batch_size=bs, shuffle=shuffle, generator=g),
                     DataLoader(valid, batch_size=8))


def mlp() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(N_IN, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, N_OUT))


def linear() -> nn.Module:
    torch.manual_seed(2)
    return nn.Linear(N_IN, N_OUT)


def run_a(out: Path) -> dict:
    """The user's run: shuffled shards, BatchNorm buffers, progress table, a checkpoint."""
    learn = Learner(mlp(), make_data(bs=8, shuffle=True), metrics=[accuracy], device="cpu",
                    path=out / f"rank{rank()}")
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        with distrib(learn):
            learn.fit(1e-2, 3)
            learn.save("final")
    return {"state": learn.model.state_dict(), "names": learn.recorder.names,
            "values": [row[:-1] for row in learn.recorder.values],  # without the time column
            "printed": text.getvalue(), "wrapped_after": type(learn.model).__name__}


def run_b() -> dict:
    """The oracle run: rank r gets items r, r+2, ... in order, 8 per batch, plain SGD."""
    learn = Learner(linear(), make_data(bs=8, shuffle=False), metrics=[], device="cpu",
                    opt_func=torch.optim.SGD, wd=0.0)
    with learn.silent(), distrib(learn):
        learn.fit(0.5, 2)
    return {"state": learn.model.state_dict(), "losses": learn.recorder.loss_values().tolist()}


def run_c(out: Path) -> dict:
    """lr_find must restore; every rank must stop at the same epoch; only rank 0 writes."""
    model = mlp()
    learn = Learner(model, make_data(bs=8, shuffle=True), metrics=[accuracy], device="cpu",
                    layer_groups=[model[:3], model[3:]], path=out / f"rank{rank()}",
                    cbs=[CSVLogger("history_c.csv")])
    start = {k: v.clone() for k, v in model.state_dict().items()}
    with learn.silent(), distrib(learn):
        learn.lr_find(num_it=10)  # more than this rank's shard of 6 batches: it repeats
        find = {"losses": learn.recorder.loss_values().tolist(), "restored": all(
            torch.equal(v, start[k]) for k, v in learn.model.state_dict().items())}
        learn.freeze()
        learn.fit_one_cycle(1, 1e-2)
        learn.unfreeze()
        # min_delta=10: only the first epoch counts as an improvement -> stop after epoch 2
        stopper = EarlyStopping(min_delta=10.0, patience=2)
        learn.fit(1e-2, 6, cbs=[SaveModel(name="best_c"), stopper])
    return {"find": find, "state": learn.model.state_dict(), "stopped": stopper.stopped_epoch,
            "values": [row[:-1] for row in learn.recorder.values]}


def run_d(out: Path) -> dict:
    """main_process_first, as precompute uses it: rank 0 fills a cache, the others then read it."""
    cache = out / "cache.txt"
    with main_process_first():
        found = cache.is_file()
        if not found and is_main_process():
            cache.write_text("computed by rank 0")
    return {"cache_found": found}


def main(out: Path) -> None:
    torch.set_num_threads(1)
    result = {"a": run_a(out), "b": run_b(), "c": run_c(out), "d": run_d(out)}
    (out / "ranks").mkdir(parents=True, exist_ok=True)  # test output, written by every rank
    torch.save(result, out / "ranks" / f"rank{rank()}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
