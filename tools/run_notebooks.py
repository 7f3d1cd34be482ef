"""Execute the course notebooks with nbclient, writing their outputs back into the files.

    python tools/run_notebooks.py                       # every notebook, full mode
    python tools/run_notebooks.py notebooks/01_mnist.ipynb --quick
    python tools/run_notebooks.py --quick --out /tmp/nbs   # write executed copies elsewhere

Full mode is what gets committed (real figures, plots visible); `--quick` sets
MINIFAST_QUICK=1, which each notebook reads to run every code path on a tiny subset.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent


def execute(path: Path, quick: bool, timeout: int = 1800, out: Path | None = None,
            cwd: Path | None = None) -> float:
    """Run every cell of `path` in a fresh kernel; save to `out` (default: in place), also when
    a cell fails.

    The kernel starts in `cwd` (default: the notebook's folder), so files a notebook writes
    (`models/`, plots) land next to it. Raises `nbclient.exceptions.CellExecutionError`, with
    the cell and its traceback, on the first failing cell. Returns the seconds it took.
    """
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("MINIFAST_QUICK")
    os.environ["MINIFAST_QUICK"] = "1" if quick else "0"  # the kernel inherits our environment
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    shared = REPO.parent / "shared" / "data"  # this project's data folder, unless told otherwise
    if "MINIFAST_DATA" not in os.environ and shared.is_dir():
        os.environ["MINIFAST_DATA"] = str(shared)
    start = time.perf_counter()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd or path.parent)}},
                                on_cell_executed=_report_cell(path.name, start))
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("MINIFAST_QUICK", None)
        else:
            os.environ["MINIFAST_QUICK"] = env_before
        # Written even when a cell fails: a long run's outputs, and the error, are kept to read.
        nbformat.write(nb, out or path)
    return time.perf_counter() - start


def _report_cell(name: str, start: float):
    """A hook that prints `name: cell i done at N s`, so a long run shows where it is."""
    def report(cell, cell_index, execute_reply):
        print(f"  {name}: cell {cell_index} done at {time.perf_counter() - start:.0f} s", flush=True)
    return report


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: notebooks/*.ipynb)")
    parser.add_argument("--quick", action="store_true", help="MINIFAST_QUICK=1: tiny subset, 1 short epoch")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the executed copies (default: overwrite in place)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            print(f"no such notebook: {path}", file=sys.stderr)
            return 2
        out = None
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            out = args.out / path.name
        seconds = execute(path, args.quick, args.timeout, out)
        print(f"{path.name}: {'quick' if args.quick else 'full'} mode, {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
