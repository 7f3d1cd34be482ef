"""ProgressCallback's bars start no tqdm monitor thread and build no multiprocessing lock
(cold-path costs of issue 17).

tqdm's first bar in a process normally starts a monitor thread; that hand-off ran inside the
first fit and cost up to ~12 ms of wall time on a busy 2-core machine (docs/benchmarks.md).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import tqdm.std

from minifast.callbacks.progress import ProgressCallback
from tests.conftest import synth_learner


class _RecordingMonitor:
    """Stands in for tqdm's TMonitor: records that a monitor thread would have been started."""
    started = 0

    def __init__(self, tqdm_cls, sleep_interval):
        _RecordingMonitor.started += 1

    def report(self):
        return True


def test_fit_starts_no_tqdm_monitor_thread(monkeypatch, capsys):
    # As in a fresh process: no monitor yet, so a plain tqdm bar would start one here.
    monkeypatch.setattr(tqdm.std, "TMonitor", _RecordingMonitor)
    monkeypatch.setattr(tqdm.std.tqdm, "monitor", None)
    monkeypatch.setattr(_RecordingMonitor, "started", 0)
    learn = synth_learner()
    learn.fit(1e-2, 2)
    assert _RecordingMonitor.started == 0
    assert learn.progress.bar is None  # bars were opened and closed
    assert len(learn.recorder.values) == 2


def test_the_stand_in_sees_a_plain_tqdm_bar_start_a_monitor(monkeypatch):
    """The check above can fail: a plain tqdm bar in the same situation does start one."""
    monkeypatch.setattr(tqdm.std, "TMonitor", _RecordingMonitor)
    monkeypatch.setattr(tqdm.std.tqdm, "monitor", None)
    monkeypatch.setattr(_RecordingMonitor, "started", 0)
    tqdm.std.tqdm(total=3, disable=False, leave=False).close()
    assert _RecordingMonitor.started == 1


def test_bar_still_redraws_when_batches_slow_down(monkeypatch, capsys):
    """Without the monitor thread, miniters=1 keeps redraws on time: 200 fast batches (1 ms)
    then 5 slow ones (1 s): every slow batch redraws. tqdm's default (dynamic miniters, ~100
    after the fast phase) would redraw none of them; lowering it was the monitor's job."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    progress = ProgressCallback()
    progress.learn = SimpleNamespace(epoch=0, n_epoch=1, dl=range(205))
    progress.before_train()
    bar, now = progress.bar, [progress.bar.start_t]
    bar._time = lambda: now[0]
    for step in [1e-3] * 200 + [1.0] * 5:
        now[0] += step
        progress.after_batch()
    capsys.readouterr()
    for _ in range(5):
        now[0] += 1.0
        progress.after_batch()
    assert capsys.readouterr().err.count("\r") == 5
    progress.after_train()


def test_table_is_printed_once_per_epoch(capsys):
    learn = synth_learner()
    learn.fit(1e-2, 3)
    lines = [s for s in capsys.readouterr().out.splitlines() if s.strip()]
    assert lines[0].split() == learn.recorder.names
    assert [s.split()[0] for s in lines[1:]] == ["0", "1", "2"]


# A fresh interpreter: this test process may have set its multiprocessing context already.
_START_METHOD_AFTER = """
import multiprocessing, sys
{make_bars}
print(multiprocessing.get_start_method(allow_none=True))
multiprocessing.set_start_method("spawn")  # raises "context has already been set" if it was
print("spawn set")
"""


def _start_method_after(make_bars: str) -> subprocess.CompletedProcess:
    code = _START_METHOD_AFTER.format(make_bars=make_bars)
    env = {**os.environ, "TQDM_DISABLE": "0"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parent.parent, timeout=300)


def test_a_fit_leaves_the_multiprocessing_start_method_free():
    """Our bars write under a thread lock, so a fit neither builds a multiprocessing lock (~1 ms
    in the first fit) nor fixes the start method: `set_start_method` still works after it."""
    done = _start_method_after("from tests.conftest import synth_learner\n"
                               "synth_learner().fit(1e-2, 2)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["None", "spawn set"]


def test_a_plain_tqdm_bar_fixes_the_start_method():
    """The check above can fail: tqdm's own first bar builds its multiprocessing lock."""
    done = _start_method_after("from tqdm.auto import tqdm\ntqdm(total=3).close()")
    assert done.returncode != 0
    assert done.stdout.splitlines()[-1] != "None"  # fork, or forkserver on Python >= 3.14
    assert "context has already been set" in done.stderr
