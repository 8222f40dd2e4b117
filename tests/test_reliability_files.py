"""Corrupted run files and checkpoints: detected with a clear message, the previous good file used,
nothing good overwritten with garbage.

Each test copies a small finished run (made once per module, in-process through the CLI) into its
own folder, damages one file the way a crash or a bad disk would (cut in half, bytes flipped,
emptied) and runs the same command again through :func:`diffpool.cli.main`: either the run
recovers to the same numbers, or the command exits 2 with a message naming the file and no
traceback, and every other file of the run keeps its bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from pathlib import Path

import pytest
import torch

from diffpool.cli import main
from diffpool.training.checkpoints import (
    CHECKSUM_KEY,
    AtomicCheckpointIO,
    content_digest,
    load_resumable_checkpoint,
    previous_path,
    read_checkpoint,
)
from diffpool.training.predict import CheckpointError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EPOCHS = 3


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / "diffpool-cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


# --------------------------------------------------------------------------- damage
def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_bytes(path: Path, seed: int = 0, count: int = 32) -> None:
    """Flip ``count`` bytes in the middle part of the file (XOR 0xFF: for text, invalid UTF-8).

    Many, so that some change the content: a checkpoint's zip pads every tensor to 64 bytes, and
    with 3 flips all could land in padding (it happened once the layout shifted by a few bytes).
    """
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for _ in range(count):
        pos = rng.randrange(len(data) // 4, 3 * len(data) // 4)
        data[pos] ^= 0xFF
    path.write_bytes(bytes(data))


def overlap_splits(path: Path) -> None:
    """Valid JSON, wrong content: a training graph also listed as a test graph of fold 0."""
    document = json.loads(path.read_text())
    fold = document["folds"][0]
    fold["test"][0] = fold["train"][0]
    path.write_text(json.dumps(document))


def empty(path: Path) -> None:
    path.write_bytes(b"")


DAMAGE = {"truncated": truncate, "flipped": flip_bytes, "empty": empty}


def fingerprint(folder: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` except the logs and ``skip``."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_file() and "logs" not in path.parts and rel not in skip:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clear_error(code: int, err: str, path: Path) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert path.name in err, f"the message does not name {path.name}: {err}"


# --------------------------------------------------------------------------- finished runs
def _common(tu_root) -> list[str]:
    return [
        "--dataset",
        "MUTAG",
        "--data-dir",
        str(tu_root),
        "--epochs",
        str(EPOCHS),
        "--hidden",
        "16",
        "--mlp-hidden",
        "16",
        "--patience",
        "10",
        "--json",
    ]


def cv_argv(tu_root, out: Path) -> list[str]:
    return ["cv", "--folds", "2", "--out", str(out), *_common(tu_root)]


def train_argv(tu_root, out: Path) -> list[str]:
    return ["train", "--out", str(out), "--no-picture", *_common(tu_root)]


@pytest.fixture(scope="module")
def finished_cv(tu_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("cv-base") / "run"
    os.environ.setdefault("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / "diffpool-cache"))
    assert main(cv_argv(tu_root, out)) == 0
    return out, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def finished_train(tu_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("train-base") / "run"
    assert main(train_argv(tu_root, out)) == 0
    return out, json.loads((out / "result.json").read_text())


def copy_run(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(source, target)
    return target


# --------------------------------------------------------------------------- checkpoint IO unit tests
def fake_checkpoint(epoch: int) -> dict:
    torch.manual_seed(epoch)
    return {
        "epoch": epoch,
        "global_step": 10 * epoch,
        "state_dict": {"w": torch.randn(64, 64), "b": torch.zeros(3)},
        "history": [{"epoch": e, "val_acc": 0.5 + e / 100} for e in range(epoch + 1)],
        "hyper_parameters": {"eval_prefixes": ("val",), "model_config": {"hidden": 16}},
    }


def test_saving_keeps_the_previous_checkpoint_and_both_load(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint(fake_checkpoint(0), path)
    assert not previous_path(path).exists()
    io.save_checkpoint(fake_checkpoint(1), path)
    io.save_checkpoint(fake_checkpoint(2), path)
    assert read_checkpoint(path)["epoch"] == 2
    assert read_checkpoint(previous_path(path))["epoch"] == 1
    assert load_resumable_checkpoint(path) == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt", "last.ckpt.prev"], "temp files left"
    io.remove_checkpoint(path)
    assert list(path.parent.iterdir()) == []


def test_a_save_after_a_kill_between_keeping_and_replacing_leaves_no_temporary_file(tmp_path, monkeypatch):
    """Killed after last.ckpt was kept as .prev but before the new file replaced it: both names are
    links to one file. rename() between links of one file is a no-op, which once left a temporary link."""
    from diffpool.training import checkpoints

    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(fake_checkpoint(0), path)
    real_replace = os.replace

    def killed_before_replacing_last(src, dst):
        if Path(dst) == path:
            raise KeyboardInterrupt  # stands in for the SIGKILL
        real_replace(src, dst)

    monkeypatch.setattr(checkpoints.os, "replace", killed_before_replacing_last)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint(fake_checkpoint(1), path)
    monkeypatch.undo()
    assert os.path.samefile(path, previous_path(path))
    io.save_checkpoint(fake_checkpoint(1), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "last.ckpt.prev"], (
        "a temporary file was left"
    )
    assert read_checkpoint(path)["epoch"] == 1 and read_checkpoint(previous_path(path))["epoch"] == 0
    io.save_checkpoint(fake_checkpoint(2), path)
    assert read_checkpoint(previous_path(path))["epoch"] == 1


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_atomically_written_files_get_the_permissions_of_any_new_file(tmp_path, umask):
    """mkstemp makes 0600 files; results and checkpoints must be as readable as the umask allows
    (runs on shared storage), like a file open() creates."""
    from diffpool.atomic import atomic_open

    previous = os.umask(umask)
    try:
        with atomic_open(tmp_path / "result.json") as handle:
            handle.write("{}")
        AtomicCheckpointIO().save_checkpoint(fake_checkpoint(0), tmp_path / "last.ckpt")
    finally:
        os.umask(previous)
    for name in ("result.json", "last.ckpt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_a_bare_state_dict_round_trips_and_a_changed_one_is_refused(tmp_path):
    """What Lightning's ddp_spawn does with the trainer's checkpoint IO: the worker saves the
    module's bare state dict, the main process loads it into its own module."""
    io = AtomicCheckpointIO()
    weights = fake_checkpoint(0)["state_dict"]
    path = tmp_path / ".temp.ckpt"
    io.save_checkpoint(weights, path)
    loaded = io.load_checkpoint(path)
    assert loaded.keys() == weights.keys() and all(torch.equal(loaded[k], weights[k]) for k in weights)
    flip_bytes(path)
    with pytest.raises(CheckpointError, match=r"\.temp\.ckpt: corrupted"):
        io.load_checkpoint(path)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupted_last_checkpoint_falls_back_to_the_previous_one(tmp_path, damage, caplog):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(fake_checkpoint(4), path)
    io.save_checkpoint(fake_checkpoint(5), path)
    DAMAGE[damage](path)
    with caplog.at_level(logging.WARNING, logger="diffpool.training.checkpoints"):
        assert load_resumable_checkpoint(path) == previous_path(path)
    assert str(path) in caplog.text and "previous checkpoint" in caplog.text
    damaged = path.read_bytes()
    loaded = io.load_checkpoint(path)  # what Lightning calls when resuming
    assert loaded["epoch"] == 4 and torch.equal(
        loaded["state_dict"]["w"], fake_checkpoint(4)["state_dict"]["w"]
    )
    # The damaged file is kept aside, unchanged, so the next save keeps the good one as .prev.
    assert path.with_name("last.ckpt.corrupt").read_bytes() == damaged and not path.exists()
    io.save_checkpoint(fake_checkpoint(5), path)
    assert read_checkpoint(previous_path(path))["epoch"] == 4 and read_checkpoint(path)["epoch"] == 5


def test_no_readable_checkpoint_gives_none_and_a_clear_error(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "ckpts" / "last.ckpt"
    assert load_resumable_checkpoint(path) is None
    with pytest.raises(FileNotFoundError):
        io.load_checkpoint(path)
    io.save_checkpoint(fake_checkpoint(0), path)
    io.save_checkpoint(fake_checkpoint(1), path)
    truncate(path)
    flip_bytes(previous_path(path))
    assert load_resumable_checkpoint(path) is None
    with pytest.raises(CheckpointError, match=r"last\.ckpt: corrupted.*delete the folder"):
        io.load_checkpoint(path)
    # only the previous file left (last.ckpt deleted by hand): it is used
    path.unlink()
    io.save_checkpoint(fake_checkpoint(7), previous_path(path))
    assert load_resumable_checkpoint(path) == previous_path(path)


def test_every_flipped_byte_is_detected_or_harmless(finished_train):
    """torch.load misses most flips inside tensor data; the checksum catches them (random bytes)."""
    run, _ = finished_train
    original = (run / "checkpoints" / "last.ckpt").read_bytes()
    reference = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    rng = random.Random(9)
    detected = 0
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.ckpt"
        for _ in range(60):
            data = bytearray(original)
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            path.write_bytes(bytes(data))
            try:
                loaded = read_checkpoint(path)
            except CheckpointError as err:
                assert str(path) in str(err)
                detected += 1
                continue
            # not detected: then the content is exactly the original's (a flip in zip padding etc.)
            assert content_digest(loaded) == content_digest(reference)
    assert detected >= 30


def test_a_crash_while_writing_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(fake_checkpoint(0), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint(fake_checkpoint(1), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"], "a temporary file was left behind"


def test_checkpoints_load_weights_only_so_a_crafted_file_cannot_run_code(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"model_config": Payload()}}, path)
    assert load_resumable_checkpoint(path) is None
    with pytest.raises(CheckpointError):
        AtomicCheckpointIO().load_checkpoint(path)
    code, _, err = run_cli(capsys, ["predict", "--checkpoint", str(path), "--graphs", str(tmp_path)])
    assert_clear_error(code, err, path)
    assert not marker.exists(), "unpickling the crafted checkpoint ran its code"


def test_the_checksum_is_written_into_every_checkpoint(finished_train):
    run, _ = finished_train
    for name in ("last.ckpt", "best.ckpt"):
        checkpoint = torch.load(run / "checkpoints" / name, weights_only=True)
        assert checkpoint[CHECKSUM_KEY] == content_digest(checkpoint)


# --------------------------------------------------------------------------- run files, end to end
@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_corrupted_fold_result_is_recomputed_to_the_same_numbers(
    finished_cv, tu_root, tmp_path, capsys, caplog, damage
):
    base, summary = finished_cv
    run = copy_run(base, tmp_path)
    bad = run / "fold_1" / "result.json"
    DAMAGE[damage](bad)
    keep = fingerprint(run, skip=("fold_1/result.json", "results.json"))
    # 'cv report' only reads: a clear error naming the file, nothing written
    code, _, err = run_cli(capsys, ["cv", "report", str(run), "--json"])
    assert_clear_error(code, err, bad)
    assert "Delete it" in err
    # the same cv command again: fold 1 recomputed from its checkpoints, fold 0 read back
    with caplog.at_level(logging.WARNING):
        code, out, err = run_cli(capsys, cv_argv(tu_root, run))
    assert code == 0, err
    assert "fold_1" in caplog.text and "recomputing fold 1" in caplog.text
    again = json.loads(out)
    assert again["per_fold"] == summary["per_fold"]
    fold1 = json.loads(bad.read_text())
    assert fold1["history"] == json.loads((base / "fold_1" / "result.json").read_text())["history"]
    assert fingerprint(run, skip=("fold_1/result.json", "results.json")) == keep


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupted_results_json_is_rewritten_from_the_fold_results(
    finished_cv, tu_root, tmp_path, capsys, damage
):
    base, summary = finished_cv
    run = copy_run(base, tmp_path)
    DAMAGE[damage](run / "results.json")
    keep = fingerprint(run, skip=("results.json",))
    code, out, err = run_cli(capsys, ["cv", "report", str(run), "--json"])
    assert code == 0, err
    merged = json.loads((run / "results.json").read_text())
    assert merged["per_fold"] == summary["per_fold"] and merged["mean"] == summary["mean"]
    DAMAGE[damage](run / "results.json")
    code, out, err = run_cli(capsys, cv_argv(tu_root, run))
    assert code == 0, err
    assert json.loads((run / "results.json").read_text())["per_fold"] == summary["per_fold"]
    assert fingerprint(run, skip=("results.json",)) == keep


@pytest.mark.parametrize("command", ["cv", "report"])
def test_a_results_write_killed_midway_leaves_no_temporary_after_the_next_run(
    finished_cv, tu_root, tmp_path, capsys, command
):
    """A kill while results.json was written leaves ``.results.json.XXXX.tmp`` in the run folder; the
    next cv or report removes it. Another file's temporary there (a fold job of an array writing
    splits.json) is not this process's to remove."""
    base, summary = finished_cv
    run = copy_run(base, tmp_path)
    stale = run / ".results.json.k1ll3d.tmp"
    stale.write_text('{"per_fold": [0.')
    others = run / ".splits.json.w0rk1n.tmp"
    others.write_text("{")
    argv = cv_argv(tu_root, run) if command == "cv" else ["cv", "report", str(run), "--json"]
    code, _, err = run_cli(capsys, argv)
    assert code == 0, err
    assert not stale.exists() and others.exists()
    assert json.loads((run / "results.json").read_text())["per_fold"] == summary["per_fold"]


SPLITS_DAMAGE = [
    "truncated",
    "empty",
    "overlap",
    "flipped",
]


@pytest.mark.parametrize("damage", SPLITS_DAMAGE)
@pytest.mark.parametrize("command", ["cv", "train"])
def test_a_corrupted_splits_file_is_a_clear_error_and_is_not_overwritten(
    finished_cv, finished_train, tu_root, tmp_path, capsys, damage, command
):
    base, _ = finished_cv if command == "cv" else finished_train
    run = copy_run(base, tmp_path)
    # remove the results so the command must read the splits again
    for path in list(run.rglob("result.json")) + list(run.glob("results.json")):
        path.unlink()
    splits = run / "splits.json"
    {"overlap": overlap_splits, **DAMAGE}[damage](splits)
    keep = fingerprint(run)
    argv = cv_argv(tu_root, run) if command == "cv" else train_argv(tu_root, run)
    code, _, err = run_cli(capsys, argv)
    assert_clear_error(code, err, splits)
    assert fingerprint(run) == keep, "a file of the run was written after its splits were found corrupted"


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_corrupted_config_json_is_a_clear_error_and_is_not_overwritten(
    finished_cv, tu_root, tmp_path, capsys, damage
):
    base, _ = finished_cv
    run = copy_run(base, tmp_path)
    config = run / "config.json"
    DAMAGE[damage](config)
    keep = fingerprint(run)
    for argv in (cv_argv(tu_root, run), ["cv", "report", str(run), "--json"]):
        code, _, err = run_cli(capsys, argv)
        assert_clear_error(code, err, config)
    assert fingerprint(run) == keep


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resuming_from_a_corrupted_last_checkpoint_uses_the_previous_one(
    finished_train, tu_root, tmp_path, capsys, caplog, damage
):
    """Interrupted run (no result.json) whose last.ckpt is damaged: it resumes from last.ckpt.prev,
    recomputes the one lost epoch and ends with the same numbers as the uninterrupted run."""
    base, reference = finished_train
    run = copy_run(base, tmp_path)
    (run / "result.json").unlink()
    last = run / "checkpoints" / "last.ckpt"
    DAMAGE[damage](last)
    keep = fingerprint(
        run,
        skip=(
            "checkpoints/last.ckpt",
            "checkpoints/last.ckpt.prev",
            "checkpoints/best.ckpt",
            "checkpoints/best.ckpt.prev",
        ),
    )
    with caplog.at_level(logging.WARNING):
        code, out, err = run_cli(capsys, train_argv(tu_root, run))
    assert code == 0, err
    assert str(last) in caplog.text
    result = json.loads((run / "result.json").read_text())
    assert result["history"] == reference["history"]
    assert result["test_acc"] == reference["test_acc"] and result["best_epoch"] == reference["best_epoch"]
    assert load_resumable_checkpoint(last) is not None, "no readable checkpoint left to resume from"
    now = fingerprint(run)
    assert {k: now.get(k) for k in keep} == keep


def test_a_run_killed_after_setting_a_corrupted_checkpoint_aside_resumes_from_the_previous_one(
    finished_train, tu_root, tmp_path, capsys, monkeypatch
):
    """A resume that fell back to .prev moved the corrupted last.ckpt aside; killed before its next
    save, only last.ckpt.prev is left. The next run resumes from it instead of starting afresh."""
    base, reference = finished_train
    run = copy_run(base, tmp_path)
    (run / "result.json").unlink()
    last = run / "checkpoints" / "last.ckpt"
    os.replace(last, last.with_name("last.ckpt.corrupt"))
    loaded = []
    real_load = AtomicCheckpointIO.load_checkpoint

    def recording_load(self, path, *args, **kwargs):
        checkpoint = real_load(self, path, *args, **kwargs)
        loaded.append((Path(path).name, checkpoint.get("epoch")))
        return checkpoint

    monkeypatch.setattr(AtomicCheckpointIO, "load_checkpoint", recording_load)
    code, _, err = run_cli(capsys, train_argv(tu_root, run))
    assert code == 0, err
    assert loaded and loaded[0][0] == "last.ckpt" and loaded[0][1] is not None, (
        "trained afresh instead of resuming"
    )
    result = json.loads((run / "result.json").read_text())
    assert result["history"] == reference["history"] and result["test_acc"] == reference["test_acc"]


def test_resuming_when_both_last_checkpoints_are_corrupted_is_a_clear_error(
    finished_train, tu_root, tmp_path, capsys
):
    base, _ = finished_train
    run = copy_run(base, tmp_path)
    (run / "result.json").unlink()
    last = run / "checkpoints" / "last.ckpt"
    truncate(last)
    flip_bytes(previous_path(last))
    keep = fingerprint(run)
    code, _, err = run_cli(capsys, train_argv(tu_root, run))
    assert_clear_error(code, err, last)
    assert "delete the folder" in err
    assert fingerprint(run) == keep


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_corrupted_best_checkpoint_is_a_clear_error(finished_train, tu_root, tmp_path, capsys, damage):
    base, _ = finished_train
    run = copy_run(base, tmp_path)
    (run / "result.json").unlink()
    best = run / "checkpoints" / "best.ckpt"
    DAMAGE[damage](best)
    code, _, err = run_cli(capsys, train_argv(tu_root, run))
    assert_clear_error(code, err, best)


# --------------------------------------------------------------------------- predict
@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_predict_with_a_corrupted_checkpoint_is_a_clear_error(
    finished_train, tu_root, tmp_path, capsys, damage
):
    base, _ = finished_train
    ckpt = tmp_path / "best.ckpt"
    shutil.copy(base / "checkpoints" / "best.ckpt", ckpt)
    DAMAGE[damage](ckpt)
    code, _, err = run_cli(capsys, ["predict", "--checkpoint", str(ckpt), "--graphs", str(tu_root / "MUTAG")])
    assert_clear_error(code, err, ckpt)


def test_predict_with_flipped_tensor_bytes_is_a_clear_error(finished_train, tu_root, tmp_path, capsys):
    base, _ = finished_train
    ckpt = tmp_path / "best.ckpt"
    shutil.copy(base / "checkpoints" / "best.ckpt", ckpt)
    # flip one byte inside the largest tensor record: torch.load does not notice
    import zipfile

    with zipfile.ZipFile(ckpt) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(ckpt.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.file_size // 2] ^= 0x40
    ckpt.write_bytes(bytes(data))
    torch.load(ckpt, weights_only=True)  # torch itself accepts it
    code, _, err = run_cli(capsys, ["predict", "--checkpoint", str(ckpt), "--graphs", str(tu_root / "MUTAG")])
    assert_clear_error(code, err, ckpt)


def test_predict_with_a_checkpoint_for_other_classes_is_a_clear_error(
    finished_train, tu_root, tmp_path, capsys
):
    base, _ = finished_train
    # graphs whose labels include a class the model never saw
    folder = tmp_path / "MUTAG"
    shutil.copytree(tu_root / "MUTAG", folder)
    labels = folder / "MUTAG_graph_labels.txt"
    labels.chmod(0o644)
    lines = labels.read_text().splitlines()
    labels.write_text("\n".join(["7"] + lines[1:]) + "\n")
    code, _, err = run_cli(
        capsys, ["predict", "--checkpoint", str(base / "checkpoints" / "best.ckpt"), "--graphs", str(folder)]
    )
    assert_clear_error(code, err, labels)
    assert "[7]" in err
    # a checkpoint whose saved configuration says 3 classes but whose weights have 2
    checkpoint = torch.load(base / "checkpoints" / "best.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["model_config"]["num_classes"] = 3
    ckpt = tmp_path / "three.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint, ckpt)
    code, _, err = run_cli(capsys, ["predict", "--checkpoint", str(ckpt), "--graphs", str(tu_root / "MUTAG")])
    assert_clear_error(code, err, ckpt)
    assert "do not fit" in err


def test_predict_with_a_checkpoint_for_other_features_is_a_clear_error(
    finished_train, tu_root, tmp_path, capsys
):
    base, _ = finished_train
    ckpt = base / "checkpoints" / "best.ckpt"
    # IMDB-BINARY has no node labels; the MUTAG model was trained on them
    code, _, err = run_cli(
        capsys, ["predict", "--checkpoint", str(ckpt), "--graphs", str(tu_root / "IMDB-BINARY")]
    )
    assert code == 2 and "Traceback" not in err and "IMDB-BINARY" in err
    # a checkpoint whose feature settings were edited to another width than its weights
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["hyper_parameters"]["model_config"]["in_channels"] += 3
    other = tmp_path / "wider.ckpt"
    AtomicCheckpointIO().save_checkpoint(checkpoint, other)
    code, _, err = run_cli(
        capsys, ["predict", "--checkpoint", str(other), "--graphs", str(tu_root / "MUTAG")]
    )
    assert_clear_error(code, err, other)


# --------------------------------------------------------------------------- paths from configs
def test_config_files_hold_no_output_paths(tmp_path, capsys, monkeypatch):
    """Only --out decides where a run writes: no option of a config file names an output place."""
    from dataclasses import fields

    from diffpool.training import RunConfig

    pathlike = {
        f.name for f in fields(RunConfig) if set(f.name.split("_")) & {"dir", "path", "out", "file", "output"}
    }
    assert pathlike == {"data_dir"}, "a configuration field looks like a path: it must not be an output place"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for key in ("out", "run_dir", "checkpoint", "output_dir"):
        (work / "c.yaml").write_text(f"{key}: {tmp_path / 'elsewhere'}\nepochs: 1\n")
        for command in ("train", "cv"):
            code, _, err = run_cli(capsys, [command, "--config", "c.yaml"])
            assert code == 2 and f"unknown option(s) {key}" in err and "Traceback" not in err
    assert not (tmp_path / "elsewhere").exists()
    assert sorted(p.name for p in work.iterdir()) == ["c.yaml"], (
        "a command that refused its options wrote files"
    )


def test_a_run_config_json_naming_an_output_path_is_refused(finished_cv, tmp_path, capsys):
    base, _ = finished_cv
    run = copy_run(base, tmp_path)
    config = run / "config.json"
    meta = json.loads(config.read_text())
    meta["config"]["out"] = str(tmp_path / "elsewhere")
    config.write_text(json.dumps(meta))
    keep = fingerprint(run)
    code, _, err = run_cli(capsys, ["cv", "report", str(run), "--json"])
    assert_clear_error(code, err, config)
    assert "unknown option(s) out" in err
    assert not (tmp_path / "elsewhere").exists() and fingerprint(run) == keep


@pytest.mark.parametrize("command", ["train", "cv"])
def test_a_data_set_name_from_a_config_file_cannot_place_the_run_outside_runs(
    tmp_path, capsys, monkeypatch, command
):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    (work / "c.yaml").write_text("dataset: ../../../escaped\nepochs: 1\n")
    code, _, err = run_cli(
        capsys,
        [command, "--config", "c.yaml", "--no-picture"]
        if command == "train"
        else [command, "--config", "c.yaml"],
    )
    assert code == 2 and "Traceback" not in err
    outside = sorted(
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob("*")
        if not str(p.relative_to(tmp_path)).startswith(("a/b/runs", "a/b/c.yaml"))
    )
    assert outside == ["a", "a/b"], f"written outside the run folder: {outside}"
