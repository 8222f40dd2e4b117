"""The train / cv / predict commands end to end, as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal

import pytest
import torch

from diffpool.cli import build_parser, main
from diffpool.models import ConfigError
from diffpool.training.options import run_config_from_args
from diffpool.training.predict import load_trained_model

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / "diffpool-cache"))


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_train_on_the_synthetic_set_prints_accuracy_nmi_and_paths(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(out), "--no-picture"]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "community recovery NMI" in text
    assert str(out / "checkpoints" / "best.ckpt") in text and "metrics.csv" in text
    result = json.loads((out / "result.json").read_text())
    assert 0 <= result["test_acc"] <= 1 and 0 <= result["community_nmi"] <= 1
    assert result["epochs_run"] == 2


def test_cv_then_report_then_predict_on_unseen_graphs(tu_root, tmp_path, capsys):
    run = tmp_path / "cv"
    common = ["--dataset", "MUTAG", "--data-dir", str(tu_root), "--epochs", "2", "--hidden", "16", "--json"]
    summary = run_json(capsys, ["cv", "--folds", "2", "--out", str(run), *common])
    assert summary["protocol"] == "fair" and summary["completed_folds"] == 2
    assert json.loads((run / "results.json").read_text())["per_fold"] == summary["per_fold"]
    merged = run_json(capsys, ["cv", "report", str(run), "--json"])
    assert merged["per_fold"] == summary["per_fold"] and merged["missing_folds"] == []
    # predict on the held-out fold's graphs, written as GraphML files the model has never seen
    import networkx as nx

    from diffpool.data import load_tu

    folder = tmp_path / "graphs"
    folder.mkdir()
    data = load_tu("MUTAG", tu_root, features="labels")
    splits = json.loads((run / "splits.json").read_text())
    folds = splits["folds"] if isinstance(splits, dict) else splits
    for index in folds[0]["test"][:5]:
        g = data[index]
        graph = nx.Graph()
        labels = g.x.argmax(-1).tolist()
        values = data.feature_spec["node_label_values"][0]
        graph.add_nodes_from((i, {"label": int(values[labels[i]])}) for i in range(g.num_nodes))
        graph.add_edges_from(g.edge_index.t().tolist())
        nx.write_graphml(graph, folder / f"mutag_{index}.graphml")
    csv_path = tmp_path / "pred.csv"
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(run / "fold_0" / "checkpoints" / "best.ckpt"),
                "--graphs",
                str(folder),
                "--out",
                str(csv_path),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 5 and set(rows[0]) == {"graph", "predicted", "p_-1", "p_1"}
    for row in rows:
        assert float(row["p_-1"]) + float(row["p_1"]) == pytest.approx(1.0, abs=1e-5)
        assert row["predicted"] in ("-1", "1")


@pytest.mark.parametrize("variant", ["diffpool", "det"])
def test_predict_on_a_tu_folder_reports_accuracy(tu_root, tmp_path, capsys, variant):
    run = tmp_path / "t"
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
                "--out",
                str(run),
                "--json",
                "--no-picture",
                "--variant",
                variant,
            ]
        )
        == 0
    )
    capsys.readouterr()
    result = run_json(
        capsys,
        [
            "predict",
            "--checkpoint",
            str(run / "checkpoints" / "best.ckpt"),
            "--graphs",
            str(tu_root / "MUTAG"),
            "--json",
        ],
    )
    assert len(result["rows"]) == 188 and 0 <= result["accuracy"] <= 1
    # new graphs come without labels: the same predictions, no accuracy
    unlabelled = tmp_path / "new" / "MUTAG"
    unlabelled.mkdir(parents=True)
    for part in ("A", "graph_indicator", "node_labels"):
        shutil.copy(tu_root / "MUTAG" / f"MUTAG_{part}.txt", unlabelled)
    blind = run_json(
        capsys,
        [
            "predict",
            "--checkpoint",
            str(run / "checkpoints" / "best.ckpt"),
            "--graphs",
            str(unlabelled),
            "--json",
        ],
    )
    assert blind["accuracy"] is None and blind["rows"] == result["rows"]


def test_input_norm_is_saved_with_the_model_and_used_by_predict(tu_root, tmp_path, capsys):
    run = tmp_path / "t"
    assert (
        main(
            [
                "train",
                "--dataset",
                "ENZYMES",
                "--data-dir",
                str(tu_root),
                "--epochs",
                "1",
                "--out",
                str(run),
                "--json",
                "--no-picture",
                "--input-norm",
                "--levels",
                "1",
                "--ratio",
                "0.1",
            ]
        )
        == 0
    )
    capsys.readouterr()
    state = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)[
        "state_dict"
    ]
    # ENZYMES: 18 attributes (normalised, with their training means), then 3 one-hot labels (left alone)
    means = next(v for k, v in state.items() if k.endswith("input_norm.norm.running_mean"))
    assert means.shape == (18,) and float(means.abs().max()) > 5
    result = run_json(
        capsys,
        [
            "predict",
            "--checkpoint",
            str(run / "checkpoints" / "best.ckpt"),
            "--graphs",
            str(tu_root / "ENZYMES"),
            "--json",
        ],
    )
    assert len(result["rows"]) == 600 and result["accuracy"] > 1 / 6


def test_input_norm_on_data_without_attributes_is_a_clear_error(tu_root, tmp_path, capsys):
    code = main(
        [
            "train",
            "--dataset",
            "MUTAG",
            "--data-dir",
            str(tu_root),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "t"),
            "--input-norm",
            "--no-picture",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--input-norm normalises continuous node attributes" in err and "MUTAG" in err
    assert "Traceback" not in err


def test_predict_with_a_checkpoint_of_other_features_is_a_clear_error(tu_root, tmp_path, capsys):
    run = tmp_path / "t"
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
                "--out",
                str(run),
                "--json",
                "--no-picture",
            ]
        )
        == 0
    )
    capsys.readouterr()
    # ENZYMES has 3 node label values and 18 attributes: MUTAG's model cannot read them
    code = main(
        [
            "predict",
            "--checkpoint",
            str(run / "checkpoints" / "best.ckpt"),
            "--graphs",
            str(tu_root / "ENZYMES"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "error" in err and "Traceback" not in err


def test_options_precedence_preset_file_flags(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("lr: 0.01\nhidden: 32\nbatch-size: 7\n")
    parser = build_parser()
    args = parser.parse_args(
        ["train", "--dataset", "ENZYMES", "--preset", "paper", "--config", str(config_file), "--hidden", "48"]
    )
    config = run_config_from_args(args)
    assert (config.levels, config.ratio) == (1, 0.10)  # the paper's ENZYMES setting
    assert config.lr == 0.01 and config.batch_size == 7  # the file overrides the preset
    assert config.hidden == 48  # the flag overrides the file
    assert config.grad_clip == 2.0


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--epochs",
        "--batch-size",
        "--lr",
        "--hidden",
        "--levels",
        "--ratio",
        "--link-weight",
        "--entropy-weight",
        "--seed",
        "--device",
        "--num-workers",
        "--config",
        "--preset",
        "--json",
    ):
        assert flag in text, flag


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epochs", "0"], "epochs must be at least 1"),
        (["cv", "report"], "needs one run folder"),
        (["cv", "select", "a"], "needs two or more run folders and --out"),
        (["predict", "--checkpoint", "nope.ckpt", "--graphs", "."], "checkpoint not found"),
        # cluster options a variant without a learned assignment would save and ignore
        (
            ["train", "--variant", "det", "--min-clusters", "5"],
            "--min-clusters only shapes a learned assignment (--variant diffpool or nolp); "
            "--variant det takes its clusters from Graclus",
        ),
        (["cv", "--variant", "graphsage", "--per-graph-clusters"], "--per-graph-clusters only shapes"),
        (
            ["train", "--variant", "baseline", "--per-graph-clusters", "--min-clusters", "3"],
            "--per-graph-clusters and --min-clusters only shape a learned assignment",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "option, message",
    [
        (["--readout", "avg"], "readout 'avg' is not one of max, mean, sum"),
        (["--link-normalization", "raw"], "link_normalization must be one of none, nodes"),
        (["--precision", "7"], "precision must be one of"),
        (["--strategy", "foo"], "strategy 'foo' is not one of Lightning's"),
        (["--seed", "-1"], "seed must lie in 0..2**32 - 1"),
        (["--input-norm"], "--input-norm normalises continuous node attributes"),
        (["--data-dir", "no/such/folder"], "no/such/folder"),
        (["--sync-batchnorm"], "--sync-batchnorm needs GPUs"),
    ],
)
def test_a_refused_run_writes_nothing_so_the_corrected_command_runs(
    option, message, tu_root, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    base = ["--dataset", "MUTAG", "--data-dir", str(tu_root), "--epochs", "1", "--hidden", "8", "--json"]
    for command in (["train"], ["cv", "--folds", "2"]):
        assert main([*command, *base, *option]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not (tmp_path / "runs").exists(), "a refused command claimed its run folder"
    assert main(["train", *base]) == 0  # the folder the refused command would have used is free


@pytest.mark.parametrize(
    "text, message",
    [
        ('epochs: "two"\n', "epochs must be a whole number, got 'two'"),
        ("hidden: 8.7\n", "hidden must be a whole number, got 8.7"),
        ('per_graph_clusters: "no"\n', "per_graph_clusters must be true or false, got 'no'"),
        ("lr: true\n", "lr must be a number, got True"),
    ],
)
def test_a_config_file_value_of_the_wrong_type_is_refused(text, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    assert main(["train", "--config", "c.yaml"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_output_path_that_cannot_be_written_is_a_clear_error(tu_root, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    argv = ["train", "--dataset", "MUTAG", "--data-dir", str(tu_root), "--epochs", "1", "--hidden", "8"]
    assert main([*argv, "--out", str(tmp_path / "afile" / "run")]) == 2
    err = capsys.readouterr().err
    assert "afile" in err and "Traceback" not in err


def test_ctrl_c_during_training_says_so_and_exits_130(tu_root, tmp_path, capsys, monkeypatch):
    from diffpool.training.module import GraphClassifier

    def interrupted(self):
        raise KeyboardInterrupt  # as Ctrl-C arriving during epoch 1

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
    ]
    monkeypatch.setattr(GraphClassifier, "on_train_epoch_start", interrupted)
    # A process started in the background inherits SIGINT ignored (and Python then keeps it so):
    # install Python's own handler, so that what comes back is the caller's, whatever started pytest.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(argv) == 130
        # Lightning ignores SIGINT while it shuts down; its teardown gives a caller of main() Ctrl-C back.
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert (
        "interrupted; the checkpoints written so far are kept and the same command resumes the run"
        in capsys.readouterr().err
    )


def test_cluster_options_that_describe_a_variant_without_pooling_are_accepted(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("per_graph_clusters: false\n")
    args = build_parser().parse_args(
        ["train", "--variant", "graphsage", "--config", str(config_file), "--min-clusters", "1"]
    )
    assert run_config_from_args(args).to_dict()["per_graph_clusters"] is False


def test_a_config_file_of_diffpool_settings_serves_other_variants_named_on_the_command_line(tmp_path):
    config_file = tmp_path / "shared.yaml"
    config_file.write_text("per_graph_clusters: true\nmin_clusters: 4\n")
    for variant in ("diffpool", "det", "graphsage"):
        args = build_parser().parse_args(["cv", "--config", str(config_file), "--variant", variant])
        assert run_config_from_args(args).variant == variant
    # the file's own variant cannot use what the file asks for: the file is named
    config_file.write_text("variant: det\nper_graph_clusters: yes\n")
    with pytest.raises(ConfigError, match=f"{config_file}: --per-graph-clusters only shapes"):
        run_config_from_args(build_parser().parse_args(["cv", "--config", str(config_file)]))


def test_bad_config_file_names_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("epochz: 3\n")
    assert main(["train", "--config", "bad.yaml"]) == 2
    assert "bad.yaml: unknown option(s) epochz" in capsys.readouterr().err


def test_folds_as_separate_jobs_then_report_equal_one_cv_run(tu_root, tmp_path, capsys):
    common = [
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
        "--json",
    ]
    whole = run_json(capsys, ["cv", "--out", str(tmp_path / "whole"), *common])
    for fold in (1, 0):
        run_json(capsys, ["cv", "--out", str(tmp_path / "jobs"), "--fold", str(fold), *common])
    merged = run_json(capsys, ["cv", "report", str(tmp_path / "jobs"), "--json"])
    assert merged["per_fold"] == whole["per_fold"]
    assert (merged["mean"], merged["std"]) == (whole["mean"], whole["std"])


def test_the_synthetic_set_has_its_own_defaults_below_every_option():
    parser = build_parser()
    plain = run_config_from_args(parser.parse_args(["train"]))
    assert (plain.dataset, plain.levels, plain.ratio, plain.epochs, plain.entropy_weight) == (
        "synthetic",
        1,
        0.12,
        40,
        0.1,
    )
    assert run_config_from_args(parser.parse_args(["train", "--levels", "2"])).levels == 2
    tu = run_config_from_args(parser.parse_args(["train", "--dataset", "PROTEINS"]))
    assert (tu.levels, tu.ratio, tu.entropy_weight) == (
        2,
        0.25,
        1.0,
    )  # TU sets keep the general (paper) defaults
    from diffpool.training import RunConfig

    assert RunConfig.for_dataset("synthetic", epochs=5).levels == 1


def test_bf16_mixed_precision_trains(tu_root, tmp_path, capsys):
    summary = run_json(
        capsys,
        [
            "train",
            "--dataset",
            "MUTAG",
            "--data-dir",
            str(tu_root),
            "--epochs",
            "1",
            "--precision",
            "bf16-mixed",
            "--out",
            str(tmp_path),
            "--json",
            "--no-picture",
        ],
    )
    assert 0 <= summary["test_acc"] <= 1


@pytest.mark.parametrize("batching", ["size", "pooled"])
def test_size_batching_with_per_graph_clusters_trains_and_evaluates_every_graph(
    tu_root, tmp_path, capsys, batching
):
    result = run_json(
        capsys,
        [
            "train",
            "--dataset",
            "MUTAG",
            "--data-dir",
            str(tu_root),
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "r"),
            "--json",
            "--no-picture",
            "--batching",
            batching,
            "--per-graph-clusters",
        ],
    )
    _, hparams = load_trained_model(tmp_path / "r" / "checkpoints" / "best.ckpt")
    assert (
        hparams["run_config"]["batching"] == batching
        and hparams["model_config"]["per_graph_clusters"] is True
    )
    assert result["epochs_run"] == 2 and 0 <= result["test_acc"] <= 1


def test_a_graph_too_large_to_draw_gets_no_picture_and_a_message(tmp_path, capsys, monkeypatch):
    import diffpool.cli as cli

    monkeypatch.setattr(cli, "PICTURE_MAX_NODES", 3)
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--hidden", "8", "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["picture"] is None
    assert "no picture: test graph" in captured.err and "at most 3" in captured.err
    assert not list(out.glob("assignments-*.png"))
