"""The command on each device: a DDP-free ``train`` with ``--device`` (the CPU here, a CUDA GPU
where there is one), in full and in bf16-mixed precision. The functional and model tests take the
same ``device`` fixture for agreement with the reference, permutation invariance, a training step
and bf16 autocast."""

from __future__ import annotations

import json

import pytest

from diffpool.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / "diffpool-cache"))


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_train_runs_on_the_device(device, precision, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--out",
        str(out),
        "--no-picture",
        "--device",
        device.type,
        "--precision",
        precision,
    ]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["epochs_run"] == 2 and 0 <= result["test_acc"] <= 1
    config = json.loads((out / "config.json").read_text())
    config = config.get("config", config)
    assert config["device"] == device.type and config["precision"] == precision
