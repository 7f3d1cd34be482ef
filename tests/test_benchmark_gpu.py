"""benchmarks/gpu.py runs end to end on the CPU (2 tiny batches): the script never rots on
machines without a GPU. No timing is asserted; both sides must compute the same thing."""
from __future__ import annotations

import json

import pytest

from benchmarks import gpu


def run_smoke(tmp_path, workload: str) -> dict:
    out, md = tmp_path / "gpu.json", tmp_path / "gpu.md"
    assert gpu.main(["--device", "cpu", "--smoke", "--workloads", workload,
                     "--json", str(out), "--markdown", str(md)]) == 0
    assert f"| {workload} (bs 4) |" in md.read_text()
    return json.loads(out.read_text())["workloads"][workload]


def test_mnist_cnn_smoke(tmp_path):
    result = run_smoke(tmp_path, "mnist_cnn")
    assert result["n_batches"] == 2 and result["images_per_epoch"] == 8
    assert result["raw"]["images_per_s"] > 0 and result["minifast"]["images_per_s"] > 0
    # Same weights, batches and optimiser: the raw loop and the Learner end on the same loss.
    assert result["minifast"]["last_loss"] == pytest.approx(result["raw"]["last_loss"], rel=1e-5)


@pytest.mark.slow  # builds EfficientNet-Lite0 and trains it unfrozen: ~30 s on 2 busy cores
def test_efficientnet_smoke(tmp_path):
    result = run_smoke(tmp_path, "efficientnet_lite0")
    assert result["minifast"]["last_loss"] == pytest.approx(result["raw"]["last_loss"], rel=1e-4)


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(gpu.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        gpu.main(["--device", "cuda"])
    assert "no CUDA GPU" in capsys.readouterr().err
