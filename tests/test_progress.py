"""ProgressBar: one table line per epoch, and bars that leave the multiprocessing start
method free (tqdm's own first bar fixes it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import synth_learner


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
    """Our bars write under a thread lock, so a fit does not fix the start method:
    `set_start_method` still works after it."""
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
