"""Write the course notebooks from the cell lists in `notebooks/src/` (outputs empty).

Why a generator: a notebook's JSON is hard to review; each notebook's cells live in a plain
Python file (`src/nbXX_*.py`, a list of markdown/code strings) that diffs like code. Run

    python notebooks/build.py            # all notebooks
    python notebooks/build.py 01 05      # only these

then execute them with `python tools/run_notebooks.py` (which writes the outputs in place).
Building a notebook again throws its outputs away, so rebuild only what you changed.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"


def load_cells(src_file: Path) -> list[tuple[str, str]]:
    """The `CELLS` list of one source file: `("md" | "code", text)` pairs, in order."""
    spec = importlib.util.spec_from_file_location(src_file.stem, src_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CELLS


def build(src_file: Path) -> Path:
    """Write `<name>.ipynb` next to this script from `src/nb<name>.py`; return its path."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text in load_cells(src_file):
        text = text.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        elif kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(text))
        else:
            raise ValueError(f"{src_file.name}: cell kind {kind!r} is neither 'md' nor 'code'")
    for i, cell in enumerate(nb.cells):  # stable ids: rebuilding gives the same file
        cell["id"] = f"cell-{i:03d}"
    out = HERE / f"{src_file.stem[2:]}.ipynb"
    nbformat.write(nb, out)
    return out


def main(argv: list[str]) -> int:
    sources = sorted(SRC.glob("nb*.py"))
    if argv:
        sources = [s for s in sources if any(s.stem[2:].startswith(a) for a in argv)]
        if not sources:
            print(f"no notebook source matches {argv}; sources: {[s.name for s in SRC.glob('nb*.py')]}")
            return 1
    for src in sources:
        print(f"wrote {build(src).relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
