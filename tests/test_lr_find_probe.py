"""`lr_find` is a probe, not part of the run: the callbacks that record or act on the run
(`run_in_lr_find = False`) are off during the sweep, so no checkpoint, log row, TensorBoard point
or tracker state is written or changed by it, and a user's own callback can opt out the same way."""
from __future__ import annotations

import torch

from minifast import ActivationStats, Callback, CSVLogger, EarlyStopping, SaveModel
from tests.conftest import synth_learner


def test_a_sweep_after_a_fit_writes_no_checkpoint_log_row_or_tracker_state(tmp_path):
    learn = synth_learner(n_train=160, bs=16, path=tmp_path)  # 10 batches per epoch
    early, saver = EarlyStopping(patience=5), SaveModel(every_epoch=True, name="ep")
    stats = ActivationStats()
    learn.add_cbs([CSVLogger(), early, saver, stats])
    with learn.silent():
        learn.fit(0.05, 3)
    models = tmp_path / "models"
    files = {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in models.iterdir()}
    history = (tmp_path / "history.csv").read_text()
    tracked = (early.state_dict(), saver.state_dict())
    records = [len(r["mean"]) for r in stats.records]
    with learn.silent():
        found = learn.lr_find(num_it=30)
    assert found is not None and len(learn.recorder.losses) > 10  # the sweep did run
    assert {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in models.iterdir()} == files
    assert (tmp_path / "history.csv").read_text() == history
    assert (early.state_dict(), saver.state_dict()) == tracked
    assert [len(r["mean"]) for r in stats.records] == records == [30] * len(records)
    assert learn.cbs.count(early) == 1 and learn.cbs.count(saver) == 1  # back after the sweep


def test_without_the_opt_out_a_recording_callback_sees_the_sweep():
    """The control, and the mechanism for a user's own callback: one class attribute."""
    class CountBatches(Callback):
        def __init__(self):
            self.n = 0

        def before_batch(self):
            self.n += 1

    class CountRunBatches(CountBatches):
        run_in_lr_find = False

    learn = synth_learner(n_train=160, bs=16)
    probe_too, run_only = CountBatches(), CountRunBatches()
    learn.add_cbs([probe_too, run_only])
    with learn.silent():
        learn.lr_find(1e-6, 1e-5, num_it=20)
    assert (probe_too.n, run_only.n) == (20, 0)


def test_the_sweep_restores_weights_that_callbacks_do_not_see(tmp_path):
    learn = synth_learner(path=tmp_path)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    learn.add_cb(SaveModel(every_epoch=True, name="ep"))
    with learn.silent():
        learn.lr_find(num_it=30)
    assert all(torch.equal(v, before[k]) for k, v in learn.model.state_dict().items())
    assert not (tmp_path / "models").exists()
