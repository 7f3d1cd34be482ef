"""docs/index.md's table of notebook results says what the committed notebooks print.

Each notebook's last cell prints `RESULT <name> <value>` lines; docs/index.md copies them into a
table with one row per figure: | notebook | figure | `name` | **value** |. A figure written as a
percentage is compared with the value times 100; each is compared to the digits it shows.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import test_style  # the style numbers live there; CONTRIBUTING.md must say the same

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "docs" / "index.md"
SECTION = "### What the committed notebooks measured"
ROW = re.compile(r"^\|\s*(\d\d_\w+)\s*\|(.*)\|\s*$")


def notebook_results(path: Path) -> dict[str, float]:
    """The `RESULT name value` lines in a notebook's outputs."""
    results = {}
    for cell in json.loads(path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            for name, value in re.findall(r"^RESULT (\S+) (\S+)$", text, flags=re.M):
                results[name] = float(value)
    return results


def section_rows(text: str) -> list[tuple[str, list[str]]]:
    """(notebook, cells after the first) for each table row of the results section."""
    if SECTION not in text:
        raise AssertionError(f"docs/index.md has no section {SECTION!r}")
    body = text.split(SECTION, 1)[1].split("\n#", 1)[0]
    rows = []
    for line in body.splitlines():
        m = ROW.match(line.strip())
        if m:
            rows.append((m.group(1), [c.strip() for c in m.group(2).split("|")]))
    return rows


def shown_equal(shown: str, value: float) -> bool:
    """Does `shown` ("91.05%", "0.13", "5.4e-08") equal `value` to the digits it shows?"""
    percent = shown.endswith("%")
    number = shown.rstrip("%").replace(",", "")
    if percent:
        value *= 100
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    tolerance = 0.5 * 10.0 ** (int(exponent or 0) - decimals)
    return abs(value - float(number)) <= tolerance * (1 + 1e-9)


def check_index(text: str) -> list[str]:
    """Every mismatch between the results table in `text` and the committed notebooks."""
    problems, seen = [], set()
    rows = section_rows(text)
    if not rows:
        return ["the results section has no table rows"]
    for notebook, cells in rows:
        path = ROOT / "notebooks" / f"{notebook}.ipynb"
        if not path.exists():
            problems.append(f"{notebook}: no such notebook")
            continue
        results = notebook_results(path)
        names = re.findall(r"`([^`]+)`", cells[1]) if len(cells) >= 3 else []
        values = re.findall(r"\*\*([^*]+)\*\*", cells[2]) if len(cells) >= 3 else []
        if len(names) != 1 or len(values) != 1:
            problems.append(f"{notebook}: row {cells} needs one `RESULT name` and one **value**")
            continue
        name, shown = names[0], values[0]
        seen.add(notebook)
        if name not in results:
            problems.append(f"{notebook}: prints no RESULT {name}")
        elif not shown_equal(shown, results[name]):
            problems.append(f"{notebook}: {name} is {results[name]:g} in the notebook, "
                            f"{shown} in docs/index.md")
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if path.stem not in seen:
            problems.append(f"{path.stem}: no row in docs/index.md's results table")
    return problems


def test_index_results_match_the_committed_notebooks():
    assert check_index(INDEX.read_text()) == []


def test_a_stale_figure_is_caught():
    text = INDEX.read_text()
    stale = text.replace("| `mnist_full_test_acc` | **99.55%** |",
                         "| `mnist_full_test_acc` | **99.45%** |")
    assert stale != text, "the row this test edits is gone: update the test"
    assert check_index(stale) == [
        "01_mnist: mnist_full_test_acc is 0.9955 in the notebook, 99.45% in docs/index.md"]


def test_a_row_without_its_result_name_is_caught():
    old_style = f"{SECTION}\n\n| notebook | figure | target | run time |\n|---|---|---|---|\n" \
                "| 03_pokemon | head **97.42%** | ≥ 97% | 5.2 min |\n"
    assert any("needs one `RESULT name`" in p for p in check_index(old_style))


@pytest.mark.parametrize("shown, value, equal", [
    ("91.05%", 0.9105, True), ("98.9%", 0.989, True), ("98.9%", 0.9876, False),
    ("0.13", 0.1328, True), ("0.40", 0.3996, True), ("5.4e-08", 5.402e-08, True),
    ("7.5", 7.456, True), ("0", 0.0, True), ("0", 0.6, False),
])
def test_shown_equal(shown, value, equal):
    assert shown_equal(shown, value) is equal


def _source_cells(src: Path) -> list[tuple[str, str]]:
    """notebooks/src/nbXX_*.py's cells as notebooks/build.py writes them."""
    spec = importlib.util.spec_from_file_location(src.stem, src)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(kind, text.strip("\n")) for kind, text in module.CELLS]


@pytest.mark.parametrize("src", sorted((ROOT / "notebooks" / "src").glob("nb*.py")),
                         ids=lambda p: p.stem)
def test_committed_notebook_cells_match_their_source(src: Path):
    """Markdown edited in one place only (src or .ipynb) would make the two disagree."""
    nb = json.loads((ROOT / "notebooks" / f"{src.stem[2:]}.ipynb").read_text())
    committed = [("md" if c["cell_type"] == "markdown" else "code", "".join(c["source"]))
                 for c in nb["cells"]]
    assert committed == _source_cells(src)


def contributing_budgets(text: str) -> dict[str, int]:
    """The budget table of CONTRIBUTING.md: `| what | N lines |` rows."""
    return {what.strip(): int(n) for what, n in
            re.findall(r"^\|([^|\n]+)\|\s*(\d+) lines\s*\|\s*$", text, flags=re.M)}


def test_contributing_states_the_budgets_and_allow_list_that_test_style_enforces():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    budgets = contributing_budgets(text)
    expected = {f"`{name}`": n for name, n in test_style.FILE_BUDGETS.items()}
    expected["each file in `minifast/callbacks/`"] = test_style.CALLBACK_FILE_LINES
    expected["each built-in callback (a class in `minifast/callbacks/`)"] = \
        test_style.CALLBACK_CLASS_LINES
    expected["any function or method, anywhere in the package"] = test_style.FUNCTION_LINES
    assert budgets == expected
    missing = [m for m in test_style.LAZY_IMPORTS if f"`{m}`" not in text]
    assert missing == [], f"CONTRIBUTING.md does not list these lazy imports: {missing}"


def test_the_budget_table_parser_reads_a_changed_number():
    assert contributing_budgets("| `learner.py` | 400 lines |\n") == {"`learner.py`": 400}
