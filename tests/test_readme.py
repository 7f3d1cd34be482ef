"""The README's Python code runs: its blocks, in order, as one script, on a tiny image folder.

The one substitution: the line `PATH = "data/dogscats/"` points at a folder made here (train/
and valid/, two classes, a few small images). Everything else runs exactly as written, including
the pretrained EfficientNet-Lite0 (its weights come with the installed packages: no download).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import REPO
from tests.data_fakes import make_class_folders

README = REPO / "README.md"
PATH_LINE = 'PATH = "data/dogscats/"'


def readme_python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_has_the_example_blocks():
    blocks = readme_python_blocks()
    assert len(blocks) >= 2 and PATH_LINE in blocks[0]
    assert "efficientnet_lite0" in blocks[0] and "resnet" not in blocks[0]  # runs offline


def test_the_readme_python_blocks_run_on_a_tiny_image_folder(tmp_path):
    folder = tmp_path / "images"
    make_class_folders(folder / "train", {"cats": 4, "dogs": 4})
    make_class_folders(folder / "valid", {"cats": 2, "dogs": 2}, seed=1)
    script = "\n".join(readme_python_blocks()).replace(PATH_LINE, f"PATH = {str(folder) + '/'!r}")
    script += "\nprint('README OK')\n"
    (tmp_path / "readme_example.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "readme_example.py"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train_loss" in result.stdout and result.stdout.rstrip().endswith("README OK")
