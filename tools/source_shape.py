"""Print the shape of a minifast source tree: lines of the core files, the internal modules that
learner.py imports, imports inside functions, and public names defined more than once.

    python tools/source_shape.py                 # this checkout
    python tools/source_shape.py /tmp/old/minifast   # another tree (e.g. from `git archive`)

The issue-15 closing note's before/after table comes from this script.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = ["callback.py", "learner.py", "schedule.py", "lr_finder.py", "callbacks/recorder.py",
        "callbacks/progress.py", "callbacks/train_eval.py", "callbacks/core.py"]


def internal_imports(path: Path) -> list[str]:
    """Modules of the package that `path` imports (relative imports), at any depth."""
    tree = ast.parse(path.read_text())
    return sorted({"." * n.level + (n.module or "") for n in ast.walk(tree)
                   if isinstance(n, ast.ImportFrom) and n.level > 0})


def lazy_imports(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(fn):
                    if isinstance(n, (ast.Import, ast.ImportFrom)):
                        name = n.names[0].name if isinstance(n, ast.Import) else \
                            "." * n.level + (n.module or "")
                        found.append(f"{path.relative_to(package)}:{n.lineno} {name}")
    return found


def duplicate_names(package: Path) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else \
                [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            for name in names:
                if not name.startswith("_") and name not in ("__all__", "__version__"):
                    seen.setdefault(name, []).append(str(path.relative_to(package)))
    return {k: v for k, v in seen.items() if len(v) > 1}


def main(argv: list[str]) -> int:
    package = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "minifast"
    for name in CORE:
        if (package / name).is_file():
            print(f"lines {name}: {len((package / name).read_text().splitlines())}")
    own = internal_imports(package / "learner.py")
    print(f"learner.py internal imports ({len(own)}): {', '.join(own)}")
    lazy = lazy_imports(package)
    own_lazy = [x for x in lazy if x.split()[-1].startswith(".")]
    print(f"imports inside functions: {len(lazy)} ({len(own_lazy)} of the package's own modules)")
    for line in own_lazy:
        print(f"  {line}")
    dups = duplicate_names(package)
    print(f"public names defined more than once: {len(dups)} {dups if dups else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
