"""Checkpoint safety: a save that dies midway keeps the previous file; foreign objects are refused;
what learn.save writes (training state, RNG states) loads with weights_only=True."""
import pytest
import torch

import minifast.checkpoint as checkpoint
from minifast.checkpoint import read_checkpoint
from tests.conftest import synth_learner


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
