"""Pictures: assignment figures (PNG and HTML) and run curves, checked through the data behind them."""

from __future__ import annotations

import argparse
import json
from html.parser import HTMLParser
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

from diffpool.data import from_networkx
from diffpool.viz import (
    FIGURE_DPI,
    FIGURE_SIZE,
    RUN_FIGURE_DPI,
    RUN_FIGURE_SIZE,
    add_plot_parser,
    assignment_figure,
    assignment_view,
    run_curves,
)
from diffpool.viz.assignments import MIN_MASS

TU_ROOT = Path("/work/shared/datasets/tu")
PNG_SHAPE = (int(FIGURE_SIZE[1] * FIGURE_DPI), int(FIGURE_SIZE[0] * FIGURE_DPI))
RUN_PNG_SHAPE = (int(RUN_FIGURE_SIZE[1] * RUN_FIGURE_DPI), int(RUN_FIGURE_SIZE[0] * RUN_FIGURE_DPI))


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    """A briefly trained DiffPool model on the synthetic set (a real `train` run folder)."""
    from diffpool.training import RunConfig, train

    run_dir = tmp_path_factory.mktemp("viz_train")
    config = RunConfig(epochs=3, hidden=16, layers_per_block=2, mlp_hidden=16, batch_size=64, lr=0.01)
    result = train(config, run_dir, progress=False)
    return run_dir, result


@pytest.fixture(scope="module")
def trained(train_run):
    from diffpool.data import load_dataset
    from diffpool.training.predict import load_trained_model

    run_dir, result = train_run
    model, hparams = load_trained_model(run_dir / "checkpoints" / "best.ckpt")
    dataset = load_dataset("synthetic")
    test_idx = json.loads((run_dir / "splits.json").read_text())
    test_idx = test_idx[0]["test"] if isinstance(test_idx, list) else test_idx["folds"][0]["test"]
    return model, hparams, dataset, test_idx, run_dir / "checkpoints" / "best.ckpt"


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="diffpool")
    add_plot_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.run(args)


def _png_shape(path: Path) -> tuple[int, int]:
    import matplotlib.image

    return matplotlib.image.imread(str(path)).shape[:2]


def _labelled(graph: nx.Graph, labels: int = 8) -> nx.Graph:
    for i, node in enumerate(graph.nodes):
        graph.nodes[node]["label"] = i % labels
    return graph


class _NodeCounter(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[int] = []
        self.in_json = False
        self.json = ""
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "circle" and attrs.get("class") == "node":
            self.nodes.append(int(attrs["data-i"]))
        if tag == "script" and attrs.get("id") == "viz-data":
            self.in_json = True
        for key in ("src", "href"):
            if attrs.get(key) and not attrs[key].startswith("data:"):
                self.external.append(attrs[key])

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_json = False

    def handle_data(self, data):
        if self.in_json:
            self.json += data


def _parse_html(path: Path) -> _NodeCounter:
    parser = _NodeCounter()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


# --------------------------------------------------------------------------- assignment figures
def test_cli_png_from_dataset_has_the_expected_size(trained, tmp_path, capsys):
    _, _, _, test_idx, ckpt = trained
    out = tmp_path / "graph.png"
    code = _cli(
        [
            "plot",
            "assignments",
            "--checkpoint",
            str(ckpt),
            "--dataset",
            "synthetic",
            "--index",
            str(test_idx[0]),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert out.stat().st_size > 20_000
    assert _png_shape(out) == PNG_SHAPE
    assert "wrote" in capsys.readouterr().out


def test_figure_clusters_are_the_models_argmax_and_find_the_communities(trained):
    from sklearn.metrics import normalized_mutual_info_score
    from torch_geometric.data import Batch

    model, _, dataset, test_idx, _ = trained
    scores = []
    for index in test_idx[:8]:
        data = dataset[index]
        view = assignment_view(model, data)
        with torch.no_grad():
            s = model(Batch.from_data_list([data])).assignments[0].double()
        assert np.array_equal(view.cluster, s.argmax(-1).numpy())
        np.testing.assert_allclose(view.probabilities, s.numpy(), atol=1e-9)
        level1 = view.levels[0]
        np.testing.assert_allclose(level1.mass, s.sum(0).numpy(), atol=1e-9)
        # every cluster some node belongs to is drawn; the rest are counted as unused
        assert set(np.unique(view.cluster)) <= set(level1.used.tolist())
        assert level1.unused == s.shape[1] - len(level1.used)
        assert set(view.colour_order) == set(level1.used.tolist())
        # A' = SᵀAS, and coarsened edges join used clusters only
        n = data.num_nodes
        a = torch.zeros(n, n, dtype=torch.float64)
        a[data.edge_index[0], data.edge_index[1]] = 1
        np.testing.assert_allclose(level1.adjacency, (s.T @ a @ s).numpy(), atol=1e-8)
        for level in view.levels:
            used = set(level.used.tolist())
            assert all(i in used and j in used and w > 0 for i, j, w in level.edges)
            assert level.mass.sum() == pytest.approx(n, rel=1e-6)  # mass counts input nodes
            assert (np.delete(level.mass, level.used) < MIN_MASS).all()  # what is left out is ≈ 0
        assert view.nmi == pytest.approx(normalized_mutual_info_score(data.community.numpy(), view.cluster))
        scores.append(view.nmi)
    mean_nmi = float(np.mean(scores))
    print(f"\nNMI of the figure's level-1 clusters vs the true communities (8 test graphs): {mean_nmi:.3f}")
    assert mean_nmi > 0.5


def test_large_and_one_node_graphs_do_not_crash(trained, tmp_path):
    model, hparams, _, _, _ = trained
    big = _labelled(
        nx.convert_node_labels_to_integers(nx.random_partition_graph([200] * 10, 0.05, 0.001, seed=1))
    )
    data = from_networkx([big], feature_spec=hparams["feature_spec"])[0]
    summary = assignment_figure(model, data, tmp_path / "big.png")
    assert summary["num_nodes"] == 2000 and _png_shape(tmp_path / "big.png") == PNG_SHAPE
    assignment_figure(model, data, tmp_path / "big.html", fmt="html")
    assert len(_parse_html(tmp_path / "big.html").nodes) == 2000

    one = nx.Graph()
    one.add_node("solo", label=3)
    data = from_networkx([one], feature_spec=hparams["feature_spec"])[0]
    summary = assignment_figure(model, data, tmp_path / "one.png")
    assert summary["num_nodes"] == 1 and summary["num_edges"] == 0
    assert summary["levels"][0]["used"] >= 1
    assert _png_shape(tmp_path / "one.png") == PNG_SHAPE
    assignment_figure(model, data, tmp_path / "one.html", fmt="html")
    assert _parse_html(tmp_path / "one.html").nodes == [0]


def test_html_parses_holds_every_node_and_needs_no_network(trained, tmp_path):
    model, _, dataset, test_idx, _ = trained
    data = dataset[test_idx[1]]
    out = tmp_path / "page.html"
    assignment_figure(model, data, out, fmt="html")
    page = _parse_html(out)
    assert sorted(page.nodes) == list(range(data.num_nodes))
    assert page.external == []
    payload = json.loads(page.json)
    assert len(payload["nodes"]) == data.num_nodes
    view = assignment_view(model, data)
    for i, node in enumerate(payload["nodes"]):  # hover data: the top probabilities of S's row
        top_cluster, top_p = node["p"][0]
        assert top_cluster == view.cluster[i] and top_p == pytest.approx(view.confidence[i], abs=1e-4)


def test_graphml_names_are_escaped_and_folders_are_indexed(trained, tmp_path):
    _, _, _, _, ckpt = trained
    evil = "<script>alert('x')</script>"
    graph = _labelled(nx.Graph([(evil, "b&c"), ("b&c", "d"), ("d", evil), ("d", "e")]))
    folder = tmp_path / "graphs"
    folder.mkdir()
    nx.write_graphml(_labelled(nx.path_graph(5)), folder / "a.graphml")
    nx.write_graphml(graph, folder / "b.graphml")
    out = tmp_path / "evil.html"
    assert (
        _cli(
            [
                "plot",
                "assignments",
                "--checkpoint",
                str(ckpt),
                "--graphs",
                str(folder),
                "--index",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = out.read_text(encoding="utf-8")
    assert evil not in text and "<script>alert" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text  # in the node's <title>
    page = _parse_html(out)
    assert len(page.nodes) == 4
    assert {node["name"] for node in json.loads(page.json)["nodes"]} == {evil, "b&c", "d", "e"}
    # a single file works too
    assert (
        _cli(
            [
                "plot",
                "assignments",
                "--checkpoint",
                str(ckpt),
                "--graphs",
                str(folder / "b.graphml"),
                "--out",
                str(tmp_path / "evil.png"),
            ]
        )
        == 0
    )
    assert _png_shape(tmp_path / "evil.png") == PNG_SHAPE


def test_bad_input_is_reported_not_raised(trained, tmp_path, capsys):
    _, _, _, _, ckpt = trained
    assert (
        _cli(
            [
                "plot",
                "assignments",
                "--checkpoint",
                str(ckpt),
                "--dataset",
                "synthetic",
                "--index",
                "5000",
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert (
        _cli(
            [
                "plot",
                "assignments",
                "--checkpoint",
                str(tmp_path / "missing.ckpt"),
                "--dataset",
                "synthetic",
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    assert _cli(["plot", "run", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "out of range" in err and "not found" in err and "not a run folder" in err
    with pytest.raises(ValueError, match="format"):
        assignment_figure(None, None, tmp_path / "x.svg", fmt="svg")


# --------------------------------------------------------------------------- run curves
def test_plot_run_of_a_train_run(train_run, tmp_path):
    run_dir, result = train_run
    curves = run_curves(run_dir)
    assert curves["kind"] == "train" and curves["selected_epoch"] == result["best_epoch"]
    assert len(curves["folds"]) == 1 and curves["epochs"] == result["epochs_run"]
    assert np.isfinite(curves["folds"][0]["curves"]["val_acc"]).all()
    out = tmp_path / "train.png"
    assert _cli(["plot", "run", str(run_dir), "--out", str(out)]) == 0
    assert out.stat().st_size > 20_000 and _png_shape(out) == RUN_PNG_SHAPE
    # the file name's suffix sets the format; one matplotlib cannot write is refused, nothing written
    assert _cli(["plot", "run", str(run_dir), "--out", str(tmp_path / "train.pdf")]) == 0
    assert (tmp_path / "train.pdf").read_bytes().startswith(b"%PDF")
    assert _cli(["plot", "run", str(run_dir), "--out", str(tmp_path / "train.txt")]) == 2
    assert not (tmp_path / "train.txt").exists()


@pytest.mark.skipif(not (TU_ROOT / "MUTAG").is_dir(), reason="shared TU data not available")
def test_plot_run_of_a_two_fold_cv_run(tmp_path):
    from diffpool.training import RunConfig, cross_validate

    config = RunConfig(
        dataset="MUTAG",
        data_dir=str(TU_ROOT),
        epochs=3,
        hidden=8,
        layers_per_block=1,
        mlp_hidden=8,
        batch_size=64,
    )
    summary = cross_validate(config, tmp_path / "cv", folds=2, progress=False)
    curves = run_curves(tmp_path / "cv")
    assert curves["kind"] == "cv" and len(curves["folds"]) == 2 and curves["protocol"] == "fair"
    assert [f["test_acc"] for f in curves["folds"]] == summary["per_fold"]
    assert all(f["best_epoch"] is not None for f in curves["folds"])
    both = np.array([f["curves"]["val_acc"] for f in curves["folds"]])
    np.testing.assert_allclose(curves["mean"]["val_acc"], both.mean(0))
    out = tmp_path / "cv.png"
    assert _cli(["plot", "run", str(tmp_path / "cv"), "--out", str(out)]) == 0
    assert out.stat().st_size > 20_000 and _png_shape(out) == RUN_PNG_SHAPE


@pytest.mark.skipif(not (TU_ROOT / "MUTAG").is_dir(), reason="shared TU data not available")
def test_plot_run_of_a_repeated_cv_run_marks_the_first_model_and_states_the_mean(tmp_path):
    from diffpool.training import RunConfig, cross_validate
    from diffpool.viz.runs import _summary_lines

    config = RunConfig(
        dataset="MUTAG",
        data_dir=str(TU_ROOT),
        epochs=3,
        hidden=8,
        layers_per_block=1,
        mlp_hidden=8,
        batch_size=64,
        repeats=2,
    )
    cross_validate(config, tmp_path / "cv", folds=2, progress=False)
    curves = run_curves(tmp_path / "cv")
    for f in curves["folds"]:
        fold = json.loads((tmp_path / "cv" / f"fold_{f['fold']}" / "result.json").read_text())
        first = json.loads((tmp_path / "cv" / f"fold_{f['fold']}" / "run_0" / "result.json").read_text())
        # the marked point is the first model's, on its own curve
        assert f["models"] == 2 and f["best_epoch"] == first["best_epoch"]
        assert f["val_acc"] == first["val_acc"] == f["curves"]["val_acc"][first["best_epoch"]]
        assert f["mean_test_acc"] == fold["test_acc"]
    lines = _summary_lines(curves)
    assert lines[0].startswith("fold 0 (curves of model 1 of 2), selected epoch")
    assert f"mean of 2 models: val acc {curves['folds'][0]['mean_val_acc']:.3f}" in lines[0]
