"""minifast.course: the opening line, the RESULT lines and the split runner of the notebooks."""
from __future__ import annotations

import numpy as np
import pytest

from minifast.course import Notebook, over_splits, try_exercise


@pytest.mark.parametrize("quick", ["1", "0"])
def test_a_notebook_run_prints_its_mode_its_figures_and_cleans_up(quick, monkeypatch, capsys):
    monkeypatch.setenv("MINIFAST_QUICK", quick)
    nb = Notebook(seed=3)
    assert nb.quick is (quick == "1") and nb.work.is_dir()
    (nb.work / "model.pth").write_bytes(b"x" * 10)
    assert nb.result("valid_acc", np.float64(0.98765)) == pytest.approx(0.98765)
    results = nb.finish()
    out = capsys.readouterr().out
    mode = "quick" if quick == "1" else "full"
    assert out.splitlines()[0].startswith(f"{mode} mode | torch")
    assert "RESULT valid_acc 0.9877\n" in out and "RESULT minutes " in out
    assert f"{mode} mode, wall time" in out
    assert list(results) == ["valid_acc", "minutes"] and 0 <= results["minutes"] < 1
    assert not nb.work.exists()  # everything the notebook wrote is gone


def test_over_splits_gives_one_value_per_split_and_prints_mean_and_spread(capsys):
    table = over_splits(lambda seed: {"recipe": seed / 10, "baseline": 0.5}, [1, 2, 4])
    assert list(table) == ["recipe", "baseline"]
    np.testing.assert_allclose(table["recipe"], [0.1, 0.2, 0.4])
    out = capsys.readouterr().out
    assert "split 2: recipe 0.2000, baseline 0.5000" in out
    assert "recipe: mean 0.2333, spread 0.3000 (0.1000 to 0.4000)" in out


def test_try_exercise_says_not_done_for_a_stub_and_raises_a_wrong_answer(capsys):
    def stub():
        raise NotImplementedError("write it")

    def check(answer):
        assert answer() == 42, "wrong"

    try_exercise(check, stub)
    assert capsys.readouterr().out == "not done yet: write it\n"
    try_exercise(check, lambda: 42)                     # right: silent
    assert capsys.readouterr().out == ""
    with pytest.raises(AssertionError, match="wrong"):
        try_exercise(check, lambda: 41)
