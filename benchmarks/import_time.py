"""What `import minifast` costs on top of `import torch`, in fresh interpreters.

Each repeat starts a new Python process that times `import torch`, then `import minifast`; the
script reports medians. `--detail` adds Python's own `-X importtime` table for the modules
minifast itself pulls in (torchvision, tqdm, matplotlib...), heaviest first.

    python benchmarks/import_time.py --repeats 7 --json out.json --markdown out.md
    python benchmarks/import_time.py --smoke
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PROBE = ("import time; t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); "
         "import minifast; t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")


def one_run(python: str) -> tuple[float, float]:
    """(seconds for `import torch`, seconds for `import minifast` after it) in a new process."""
    out = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, check=True)
    torch_s, minifast_s = map(float, out.stdout.split()[-2:])
    return torch_s, minifast_s


def heaviest_imports(python: str, top: int) -> list[tuple[str, float]]:
    """Modules imported by `import minifast` after torch, by cumulative time (from -X importtime)."""
    code = "import torch; import sys; sys.stderr.write('--- minifast\\n'); import minifast"
    err = subprocess.run([python, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         check=True).stderr
    rows = []
    for line in err.split("--- minifast\n", 1)[-1].splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((parts[2].rstrip(), int(parts[1]) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def run(repeats: int, detail: int, python: str = sys.executable) -> dict:
    runs = [one_run(python) for _ in range(repeats)]
    result = {"repeats": repeats, "torch_s": statistics.median(r[0] for r in runs),
              "minifast_s": statistics.median(r[1] for r in runs), "runs": runs,
              "python": python}
    if detail:
        result["heaviest"] = heaviest_imports(python, detail)
    return result


def to_markdown(r: dict) -> str:
    lines = [f"median of {r['repeats']} fresh interpreters", "", "| import | seconds |", "|---|---|",
             f"| `import torch` | {r['torch_s']:.2f} |",
             f"| `import minifast` after torch | **{r['minifast_s']:.3f}** |"]
    if r.get("heaviest"):
        lines += ["", "| module (cumulative, one run) | seconds |", "|---|---|"]
        lines += [f"| `{name.strip()}` | {s:.3f} |" for name, s in r["heaviest"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--detail", type=int, default=10, help="list this many heaviest imports (0: none)")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--smoke", action="store_true", help="one run, no detail (CI)")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats, args.detail = 1, 3
    result = run(args.repeats, args.detail)
    table = to_markdown(result)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
