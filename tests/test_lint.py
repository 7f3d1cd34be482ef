"""`ruff check` over the repository finds nothing (rules and exceptions: pyproject.toml, [tool.ruff]).

A lint finding is a review comment a machine can make: an unused import, a shadowed name, a
loop variable caught late by a closure. Fix it, or add a per-file ignore with its reason.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ruff_command() -> list[str] | None:
    """ruff from the running interpreter's environment, else from PATH; None if neither has it."""
    beside = Path(sys.executable).with_name("ruff")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("ruff")
    return [found] if found else None


def test_ruff_finds_nothing():
    command = ruff_command()
    if command is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]' installs it)")
    result = subprocess.run([*command, "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
