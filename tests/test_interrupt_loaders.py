"""Ctrl-C and DataLoader workers: never lost, never a broken loader, no worker left behind.

Each scenario runs in its own process (tests/interrupt_scenarios.py): signal handlers and fork
hooks are process-wide. The stress test interrupts many fits at random moments."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run(script: str, *args: str, timeout: float = 120) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(REPO / "tests" / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, start_new_session=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_ctrl_c_while_persistent_workers_reset_leaves_the_loader_working():
    """It used to leave the workers' acknowledgements in the queue: every later pass raised
    KeyError: _ResumeIteration until the data was rebuilt."""
    assert run("interrupt_scenarios.py", "reset") == {"interrupted": True, "later_passes": True}


def test_a_ctrl_c_in_a_fork_hook_is_not_lost():
    """Python prints an exception raised in a fork hook and goes on: the Ctrl-C was lost."""
    assert run("interrupt_scenarios.py", "fork_hook") == {"interrupted": True, "later_passes": True}


def test_a_ctrl_c_while_workers_start_leaves_none_behind():
    """A start cut between two workers left the first one running for good."""
    assert run("interrupt_scenarios.py", "start") == {"interrupted": True, "children": 0,
                                                      "later_passes": True}


@pytest.mark.slow
def test_a_hundred_random_ctrl_cs_lose_nothing_and_leave_no_worker():
    result = run("interrupt_stress.py", "100", "0", timeout=900)
    assert result["lost"] == 0, result
    assert result["children"] == result["baseline"] == 2, result  # the persistent valid workers
    assert result["preds"] == [128, 2], result
