"""Data-parallel training (DDP) on the CPU with gloo.

Two processes equal one process on the same global batches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch


def run_train(tu_root, out, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "diffpool.cli",
        "train",
        "--dataset",
        "MUTAG",
        "--data-dir",
        str(tu_root),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--mlp-hidden",
        "8",
        "--no-batch-norm",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--json",
        "--no-picture",
        *extra,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout[done.stdout.index("{") :])


def weights(path):
    return torch.load(path, weights_only=True, map_location="cpu")["state_dict"]


def test_two_gloo_processes_match_one_process_on_the_same_global_batches(tu_root, tmp_path):
    single = run_train(tu_root, tmp_path / "one", "--batch-size", "16")
    double = run_train(tu_root, tmp_path / "two", "--batch-size", "8", "--devices", "2", "--strategy", "ddp")
    one, two = (
        weights(tmp_path / "one" / "checkpoints" / "last.ckpt"),
        weights(tmp_path / "two" / "checkpoints" / "last.ckpt"),
    )
    assert one.keys() == two.keys()
    for name in one:
        if one[name].is_floating_point():
            torch.testing.assert_close(two[name], one[name], atol=1e-5, rtol=1e-5, msg=name)
    # validation accuracy is over the whole split (not a mean of per-process means, no duplicates)
    history_one = json.loads((tmp_path / "one" / "result.json").read_text())["history"]
    history_two = json.loads((tmp_path / "two" / "result.json").read_text())["history"]
    assert [h["val_acc"] for h in history_two] == pytest.approx([h["val_acc"] for h in history_one], abs=1e-6)
    assert double["test_acc"] == pytest.approx(single["test_acc"])
    # only the first process wrote: one result, one set of checkpoints
    written = sorted(
        p.name for p in (tmp_path / "two" / "checkpoints").iterdir() if not p.name.endswith(".prev")
    )
    assert written == ["best.ckpt", "last.ckpt"]


def test_ddp_spawn_trains_as_ddp_and_reports_its_history(tu_root, tmp_path):
    """Under ddp_spawn the workers train and the main process gets back only the weights: the result
    must still carry the workers' history (and their elapsed time), as with ddp."""
    spawned = run_train(
        tu_root, tmp_path / "spawn", "--batch-size", "8", "--devices", "2", "--strategy", "ddp_spawn"
    )
    forked = run_train(tu_root, tmp_path / "ddp", "--batch-size", "8", "--devices", "2", "--strategy", "ddp")
    result = json.loads((tmp_path / "spawn" / "result.json").read_text())
    expected = json.loads((tmp_path / "ddp" / "result.json").read_text())
    assert [h["epoch"] for h in result["history"]] == [0, 1]
    assert result["history"] == expected["history"] and result["best_epoch"] == expected["best_epoch"]
    assert spawned["test_acc"] == forked["test_acc"]
    last = torch.load(tmp_path / "spawn" / "checkpoints" / "last.ckpt", weights_only=True)
    assert 0 < last["elapsed_s"] <= result["wall_time_s"]
    for name, value in weights(tmp_path / "ddp" / "checkpoints" / "last.ckpt").items():
        if value.is_floating_point():
            torch.testing.assert_close(last["state_dict"][name], value, msg=name)


def test_two_processes_with_size_batches_and_per_graph_clusters(tu_root, tmp_path):
    result = run_train(
        tu_root,
        tmp_path / "two",
        "--batch-size",
        "8",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--batching",
        "size",
        "--per-graph-clusters",
    )
    history = json.loads((tmp_path / "two" / "result.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0, 1] and 0 <= result["test_acc"] <= 1
    # validation accuracy counts every validation graph once: a multiple of 1 / (number of graphs)
    val_size = json.loads((tmp_path / "two" / "result.json").read_text())["eval_size"]
    assert all(abs(h["val_acc"] * val_size - round(h["val_acc"] * val_size)) < 1e-4 for h in history)


def test_sync_batchnorm_on_cpu_is_a_clear_error(tu_root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "diffpool.cli",
            "train",
            "--dataset",
            "MUTAG",
            "--data-dir",
            str(tu_root),
            "--epochs",
            "1",
            "--sync-batchnorm",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "x"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "SyncBatchNorm" in done.stderr and "Traceback" not in done.stderr


def test_cuda_request_falls_back_to_cpu_with_a_message(tu_root, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "diffpool.cli",
            "train",
            "--dataset",
            "MUTAG",
            "--data-dir",
            str(tu_root),
            "--epochs",
            "1",
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "x"),
            "--json",
            "--no-picture",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no CUDA GPU" in done.stderr
