"""``scripts/gpu_check``, the check a person runs once on a GPU machine, dry-run here on the CPU at
its smallest (``--device cpu --tiny``), so that it cannot rot where there is no GPU: every stage
runs through the same commands and writes the same files as on a GPU. The summary is checked on
records of the kinds a GPU run writes (out of memory, skipped, a failed stage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu_check import main as gpu_check_main
from benchmarks.gpu_check import summarize_check

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "gpu_check"
IMPLS = {"sparse", "default", "pyg", "graphsage"}


def _run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHON": sys.executable, **(env or {})},
    )


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_the_check_dry_runs_on_the_cpu(tmp_path, tu_root):
    if not (tu_root / "ENZYMES").is_dir():
        message = f"ENZYMES not found under {tu_root}"
        if os.environ.get("DIFFPOOL_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path / "check"
    proc = _run(
        str(out),
        "--device",
        "cpu",
        "--tiny",
        env={"DIFFPOOL_TU_ROOT": str(tu_root), "DIFFPOOL_DATA": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "gpu_check: every stage passed" in proc.stdout

    env = json.loads((out / "environment.json").read_text())
    assert env["device"] == "cpu" and env["device_name"] and env["torch"] and env["lightning"]
    assert env["torchmetrics"] and env["torch_geometric"] and env["cuda_available"] in (True, False)
    assert Path(env["diffpool_path"]) == REPO_ROOT / "src" / "diffpool"  # the checkout's code

    assert " passed" in (out / "tests.log").read_text() and (out / "tests.xml").is_file()

    stages = {s["stage"]: s for s in _lines(out / "stages.jsonl")}
    assert set(stages) == {"environment", "tests", "epoch", "scaling"}
    assert all(s["status"] == "ok" and s["exit_code"] == 0 for s in stages.values())

    epoch = _lines(out / "epoch.jsonl")
    cases = {r["impl"]: r for r in epoch if r["kind"] == "epoch"}
    assert set(cases) == IMPLS
    for r in cases.values():
        assert r["status"] == "ok" and r["dataset"] == "ENZYMES" and r["device"] == "cpu"
        assert r["device_name"] and r["epoch_s"] > 0 and r["graphs_per_s"] > 0
        assert r["peak_memory_mb"] > 0 and len(r["epoch_times_s"]) == 1 and r["workload"]["graphs"] == 60
    (row,) = [r for r in epoch if r["kind"] == "ratios"]
    assert row["device"] == "cpu" and all(row[impl]["speed_vs_pyg"] > 0 for impl in IMPLS - {"pyg"})

    scaling = _lines(out / "scaling.jsonl")
    layers = [r for r in scaling if r["kind"] == "layer"]
    assert {r["impl"] for r in layers} == {"sparse", "pyg"}
    for r in layers:
        assert r["status"] == "ok" and r["device"] == "cpu" and r["device_name"] and r["n"] <= 2000
        assert r["k"] == 64 and r["degree"] == 10 and r["seconds"] > 0 and r["memory_mb"] >= 0
    assert sorted(r["n"] for r in layers if r["impl"] == "pyg") == [1000, 2000]  # grown to the limit
    assert {r["impl"] for r in scaling if r["kind"] == "slope"} == {"sparse", "pyg"}
    assert "every stage passed" in (out / "summary.txt").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give the output folder"),
        (("OUT", "--device", "tpu"), "--device must be cpu or cuda"),
        (("OUT", "--budget", "8m"), "--budget takes whole seconds"),
        (("OUT", "--bogus"), "unknown option --bogus"),
        (("OUT", "OTHER"), "one OUT_DIR only"),
        (("OUT", "--python", "/nonexistent/python"), "no Python interpreter"),
    ],
)
def test_the_check_refuses_bad_arguments_before_running_anything(tmp_path, args, message):
    args = tuple(str(tmp_path / a) if a in ("OUT", "OTHER") else a for a in args)
    proc = _run(*args, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr
    assert not (tmp_path / "OUT").exists()


def test_the_help_is_the_scripts_header():
    proc = _run("--help", timeout=60)
    assert proc.returncode == 0 and "scripts/gpu_check OUT_DIR" in proc.stdout and "--tiny" in proc.stdout


def test_the_summary_reports_failures_out_of_memory_and_the_ratios(tmp_path, capsys):
    def write(name, rows):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))

    write(
        "stages.jsonl",
        [
            {"stage": "environment", "status": "ok", "seconds": 3},
            {"stage": "tests", "status": "failed", "seconds": 40, "note": "exit code 1, see tests.log"},
            {"stage": "epoch", "status": "ok", "seconds": 200},
        ],
    )
    gpu = {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3"}
    write(
        "epoch.jsonl",
        [
            {"kind": "epoch", "dataset": "PROTEINS", "impl": "pyg", "status": "ok", "epoch_s": 2.0}
            | gpu
            | {"peak_memory_mb": 4000.0},
            {"kind": "epoch", "dataset": "PROTEINS", "impl": "sparse", "status": "ok", "epoch_s": 1.0}
            | gpu
            | {"peak_memory_mb": 1000.0},
            {"kind": "epoch", "dataset": "PROTEINS", "impl": "graphsage", "status": "skipped"}
            | gpu
            | {"reason": "the run's budget of 200 s was spent"},
            {"kind": "ratios", "dataset": "PROTEINS", "sparse": {"speed_vs_pyg": 2.0, "memory_vs_pyg": 0.25}},
        ],
    )
    write(
        "scaling.jsonl",
        [
            {"kind": "layer", "impl": "sparse", "clusters": "64", "n": 1_000_000, "edges": 5_000_000}
            | gpu
            | {"status": "ok", "seconds": 0.5, "memory_mb": 9000.0, "peak_cuda_mb": 9100.0},
            {"kind": "layer", "impl": "sparse", "clusters": "64", "n": 64_000, "edges": 320_000}
            | gpu
            | {"status": "ok", "seconds": 0.05, "memory_mb": 600.0},
            {"kind": "layer", "impl": "pyg", "clusters": "64", "n": 64_000, "edges": 320_000}
            | gpu
            | {"status": "ok", "seconds": 0.5, "memory_mb": 60000.0},
            {"kind": "layer", "impl": "pyg", "clusters": "64", "n": 128_000}
            | gpu
            | {"status": "out of memory"},
        ],
    )
    text, passed = summarize_check(tmp_path)
    assert not passed and "1 stage(s) failed: tests" in text
    assert "epoch on NVIDIA H100 80GB HBM3" in text and "speed ×2.00  memory ×0.25" in text
    assert "skipped: the run's budget of 200 s was spent" in text
    assert "largest n 1,000,000, 5,000,000 edges: 0.500 s, 9,100 MB" in text
    assert "out of memory at n=128,000" in text
    assert "at n=64,000 ours takes ×0.10 PyG's time and ×0.01 its memory" in text
    assert gpu_check_main(["summary", str(tmp_path)]) == 0
    assert capsys.readouterr().out == text == (tmp_path / "summary.txt").read_text()
    # A check that wrote nothing still gets a summary.
    empty = tmp_path / "empty"
    empty.mkdir()
    text, passed = summarize_check(empty)
    assert passed and "epoch: no records" in text and "scaling: no records" in text
