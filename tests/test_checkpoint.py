"""Checkpoint safety: a save that dies midway keeps the previous file; foreign objects are refused;
what learn.save writes (training state, RNG states) loads with weights_only=True."""
import errno
import functools
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

import minifast.checkpoint as checkpoint
from minifast import Learner
from minifast.checkpoint import read_checkpoint
from tests.conftest import REPO, synth_data, synth_learner


def weights(learn) -> dict:
    return {k: v.clone() for k, v in learn.model.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_save_killed_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch, error):
    learn = synth_learner(path=tmp_path)
    learn.save("model")
    first = weights(learn)
    with learn.silent():
        learn.fit(0.1, 1)
    assert not same(weights(learn), first)

    real_save = torch.save

    def dying_save(obj, f):  # writes part of the file, then the "crash"
        f.write(b"PK\x03\x04 half a checkpoint")
        raise error

    monkeypatch.setattr(checkpoint.torch, "save", dying_save)
    with pytest.raises(type(error)):
        learn.save("model")
    monkeypatch.setattr(checkpoint.torch, "save", real_save)

    assert [p.name for p in (tmp_path / "models").iterdir()] == ["model.pth"]  # no temp left
    learn.load("model")
    assert same(weights(learn), first)


class Payload:
    """An arbitrary pickled object: unpickling it would run `open(marker, 'w')`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_carrying_a_pickled_object_is_refused(tmp_path):
    learn = synth_learner(path=tmp_path)
    marker = tmp_path / "code_ran"
    state = {"model": learn.model.state_dict(), "note": Payload(marker)}
    (tmp_path / "models").mkdir()
    torch.save(state, tmp_path / "models" / "evil.pth")  # plain pickle, as a stranger would
    before = weights(learn)
    with pytest.raises(RuntimeError, match="refused for safety"):
        learn.load("evil")
    assert not marker.exists()  # the payload never ran
    assert same(weights(learn), before)


class Custom:
    pass


def test_a_checkpoint_with_a_custom_class_is_refused(tmp_path):
    learn = synth_learner(path=tmp_path)
    (tmp_path / "models").mkdir()
    torch.save({"model": learn.model.state_dict(), "obj": Custom()}, tmp_path / "models" / "c.pth")
    with pytest.raises(RuntimeError, match="objects other than tensors"):
        learn.load("c")


def test_what_save_writes_loads_with_weights_only(tmp_path):
    learn = synth_learner(path=tmp_path)
    with learn.silent():
        learn.fit(0.1, 2)
    path = learn.save("full")
    state = torch.load(path, weights_only=True)  # raises if anything but tensors/containers
    assert state["epoch"] == 2 and state["n_epoch"] == 2
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda", "dataloaders"}
    assert len(state["rng"]["dataloaders"]["train_dl"]) == 1  # synth's DataLoader generator
    assert same(state["model"], weights(learn))
    assert state["opt"]["param_groups"][0]["lr"] == 0.1


def test_save_before_any_fit_counts_zero_epochs(tmp_path):
    learn = synth_learner(path=tmp_path)
    assert read_checkpoint(learn.save("init"))["epoch"] == 0


def test_extra_entries_are_saved(tmp_path):
    learn = synth_learner(path=tmp_path)
    state = read_checkpoint(learn.save("x", note="hello", step=torch.tensor(3)))
    assert state["note"] == "hello" and state["step"].item() == 3


# ------------------------------------------------------------------ half-loads
def sgd_learner(path, **kwargs):
    return synth_learner(path=path, opt_func=functools.partial(torch.optim.SGD, momentum=0.9),
                         **kwargs)


def test_an_sgd_checkpoint_is_refused_by_an_adamw_learner(tmp_path):
    sgd = sgd_learner(tmp_path)
    with sgd.silent():
        sgd.fit(0.1, 1)  # momentum buffers in the optimiser state
    sgd.save("sgd")
    adamw = synth_learner(path=tmp_path, opt_func=torch.optim.AdamW)
    before = weights(adamw)
    with pytest.raises(ValueError, match="SGD optimiser, this learner uses AdamW.*with_opt=False"):
        adamw.load("sgd")
    assert same(weights(adamw), before)  # nothing changed
    adamw.load("sgd", with_opt=False)  # the documented way to take only the weights
    assert same(weights(adamw), weights(sgd))
    with adamw.silent():
        adamw.fit(0.1, 1)  # the optimiser is still a working AdamW (no KeyError: 'betas')


def test_an_old_checkpoint_without_the_type_is_refused_by_its_settings(tmp_path):
    sgd = sgd_learner(tmp_path)
    sgd.create_opt()
    state = read_checkpoint(sgd.save("sgd"))
    del state["opt_type"]  # as written before the type was stored
    checkpoint.save_checkpoint(state, tmp_path / "models" / "old.pth")
    adamw = synth_learner(path=tmp_path, opt_func=torch.optim.AdamW)
    with pytest.raises(ValueError, match="param group 0 has settings.*another optimiser type"):
        adamw.load("old")


def two_layer_learner(path, groups: bool):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 4), nn.Linear(4, 1))
    return Learner(model, synth_data(), loss_func=nn.MSELoss(), metrics=[], device="cpu",
                   path=path, layer_groups=[model[0], model[1]] if groups else None)


def test_a_checkpoint_with_other_param_groups_changes_nothing(tmp_path):
    two = two_layer_learner(tmp_path, groups=True)
    with two.silent():
        two.fit(0.1, 1)
    two.save("two_groups")
    one = two_layer_learner(tmp_path, groups=False)
    one.create_opt()
    before = weights(one)
    with pytest.raises(ValueError, match="has 2 optimiser param group.*this optimiser 1"):
        one.load("two_groups")
    assert same(weights(one), before)  # before the fix the weights were replaced, then it raised


def test_an_optimiser_buffer_of_another_shape_is_refused(tmp_path):
    learn = sgd_learner(tmp_path)
    with learn.silent():
        learn.fit(0.1, 1)
    state = read_checkpoint(learn.save("m"))
    state["opt"]["state"][0]["momentum_buffer"] = torch.zeros(3, 3)
    checkpoint.save_checkpoint(state, tmp_path / "models" / "bad.pth")
    with pytest.raises(ValueError, match="'momentum_buffer' of parameter 0 has shape \\(3, 3\\)"):
        learn.load("bad")


# ---------------------------------------------------------------------- checksum
def test_a_flipped_bit_in_tensor_data_is_detected(tmp_path):
    learn = synth_learner(path=tmp_path)
    with torch.no_grad():
        learn.model.weight.fill_(1.2345678)
    path = learn.save("m")
    data = bytearray(path.read_bytes())
    at = data.find(torch.tensor([1.2345678]).numpy().tobytes())
    assert at > 0
    data[at] ^= 0x01  # one bit of the weight, as a bad disk or copy would flip it
    path.write_bytes(bytes(data))
    with torch.no_grad():
        learn.model.weight.fill_(0.5)
    with pytest.raises(RuntimeError, match="damaged.*checksum.*Nothing was loaded"):
        learn.load("m")
    assert learn.model.weight.item() == 0.5


def test_the_checksum_covers_every_tensor_and_value():
    state = {"model": {"w": torch.ones(2)}, "epoch": 3,
             "rng": {"t": torch.zeros(4, dtype=torch.uint8)}}
    digest = checkpoint.checksum(state)
    assert checkpoint.checksum({**state, "checksum": "x"}) == digest  # its own entry is left out
    assert checkpoint.checksum({**state, "epoch": 4}) != digest
    one_bit = {"t": torch.tensor([0, 0, 0, 1], dtype=torch.uint8)}
    assert checkpoint.checksum({**state, "rng": one_bit}) != digest
    other_dtype = {"w": torch.ones(2, dtype=torch.float64)}
    assert checkpoint.checksum({**state, "model": other_dtype}) != digest


# ---------------------------------------------------------------------- kill -9 during a save
KILLED_SAVE = """
import os, sys, time, torch
import minifast.checkpoint as checkpoint
def hang(fd):  # the file is fully written: now wait to be killed, as in a slow fsync
    print("writing", flush=True)
    time.sleep(60)
checkpoint.os.fsync = hang
checkpoint.save_checkpoint({"model": {"w": torch.zeros(1000, 1000)}}, sys.argv[1])
"""


def test_temp_files_of_a_save_killed_by_sigkill_are_removed_by_the_next_save(tmp_path):
    target = tmp_path / "models" / "m.pth"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(target)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].stat().st_size > 4_000_000  # a full-size orphan
    assert f".{proc.pid}-" in left[0].name  # the writer's pid is in the name
    learn = synth_learner(path=tmp_path)
    learn.save("other")  # any save into that folder cleans up
    assert sorted(p.name for p in target.parent.iterdir()) == ["other.pth"]


def test_live_and_foreign_temp_files_are_kept_old_ones_removed(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    live = folder / f".a.pth.{os.getpid()}-{checkpoint.HOST_ID}.abcd1234.tmp"  # this process
    old = folder / ".b.pth.abcd1234.tmp"  # the older name without a pid
    foreign = folder / ".notes.tmp"  # not a checkpoint temp file
    for p in (live, old, foreign):
        p.write_bytes(b"x")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(foreign, (hour_ago, hour_ago))
    assert checkpoint.remove_stale_temps(folder) == [old]
    assert live.exists() and foreign.exists() and not old.exists()


def test_saving_into_a_read_only_folder_says_what_to_do(tmp_path, monkeypatch):
    """fastai 0.7 puts models/ next to the data; a read-only data folder gets a clear message
    (root ignores chmod, so the folder's mkdir is made to fail as it would for a user)."""
    from pathlib import Path

    from minifast.checkpoint import save_checkpoint

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(OSError, match=r"cannot write .*m\.pth .*Permission denied.*path='some/dir'"):
        save_checkpoint({"model": {}}, tmp_path / "data" / "models" / "m.pth")
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------- a full disk
@pytest.mark.parametrize("existing", [True, False])
def test_a_full_disk_during_save_names_the_file_and_the_cause(tmp_path, monkeypatch, existing):
    """torch.save turns the failed write into '[enforce fail at inline_container.cc] unexpected
    pos', naming neither; the error says which file, that the disk is full, and nothing is lost."""
    from tests.full_disk import full_disk

    learn = synth_learner(path=tmp_path)
    if existing:
        learn.save("model")
    before = (tmp_path / "models" / "model.pth").read_bytes() if existing else None
    full_disk(monkeypatch)
    kept = "is unchanged" if existing else "no file was written"
    with pytest.raises(OSError, match=rf"could not write .*model\.pth: the disk holding .* is "
                                      rf"full .*Nothing was lost: .*{kept}") as err:
        learn.save("model")
    assert err.value.errno == errno.ENOSPC
    assert [p.name for p in (tmp_path / "models").iterdir()] == (["model.pth"] if existing else [])
    if existing:
        assert (tmp_path / "models" / "model.pth").read_bytes() == before


def test_a_full_disk_during_save_model_names_the_file(tmp_path, monkeypatch):
    from minifast import SaveModel
    from tests.full_disk import full_disk

    learn = synth_learner(path=tmp_path)
    full_disk(monkeypatch)
    with learn.silent(), pytest.raises(OSError, match=r"could not write .*best\.pth: the disk"):
        learn.fit(0.1, 1, cbs=[SaveModel(name="best")])
    assert list((tmp_path / "models").iterdir()) == []  # no temp file left behind
