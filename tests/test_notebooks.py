"""Execute every course notebook in quick mode (MINIFAST_QUICK=1) with nbclient; any error fails.

The notebooks are copied into a temporary folder first, so the committed outputs (full-mode
runs) are never overwritten and files the notebooks write (`models/`) land in the temp folder.
The committed (full-mode) notebooks must end with a cell printing `RESULT <name> <value>` lines,
one per figure, so anyone can check the figures without reading prose, and print no machine path.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO, shared_data_dir

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
NEEDS_SHARED_DATA = {"01_mnist", "02_cifar10", "03_pokemon", "04_dog_breeds"}  # 05 uses the bundled sample
CELL_TIMEOUT_S = 300
# Every notebook ends with `RESULT <name> <value>` lines, which docs/index.md quotes.


RESULT_LINE = re.compile(r"^RESULT (\S+) (\S+)$", re.MULTILINE)
# Signs of a machine path in an output (a traceback, a warning, a printed Path).
MACHINE_PATHS = ("/work/", "/home/", "/root/", "/tmp/", "site-packages", "C:\\")


def test_all_six_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert names == ["00_learner_from_scratch", "01_mnist", "02_cifar10", "03_pokemon",
                     "04_dog_breeds", "05_custom_callbacks"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path: Path, tmp_path: Path, monkeypatch):
    data_dir = Path(os.environ.get("MINIFAST_DATA") or shared_data_dir())
    if path.stem in NEEDS_SHARED_DATA and not data_dir.is_dir():
        pytest.skip(f"{path.name} needs the shared data sets; none at {data_dir} (set MINIFAST_DATA)")
    monkeypatch.setenv("MINIFAST_DATA", str(data_dir))
    monkeypatch.setenv("MINIFAST_QUICK", "1")  # the kernel inherits this process's environment
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # One torch thread per kernel: on a shared 2-core machine two threads spin-wait on each other
    # and run ~4x slower (measured: 2.06 s vs 0.45 s per MNIST-CNN batch under load).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    start = time.perf_counter()
    # Raises CellExecutionError (with the failing cell and its traceback) on the first error.
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    seconds = time.perf_counter() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    assert "quick mode" in _all_text(nb), "the notebook must print that it runs in quick mode"
    assert "minutes" in result_lines(nb), f"{path.name}: no 'RESULT minutes <value>' line in quick mode"
    print(f"{path.name}: quick mode in {seconds:.1f} s")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_has_outputs(path: Path):
    """The committed files are executed: every code cell ran, in order, and plots are there."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code]
    assert all(isinstance(n, int) for n in counts), f"{path.name}: not every code cell was executed"
    assert counts == sorted(counts), f"{path.name}: cells were executed out of order"
    assert not any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no plot in the committed outputs"  # every notebook draws one
    assert "full mode" in _all_text(nb), f"{path.name}: the committed outputs are not a full-mode run"




@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_prints_its_results(path: Path):
    """The last code cell prints `RESULT <name> <value>` per figure, `minutes` among them."""
    results = result_lines(nbformat.read(path, as_version=4))
    assert results, (f"{path.name}: the last code cell prints no 'RESULT <name> <value>' line; "
                     "end the notebook with one line per figure (see notebooks/src/nb00_*.py)")
    assert "minutes" in results, f"{path.name}: no 'RESULT minutes <value>' line (the wall time)"
    assert all(math.isfinite(v) for v in results.values()), f"{path.name}: {results}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_outputs_show_no_machine_path(path: Path):
    text = _all_text(nbformat.read(path, as_version=4))
    found = [m for m in MACHINE_PATHS if m in text]
    assert not found, (f"{path.name}: outputs contain {found} (a path of the machine that ran it); "
                       "silence the warning or print paths relative to the data folder")


def test_result_lines_reads_the_last_code_cell_only():
    nb = nbformat.v4.new_notebook()
    early, last = nbformat.v4.new_code_cell("x"), nbformat.v4.new_code_cell("y")
    early.outputs = [nbformat.v4.new_output("stream", name="stdout", text="RESULT early 1\n")]
    last.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="hardware: x\nRESULT acc 0.985\nRESULT minutes 1.9\n")]
    nb.cells = [early, nbformat.v4.new_markdown_cell("RESULT md 3"), last]
    assert result_lines(nb) == {"acc": 0.985, "minutes": 1.9}
    last.outputs = []
    assert result_lines(nb) == {}


def result_lines(nb) -> dict[str, float]:
    """`{name: value}` from the `RESULT <name> <value>` lines printed by the last code cell."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    text = "".join(o.get("text", "") for o in (code[-1].get("outputs", []) if code else []))
    return {name: float(value) for name, value in RESULT_LINE.findall(text)}


def _all_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") if "text" in out else json.dumps(out.get("data", {})))
    return "\n".join(parts)
