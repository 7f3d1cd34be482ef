"""`minifast demo` runs end to end from the command line and writes its plots."""
import subprocess
import sys
from pathlib import Path

import pytest

from minifast.cli import build_parser


def test_cli_parser_knows_the_three_commands():
    parser = build_parser()
    assert parser.parse_args(["demo"]).command == "demo"
    assert parser.parse_args(["train", "imgs", "--epochs", "2"]).epochs == 2
    train = parser.parse_args(["train", "imgs", "--bn-freeze", "--channels-last"])
    assert train.bn_freeze and train.channels_last
    assert not parser.parse_args(["train", "imgs"]).channels_last
    assert parser.parse_args(["predict", "m.pth", "a.jpg", "b.jpg"]).images == ["a.jpg", "b.jpg"]


def test_demo_trains_and_writes_plots(tmp_path: Path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "minifast.cli", "demo", "--epochs", "1",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("held-out accuracy"))
    accuracy = float(line.split()[2].rstrip("%")) / 100
    assert accuracy > 0.9  # one epoch on 8,000 digits; chance is 0.1
    assert (out / "loss.png").stat().st_size > 1000 and (out / "lr.png").stat().st_size > 1000
