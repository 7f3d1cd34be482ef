"""CSVLogger writes whole rows only; EventTracer shows the loop's events in order."""
import csv

import pytest

from minifast import Callback, CSVLogger, EventTracer, MinifastWarning, ProgressBar
from tests.conftest import synth_learner


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_one_row_per_epoch_with_the_recorder_values(tmp_path):
    learn = synth_learner(path=tmp_path)
    with learn.silent():
        learn.fit(0.05, 3, cbs=[CSVLogger("log.csv")])
    rows = read_rows(tmp_path / "log.csv")
    assert rows[0] == ["epoch", "train_loss", "valid_loss", "time"]
    assert len(rows) == 4
    for row, values in zip(rows[1:], learn.recorder.values):
        assert int(row[0]) == values[0]
        assert [float(v) for v in row[1:]] == values[1:]  # repr round-trips floats exactly


def test_a_second_fit_appends_without_a_second_header(tmp_path):
    learn = synth_learner(path=tmp_path)
    with learn.silent():
        learn.fit(0.05, 2, cbs=[CSVLogger("log.csv")])
        learn.fit(0.05, 1, cbs=[CSVLogger("log.csv")])
    rows = read_rows(tmp_path / "log.csv")
    assert [r[0] for r in rows] == ["epoch", "0", "1", "0"]


def test_other_columns_are_refused_and_the_file_is_kept(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,accuracy\n0,0.5\n")
    learn = synth_learner(path=tmp_path)
    with learn.silent(), pytest.raises(ValueError, match="has columns 'epoch,accuracy'"):
        learn.fit(0.05, 1, cbs=[CSVLogger(path)])
    assert path.read_text() == "epoch,accuracy\n0,0.5\n"


class StopMidEpoch(Callback):
    def after_batch(self):
        if (self.learn.epoch, self.learn.iter) == (1, 2):
            raise KeyboardInterrupt


def test_an_interrupted_fit_leaves_only_whole_rows(tmp_path):
    learn = synth_learner(path=tmp_path)
    with learn.silent(), pytest.raises(KeyboardInterrupt):
        learn.fit(0.05, 3, cbs=[CSVLogger("log.csv"), StopMidEpoch()])
    text = (tmp_path / "log.csv").read_text()
    assert text.endswith("\n")
    assert [len(r) for r in read_rows(tmp_path / "log.csv")] == [4, 4]  # header + epoch 0


def test_a_partial_last_row_from_a_crash_is_dropped(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,train_loss,valid_loss,time\n0,1.0,1.0,0.1\n1,0.9")
    learn = synth_learner(path=tmp_path)
    with learn.removed_cbs(ProgressBar):
        with pytest.warns(MinifastWarning, match=r"partial row b'1,0.9'"):
            learn.fit(0.05, 1, cbs=[CSVLogger(path)])
    rows = read_rows(path)
    assert [r[:2] for r in rows[:2]] == [["epoch", "train_loss"], ["0", "1.0"]]
    assert len(rows) == 3 and all(len(r) == 4 for r in rows)


# ---------------------------------------------------------------------- EventTracer
def traced_events(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def test_event_tracer_prints_the_events_in_order(capsys):
    learn = synth_learner(n_train=32, n_valid=16)  # 2 train batches, 1 valid batch
    with learn.silent():
        learn.fit(0.05, 1, cbs=[EventTracer(max_batches=5)])
    batch = ["before_batch", "after_pred", "after_loss", "before_backward", "before_step",
             "after_step", "after_batch"]
    valid_batch = ["before_batch", "after_pred", "after_loss", "after_batch"]
    expected = (["before_fit", "before_epoch", "before_train"] + batch + batch +
                ["after_train", "before_validate"] + valid_batch +
                ["after_validate", "after_epoch", "after_fit"])
    out = capsys.readouterr().out
    assert traced_events(out) == expected
    assert "before_batch     epoch=0 iter=0 xb=(16, 1) yb=(16, 1)" in out
    assert "after_epoch      epoch=0 train_loss=" in out


def test_event_tracer_shows_only_the_first_batches(capsys):
    learn = synth_learner()  # 4 train batches, 2 valid batches
    with learn.silent():
        learn.fit(0.05, 1, cbs=[EventTracer(max_batches=1)])
    events = traced_events(capsys.readouterr().out)
    assert events.count("before_batch") == 2  # one per phase
    assert events.count("before_step") == 1
    assert events.count("...") == 2
