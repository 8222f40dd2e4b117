"""Loading TU sets: graphs as PyG expects them, labels mapped, edges clean, caching, zip, download."""

from __future__ import annotations

import os
import urllib.error
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.utils import coalesce, is_undirected, to_dense_adj

import diffpool.data.tu as tu_module
from data_fixtures import (  # noqa: F401
    copy_tu,
    data_cache,
    dense_reference,
    lines_of,
    snapshot,
    tu,
    write_lines,
)
from diffpool.data import DataError, DownloadError, GraphDataset, load_tu


def test_graphs_have_the_documented_types_and_shapes(tu):
    dataset = tu("ENZYMES")
    assert isinstance(dataset, GraphDataset) and dataset.name == "ENZYMES"
    assert len(dataset) == 600 and dataset.num_classes == 6 and dataset.num_features == 21
    for data in (dataset[0], dataset[599]):
        assert data.x.dtype == torch.float32 and data.x.shape == (data.num_nodes, 21)
        assert data.y.dtype == torch.long and data.y.shape == (1,)
        assert data.edge_index.dtype == torch.long and data.edge_index.max() < data.num_nodes
        assert "edge_attr" not in data and "edge_weight" not in data
        assert "node_label" not in data and "node_attr" not in data


@pytest.mark.parametrize(
    "name, mapping",
    [
        ("PROTEINS", {1: 0, 2: 1}),
        ("MUTAG", {-1: 0, 1: 1}),
        ("NCI1", {0: 0, 1: 1}),
        ("IMDB-MULTI", {1: 0, 2: 1, 3: 2}),
    ],
)
def test_graph_labels_map_to_0_to_c_minus_1(tu, tu_root, name, mapping):
    dataset = tu(name)
    assert dataset.label_mapping == mapping and type(dataset.label_mapping) is dict
    raw = np.loadtxt(tu_root / name / f"{name}_graph_labels.txt", dtype=np.int64)
    expected = np.array([mapping[int(v)] for v in raw])
    assert np.array_equal(dataset._data.y.numpy(), expected)
    assert dataset.class_names == sorted(mapping)


def test_imdb_duplicate_edge_lines_do_not_change_edges(tu, tu_root):
    """IMDB-BINARY's A lists every edge 4 times; the graphs must hold it once per direction."""
    dataset = tu("IMDB-BINARY")
    raw = np.loadtxt(tu_root / "IMDB-BINARY" / "IMDB-BINARY_A.txt", delimiter=",", dtype=np.int64)
    unique_directed = np.unique(raw, axis=0).shape[0]
    assert raw.shape[0] == 2 * unique_directed  # the file really lists duplicates
    assert dataset._data.edge_index.size(1) == unique_directed
    for index in (0, 1, 500, 999):
        data = dataset[index]
        assert coalesce(data.edge_index, num_nodes=data.num_nodes).size(1) == data.edge_index.size(1)
        assert is_undirected(data.edge_index, num_nodes=data.num_nodes)
        adjacency = to_dense_adj(data.edge_index, max_num_nodes=data.num_nodes)[0]
        assert adjacency.max() == 1 and torch.equal(adjacency, adjacency.t())


def test_isolated_nodes_and_graphs_without_edges_are_kept(tu_root, tmp_path):
    """Append an isolated node to the last graph and a last graph with 3 nodes and no edges (PyG's
    own reader silently drops such a trailing graph)."""
    folder = copy_tu(tu_root, "MUTAG", tmp_path)
    indicator, labels = folder / "MUTAG_graph_indicator.txt", folder / "MUTAG_node_labels.txt"
    write_lines(indicator, lines_of(indicator) + ["188", "189", "189", "189"])
    write_lines(labels, lines_of(labels) + ["0", "1", "2", "0"])
    graph_labels = folder / "MUTAG_graph_labels.txt"
    write_lines(graph_labels, lines_of(graph_labels) + ["1"])
    original = load_tu("MUTAG", tu_root, cache=tmp_path / "cache")
    dataset = load_tu("MUTAG", folder, cache=tmp_path / "cache")
    assert len(dataset) == 189
    last_real, empty = dataset[187], dataset[188]
    assert last_real.num_nodes == original[187].num_nodes + 1
    assert last_real.x.shape[0] == last_real.num_nodes
    assert torch.equal(last_real.edge_index, original[187].edge_index)  # new node has no edges
    assert empty.num_nodes == 3 and empty.x.shape == (3, 7) and empty.edge_index.shape == (2, 0)
    assert empty.y.item() == 1


def test_self_loops_dropped_and_one_way_edges_completed(tu_root, tmp_path):
    folder = copy_tu(tu_root, "MUTAG", tmp_path)
    path = folder / "MUTAG_A.txt"
    pairs = {tuple(int(v) for v in line.split(",")) for line in lines_of(path)}
    u, v = 1, next(w for w in range(3, 17) if (1, w) not in pairs)  # non-adjacent, both in graph 1
    write_lines(path, lines_of(path) + ["2, 2", f"{u}, {v}"])
    dataset = load_tu("MUTAG", folder, cache=tmp_path / "cache")
    assert dataset.info["self_loops_removed"] == 1
    edges = set(map(tuple, dataset[0].edge_index.t().tolist()))
    assert (u - 1, v - 1) in edges and (v - 1, u - 1) in edges
    assert all(a != b for a, b in edges)


@pytest.mark.parametrize(
    "features, width", [("auto", 21), ("labels", 3), ("attributes", 18), ("degree", 10), ("constant", 1)]
)
def test_feature_kinds(tu_root, data_cache, features, width):
    dataset = load_tu("ENZYMES", tu_root, features=features, cache=data_cache)
    assert dataset.num_features == width == dataset.feature_spec["num_features"]
    assert dataset.feature_spec["kind"] == features
    data = dataset[3]
    if features == "labels":
        assert torch.equal(data.x.sum(1), torch.ones(data.num_nodes))
    if features == "degree":
        assert dataset.feature_spec["degree_cap"] == 9  # the largest degree in ENZYMES
        degrees = torch.bincount(data.edge_index[0], minlength=data.num_nodes)
        assert torch.equal(data.x.argmax(1), degrees)
    if features == "constant":
        assert torch.equal(data.x, torch.ones(data.num_nodes, 1))


def test_features_the_set_does_not_have(tu_root, data_cache):
    with pytest.raises(DataError, match="MUTAG has no node attributes"):
        load_tu("MUTAG", tu_root, features="attributes", cache=data_cache)
    with pytest.raises(DataError, match="IMDB-BINARY has no node labels"):
        load_tu("IMDB-BINARY", tu_root, features="labels", cache=data_cache)
    with pytest.raises(DataError, match="unknown node feature kind 'onehot'"):
        load_tu("MUTAG", tu_root, features="onehot", cache=data_cache)


def test_max_nodes_filter_is_reported(tu_root, data_cache, tu):
    sizes = np.diff(
        np.unique(
            np.loadtxt(tu_root / "PROTEINS" / "PROTEINS_graph_indicator.txt", dtype=np.int64),
            return_index=True,
        )[1].tolist()
        + [43471]
    )
    expected = int((sizes > 100).sum())
    assert expected > 0
    for attempt in ("processed", "cached"):
        with pytest.warns(UserWarning, match=f"removed {expected} of 1113 graphs with more than 100 nodes"):
            dataset = load_tu("PROTEINS", tu_root, max_nodes=100, cache=data_cache)
        assert dataset.from_cache == (attempt == "cached")
        assert dataset.filtered["removed"] == expected and dataset.filtered["kept"] == 1113 - expected
        assert len(dataset) == 1113 - expected
        assert max(int(d.num_nodes) for d in dataset) <= 100
        assert sorted(dataset.filtered["removed_indices"]) == np.flatnonzero(sizes > 100).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default keeps everything, silently
        assert len(tu("PROTEINS")) == 1113 and tu("PROTEINS").filtered is None


def test_root_forms(tu_root, tmp_path, tu):
    """``root`` may be the folder holding NAME/, the NAME/ folder itself, a zip, or a folder with the zip."""
    expected = tu("MUTAG")
    archive = tmp_path / "zips" / "MUTAG.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:  # the official archive layout: MUTAG/MUTAG_A.txt, ...
        for path in sorted((tu_root / "MUTAG").iterdir()):
            zf.write(path, f"MUTAG/{path.name}")
    cache = tmp_path / "cache"
    for root in (tu_root / "MUTAG", archive, archive.parent):
        dataset = load_tu("MUTAG", root, cache=cache)
        assert len(dataset) == 188
        assert dataset._data.x_hot.equal(expected._data.x_hot)
        assert dataset._data.edge_index.equal(expected._data.edge_index)
        assert dataset._data.y.equal(expected._data.y)
    assert not list(archive.parent.glob("MUTAG_*")) and not (archive.parent / "MUTAG").exists()


def test_a_changed_zip_is_unpacked_and_processed_again_in_place_of_the_old_copy(tu_root, tmp_path):
    archive = tmp_path / "MUTAG.zip"

    def write_zip(first_label: str) -> None:
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted((tu_root / "MUTAG").iterdir()):
                lines = lines_of(path)
                if path.name == "MUTAG_graph_labels.txt":
                    lines = [first_label] + lines[1:]
                zf.writestr(f"MUTAG/{path.name}", "\n".join(lines) + "\n")

    cache = tmp_path / "cache"
    write_zip("1")
    assert load_tu("MUTAG", archive, cache=cache)[0].y.item() == 1
    assert load_tu("MUTAG", archive, cache=cache).from_cache
    write_zip("-1")
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    changed = load_tu("MUTAG", archive, cache=cache)
    assert not changed.from_cache and changed[0].y.item() == 0  # label -1 maps to class 0
    assert len(list((cache / "extracted").iterdir())) == 1
    assert len(list((cache / "processed").glob("MUTAG-*.pt"))) == 1
    assert load_tu("MUTAG", archive, cache=cache).from_cache


def test_bad_roots(tu_root, tmp_path):
    with pytest.raises(DataError, match="found neither DD/DD_A.txt"):
        load_tu("DD", tu_root, cache=tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        load_tu("MUTAG", tmp_path / "nowhere", cache=tmp_path)
    wrong = tmp_path / "MUTAG.zip"
    with zipfile.ZipFile(wrong, "w") as zf:
        zf.writestr("ENZYMES/ENZYMES_A.txt", "1, 2\n")
    with pytest.raises(DataError, match=r"MUTAG.zip:0: zip holds no MUTAG/MUTAG_A.txt"):
        load_tu("MUTAG", wrong, cache=tmp_path)
    not_zip = tmp_path / "x" / "MUTAG.zip"
    not_zip.parent.mkdir()
    not_zip.write_text("not a zip")
    with pytest.raises(DataError, match="not a valid zip archive"):
        load_tu("MUTAG", not_zip, cache=tmp_path)
    with pytest.raises(DataError, match="not a data set name"):
        load_tu("../MUTAG", tu_root, cache=tmp_path)


def test_cache_never_writes_into_the_source(tu_root, tmp_path):
    source = copy_tu(tu_root, "MUTAG", tmp_path / "source")
    for path in [*source.iterdir(), source, source.parent]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = snapshot(source.parent)
    cache = tmp_path / "cache"
    try:
        first = load_tu("MUTAG", source.parent, cache=cache)
        second = load_tu("MUTAG", source, cache=cache)
    finally:
        for path in [source.parent, source, *source.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert snapshot(source.parent) == before
    assert not first.from_cache and second.from_cache
    assert len(list((cache / "processed").glob("MUTAG-*.pt"))) == 1


def test_shared_folder_is_left_untouched(tu_root, tmp_path):
    before = snapshot(tu_root)
    load_tu("MUTAG", tu_root, cache=tmp_path)
    load_tu("MUTAG", tu_root / "MUTAG", features="constant", cache=tmp_path)
    assert snapshot(tu_root) == before


def test_reload_uses_the_cache_and_notices_changed_files(tu_root, tmp_path, monkeypatch):
    folder = copy_tu(tu_root, "MUTAG", tmp_path)
    cache = tmp_path / "cache"
    first = load_tu("MUTAG", folder, cache=cache)
    calls = []
    real = tu_module.read_tu_raw
    monkeypatch.setattr(tu_module, "read_tu_raw", lambda *a: calls.append(a) or real(*a))
    again = load_tu("MUTAG", folder, cache=cache)
    assert again.from_cache and not calls
    assert again._data.x_hot.equal(first._data.x_hot) and again.label_mapping == first.label_mapping
    assert again.feature_spec == first.feature_spec
    other = load_tu("MUTAG", folder, features="degree", cache=cache)  # other settings: processed anew
    assert not other.from_cache and len(calls) == 1
    labels = folder / "MUTAG_graph_labels.txt"
    write_lines(labels, ["1"] + lines_of(labels)[1:])  # the file changes: the cache must not be used
    changed = load_tu("MUTAG", folder, cache=cache)
    assert not changed.from_cache and len(calls) == 2 and changed[0].y.item() == 1
    # The changed source replaced its processed file: one file per settings, however often it changes.
    assert len(list((cache / "processed").glob("MUTAG-*.pt"))) == 2
    assert load_tu("MUTAG", folder, cache=cache).from_cache and len(calls) == 2


def test_corrupt_cache_file_is_rebuilt(tu_root, tmp_path):
    cache = tmp_path / "cache"
    load_tu("MUTAG", tu_root, cache=cache)
    (processed,) = (cache / "processed").glob("MUTAG-*.pt")
    processed.write_bytes(b"garbage")
    dataset = load_tu("MUTAG", tu_root, cache=cache)
    assert not dataset.from_cache and len(dataset) == 188
    assert load_tu("MUTAG", tu_root, cache=cache).from_cache


def test_offline_without_a_copy_explains_what_to_do(tmp_path, monkeypatch):
    def offline(url, destination):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(tu_module, "_fetch", offline)
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path / "cache"))
    with pytest.raises(DownloadError) as caught:
        load_tu("ENZYMES")
    message = str(caught.value)
    for part in (
        "https://www.chrsmrrs.com/graphkerneldatasets/ENZYMES.zip",
        "Temporary failure in name resolution",
        "--data-dir",
        "root=",
        "ENZYMES.zip",
        str(tmp_path / "cache"),
        "DIFFPOOL_DATA",
    ):
        assert part in message, part
    assert "\n" not in message  # one paragraph


def test_download_happens_once(tu_root, tmp_path, monkeypatch):
    fetched = []

    def fake_fetch(url, destination):  # serves the official archive layout from the shared copy
        fetched.append(url)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(destination, "w") as zf:
            for path in sorted((tu_root / "MUTAG").iterdir()):
                zf.write(path, f"MUTAG/{path.name}")

    monkeypatch.setattr(tu_module, "_fetch", fake_fetch)
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path / "cache"))
    first = load_tu("MUTAG")
    second = load_tu("MUTAG", features="degree")
    assert fetched == ["https://www.chrsmrrs.com/graphkerneldatasets/MUTAG.zip"]
    assert len(first) == len(second) == 188
    assert (tmp_path / "cache" / "raw" / "MUTAG" / "MUTAG_A.txt").is_file()


def _first_graphs(source: Path, name: str, graphs: int, target: Path) -> Path:
    """A TU folder ``target/name`` of the first ``graphs`` graphs of the set in ``source/name``."""
    files = {part: source / name / f"{name}_{part}.txt" for part in ("A", "graph_indicator", "graph_labels")}
    indicator = lines_of(files["graph_indicator"])
    nodes = sum(1 for line in indicator if int(line) <= graphs)  # a graph's nodes follow the previous'
    folder = target / name
    folder.mkdir(parents=True)
    write_lines(folder / files["graph_indicator"].name, indicator[:nodes])
    write_lines(folder / files["graph_labels"].name, lines_of(files["graph_labels"])[:graphs])
    edges = [line for line in lines_of(files["A"]) if int(line.split(",")[0]) <= nodes]
    write_lines(folder / files["A"].name, edges)
    return folder


@pytest.mark.parametrize("name, graphs", [("IMDB-BINARY", None), ("REDDIT-BINARY", 300)])
def test_degree_features_are_stored_compact_and_read_as_the_dense_ones(tu_root, tmp_path, name, graphs):
    """One-hot degrees (65 columns) are stored as one int16 column number a node; every graph read,
    from a fresh load, the cache, a loader or ``predict``'s reader, has the ``x`` they define."""
    from torch_geometric.loader import DataLoader

    from diffpool.data.tu import build_graphs, read_tu_raw
    from diffpool.training.predict import read_graphs_for

    folder = tu_root / name if graphs is None else _first_graphs(tu_root, name, graphs, tmp_path / "subset")
    cache = tmp_path / "cache"
    dataset = load_tu(name, folder, cache=cache)
    spec = dataset.feature_spec
    assert spec["parts"] == ["degree"] and spec["num_features"] == 65 == dataset.num_features
    assert "x" not in dataset._data and list(dataset.slices) == ["edge_index", "y", "x_hot"]
    stored = dataset._data.x_hot
    assert stored.dtype == torch.int16 and stored.shape == (int(dataset._data.num_nodes), 1)

    expected = [dense_reference(data, spec) for data in build_graphs(read_tu_raw(folder, name))[0]]
    assert len(dataset) == len(expected) == (graphs or 1000)
    for data, x in zip(dataset, expected):
        assert data.x.dtype == torch.float32 and torch.equal(data.x, x)
    (batch,) = DataLoader(dataset, batch_size=len(dataset))
    assert torch.equal(batch.x, torch.cat(expected))
    cached = load_tu(name, folder, cache=cache)
    assert cached.from_cache and all(torch.equal(data.x, x) for data, x in zip(cached, expected))
    predicted = read_graphs_for(folder, {"feature_spec": spec, "label_mapping": dataset.label_mapping})
    assert all(torch.equal(data.x, x) for data, x in zip(predicted, expected))


def test_a_cache_file_of_the_dense_layout_is_processed_again(tu_root, tmp_path, monkeypatch):
    """A processed file of format version 1 (``x`` stored dense) reads as a data set, but load_tu
    processes the source again and replaces the file with the compact layout."""
    import diffpool.data.dataset as dataset_module

    cache = tmp_path / "cache"
    compact = load_tu("MUTAG", tu_root, cache=cache)
    (processed,) = (cache / "processed").glob("MUTAG-*.pt")
    graphs = list(compact)  # x expanded
    dense = GraphDataset(
        graphs,
        name=compact.name,
        label_mapping=compact.label_mapping,
        feature_spec=compact.feature_spec,
        info=compact.info,
    )
    with monkeypatch.context() as patch:
        patch.setattr(dataset_module, "FORMAT_VERSION", 1)
        dense.save_to(processed)
    old = GraphDataset.load_from(processed)
    assert old.format_version == 1 and "x" in old._data
    assert all(torch.equal(a.x, b.x) for a, b in zip(old, graphs))
    again = load_tu("MUTAG", tu_root, cache=cache)
    assert not again.from_cache and "x" not in again._data
    assert GraphDataset.load_from(processed).format_version == dataset_module.FORMAT_VERSION
    assert load_tu("MUTAG", tu_root, cache=cache).from_cache
    assert all(torch.equal(a.x, b.x) for a, b in zip(again, graphs))
