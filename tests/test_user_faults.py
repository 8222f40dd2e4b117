"""Faults a new user hits, each through the command or API a user calls.

4. an output file never replaces the command's inputs, nor an existing file without ``--force``;
5. node features never change silently: every command says what it built from which files, and a
   missing source that was asked for or expected is an error naming it;
6. ``predict`` on a folder: empty graphs skipped and listed, other files ignored and listed,
   directed graphs and multigraphs converted with a warning naming the file;
7. output that fits a pipe: progress on standard error, plain lines when it is not a terminal,
   no Lightning banners;
8. errors name the user's path and what is wrong with it (read-only, disk full, a folder, an
   encoding);
9. two runs into one folder: a lock per fold, stale locks taken over.

Read-only folders are simulated (tests run as root, who may write anyway): the function that
creates the temporary file raises ``PermissionError``, and ``os.fsync`` raises ``ENOSPC``.
"""

from __future__ import annotations

import errno
import gzip
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import pytest
from torch_geometric.utils import to_networkx

import diffpool.atomic as atomic
from diffpool.cli import main
from diffpool.data import DataError, load_splits, load_tu, read_graph_folder
from diffpool.training import RunConfig, cross_validate, train
from diffpool.training.locks import LOCK_NAME, FoldLock, _proc_stat, _start_time
from diffpool.training.progress import EpochLines, StderrProgressBar, progress_callback
from diffpool.training.results import ResultsError, read_json

CACHE = "diffpool-cache"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / CACHE))


def mutag_config(tu_root, **changes) -> RunConfig:
    settings = dict(dataset="MUTAG", data_dir=str(tu_root), epochs=1, hidden=8, mlp_hidden=8)
    return RunConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def trained(tu_root, tmp_path_factory):
    """A MUTAG model trained for one epoch: its run folder (``checkpoints/best.ckpt``, logs, results)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / CACHE))
        train(mutag_config(tu_root), run, progress=False)
    return run


@pytest.fixture(scope="module")
def mutag(tu_root, tmp_path_factory):
    return load_tu("MUTAG", tu_root, cache=tmp_path_factory.getbasetemp() / CACHE)


def mutag_graph(dataset, index: int) -> nx.Graph:
    """MUTAG graph ``index`` as a user has it: integer node labels, no graph label."""
    values = dataset.feature_spec["node_label_values"][0]
    data = dataset[index]
    graph = to_networkx(data, to_undirected=True)
    for node, row in enumerate(data.x):
        graph.nodes[node]["label"] = values[int(row.argmax())]
    return graph


def graph_folder(dataset, folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        nx.write_graphml(mutag_graph(dataset, i), folder / f"mol{i}.graphml")
    return folder


def copy_tu(tu_root: Path, name: str, target: Path, *, as_name: str | None = None) -> Path:
    """``tu_root/name`` copied to ``target/as_name`` (files renamed to the new name)."""
    as_name = as_name or name
    folder = target / as_name
    folder.mkdir(parents=True)
    for file in (tu_root / name).glob(f"{name}_*.txt"):
        shutil.copyfile(file, folder / file.name.replace(f"{name}_", f"{as_name}_", 1))
    return folder


# --------------------------------------------------------------------------------- item 4
INPUT_TARGETS = [
    "checkpoint",
    "checkpoint-symlink",
    "checkpoint-hardlink",
    "graph-file",
    "labels-csv",
    "tu-file",
]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("target", INPUT_TARGETS)
def test_predict_out_never_replaces_an_input(trained, mutag, tu_root, tmp_path, capsys, target, force):
    checkpoint = trained / "checkpoints" / "best.ckpt"
    graphs = graph_folder(mutag, tmp_path / "graphs")
    (graphs / "labels.csv").write_text("file,label\nmol0.graphml,1\nmol1.graphml,-1\n")
    if target == "tu-file":
        graphs = copy_tu(tu_root, "MUTAG", tmp_path / "tu")
    out = {
        "checkpoint": checkpoint,
        "graph-file": graphs / "mol0.graphml",
        "labels-csv": graphs / "labels.csv",
        "tu-file": graphs / "MUTAG_A.txt",
        "checkpoint-symlink": tmp_path / "link.csv",
        "checkpoint-hardlink": tmp_path / "hard.csv",
    }[target]
    if target == "checkpoint-symlink":
        out.symlink_to(checkpoint)
    if target == "checkpoint-hardlink":
        os.link(checkpoint, out)
    before = {p: p.read_bytes() for p in [checkpoint, *graphs.iterdir()]}
    argv = ["predict", "--checkpoint", str(checkpoint), "--graphs", str(graphs), "--out", str(out)]
    assert main(argv + (["--force"] if force else [])) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: is an input of this command" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in before} == before


def test_predict_out_that_exists_is_replaced_only_with_force(trained, mutag, tmp_path, capsys):
    checkpoint = trained / "checkpoints" / "best.ckpt"
    graphs = graph_folder(mutag, tmp_path / "graphs")
    out = tmp_path / "p.csv"
    out.write_text("my earlier work\n")
    argv = ["predict", "--checkpoint", str(checkpoint), "--graphs", str(graphs), "--out", str(out)]
    assert main(argv) == 2
    assert f"--out {out}: exists; give --force to replace it" in capsys.readouterr().err
    assert out.read_text() == "my earlier work\n"
    assert main([*argv, "--force"]) == 0
    assert out.read_text().startswith("graph,predicted,p_-1,p_1\n")
    for force in ([], ["--force"]):  # a folder is never replaced
        folder = tmp_path / "folder"
        folder.mkdir(exist_ok=True)
        assert (
            main(
                [
                    "predict",
                    "--checkpoint",
                    str(checkpoint),
                    "--graphs",
                    str(graphs),
                    "--out",
                    str(folder),
                    *force,
                ]
            )
            == 2
        )
        assert f"--out {folder}: is a folder; name a file" in capsys.readouterr().err
        assert list(folder.iterdir()) == []


def test_plot_outputs_follow_the_same_rule(trained, tu_root, tmp_path, capsys):
    checkpoint = trained / "checkpoints" / "best.ckpt"
    before = {p: p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    picture = tmp_path / "curves.png"
    picture.write_bytes(b"an earlier picture")
    assert main(["plot", "run", str(trained), "--out", str(picture)]) == 2
    assert "exists; give --force" in capsys.readouterr().err and picture.read_bytes() == b"an earlier picture"
    assert main(["plot", "run", str(trained), "--out", str(trained / "result.json"), "--force"]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    assert (
        main(
            [
                "plot",
                "assignments",
                "--checkpoint",
                str(checkpoint),
                "--dataset",
                "MUTAG",
                "--data-dir",
                str(tu_root),
                "--out",
                str(checkpoint),
                "--force",
            ]
        )
        == 2
    )
    assert "is an input of this command" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in before} == before
    assert main(["plot", "run", str(trained), "--out", str(picture), "--force"]) == 0
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_cv_select_replaces_a_selection_of_other_runs_only_with_force(tmp_path):
    from diffpool.training.selection import _check_selection_out

    out = tmp_path / "selected"
    out.mkdir()
    runs = [tmp_path / "a", tmp_path / "b"]
    selection = {"selection": {"candidates": [{"run_dir": str(r)} for r in runs]}}
    (out / "results.json").write_text(json.dumps(selection))
    _check_selection_out(out, runs, force=False)  # the same runs: updated
    with pytest.raises(ResultsError, match="holds the selection of .*a, .*b; give --force"):
        _check_selection_out(out, [tmp_path / "c", tmp_path / "a"], force=False)
    _check_selection_out(out, [tmp_path / "c", tmp_path / "a"], force=True)


# --------------------------------------------------------------------------------- item 5
def test_commands_say_which_features_were_built_and_from_which_files(
    trained, mutag, tu_root, tmp_path, capsys
):
    labels = str(tu_root / "MUTAG")
    assert main(["info", "MUTAG", "--data-dir", str(tu_root)]) == 0
    out = capsys.readouterr().out
    assert "feature source" in out and f"MUTAG_node_labels.txt in {labels}" in out
    assert main(["info", "MUTAG", "--data-dir", str(tu_root), "--json"]) == 0
    assert "MUTAG_node_labels.txt" in json.loads(capsys.readouterr().out)["feature_sources"]
    assert (
        main(
            [
                "train",
                "--dataset",
                "MUTAG",
                "--data-dir",
                str(tu_root),
                "--epochs",
                "1",
                "--hidden",
                "8",
                "--out",
                str(tmp_path / "t"),
                "--no-picture",
            ]
        )
        == 0
    )
    built = f"features: 7 = 7 node-label one-hot, from MUTAG_node_labels.txt in {labels}"
    assert built in capsys.readouterr().out
    assert (
        main(
            [
                "cv",
                "--dataset",
                "MUTAG",
                "--data-dir",
                str(tu_root),
                "--epochs",
                "1",
                "--hidden",
                "8",
                "--folds",
                "2",
                "--fold",
                "0",
                "--out",
                str(tmp_path / "cv"),
            ]
        )
        == 0
    )
    assert built in capsys.readouterr().out
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(trained / "checkpoints" / "best.ckpt"),
                "--graphs",
                str(graph_folder(mutag, tmp_path / "graphs")),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "features: 7 = 7 node-label one-hot, from the nodes' 'label' attribute of 2 files in" in err
    assert main(["info", "IMDB-BINARY", "--data-dir", str(tu_root)]) == 0
    assert "the edges in IMDB-BINARY_A.txt" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["info", "train"])
@pytest.mark.parametrize("damage", ["deleted", "a-folder", "a-broken-link"])
def test_a_missing_node_labels_file_is_an_error_naming_it(tu_root, tmp_path, capsys, command, damage):
    folder = copy_tu(tu_root, "MUTAG", tmp_path)
    labels = folder / "MUTAG_node_labels.txt"
    labels.unlink()
    if damage == "a-folder":
        labels.mkdir()
    elif damage == "a-broken-link":
        labels.symlink_to(folder / "gone.txt")
    argv = (
        ["info", "MUTAG", "--data-dir", str(tmp_path)]
        if command == "info"
        else [
            "train",
            "--dataset",
            "MUTAG",
            "--data-dir",
            str(tmp_path),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{labels}:0: " in err and "Traceback" not in err
    assert {
        "deleted": "--features degree",
        "a-folder": "is a folder",
        "a-broken-link": "is a broken symbolic link",
    }[damage] in err
    assert not (tmp_path / "run").exists()
    if damage == "deleted":  # the explicit way out
        assert main([*argv, "--features", "degree"]) == 0
        assert "degree one-hot" in capsys.readouterr().out


def test_requested_features_that_are_missing_name_the_file(tu_root, capsys):
    assert main(["info", "IMDB-BINARY", "--data-dir", str(tu_root), "--features", "labels"]) == 2
    err = capsys.readouterr().err
    path = tu_root / "IMDB-BINARY" / "IMDB-BINARY_node_labels.txt"
    assert f"{path}:0: IMDB-BINARY has no node labels" in err


def test_predict_names_a_feature_file_the_model_needs(trained, tu_root, tmp_path, capsys):
    folder = copy_tu(tu_root, "MUTAG", tmp_path)
    (folder / "MUTAG_node_labels.txt").unlink()
    checkpoint = str(trained / "checkpoints" / "best.ckpt")
    assert main(["predict", "--checkpoint", checkpoint, "--graphs", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'MUTAG_node_labels.txt'}:0: missing: the model was trained on node labels" in err


def test_a_run_continues_only_on_features_built_as_before(tu_root, tmp_path, capsys):
    # A set the loader has no expectations of: auto features become degrees without its labels file.
    folder = copy_tu(tu_root, "MUTAG", tmp_path, as_name="MOLS")
    argv = [
        "cv",
        "--dataset",
        "MOLS",
        "--data-dir",
        str(tmp_path),
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--folds",
        "2",
        "--out",
        str(tmp_path / "cv"),
    ]
    assert main([*argv, "--fold", "0"]) == 0
    (folder / "MOLS_node_labels.txt").unlink()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    config = tmp_path / "cv" / "config.json"
    assert f"{config}: the run was trained on node features 7 = 7 node-label one-hot" in err
    assert "degree one-hot" in err and not (tmp_path / "cv" / "fold_1").exists()


# --------------------------------------------------------------------------------- item 6
def test_predict_on_a_folder_skips_empty_graphs_ignores_other_files_and_names_conversions(
    trained, mutag, tmp_path, capsys
):
    folder = graph_folder(mutag, tmp_path / "graphs")
    nx.write_graphml(nx.Graph(), folder / "empty.graphml")
    (folder / "blank.edgelist").write_text("# nothing here yet\n")
    (folder / "notes.txt").write_text("meeting notes: bring 3 molecules\n")
    graph = mutag_graph(mutag, 0)
    directed = nx.DiGraph()
    directed.add_nodes_from(graph.nodes(data=True))
    directed.add_edges_from((u, v) for u, v in graph.edges() if u < v)  # one direction each
    nx.write_graphml(directed, folder / "directed.graphml")
    multi = nx.MultiGraph(graph)
    multi.add_edge(*next(iter(graph.edges())))
    nx.write_graphml(multi, folder / "multi.graphml")
    checkpoint = str(trained / "checkpoints" / "best.ckpt")
    with pytest.warns(UserWarning) as warned:
        assert main(["predict", "--checkpoint", checkpoint, "--graphs", str(folder), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    names = [Path(row["graph"]).name for row in result["rows"]]
    assert names == ["directed.graphml", "mol0.graphml", "mol1.graphml", "multi.graphml"]
    by_name = {Path(row["graph"]).name: row for row in result["rows"]}
    assert by_name["directed.graphml"]["p_1"] == pytest.approx(by_name["mol0.graphml"]["p_1"], abs=1e-6)
    assert by_name["multi.graphml"]["p_1"] == pytest.approx(by_name["mol0.graphml"]["p_1"], abs=1e-6)
    assert [Path(s["graph"]).name for s in result["skipped"]] == ["blank.edgelist", "empty.graphml"]
    assert result["ignored"] == [str(folder / "notes.txt")]
    err = captured.err
    assert f"skipped {folder / 'empty.graphml'}: a graph without nodes" in err
    assert "ignored 1 file(s) not named as graphs (notes.txt)" in err
    warnings = [str(w.message) for w in warned]  # the command prints them as "warning: ..." lines
    assert (
        f"{folder / 'directed.graphml'}: a directed graph, read as undirected (19 one-way edges now "
        "both ways): graphs are used as simple undirected graphs" in warnings
    )
    assert (
        f"{folder / 'multi.graphml'}: 1 parallel edge merged into one: graphs are used as simple "
        "undirected graphs" in warnings
    )
    # asked to read .txt files as graphs, the notes are one, and a bad one
    assert main(["predict", "--checkpoint", checkpoint, "--graphs", str(folder), "--suffix", ".txt"]) == 2
    assert f"{folder / 'notes.txt'}:1: expected 'u v'" in capsys.readouterr().err


def test_predict_on_a_folder_of_empty_graphs_says_so(trained, tmp_path, capsys):
    folder = tmp_path / "graphs"
    folder.mkdir()
    nx.write_graphml(nx.Graph(), folder / "empty.graphml")
    checkpoint = str(trained / "checkpoints" / "best.ckpt")
    assert main(["predict", "--checkpoint", checkpoint, "--graphs", str(folder)]) == 2
    assert "no graphs left: all 1 graph files hold graphs without nodes" in capsys.readouterr().err


# --------------------------------------------------------------------------------- item 7
class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def lightning_records(monkeypatch):
    """What Lightning logs, at its own default level (INFO), whatever earlier tests set."""
    handler = Records()
    names = [n for n in logging.root.manager.loggerDict if n.startswith(("lightning", "pytorch_lightning"))]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:  # setLevel, not the attribute: it clears the loggers' cached answers
        logging.getLogger(name).setLevel(logging.NOTSET)  # what an earlier command set
    logger = logging.getLogger("lightning.pytorch")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_train_writes_a_short_readable_log_with_progress_on_stderr(
    tu_root, tmp_path, capsys, lightning_records
):
    argv = [
        "train",
        "--dataset",
        "MUTAG",
        "--data-dir",
        str(tu_root),
        "--epochs",
        "3",
        "--hidden",
        "8",
        "--out",
        str(tmp_path / "run"),
        "--no-picture",
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "\r" not in out and "\r" not in err and "\x1b" not in out + err
    assert len(out.encode()) < 1500, out
    assert "train loss" not in out and "test accuracy" in out
    assert "epoch 0/2: train loss" in err and "epoch 2/2: train loss" in err
    assert not any("available" in m or "Tip" in m for m in lightning_records.messages)


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_the_python_api_is_quiet_unless_logging_asks_for_details(
    tu_root, tmp_path, lightning_records, verbose
):
    diffpool_logger = logging.getLogger("diffpool")
    level = diffpool_logger.level
    diffpool_logger.setLevel(logging.INFO if verbose else logging.NOTSET)
    try:
        train(mutag_config(tu_root), tmp_path / "run", progress=False)
    finally:
        diffpool_logger.setLevel(level)
    banners = [m for m in lightning_records.messages if "GPU available" in m or "Tip" in m]
    assert bool(banners) == verbose


def test_a_progress_bar_only_on_a_terminal_and_on_stderr(monkeypatch):
    class Terminal:
        def __init__(self, tty):
            self.tty, self.text = tty, []

        def isatty(self):
            return self.tty

        def write(self, text):
            self.text.append(text)

        def flush(self):
            pass

    terminal = Terminal(True)
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = progress_callback()
    assert isinstance(bar, StderrProgressBar)
    tqdm = bar.init_train_tqdm()
    tqdm.update(1)
    tqdm.close()
    assert any("\r" in text for text in terminal.text), "the bar is drawn on standard error"
    monkeypatch.setattr(sys, "stderr", Terminal(False))
    assert isinstance(progress_callback(), EpochLines)


@pytest.mark.parametrize(
    "epochs, stop, expected",
    [
        (100, None, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99]),
        (100, 54, [0, 10, 20, 30, 40, 50, 54]),
        (3, None, [0, 2]),
    ],
)
def test_plain_progress_lines_are_rate_limited(epochs, stop, expected):
    now = [0.0]
    lines: list[str] = []
    stream = SimpleNamespace(write=lines.append, flush=lambda: None)
    callback = EpochLines(interval=10.0, stream=stream, clock=lambda: now[0])
    trainer = SimpleNamespace(max_epochs=epochs, sanity_checking=False)
    module = SimpleNamespace(history=[])
    for epoch in range(epochs if stop is None else stop + 1):
        callback.on_train_epoch_start(trainer, module)
        now[0] += 1.0  # one second an epoch
        module.history.append({"epoch": epoch, "train_loss": 0.5, "train_acc": 0.75, "val_acc": 0.5})
        callback.on_validation_end(trainer, module)
    callback.on_train_end(trainer, module)
    written = [line for line in lines if line.strip()]
    assert [int(line.split("epoch ")[1].split("/")[0]) for line in written] == expected
    assert written[0] == (
        f"epoch 0/{epochs - 1}: train loss 0.5000, accuracy 75.0%; val accuracy 50.0% (1.0 s)"
    )


# --------------------------------------------------------------------------------- item 8
@pytest.mark.parametrize("fault", ["read-only", "disk-full"])
def test_a_failed_write_names_the_users_path_and_exits_2(
    trained, mutag, tmp_path, capsys, monkeypatch, fault
):
    graphs = graph_folder(mutag, tmp_path / "graphs")
    out = tmp_path / "out" / "p.csv"
    out.parent.mkdir()
    if fault == "read-only":

        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(out.parent / ".p.csv.x1y2.tmp"))

        monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    else:

        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(atomic.os, "fsync", full)
    code = main(
        [
            "predict",
            "--checkpoint",
            str(trained / "checkpoints" / "best.ckpt"),
            "--graphs",
            str(graphs),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    reason = "permission denied" if fault == "read-only" else "no space left on the device"
    assert f"diffpool predict: error: {out}: cannot be written: {reason}" in err
    assert ".tmp" not in err and list(out.parent.iterdir()) == []


def test_a_full_disk_while_training_names_the_checkpoint(tu_root, tmp_path, capsys, monkeypatch):
    real_fsync = os.fsync

    def full_for_checkpoints(fd):
        if ".ckpt" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell the checkpoint's file from the others")
    monkeypatch.setattr(os, "fsync", full_for_checkpoints)
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--dataset",
            "MUTAG",
            "--data-dir",
            str(tu_root),
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--out",
            str(run),
            "--no-picture",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{run / 'checkpoints'}/" in err and ".ckpt: cannot be written: no space left on the device" in err
    assert ".tmp" not in err and "Traceback" not in err


def test_an_output_folder_that_cannot_be_written_names_it(tu_root, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()

    def refuse(*args, dir=None, prefix="", **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(str(dir), prefix + "x1y2.tmp"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    argv = ["train", "--dataset", "MUTAG", "--data-dir", str(tu_root), "--epochs", "1", "--out", str(run)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{run / 'config.json'}: cannot be written: permission denied (the folder is not writable)" in err


ENCODINGS = {
    "utf-8-bom": (lambda text: b"\xef\xbb\xbf" + text.encode(), "UTF-8 text with a byte-order mark"),
    "utf-16": (lambda text: text.encode("utf-16"), "UTF-16 text"),
    "gzip": (lambda text: gzip.compress(text.encode()), "gzip-compressed data"),
}


def _encoded_file(kind: str, tmp_path: Path, tu_root: Path, encode) -> tuple[Path, callable]:
    """A file of the ``kind`` a user gives, written with ``encode``, and how it is read."""
    if kind == "tu-labels":
        folder = copy_tu(tu_root, "MUTAG", tmp_path)
        path = folder / "MUTAG_graph_labels.txt"
        path.write_bytes(encode(path.read_text()))
        return path, lambda: load_tu("MUTAG", tmp_path, cache=tmp_path / "cache")
    folder = tmp_path / "graphs"
    folder.mkdir()
    if kind == "edge-list":
        path = folder / "g.edgelist"
        path.write_bytes(encode("0 1\n1 2\n"))
    else:
        (folder / "g.edgelist").write_text("0 1\n1 2\n")
    if kind == "labels-csv":
        path = folder / "labels.csv"
        path.write_bytes(encode("file,label\ng.edgelist,1\n"))
    if kind == "splits-json":
        path = tmp_path / "splits.json"
        path.write_bytes(encode(json.dumps([{"train": [0], "val": [1], "test": [2]}])))
        return path, lambda: load_splits(path)
    if kind == "results-json":
        path = tmp_path / "results.json"
        path.write_bytes(encode(json.dumps({"mean": 0.5})))
        return path, lambda: read_json(path)
    return path, lambda: read_graph_folder(folder)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("kind", ["tu-labels", "edge-list", "labels-csv", "splits-json", "results-json"])
def test_a_text_file_in_another_encoding_is_named_as_such(tu_root, tmp_path, kind, encoding):
    encode, named = ENCODINGS[encoding]
    path, read = _encoded_file(kind, tmp_path, tu_root, encode)
    with pytest.raises((DataError, ResultsError)) as caught:
        read()
    assert str(path) in str(caught.value) and f"is {named}" in str(caught.value)


def test_graphml_names_gzip_data_and_reads_utf16_and_bom(tmp_path):
    folder = tmp_path / "graphs"
    folder.mkdir()
    text = "\n".join(nx.generate_graphml(nx.path_graph(3)))
    (folder / "a.graphml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (folder / "b.graphml").write_bytes(text.replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16"))
    assert [int(d.num_nodes) for d in read_graph_folder(folder)] == [3, 3]  # valid XML either way
    (folder / "c.graphml").write_bytes(gzip.compress(text.encode()))
    message = f"{folder / 'c.graphml'}:1: is gzip-compressed data, not GraphML text"
    with pytest.raises(DataError, match=message):
        read_graph_folder(folder)


@pytest.mark.parametrize(
    "kind", ["checkpoint", "tu-file", "labels-csv", "graph-file", "splits-json", "results-json"]
)
def test_a_folder_where_a_file_is_expected_says_so(trained, tu_root, tmp_path, capsys, kind):
    folder = tmp_path / "graphs"
    folder.mkdir()
    (folder / "g.edgelist").write_text("0 1\n")
    if kind == "checkpoint":
        assert main(["predict", "--checkpoint", str(trained), "--graphs", str(folder)]) == 2
        assert f"{trained}: is a folder, where a checkpoint file is expected" in capsys.readouterr().err
        return
    target = {
        "tu-file": tmp_path / "MUTAG" / "MUTAG_graph_labels.txt",
        "labels-csv": folder / "labels.csv",
        "graph-file": folder / "h.graphml",
        "splits-json": tmp_path / "splits.json",
        "results-json": tmp_path / "results.json",
    }[kind]
    if kind == "tu-file":
        copy_tu(tu_root, "MUTAG", tmp_path)
        target.unlink()
    target.mkdir()
    read = {
        "tu-file": lambda: load_tu("MUTAG", tmp_path, cache=tmp_path / "cache"),
        "labels-csv": lambda: read_graph_folder(folder),
        "graph-file": lambda: read_graph_folder(folder),
        "splits-json": lambda: load_splits(target),
        "results-json": lambda: read_json(target),
    }[kind]
    message = f"^{target}(:0)?: is a folder, where an? .* is expected"
    with pytest.raises((DataError, ResultsError), match=message):
        read()


@pytest.fixture(scope="module")
def finished_cv(tu_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("cv") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / CACHE))
        cross_validate(mutag_config(tu_root), run, folds=2, progress=False)
    return run


@pytest.mark.parametrize("results", ["up to date", "never written"])
def test_cv_report_in_a_read_only_folder_prints_without_writing(
    finished_cv, tmp_path, capsys, caplog, monkeypatch, results
):
    run = tmp_path / "run"
    shutil.copytree(finished_cv, run)
    if results == "never written":
        (run / "results.json").unlink()
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    tries = []

    def read_only(*args, **kwargs):
        tries.append(kwargs.get("dir"))
        folder = str(kwargs.get("dir"))
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(folder, ".x.tmp"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    assert main(["cv", "report", str(run)]) == 0
    captured = capsys.readouterr()
    assert "fair protocol:" in captured.out and "over 2 of 2 folds" in captured.out
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    if results == "up to date":
        assert tries == [], "nothing needed writing"
    else:
        assert f"{run / 'results.json'}: not written (cannot be written: permission denied" in caplog.text


# --------------------------------------------------------------------------------- item 9
def _hold(folder: Path, pid: int, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "pid": pid,
        "host": socket.gethostname(),
        "started": _start_time(pid),
        "token": "other",
        **extra,
    }
    (folder / LOCK_NAME).write_text(json.dumps(record))
    return folder / LOCK_NAME


def test_a_fold_another_process_trains_is_left_to_it_then_taken_over_when_it_is_gone(
    tu_root, tmp_path, caplog, monkeypatch
):
    import diffpool.training.locks as locks

    monkeypatch.setattr(locks, "POLL_S", 0.2)
    # The holder lives until a second after fold 1 is done, however long that takes on this machine,
    # so the run has to wait for it and then take its lock over.
    holder = subprocess.Popen(["sleep", "600"])
    timers = []

    def finished(result):
        order.append(result["fold"])
        if result["fold"] == 1:
            timers.append(threading.Timer(1.0, holder.kill))
            timers[-1].start()

    try:
        lock = _hold(tmp_path / "run" / "fold_0", holder.pid)
        order: list[int] = []
        with caplog.at_level(logging.WARNING):
            summary = cross_validate(
                mutag_config(tu_root), tmp_path / "run", folds=2, progress=False, on_fold=finished
            )
    finally:
        for timer in timers:
            timer.cancel()
        holder.kill()
        holder.wait()
    assert order == [1, 0], "fold 0 was another process's: fold 1 first, then fold 0 once that process ended"
    assert (
        f"fold 0 is being trained by process {holder.pid} (lock {lock}); the other folds first" in caplog.text
    )
    assert f"waiting for process {holder.pid}" in caplog.text and "which is no longer running" in caplog.text
    assert summary["completed_folds"] == 2 and not lock.exists()


def test_two_identical_cv_commands_train_each_fold_once(tu_root, tmp_path):
    argv = [
        sys.executable,
        "-m",
        "diffpool.cli",
        "cv",
        "--dataset",
        "MUTAG",
        "--data-dir",
        str(tu_root),
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--folds",
        "2",
        "--out",
        str(tmp_path / "run"),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")]
        ),
        "OMP_NUM_THREADS": "1",
    }
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.5)
    second = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    outputs = [process.communicate(timeout=300) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    trained = {
        fold: [i for i, (_, err) in enumerate(outputs) if f"fold {fold}, epoch 0/1" in err] for fold in (0, 1)
    }
    assert all(len(who) == 1 for who in trained.values()), f"a fold was trained twice: {trained}\n{outputs}"
    means = [line for out, _ in outputs for line in out.splitlines() if line.startswith("| MUTAG")]
    assert len(means) == 2 and means[0] == means[1], "both commands report the same result"


@pytest.mark.parametrize("case", ["reaped", "zombie", "pid-reused", "abandoned-empty", "live", "other-host"])
def test_stale_locks_are_taken_over_and_live_ones_respected(tmp_path, case):
    folder = tmp_path / "fold_0"
    if case in ("reaped", "zombie"):
        process = subprocess.Popen(["true"])
        if case == "reaped":
            process.wait()
        else:
            while (_proc_stat(process.pid) or ("Z",))[0] != "Z":  # exited, not yet reaped
                time.sleep(0.01)
        lock = _hold(folder, process.pid)
    elif case == "pid-reused":
        lock = _hold(folder, os.getppid(), started="1")  # that id, but a process started at another time
    elif case == "abandoned-empty":
        folder.mkdir()
        lock = folder / LOCK_NAME
        lock.write_text("")
        old = time.time() - 600
        os.utime(lock, (old, old))
    elif case == "live":
        lock = _hold(folder, os.getppid())
    else:
        lock = _hold(folder, os.getppid(), host="another-machine")
    mine = FoldLock(folder)
    holder = mine.try_acquire()
    if case in ("live", "other-host"):
        assert holder is not None and holder["pid"] == os.getppid() and lock.exists()
        assert ("on another-machine" in mine.describe(holder)) == (case == "other-host")
    else:
        assert holder is None and json.loads(lock.read_text())["pid"] == os.getpid()
        mine.release()
        assert not lock.exists()
    if case == "zombie":
        process.wait()
