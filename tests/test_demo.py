"""`minifast demo` runs end to end from the command line and writes its plots."""
import subprocess
import sys
from pathlib import Path

from minifast.cli import build_parser


def test_cli_parser_knows_the_three_commands():
    parser = build_parser()
    assert parser.parse_args(["demo"]).command == "demo"
    assert parser.parse_args(["train", "imgs", "--epochs", "2"]).epochs == 2
    train = parser.parse_args(["train", "imgs", "--bn-freeze", "--channels-last"])
    assert train.bn_freeze and train.channels_last
    assert parser.parse_args(["train", "imgs"]).channels_last is None  # the learner's default
    assert parser.parse_args(["train", "imgs", "--no-channels-last"]).channels_last is False
    assert parser.parse_args(["train", "imgs"]).bn_freeze is None  # the learner's default policy
    assert parser.parse_args(["train", "imgs", "--no-bn-freeze"]).bn_freeze is False
    assert parser.parse_args(["predict", "m.pth", "a.jpg", "b.jpg"]).images == ["a.jpg", "b.jpg"]


def test_demo_trains_and_writes_plots(tmp_path: Path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "minifast", "demo", "--epochs", "1",
                             "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    line = next(s for s in result.stdout.splitlines() if s.startswith("held-out accuracy"))
    accuracy = float(line.split()[2].rstrip("%")) / 100
    assert accuracy > 0.9  # one epoch on 8,000 digits; chance is 0.1
    assert (out / "loss.png").stat().st_size > 1000 and (out / "lr.png").stat().st_size > 1000


def test_help_does_not_import_torch():
    """`minifast --help` must answer at once: building the parser may not import torch (seconds)."""
    code = ("import sys, minifast_cli; minifast_cli.build_parser().format_help(); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_python_dash_m_minifast_shows_the_commands():
    result = subprocess.run([sys.executable, "-m", "minifast", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "{demo,train,predict}" in result.stdout
