"""SIGKILL a `diffpool train` / `diffpool cv` run at random points, run the same command again: it
resumes and ends with the same numbers as an uninterrupted run.

The runs are real subprocesses of the command line (``python -m diffpool.cli``) on MUTAG, CPU,
one thread, fixed seed. Kill points are drawn from a seeded generator (``KILL_SEED``), so a failure
replays: early (during start-up, 1–3 s after launch), during training (just after the checkpoint
of a random early epoch), and between folds (as soon as ``fold_0/result.json`` appears). The
uninterrupted reference runs in-process through :func:`diffpool.cli.main`, with the same settings.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from diffpool.cli import main
from diffpool.training.checkpoints import load_resumable_checkpoint

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

KILL_SEED = int(os.environ.get("DIFFPOOL_KILL_SEED", "20240609"))
TIMEOUT = 240  # seconds per subprocess: a hang is a failure, not a stuck test session
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kill-cache")


@pytest.fixture(autouse=True)
def _private_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(cache_dir))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def common(tu_root, epochs: int) -> list[str]:
    return [
        "--dataset",
        "MUTAG",
        "--data-dir",
        str(tu_root),
        "--epochs",
        str(epochs),
        "--hidden",
        "16",
        "--mlp-hidden",
        "16",
        "--seed",
        "5",
        "--device",
        "cpu",
        "--json",
    ]


def train_argv(tu_root, out: Path) -> list[str]:
    return ["train", "--out", str(out), "--no-picture", *common(tu_root, 6)]


def cv_argv(tu_root, out: Path) -> list[str]:
    return ["cv", "--folds", "2", "--out", str(out), *common(tu_root, 4)]


def child_env(cache: Path) -> dict[str, str]:
    env = dict(
        os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", DIFFPOOL_DATA=str(cache), PYTHONUNBUFFERED="1"
    )
    return env


def run_to_end(argv: list[str], cache: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "diffpool.cli", *argv],
        env=child_env(cache),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def run_and_kill(
    argv: list[str], cache: Path, trigger: Callable[[float], bool], delay: float
) -> float | None:
    """Start the command, SIGKILL it ``delay`` s after ``trigger(elapsed)`` first holds.

    Returns the moment of the kill (s after launch), or ``None`` if the run ended first (then it
    must have ended well).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "diffpool.cli", *argv],
        env=child_env(cache),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    start = time.monotonic()
    fired_at = None
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - start
            if elapsed > TIMEOUT:
                pytest.fail(f"{argv[0]} did not finish within {TIMEOUT} s")
            if fired_at is None and trigger(elapsed):
                fired_at = elapsed
            if fired_at is not None and elapsed >= fired_at + delay:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return elapsed
            time.sleep(0.02)
    finally:
        if proc.poll() is None:  # only our own child, by its id
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, err[-3000:]
    return None


def in_process(argv: list[str], capsys) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def assert_same_history(a: list[dict], b: list[dict]) -> None:
    assert [h["epoch"] for h in a] == [h["epoch"] for h in b]
    for x, y in zip(a, b):
        assert x == pytest.approx(y, rel=1e-5, abs=1e-7)


def after_checkpoint_writes(path: Path, count: int) -> Callable[[float], bool]:
    """A trigger that holds once ``path`` has been written ``count`` times (one write per epoch).

    Counting epochs rather than seconds keeps the kill inside training however fast the machine:
    a kill a fixed time after the first checkpoint landed after the end of a short run on quiet cores.
    """
    versions: set[int] = set()

    def trigger(_elapsed: float) -> bool:
        try:
            versions.add(path.stat().st_mtime_ns)
        except FileNotFoundError:
            pass
        return len(versions) >= count

    return trigger


def checkpoint_state(folder: Path) -> str:
    """What the killed run left: the epoch of the checkpoint a resume would use."""
    last = folder / "checkpoints" / "last.ckpt"
    usable = load_resumable_checkpoint(last)
    if usable is None:
        assert not last.exists(), f"{last} exists but neither it nor its .prev is readable after a SIGKILL"
        return "no checkpoint"
    return f"{usable.name} at epoch {int(torch.load(usable, weights_only=True)['epoch'])}"


def test_train_killed_twice_resumes_to_the_same_result(tu_root, tmp_path, cache_dir, capsys):
    rng = random.Random(KILL_SEED)
    reference = in_process(train_argv(tu_root, tmp_path / "reference"), capsys)
    reference_result = json.loads((tmp_path / "reference" / "result.json").read_text())

    run = tmp_path / "killed"
    argv = train_argv(tu_root, run)
    last = run / "checkpoints" / "last.ckpt"
    kills = []
    # 1: early, 1–3 s after launch (start-up, data loading, or the first epoch)
    kills.append(run_and_kill(argv, cache_dir, lambda t: t >= 1.0, rng.uniform(0.0, 2.0)))
    # 2: during training, just after the checkpoint of epoch 1, 2 or 3 of 6 (well before the end)
    kills.append(
        run_and_kill(argv, cache_dir, after_checkpoint_writes(last, rng.randint(1, 3)), rng.uniform(0.0, 0.1))
    )
    left = checkpoint_state(run)
    log.warning("train: killed at %s s; resuming from %s", kills, left)
    assert not (run / "result.json").exists() or kills[-1] is None

    final = run_to_end(argv, cache_dir)
    result = json.loads((run / "result.json").read_text())
    for key in ("test_acc", "val_acc", "best_epoch", "epochs_run"):
        assert final[key] == reference[key], (key, kills, left)
    assert_same_history(result["history"], reference_result["history"])
    assert not list(run.rglob("*.tmp")), "temporary files left behind"


def test_cv_killed_between_and_inside_folds_resumes_finished_folds(tu_root, tmp_path, cache_dir, capsys):
    rng = random.Random(KILL_SEED + 1)
    reference = in_process(cv_argv(tu_root, tmp_path / "reference"), capsys)

    run = tmp_path / "killed"
    argv = cv_argv(tu_root, run)
    fold0 = run / "fold_0" / "result.json"
    fold1_last = run / "fold_1" / "checkpoints" / "last.ckpt"
    # 1: right after fold 0 finished (its result.json appeared)
    killed_first = run_and_kill(argv, cache_dir, lambda t: fold0.exists(), rng.uniform(0.0, 0.3))
    assert fold0.exists()
    json.loads(fold0.read_text())  # whole, never half-written
    stamp = fold0.stat().st_mtime_ns
    # 2: inside fold 1, a random moment after its first checkpoint
    killed_second = run_and_kill(argv, cache_dir, lambda t: fold1_last.exists(), rng.uniform(0.0, 1.0))
    log.warning(
        "cv: killed at %s s and %s s; fold 1 resumes from %s",
        killed_first,
        killed_second,
        checkpoint_state(run / "fold_1"),
    )
    assert fold0.stat().st_mtime_ns == stamp, "the finished fold 0 was recomputed"

    final = run_to_end(argv, cache_dir)
    assert fold0.stat().st_mtime_ns == stamp, "the finished fold 0 was recomputed"
    assert final["per_fold"] == reference["per_fold"]
    assert (
        final["mean"] == reference["mean"] and final["completed_folds"] == 2 and final["missing_folds"] == []
    )
    for fold in range(2):
        ours = json.loads((run / f"fold_{fold}" / "result.json").read_text())
        theirs = json.loads((tmp_path / "reference" / f"fold_{fold}" / "result.json").read_text())
        assert ours["best_epoch"] == theirs["best_epoch"] and ours["test_acc"] == theirs["test_acc"]
        assert_same_history(ours["history"], theirs["history"])
    results = json.loads((run / "results.json").read_text())
    assert results["per_fold"] == reference["per_fold"]
    assert not list(run.rglob("*.tmp")), "temporary files left behind"


@pytest.mark.parametrize("protocol", ["fair", "paper"])
def test_the_last_good_checkpoint_is_the_last_complete_epoch(tu_root, tmp_path, monkeypatch, protocol):
    """Training stopped in epoch 3 (a NaN loss, injected): last.ckpt holds epochs 0–2."""
    from diffpool.training import NonFiniteLossError, RunConfig, cross_validate, module

    real = module.classification_loss

    def poisoned(output, target, **kwargs):
        losses = real(output, target, **kwargs)
        owner = poisoned.owner  # the LightningModule whose training_step is running
        if owner is not None and owner.current_epoch == 3:
            losses["loss"] = losses["loss"] * float("nan")
        return losses

    poisoned.owner = None
    original_step = module.GraphClassifier.training_step

    def step(self, batch, batch_idx):
        poisoned.owner = self
        return original_step(self, batch, batch_idx)

    monkeypatch.setattr(module, "classification_loss", poisoned)
    monkeypatch.setattr(module.GraphClassifier, "training_step", step)
    # a learning rate so small that validation accuracy never improves after epoch 0
    config = RunConfig(
        dataset="MUTAG", data_dir=str(tu_root), epochs=6, hidden=16, mlp_hidden=16, lr=1e-12, patience=20
    )
    with pytest.raises(NonFiniteLossError, match="epoch 3, batch 0"):
        cross_validate(config, tmp_path, folds=2, protocol=protocol, only_fold=0, progress=False)
    last = tmp_path / "fold_0" / "checkpoints" / "last.ckpt"
    assert load_resumable_checkpoint(last) == last
    checkpoint = torch.load(last, weights_only=True)
    assert [h["epoch"] for h in checkpoint["history"]] == [0, 1, 2]


def test_sigterm_stops_with_a_failure_status_and_the_run_resumes(tu_root, tmp_path, cache_dir, capsys):
    """Regression: Lightning ends training on SIGTERM with a SystemExit of code None, so the command
    exited 0 and a queue script took the stopped run for a finished one."""
    run = tmp_path / "terminated"
    argv = ["train", "--out", str(run), "--no-picture", *common(tu_root, 40)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "diffpool.cli", *argv],
        env=child_env(cache_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = run / "checkpoints" / "last.ckpt"
    start = time.monotonic()
    while not last.exists() and proc.poll() is None and time.monotonic() - start < TIMEOUT:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "stopped by SIGTERM" in err and "resumes" in err and "Traceback" not in err
    assert not (run / "result.json").exists()
    assert run_to_end(argv, cache_dir)["epochs_run"] >= 1 and (run / "result.json").exists()
