"""`with learn.silent():` — no bars, no table, no messages from any built-in callback; and the
same fit outside `silent()` shows them all (so each check here can fail)."""
from __future__ import annotations

import warnings

import pytest

from minifast import CSVLogger, EarlyStopping, MinifastWarning, ProgressBar, SaveModel
from tests.conftest import synth_learner

PARTIAL_CSV = "epoch,train_loss,valid_loss,time\n0,1.0,1.0,0.1\n1,0.9"  # a crash cut the last row


def talkative_fit(learn, tmp_path) -> None:
    """A fit in which every built-in that has something to say says it: CSVLogger drops a
    partial row, SaveModel saves each epoch, EarlyStopping stops after epoch 1."""
    (tmp_path / "log.csv").write_text(PARTIAL_CSV)
    learn.fit(0.05, 4, cbs=[CSVLogger("log.csv"), SaveModel(every_epoch=True),
                            EarlyStopping(patience=1, min_delta=100.0)])


def test_a_silent_fit_prints_nothing_and_warns_nothing(tmp_path, capsys, recwarn):
    learn = synth_learner(path=tmp_path)
    with learn.silent():
        talkative_fit(learn, tmp_path)
    assert capsys.readouterr() == ("", "")
    assert [str(w.message) for w in recwarn] == []
    assert len(learn.recorder.values) == 2  # it did stop early: the messages were there to hide


def test_the_same_fit_outside_silent_shows_the_table_and_the_messages(tmp_path, capsys):
    learn = synth_learner(path=tmp_path)
    with pytest.warns(MinifastWarning) as record:
        talkative_fit(learn, tmp_path)
    messages = [str(w.message) for w in record]
    assert any(m.startswith("CSVLogger:") and "partial row b'1,0.9'" in m for m in messages)
    assert any(m.startswith("EarlyStopping: valid_loss did not improve for 1 epoch(s); stopped "
                            "after epoch 1") for m in messages)
    assert "train_loss" in capsys.readouterr().out  # the per-epoch table


def test_silent_puts_the_progress_callback_and_the_warning_filters_back(tmp_path):
    learn = synth_learner(path=tmp_path)
    filters = list(warnings.filters)
    with learn.silent() as same:
        assert same is learn and learn.progress is None
    assert isinstance(learn.progress, ProgressBar)
    assert warnings.filters == filters


def test_other_warnings_still_show_inside_silent(tmp_path):
    learn = synth_learner(path=tmp_path)
    with learn.silent(), pytest.warns(RuntimeWarning, match="yours"):
        warnings.warn("yours", RuntimeWarning, stacklevel=2)


def test_a_silent_fit_stopped_by_a_nan_prints_nothing(tmp_path, capsys, recwarn):
    learn = synth_learner(path=tmp_path)
    with learn.silent():
        learn.fit(1e4, 5)  # the loss overflows to inf in epoch 1: the default TerminateOnNaN stops
    assert len(learn.recorder.values) == 1
    assert capsys.readouterr() == ("", "")
    assert [str(w.message) for w in recwarn] == []
