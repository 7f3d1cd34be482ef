"""Checkpoint and resume: a resumed run's losses equal an unbroken run's, bit for bit on the CPU.
And set_seed: same seed -> the same loss curve, shuffles and augmentations included."""
import functools
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from minifast import Callback, DataBunch, EarlyStopping, Learner, SaveModel, set_seed
from minifast.checkpoint import read_checkpoint, save_checkpoint
from minifast.data.loaders import make_loader
from tests.conftest import synth_learner


class NoisyLine(Dataset):
    """y = 2x + 1 with an augmentation drawing from NumPy, Python's random and torch."""

    def __init__(self, n: int):
        self.x = torch.linspace(-2, 2, n)[:, None]
        self.y = 2 * self.x + 1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        jitter = np.random.normal(0, 0.1) + random.uniform(-0.1, 0.1) + 0.1 * torch.randn(1)
        return self.x[i] + jitter.float(), self.y[i]


def global_rng_learner(path, seed: int = 0) -> Learner:
    """Every random source is global: init, dropout, shuffling, augmentation."""
    set_seed(seed)
    model = nn.Sequential(nn.Linear(1, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 1))
    data = DataBunch(DataLoader(NoisyLine(64), batch_size=16, shuffle=True),
                     DataLoader(NoisyLine(32), batch_size=16))
    return Learner(model, data, loss_func=nn.MSELoss(), metrics=[], device="cpu", path=path)


def own_generator_learner(path) -> Learner:
    """The shuffle comes from the DataLoader's own torch.Generator; SGD with momentum."""
    sgd = functools.partial(torch.optim.SGD, momentum=0.9)
    return synth_learner(opt_func=sgd, path=path)


BUILDERS = [global_rng_learner, own_generator_learner]


def losses(learn) -> list[float]:
    return learn.recorder.loss_values().tolist()


def fit(learn, how: str, n_epoch: int, **kwargs):
    with learn.silent():
        if how == "one_cycle":
            learn.fit_one_cycle(n_epoch, 0.02, **kwargs)
        else:
            learn.fit(0.02, n_epoch, **kwargs)


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("how", ["constant", "one_cycle"])
def test_resumed_run_equals_the_unbroken_run(tmp_path, build, how):
    full = build(tmp_path / "full")
    fit(full, how, 4, cbs=[SaveModel(every_epoch=True, name="ep")])
    resumed = build(tmp_path / "full")  # a fresh process would build the same objects
    fit(resumed, how, 4, resume="ep_1")  # 2 epochs done: train epochs 2 and 3
    assert len(losses(resumed)) == 8
    assert losses(resumed) == losses(full)[8:]  # exact, per batch
    assert resumed.recorder.metric("valid_loss") == full.recorder.metric("valid_loss")[2:]
    assert resumed.recorder.lrs == full.recorder.lrs[8:]
    for p, q in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)


class CrashAt(Callback):
    def before_step(self):
        if (self.learn.epoch, self.learn.iter) == (2, 1):
            raise KeyboardInterrupt  # the "crash": Ctrl-C, a killed job...


@pytest.mark.parametrize("build", BUILDERS)
def test_crash_then_resume_gives_the_unbroken_loss_curve(tmp_path, build):
    full = build(tmp_path / "full")
    fit(full, "one_cycle", 4)
    crashed = build(tmp_path / "crash")
    with pytest.raises(KeyboardInterrupt):
        fit(crashed, "one_cycle", 4, cbs=[SaveModel(every_epoch=True, name="ep"), CrashAt()])
    resumed = build(tmp_path / "crash")
    fit(resumed, "one_cycle", 4, resume="ep_1")
    assert losses(crashed)[:8] + losses(resumed) == losses(full)


def test_sgdr_resumes_mid_schedule(tmp_path):
    full = own_generator_learner(tmp_path)
    with full.silent():  # 1 + 2 epochs
        full.fit(0.05, 2, cycle_len=1, cycle_mult=2, cbs=[SaveModel(every_epoch=True, name="ep")])
    resumed = own_generator_learner(tmp_path)
    with resumed.silent():
        resumed.fit(0.05, 2, cycle_len=1, cycle_mult=2, resume="ep_0")
    assert losses(resumed) == losses(full)[4:]
    assert resumed.recorder.lrs == full.recorder.lrs[4:]


def test_without_the_rng_states_the_resumed_run_differs(tmp_path):
    """Control: the RNG restore is what makes the runs equal (so the tests above can fail)."""
    full = global_rng_learner(tmp_path)
    fit(full, "constant", 4, cbs=[SaveModel(every_epoch=True, name="ep")])
    resumed = global_rng_learner(tmp_path)
    resumed.load("ep_1")  # weights and optimiser, but not the RNG states

    class StartAtEpoch2(Callback):
        def before_fit(self):
            self.learn.start_epoch = 2

    with resumed.silent():
        resumed.fit_epochs(4, 0.02, cbs=[StartAtEpoch2()])
    assert losses(resumed) != losses(full)[8:]


def test_save_after_fit_resumes_into_a_longer_fit(tmp_path):
    full = own_generator_learner(tmp_path)
    fit(full, "constant", 3)
    part = own_generator_learner(tmp_path)
    fit(part, "constant", 2)
    part.save("two")
    fit(part, "constant", 3, resume="two")
    assert losses(part) == losses(full)[8:]


def test_resume_refuses_a_finished_run(tmp_path):
    learn = own_generator_learner(tmp_path)
    fit(learn, "constant", 2)
    learn.save("done")
    with pytest.raises(ValueError, match="2 epoch\\(s\\) done.*nothing left"):
        fit(learn, "constant", 2, resume="done")


def test_resume_refuses_a_checkpoint_without_optimiser_or_training_state(tmp_path):
    learn = own_generator_learner(tmp_path)
    fit(learn, "constant", 1)
    learn.save("no_opt", with_opt=False)
    save_checkpoint({"model": learn.model.state_dict()}, tmp_path / "models" / "bare.pth")
    fresh = own_generator_learner(tmp_path)
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    with pytest.raises(ValueError, match="with_opt=False"):
        fit(fresh, "constant", 3, resume="no_opt")
    with pytest.raises(ValueError, match="no training state"):
        fit(fresh, "constant", 3, resume="bare")
    with pytest.raises(FileNotFoundError, match="no_opt"):  # lists the names that exist
        fit(fresh, "constant", 3, resume="typo")
    assert all(torch.equal(before[k], v) for k, v in fresh.model.state_dict().items())


def test_resume_refuses_a_dataloader_built_differently(tmp_path):
    learn = own_generator_learner(tmp_path)
    fit(learn, "constant", 1)
    learn.save("one")
    data = DataBunch(DataLoader(NoisyLine(64), batch_size=16, shuffle=True),  # no generator=
                     DataLoader(NoisyLine(32), batch_size=16))
    other = Learner(nn.Linear(1, 1), data, loss_func=nn.MSELoss(), metrics=[], device="cpu",
                    path=tmp_path, opt_func=functools.partial(torch.optim.SGD, momentum=0.9))
    rng_before = torch.get_rng_state()
    with pytest.raises(ValueError, match="random generator"):
        fit(other, "constant", 3, resume="one")
    assert torch.equal(torch.get_rng_state(), rng_before)  # nothing restored


# ---------------------------------------------------------------------- set_seed
def test_same_seed_same_loss_curve(tmp_path):
    runs = []
    for _ in range(2):
        learn = global_rng_learner(tmp_path, seed=3)
        fit(learn, "constant", 2)
        runs.append(losses(learn))
    assert runs[0] == runs[1]
    other = global_rng_learner(tmp_path, seed=4)
    fit(other, "constant", 2)
    assert losses(other) != runs[0]


def test_set_seed_seeds_python_numpy_and_torch():
    set_seed(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_seed(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError),
                                         ("0", TypeError)])
def test_set_seed_refuses_bad_seeds(seed, error):
    with pytest.raises(error, match="set_seed"):
        set_seed(seed)


@pytest.mark.slow
def test_resume_on_the_mnist_sample_is_exact(tmp_path):
    """Real data: the demo CNN (BatchNorm, AdamW, one-cycle) on 1,000 digits, resumed after
    epoch 0 of 2."""
    from minifast import accuracy, mnist_sample_data
    from minifast.demo import simple_cnn

    def build():
        set_seed(0)
        return Learner(simple_cnn(), mnist_sample_data(bs=64, n_train=1000), metrics=[accuracy],
                       device="cpu", path=tmp_path)

    full = build()
    fit(full, "one_cycle", 2, cbs=[SaveModel(every_epoch=True, name="ep")])
    resumed = build()
    fit(resumed, "one_cycle", 2, resume="ep_0")
    assert losses(resumed) == losses(full)[len(full.data.train_dl):]
    assert resumed.recorder.log["accuracy"] == full.recorder.log["accuracy"]


# ---------------------------------------------------------------------- Resume, the callback
def test_resume_keeps_this_fits_lr_not_the_checkpoints(tmp_path):
    learn = own_generator_learner(tmp_path)
    fit(learn, "constant", 2, cbs=[SaveModel(every_epoch=True, name="ep")])  # lr 0.02
    resumed = own_generator_learner(tmp_path)
    with resumed.silent():
        resumed.fit(0.05, 3, wds=0.001, resume="ep_1")  # the optimiser state says lr 0.02
    assert resumed.recorder.lrs[0] == [0.05]
    assert resumed.opt.param_groups[0]["weight_decay"] == 0.001
    assert "momentum_buffer" in resumed.opt.state[resumed.model.weight]  # the rest was loaded


def test_resume_starts_the_loop_at_the_saved_epoch(tmp_path):
    learn = own_generator_learner(tmp_path)
    fit(learn, "one_cycle", 4, cbs=[SaveModel(every_epoch=True, name="ep")])
    resumed = own_generator_learner(tmp_path)
    fit(resumed, "one_cycle", 4, resume="ep_0")
    assert [row[0] for row in resumed.recorder.values] == [1, 2, 3]
    assert resumed.start_epoch == 1


@pytest.mark.parametrize("how, n_epoch, kwargs, message", [
    ("one_cycle", 5, {}, "fit of 4 epochs, this fit has 5"),
    ("one_cycle", 4, {"pct_start": 0.5}, "schedule .*'pct_start': 0.3.*'pct_start': 0.5"),
    ("constant", 4, {}, "schedule .*OneCycle.*this fit has None"),
])
def test_resume_refuses_another_epoch_count_or_schedule(tmp_path, how, n_epoch, kwargs, message):
    learn = own_generator_learner(tmp_path)
    fit(learn, "one_cycle", 4, cbs=[SaveModel(every_epoch=True, name="ep")])
    fresh = own_generator_learner(tmp_path)
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    with pytest.raises(ValueError, match=message) as err:
        fit(fresh, how, n_epoch, resume="ep_1", **kwargs)
    assert "ep_1.pth" in str(err.value)  # names the file
    assert all(torch.equal(before[k], v) for k, v in fresh.model.state_dict().items())


def test_a_constant_lr_run_may_be_resumed_into_more_epochs(tmp_path):
    """Without a schedule the epoch count does not change the lr: continuing is allowed."""
    learn = own_generator_learner(tmp_path)
    fit(learn, "constant", 2, cbs=[SaveModel(every_epoch=True, name="ep")])
    fit(own_generator_learner(tmp_path), "constant", 5, resume="ep_1")


# ---------------------------------------------------------------------- trackers survive a resume
def tracked_learner(path) -> Learner:
    """SGD with momentum at lr 0.2 on the synthetic line: valid_loss per epoch is
    2.57, 1.20, 0.116, 0.0447 (best, epoch 3), 0.295, 1.06, 0.559 -> patience 3 stops after 6."""
    return synth_learner(opt_func=functools.partial(torch.optim.SGD, momentum=0.9), path=path)


def tracker_cbs():
    return [SaveModel(name="best"), SaveModel(every_epoch=True, name="ep"),
            EarlyStopping(patience=3)]


class StopAt(Callback):
    def before_batch(self):
        if (self.learn.epoch, self.learn.iter) == (5, 1):
            raise KeyboardInterrupt


def test_early_stopping_and_save_model_state_survive_a_resume(tmp_path):
    full = tracked_learner(tmp_path / "full")
    full_cbs = tracker_cbs()
    with full.silent():
        full.fit(0.2, 8, cbs=full_cbs)
    broken = tracked_learner(tmp_path / "broken")
    with pytest.raises(KeyboardInterrupt), broken.silent():
        broken.fit(0.2, 8, cbs=[*tracker_cbs(), StopAt()])  # dies in epoch 5
    resumed = tracked_learner(tmp_path / "broken")
    cbs = tracker_cbs()
    with resumed.silent():
        resumed.fit(0.2, 8, cbs=cbs, resume="ep_4")
    stop, stop_full = cbs[2], full_cbs[2]
    assert stop_full.stopped_epoch == 6 and stop_full.best_epoch == 3  # the run this test needs
    assert (stop.stopped_epoch, stop.best_epoch, stop.best, stop.wait) == \
        (stop_full.stopped_epoch, stop_full.best_epoch, stop_full.best, stop_full.wait)
    assert (cbs[0].best, cbs[0].best_epoch) == (full_cbs[0].best, full_cbs[0].best_epoch)
    assert cbs[0].saved == []  # no worse epoch overwrote best.pth
    best, best_full = (read_checkpoint(p / "models" / "best.pth") for p in
                       (tmp_path / "broken", tmp_path / "full"))
    assert best["epoch"] == best_full["epoch"] == 4
    assert all(torch.equal(best["model"][k], v) for k, v in best_full["model"].items())
    for p, q in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)  # EarlyStopping restored the same best weights (epoch 3's)


# ------------------------------------------------------------------ resume with DataLoader workers
class FixedLine(NoisyLine):
    def __getitem__(self, i):
        return self.x[i], self.y[i]


def worker_learner(path) -> Learner:
    """make_loader with 2 workers: augmentations drawn in the workers (NumPy, random, torch)."""
    set_seed(0)
    model = nn.Sequential(nn.Linear(1, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 1))
    data = DataBunch(make_loader(NoisyLine(64), 16, shuffle=True, num_workers=2),
                     make_loader(FixedLine(32), 16, num_workers=2))
    return Learner(model, data, loss_func=nn.MSELoss(), metrics=[], device="cpu", path=path)


def test_resume_with_dataloader_workers_is_exact(tmp_path):
    """Persistent workers carried their generators across epochs."""
    full = worker_learner(tmp_path)
    assert full.data.valid_dl.persistent_workers and not full.data.train_dl.persistent_workers
    fit(full, "one_cycle", 3, cbs=[SaveModel(every_epoch=True, name="ep")])
    resumed = worker_learner(tmp_path)
    fit(resumed, "one_cycle", 3, resume="ep_0")
    assert losses(resumed) == losses(full)[4:]
    assert resumed.recorder.metric("valid_loss") == full.recorder.metric("valid_loss")[1:]
    for p, q in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)


# ---------------------------------------------------------------------- save after a stopped fit
@pytest.mark.parametrize("other", [
    lambda learn: learn.fit(0.05, 1, cycle_len=4, resume="stopped"),  # SGDR, same 4 epochs
    lambda learn: learn.fit(0.05, 4, resume="stopped"),  # constant lr, same 4 epochs
    lambda learn: learn.fit_one_cycle(4, 0.05, pct_start=0.5, resume="stopped"),
])
def test_learn_save_after_a_ctrl_c_refuses_another_schedule(tmp_path, other):
    """The schedule callback is gone once the fit stops, so the file cannot name it; the lr of the
    last batch done, kept by the Recorder, still tells a one-cycle run from another plan."""
    learn = own_generator_learner(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        fit(learn, "one_cycle", 4, cbs=[CrashAt()])  # Ctrl-C in epoch 2: 2 epochs done
    learn.save("stopped")
    fresh = own_generator_learner(tmp_path)
    with fresh.silent(), pytest.raises(ValueError, match=r"stopped.pth: the saved run's lr at its "
                                                        r"last batch done .* the lr jump"):
        other(fresh)


def test_learn_save_after_a_ctrl_c_resumes_the_same_schedule(tmp_path):
    """Accepted, and the lr goes on along the one-cycle curve from epoch 2. (The weights are
    those at the Ctrl-C, one step into epoch 2: learn.save keeps what the model is.)"""
    full = own_generator_learner(tmp_path / "full")
    fit(full, "one_cycle", 4)
    learn = own_generator_learner(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        fit(learn, "one_cycle", 4, cbs=[CrashAt()])
    learn.save("stopped")
    resumed = own_generator_learner(tmp_path)
    fit(resumed, "one_cycle", 4, resume="stopped")
    assert resumed.recorder.lrs == full.recorder.lrs[8:]
