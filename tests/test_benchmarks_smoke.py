"""Each benchmark script's --smoke mode runs end to end (tiny sizes), so the scripts never rot.

No timing is asserted: these tests check that the scripts run, write well-formed JSON and
markdown, and that the overhead benchmark's raw loop and Learner still compute the same thing.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from benchmarks import channels_last, import_time, overhead, precompute, profile_overhead, time_to_accuracy
from benchmarks.import_after_warmup import HARNESS
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def keep_threads():
    """The scripts set torch's thread count for their process; give later tests theirs back."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_overhead_smoke_same_math(tmp_path):
    out, md = tmp_path / "o.json", tmp_path / "o.md"
    assert overhead.main(["--smoke", "--json", str(out), "--markdown", str(md)]) == 0
    results = json.loads(out.read_text())
    raw, learner = results["results"]["raw"], results["results"]["minifast"]
    assert results["same_math"] is True
    assert learner["valid_loss"] == pytest.approx(raw["valid_loss"], rel=1e-5)
    assert learner["max_weight_diff_vs_raw"] <= 1e-5
    assert len(raw["times_s"]) == len(learner["times_s"]) == results["config"]["repeats"] == 2
    assert "| minifast |" in md.read_text()


def test_overhead_cnn_and_sgd_same_math(tmp_path):
    out = tmp_path / "o.json"
    assert overhead.main(["--smoke", "--model", "cnn", "--opt", "sgd", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["same_math"] is True


def test_overhead_runs_as_a_script(tmp_path):
    out = tmp_path / "o.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "overhead.py"), "--smoke",
                           "--model", "linear", "--json", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())["config"]["model"] == "linear"


def test_overhead_rejects_bad_sizes():
    with pytest.raises(SystemExit):
        overhead.main(["--bs", "0"])


def test_profile_overhead_smoke(capsys):
    assert profile_overhead.main(["--smoke"]) == 0
    assert "function calls" in capsys.readouterr().out


def test_import_time_smoke(tmp_path):
    out = tmp_path / "i.json"
    assert import_time.main(["--smoke", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["repeats"] == 1 and result["torch_s"] > 0 and result["minifast_s"] > 0


def test_time_to_accuracy_smoke(tmp_path):
    out = tmp_path / "t.json"
    assert time_to_accuracy.main(["--smoke", "--threads", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["task"] for r in results] == ["mnist", "pokemon"]
    for r in results:
        assert len(r["history"]) == 1 and 0.0 <= r["history"][0]["accuracy"] <= 1.0


def test_precompute_smoke_hits_the_cache(tmp_path):
    out = tmp_path / "p.json"
    assert precompute.main(["--smoke", "--threads", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["cache_hit"] is True
    assert result["full_batches_timed"] == result["train_batches"]


def test_profile_components_smoke(capsys):
    assert profile_overhead.main(["--components", "--smoke"]) == 0
    out = capsys.readouterr().out
    assert "| Recorder.after_loss (training batch) |" in out and "| to_device((xb, yb)) |" in out


def test_step_guard_cost_smoke(capsys):
    from benchmarks import step_guard_cost
    assert step_guard_cost.main(["--smoke"]) == 0
    assert "with InterruptGuard.run_step(opt.step)" in capsys.readouterr().out


def test_channels_last_smoke(tmp_path):
    out, md = tmp_path / "c.json", tmp_path / "c.md"
    assert channels_last.main(["--smoke", "--json", str(out), "--markdown", str(md)]) == 0
    results = json.loads(out.read_text())
    assert results["same_predictions"] is True
    assert set(results["medians"]) == {"NCHW (default)", "channels-last"}
    assert "| speed-up |" in md.read_text()


def test_overhead_fresh_child_prints_one_json_line(capsys):
    """A --fresh child: one fit after raw warm-up batches, its result as the last stdout line."""
    args = ["--one", "minifast", "--batches", "4", "--valid-batches", "1", "--bs", "8", "--warmup", "2"]
    assert overhead.main(args) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert run["loop"] == "minifast" and run["wall_s"] > 0 and 0.0 <= run["accuracy"] <= 1.0
    assert overhead.main([*args[:1], "raw", *args[2:]]) == 0
    raw = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert raw["checksum"] == pytest.approx(run["checksum"], rel=1e-6)  # same math, same weights


def test_overhead_fresh_summary_ratios():
    """Ratio of medians, ratio of minima and the sorted per-pair ratios, on made-up times."""
    runs = [{"loop": loop, "wall_s": w, "cpu_s": w, "checksum": 1.0, "load_1min_before": load}
            for loop, w, load in [("raw", 1.0, 0.5), ("minifast", 1.1, 0.7), ("minifast", 2.4, 3.0),
                               ("raw", 2.0, 2.0), ("raw", 1.2, 1.0), ("minifast", 1.2, 1.0)]]
    res = overhead.summarise_fresh(runs, {"repeats": 3})
    assert res["ratio_of_medians"] == pytest.approx(1.2 / 1.2)
    assert res["ratio_of_minima"] == pytest.approx(1.1 / 1.0)
    assert res["paired_ratios"] == pytest.approx([1.0, 1.1, 1.2])
    assert res["paired_range"] == pytest.approx([1.0, 1.2]) and res["same_weights"] is True
    assert res["load_1min"] == {"min": 0.5, "median": 1.0, "max": 3.0}


def test_instructions_smoke():
    """The callgrind script's fits and pieces run (without valgrind nothing is counted)."""
    from benchmarks import instructions
    assert instructions.main(["--smoke"]) == 0
    assert "Recorder.after_loss" in instructions.pieces()


@pytest.mark.skipif(not HARNESS.is_file(), reason=f"needs the shared benchmark harness {HARNESS}, "
                    "found only in a checkout with ../shared beside it")
def test_import_after_warmup_smoke(tmp_path):
    """The harness's raw loop in two fresh processes, without and with `import minifast` after
    the warm-up: both train the same weights, and page faults are counted."""
    from benchmarks import import_after_warmup
    out = tmp_path / "i.json"
    assert import_after_warmup.main(["--smoke", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [r["side"] for r in res["runs"]] == ["plain", "imported"]
    assert res["same_weights"] is True
    assert all(r["minflt"] >= 0 and r["fit_s"] > 0 for r in res["runs"])


def test_import_after_warmup_names_a_missing_harness(tmp_path, capsys):
    from benchmarks import import_after_warmup
    with pytest.raises(SystemExit):
        import_after_warmup.main(["--smoke", "--harness", str(tmp_path / "nope.py")])
    assert "nope.py does not exist" in capsys.readouterr().err


@pytest.mark.skipif(not HARNESS.is_file(), reason=f"needs the shared benchmark harness {HARNESS}, "
                    "found only in a checkout with ../shared beside it")
def test_overhead_ab_smoke(tmp_path, capsys):
    """The side-by-side driver runs the raw loop and a minifast tree in fresh processes."""
    from benchmarks import overhead_ab
    out = tmp_path / "ab.json"
    times = overhead_ab.main(["--trees", f"now={REPO}", "--repeats", "1", "--n", "640", "--out", str(out)])
    assert set(times) == {"raw", "now"} and all(len(v) == 1 and v[0] > 0 for v in times.values())
    assert json.loads(out.read_text()) == times
    assert "now: ratio of minima" in capsys.readouterr().out


@pytest.mark.skipif(not HARNESS.is_file(), reason=f"needs the shared benchmark harness {HARNESS}, "
                    "found only in a checkout with ../shared beside it")
def test_overhead_parts_smoke(capsys):
    """Every side trains (one round on 10 batches) and gets a row; the no-op side has empty
    methods at exactly the per-batch events the four per-batch defaults handle."""
    from benchmarks import overhead_parts
    from minifast import Learner
    times = overhead_parts.main(["--rounds", "1", "--n", "640"])
    assert list(times) == ["raw", "all", "-TerminateOnNaN", "-InterruptGuard", "-Recorder",
                           "-ProgressBar", "TrainEval only", "no-op handlers"]
    assert all(len(t) == 1 and t[0] > 0 for t in times.values())
    assert capsys.readouterr().out.count("\n| ") == 1 + len(times)  # header + one row per side
    defaults = Learner(torch.nn.Linear(1, 1), None)
    no_ops = [overhead_parts.NoOpRecorder(), overhead_parts.NoOpNaN(),
              overhead_parts.NoOpGuard(), overhead_parts.NoOpBar()]
    for event in ("after_pred", "after_loss", "before_backward", "before_step", "after_step",
                  "after_batch"):
        handled = [cb for cb, _ in defaults.handlers[event]
                   if isinstance(cb, tuple(overhead_parts.PER_BATCH_DEFAULTS))]
        assert len(handled) == sum(hasattr(cb, event) for cb in no_ops), event


def test_overhead_parts_names_a_missing_harness(tmp_path, capsys):
    from benchmarks import overhead_parts
    with pytest.raises(SystemExit):
        overhead_parts.main(["--harness", str(tmp_path / "nope.py")])
    assert "the shared harness is not at" in capsys.readouterr().err
