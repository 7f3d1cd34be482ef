"""The Learner: param groups and lrs, save/load, predictions, bad input, a real fit."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from minifast import DataBunch, Learner, accuracy, mnist_sample_data
from minifast.demo import simple_cnn
from tests.conftest import synth_data, synth_learner


def three_group_learner(**kwargs) -> Learner:
    model = nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 1))
    groups = [model[0], model[2], model[3]]
    return Learner(model, synth_data(), loss_func=nn.MSELoss(), metrics=[], device="cpu",
                   layer_groups=groups, **kwargs)


@pytest.mark.parametrize("lrs, expected", [
    (0.1, [0.1, 0.1, 0.1]),
    ([1e-3, 1e-2, 1e-1], [1e-3, 1e-2, 1e-1]),
    (np.array([1e-4, 1e-3, 1e-2]), [1e-4, 1e-3, 1e-2]),
    (slice(1e-4, 1e-2), [1e-4, 1e-3, 1e-2]),
    (slice(1e-2), [1e-3, 1e-3, 1e-2]),
])
def test_per_group_lrs_land_in_the_optimiser(lrs, expected):
    learn = three_group_learner()
    with learn.silent():
        learn.fit(lrs, 1)
    got = [g["lr"] for g in learn.opt.param_groups]
    assert got == pytest.approx(expected, rel=1e-12)
    assert [len(g["params"]) for g in learn.opt.param_groups] == [2, 2, 2]


def test_wrong_number_of_lrs_is_a_clear_error():
    learn = three_group_learner()
    with pytest.raises(ValueError, match="lr has 2 values but the model has 3 layer groups"):
        learn.fit([1e-3, 1e-2], 1)


def test_layer_groups_must_cover_every_parameter():
    model = nn.Sequential(nn.Linear(1, 4), nn.Linear(4, 1))
    learn = Learner(model, synth_data(), loss_func=nn.MSELoss(), device="cpu", layer_groups=[model[0]])
    with pytest.raises(ValueError, match="layer_groups miss 2"):
        learn.fit(0.1, 1)


def test_empty_dataloader_is_a_clear_error():
    empty = DataLoader(TensorDataset(torch.zeros(0, 1), torch.zeros(0, 1)), batch_size=4)
    learn = Learner(nn.Linear(1, 1), DataBunch(empty, empty), loss_func=nn.MSELoss(), device="cpu")
    with pytest.raises(ValueError, match="train_dl is empty"):
        learn.fit(0.1, 1)


def test_a_failing_metric_names_itself():
    def broken(pred, targ):
        raise RuntimeError("boom")

    learn = synth_learner(metrics=[broken])
    with pytest.raises(RuntimeError, match="boom") as info:
        learn.fit(0.1, 1)
    notes = "\n".join(info.value.__notes__)
    assert "metric 'broken' failed on validation batch 0" in notes
    assert "Recorder.after_loss" in notes


def test_recorder_rows_and_losses():
    learn = synth_learner(n_train=64, bs=16)
    learn.fit(0.1, 2)
    rec = learn.recorder
    assert rec.names == ["epoch", "train_loss", "valid_loss", "time"]
    assert [row[0] for row in rec.values] == [0, 1]
    assert len(rec.losses) == 8 and len(rec.lrs) == 8 and rec.lrs[0] == [0.1]
    # the epoch's train_loss is the size-weighted mean of its batch losses (all batches = 16)
    assert rec.values[1][1] == pytest.approx(sum(rec.losses[4:]) / 4, rel=1e-6)
    assert rec.values[1][2] < rec.values[0][2]  # it learns


def test_freeze_to_sets_requires_grad_per_group():
    learn = three_group_learner()
    learn.freeze()
    assert [all(p.requires_grad for p in g.parameters()) for g in learn.layer_groups] == [False, False, True]
    learn.freeze_to(1)
    assert [all(p.requires_grad for p in g.parameters()) for g in learn.layer_groups] == [False, True, True]
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())
    with pytest.raises(ValueError, match="3 layer groups"):
        learn.freeze_to(5)


def test_frozen_groups_do_not_change_even_with_weight_decay():
    learn = three_group_learner(wd=0.5)
    learn.freeze()
    before = [p.detach().clone() for p in learn.model.parameters()]
    with learn.silent():
        learn.fit(0.1, 1)
    after = list(learn.model.parameters())
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])
    assert not torch.equal(before[4], after[4])


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    learn = synth_learner(path=tmp_path)
    learn.fit(0.1, 1)
    preds, _ = learn.get_preds()
    path = learn.save("stage1")
    assert path == tmp_path / "models" / "stage1.pth" and path.is_file()
    assert not list((tmp_path / "models").glob("*.tmp"))  # no temp file left behind
    other = synth_learner(path=tmp_path)  # same data, untrained model
    assert not torch.equal(other.get_preds()[0], preds)
    other.load("stage1")
    assert torch.equal(other.get_preds()[0], preds)
    assert other.opt.state_dict()["state"].keys() == learn.opt.state_dict()["state"].keys()


def test_mismatched_load_names_the_keys_and_changes_nothing(tmp_path):
    learn = Learner(nn.Sequential(nn.Linear(1, 3), nn.Linear(3, 1)), synth_data(),
                    loss_func=nn.MSELoss(), device="cpu", path=tmp_path)
    learn.save("two_layers")
    other = Learner(nn.Sequential(nn.Linear(1, 5), nn.Linear(5, 1), nn.Identity()), synth_data(),
                    loss_func=nn.MSELoss(), device="cpu", path=tmp_path)
    before = {k: v.clone() for k, v in other.model.state_dict().items()}
    with pytest.raises(ValueError) as info:
        other.load("two_layers")
    msg = str(info.value)
    assert "nothing was loaded" in msg and "0.weight: checkpoint (3, 1) vs model (5, 1)" in msg
    assert all(torch.equal(before[k], v) for k, v in other.model.state_dict().items())

    third = Learner(nn.Sequential(nn.Linear(1, 3)), synth_data(), loss_func=nn.MSELoss(),
                    device="cpu", path=tmp_path)
    with pytest.raises(ValueError, match="unexpected keys: 1.weight, 1.bias"):
        third.load("two_layers")


def test_truncated_checkpoint_is_refused_and_model_unchanged(tmp_path):
    learn = synth_learner(path=tmp_path)
    path = learn.save("good")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with pytest.raises(RuntimeError, match="truncated, corrupt"):
        learn.load("good")
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())


def test_missing_checkpoint_lists_what_exists(tmp_path):
    learn = synth_learner(path=tmp_path)
    learn.save("alpha")
    with pytest.raises(FileNotFoundError, match=r"saved names here: \['alpha'\]"):
        learn.load("beta")


def test_get_preds_gives_probabilities_for_cross_entropy():
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    dl = DataLoader(TensorDataset(x, y), batch_size=4)
    learn = Learner(nn.Linear(4, 3), DataBunch(dl, dl), device="cpu")
    probs, targs = learn.predict()
    assert probs.shape == (10, 3) and torch.equal(targs, y)
    assert torch.allclose(probs.sum(1), torch.ones(10))
    assert torch.allclose(probs, torch.softmax(learn.model(x), 1), atol=1e-6)


def test_one_epoch_on_the_mnist_sample_beats_chance_by_far():
    torch.manual_seed(0)
    data = mnist_sample_data(bs=64, n_train=2000)
    learn = Learner(simple_cnn(), data, metrics=[accuracy], device="cpu")
    with learn.silent():
        learn.fit(3e-3, 1)
    assert learn.recorder.log["accuracy"] > 0.80  # chance is 0.10
