"""Distributed training: two CPU processes (gloo) launched by torchrun, checked against one process.

The launch takes a few seconds (two Python start-ups and three tiny fits); one module-scoped
fixture runs it once and the tests below read what each rank wrote (see tests/ddp_script.py).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import ddp_script
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minifast import Learner, distrib
from minifast.distributed import (
    ShardSampler,
    all_reduce_sum,
    is_main_process,
    rank,
    shard_dataloader,
    world_size,
)

SCRIPT = Path(__file__).with_name("ddp_script.py")


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(SCRIPT.parent.parent)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           str(SCRIPT), str(out)]
    # A new session, so that a hang (ranks waiting for each other) can be ended with every worker.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in 240 s (ranks waiting for each other?):\n{output}")
    assert proc.returncode == 0, f"torchrun failed:\n{output}"
    return out, [torch.load(out / "ranks" / f"rank{r}.pt") for r in range(2)]


def test_both_ranks_end_with_identical_weights(ddp_run):
    _, (r0, r1) = ddp_run
    for run in ("a", "b"):
        s0, s1 = r0[run]["state"], r1[run]["state"]
        assert s0.keys() == s1.keys()
        for key in s0:  # BatchNorm's running stats too: DDP broadcasts rank 0's buffers
            assert torch.equal(s0[key], s1[key]), f"run {run}: {key} differs between ranks"
    # and training did change them (the check above would pass for an untrained model too)
    assert not torch.equal(r0["a"]["state"]["3.weight"], ddp_script.mlp().state_dict()["3.weight"])


def test_reported_metrics_equal_single_process_metrics_on_full_valid_set(ddp_run):
    _, (r0, r1) = ddp_run
    assert r0["a"]["values"] == r1["a"]["values"]  # every rank reports the same numbers
    assert r0["a"]["names"][:4] == ["epoch", "train_loss", "valid_loss", "accuracy"]
    # one process, the final weights, the whole validation set at once
    data = ddp_script.make_data(bs=8, shuffle=False)
    model = ddp_script.mlp()
    model.load_state_dict(r0["a"]["state"])
    model.eval()
    x, y = data.valid_dl.dataset.tensors
    with torch.no_grad():
        out = model(x)
    epoch, _, valid_loss, acc = r0["a"]["values"][-1]
    assert epoch == 2 and len(x) == 37
    assert valid_loss == pytest.approx(nn.functional.cross_entropy(out, y).item(), rel=1e-6)
    assert acc == pytest.approx((out.argmax(dim=1) == y).sum().item() / 37, abs=1e-9)


def test_only_rank_0_wrote_files_and_printed(ddp_run):
    out, (r0, r1) = ddp_run
    assert not (out / "rank1").exists()
    saved = torch.load(out / "rank0" / "models" / "final.pth")
    for key, value in r0["a"]["state"].items():
        assert torch.equal(saved["model"][key], value)  # plain keys: no DDP "module." prefix
    assert "train_loss" in r0["a"]["printed"] and "valid_loss" in r0["a"]["printed"]
    assert r1["a"]["printed"] == ""
    assert r0["a"]["wrapped_after"] == "Sequential"  # distrib(learn) unwraps on exit


def test_two_ranks_of_batch_8_equal_one_process_of_batch_16(ddp_run):
    """Honest DDP math: unshuffled, rank r gets items r, r+2, ..., so one global step sees the
    same 16 items as one single-process batch, and DDP's averaged gradient is that batch's."""
    _, (r0, r1) = ddp_run
    learn = Learner(ddp_script.linear(), ddp_script.make_data(bs=16, shuffle=False), metrics=[],
                    device="cpu", opt_func=torch.optim.SGD, wd=0.0)
    with learn.silent():
        learn.fit(0.5, 2)
    single = learn.recorder.loss_values().tolist()
    assert len(single) == 12
    assert r0["b"]["losses"] == r1["b"]["losses"]  # the loss each rank saw: averaged over ranks
    assert r0["b"]["losses"] == pytest.approx(single, rel=1e-5)
    for key, value in learn.model.state_dict().items():
        torch.testing.assert_close(r0["b"]["state"][key], value, rtol=1e-5, atol=1e-6)


def test_lr_find_early_stopping_and_savers_agree_across_ranks(ddp_run):
    out, (r0, r1) = ddp_run
    find0, find1 = r0["c"]["find"], r1["c"]["find"]
    assert find0["losses"] == find1["losses"]  # same losses -> same stop decision on each rank
    assert len(find0["losses"]) == 10  # the shard (48 items / 8 per batch = 6) repeated
    assert find0["restored"] and find1["restored"]
    assert r0["c"]["stopped"] == r1["c"]["stopped"] == 2
    assert r0["c"]["values"] == r1["c"]["values"] and len(r0["c"]["values"]) == 3
    for key, value in r0["c"]["state"].items():
        assert torch.equal(r1["c"]["state"][key], value), key
    assert (out / "rank0" / "models" / "best_c.pth").is_file()
    assert (out / "rank0" / "history_c.csv").is_file()  # rank 1's folder does not exist at all


def test_main_process_first_lets_rank_0_fill_the_cache_first(ddp_run):
    out, (r0, r1) = ddp_run
    assert r0["d"]["cache_found"] is False and r1["d"]["cache_found"] is True
    assert (out / "cache.txt").read_text() == "computed by rank 0"


def test_same_script_runs_as_one_process(tmp_path):
    ddp_script.main(tmp_path)
    result = torch.load(tmp_path / "ranks" / "rank0.pt")
    assert (tmp_path / "rank0" / "models" / "final.pth").is_file()
    assert result["a"]["wrapped_after"] == "Sequential" and len(result["a"]["values"]) == 3


def test_one_process_distrib_changes_nothing(synth):
    plain, wrapped = synth(), synth()
    with plain.silent():
        plain.fit(0.1, 2)
    with wrapped.silent(), distrib(wrapped):
        wrapped.fit(0.1, 2)
        assert isinstance(wrapped.model, nn.Linear)  # no DDP with one process
    for key, value in plain.model.state_dict().items():
        assert torch.equal(wrapped.model.state_dict()[key], value)
    assert plain.recorder.values[-1][:3] == wrapped.recorder.values[-1][:3]


def test_shard_sampler_gives_each_item_to_exactly_one_rank():
    shards = [list(ShardSampler(37, r, 3)) for r in range(3)]
    assert [len(s) for s in shards] == [13, 12, 12]
    assert [len(ShardSampler(37, r, 3)) for r in range(3)] == [13, 12, 12]
    assert sorted(i for s in shards for i in s) == list(range(37))


def test_shard_dataloader_pads_training_shards_to_equal_length(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    ds = TensorDataset(torch.arange(10.0))
    lens = []
    for r in range(4):
        monkeypatch.setenv("RANK", str(r))
        lens.append(len(shard_dataloader(DataLoader(ds, batch_size=2, shuffle=True), train=True)))
    assert lens == [2, 2, 2, 2]  # 10 items -> 3 per rank (padded) -> 2 batches each
    monkeypatch.setenv("RANK", "3")
    valid = shard_dataloader(DataLoader(ds, batch_size=2), train=False)
    assert [b[0].tolist() for b in valid] == [[3.0, 7.0]]


def test_shard_dataloader_refuses_what_it_cannot_shard(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    ds = TensorDataset(torch.arange(3.0))
    with pytest.raises(ValueError, match="validation set has 3 items, fewer than the 4"):
        shard_dataloader(DataLoader(ds, batch_size=2), train=False)
    custom = DataLoader(ds, batch_sampler=[[0, 1], [2]])
    with pytest.raises(ValueError, match="batch_sampler"):
        shard_dataloader(custom, train=True)
    with pytest.raises(TypeError, match="torch DataLoader"):
        shard_dataloader([1, 2, 3], train=True)


def test_save_writes_nothing_on_other_ranks(monkeypatch, synth, tmp_path):
    learn = synth(path=tmp_path)
    monkeypatch.setenv("RANK", "1")
    assert rank() == 1 and not is_main_process()
    path = learn.save("m")
    assert path == tmp_path / "models" / "m.pth" and not path.exists()
    monkeypatch.setenv("RANK", "0")
    assert learn.save("m").is_file()


def test_helpers_without_a_process_group():
    assert world_size() == 1 and rank() == 0 and is_main_process()
    total = all_reduce_sum([1.5, torch.tensor(2.0), 3])
    assert [t.item() for t in total] == [1.5, 2.0, 3.0] and total[0].dtype == torch.float64
