"""A user's own graphs: networkx objects, GraphML and edge-list folders, mapped like training data."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch_geometric.utils import to_networkx

from data_fixtures import data_cache, tu  # noqa: F401
from diffpool.data import DataError, from_networkx, read_edge_list, read_graph_folder


def mutag_as_networkx(dataset, indices):
    """MUTAG graphs as networkx graphs with integer node labels and a graph label, as a user has them."""
    values = dataset.feature_spec["node_label_values"][0]
    graphs = []
    for i in indices:
        data = dataset[i]
        g = to_networkx(data, to_undirected=True)
        for node, row in enumerate(data.x):
            g.nodes[node]["label"] = values[int(row.argmax())]
        g.graph["label"] = dataset.class_names[int(data.y)]
        graphs.append(g)
    return graphs


def test_networkx_round_trip_matches_the_training_data(tu):
    mutag = tu("MUTAG")
    graphs = mutag_as_networkx(mutag, [0, 5, 187])
    mine = from_networkx(graphs, feature_spec=mutag.feature_spec, label_mapping=mutag.label_mapping)
    assert len(mine) == 3 and mine.num_features == mutag.num_features
    for data, i in zip(mine, [0, 5, 187]):
        assert torch.equal(data.x, mutag[i].x)
        assert torch.equal(data.edge_index, mutag[i].edge_index)
        assert torch.equal(data.y, mutag[i].y)


def test_graphml_folder_round_trip(tu, tmp_path):
    mutag = tu("MUTAG")
    graphs = mutag_as_networkx(mutag, range(6))
    for i, g in enumerate(graphs):
        nx.write_graphml(nx.relabel_nodes(g, {n: f"atom{n}" for n in g}), tmp_path / f"mol{i}.graphml")
    mine = read_graph_folder(tmp_path, feature_spec=mutag.feature_spec, label_mapping=mutag.label_mapping)
    assert [d.source for d in mine] == [str(tmp_path / f"mol{i}.graphml") for i in range(6)]
    for i, data in enumerate(mine):
        assert torch.equal(data.x, mutag[i].x) and torch.equal(data.y, mutag[i].y)
        assert torch.equal(data.edge_index, mutag[i].edge_index)


def test_edge_list_folder_with_labels_file(tmp_path):
    (tmp_path / "a.edgelist").write_text("# a triangle and a pendant\n0 1\n1 2\n2 0\n2 3 {}\n")
    (tmp_path / "b.txt").write_text("# label: 1\nx,y\ny,z 2.5\nw\n")  # w: isolated node
    (tmp_path / "labels.csv").write_text("file,label\na.edgelist,0\n")
    (tmp_path / "notes.md").write_text("not a graph")
    # .txt files are edge lists only when asked for: by default a folder's notes.txt is no graph
    assert len(read_graph_folder(tmp_path)) == 1
    dataset = read_graph_folder(tmp_path, suffixes=[".edgelist", "txt"])
    assert dataset.info["ignored"] == [str(tmp_path / "notes.md")]
    assert len(dataset) == 2 and dataset.label_mapping == {0: 0, 1: 1}
    a, b = dataset[0], dataset[1]
    assert a.num_nodes == 4 and a.edge_index.size(1) == 8 and a.y.item() == 0
    assert b.num_nodes == 4 and b.edge_index.size(1) == 4 and b.y.item() == 1
    assert dataset.feature_spec["parts"] == ["degree"]
    assert b.x.argmax(1).tolist() == [1, 2, 1, 0]  # x, y, z, w


def test_graphs_without_labels_are_for_prediction(tmp_path):
    dataset = from_networkx([nx.path_graph(4), nx.cycle_graph(5)])
    assert dataset.label_mapping == {} and "y" not in dataset[0]
    assert dataset.num_features == 3  # degrees 0..2


def test_node_attributes_in_networkx_and_graphml(tmp_path):
    g = nx.path_graph(3)
    for node in g:
        g.nodes[node]["x"] = [float(node), 1.0]
    h = nx.path_graph(2)
    for node in h:
        h.nodes[node]["x0"], h.nodes[node]["x1"] = 5.0, float(node)
    dataset = from_networkx([g, h], labels=[1, 2], features="attributes")
    assert dataset[0].x.tolist() == [[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]
    assert dataset[1].x.tolist() == [[5.0, 0.0], [5.0, 1.0]]
    k = nx.path_graph(2)
    for node in k:
        k.nodes[node]["x"] = f"{node}.5, 2"  # GraphML has no lists: a string of numbers
    nx.write_graphml(k, tmp_path / "k.graphml")
    mine = read_graph_folder(tmp_path, feature_spec=dataset.feature_spec)
    assert mine[0].x.tolist() == [[0.5, 2.0], [1.5, 2.0]]


def test_feature_mismatch_names_the_file(tu, tmp_path):
    mutag = tu("MUTAG")
    (tmp_path / "plain.edgelist").write_text("0 1\n1 2\n")
    with pytest.raises(
        DataError,
        match=r"plain\.edgelist: has no node labels, but the features expect "
        r"one-hot node labels",
    ):
        read_graph_folder(tmp_path, feature_spec=mutag.feature_spec)
    g = nx.path_graph(3)
    nx.set_node_attributes(g, {0: 0, 1: 2, 2: 42}, "label")
    nx.write_graphml(g, tmp_path / "odd.graphml")
    (tmp_path / "plain.edgelist").unlink()
    with pytest.raises(
        DataError, match=r"odd\.graphml: node 2 has label 42, which the feature spec does not know"
    ):
        read_graph_folder(tmp_path, feature_spec=mutag.feature_spec)


def test_unknown_graph_label_for_a_model(tu):
    mutag = tu("MUTAG")
    g = nx.path_graph(2)
    nx.set_node_attributes(g, 0, "label")
    with pytest.raises(DataError, match=r"graph 0: graph label 7 is not one of the known labels \[-1, 1\]"):
        from_networkx([g], labels=[7], feature_spec=mutag.feature_spec, label_mapping=mutag.label_mapping)


def test_bad_edge_list_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bad.edgelist"
    path.write_text("0 1\n# fine\n1 2 3 4\n")
    with pytest.raises(DataError, match=rf"^{path}:3: expected 'u v' \(two node ids\), found 4 values"):
        read_edge_list(path)
    path.write_text("0 1\n1 2 heavy\n")
    with pytest.raises(DataError, match=rf"^{path}:2: expected 'u v' or 'u v weight'"):
        read_edge_list(path)
    path.write_text("# label: one\n0 1\n")
    with pytest.raises(DataError, match=rf"^{path}:1: graph label must be an integer"):
        read_edge_list(path)
    path.write_text("# nothing here\n")
    with pytest.raises(DataError, match=rf"^{path}:1: no nodes or edges"):
        read_edge_list(path)


def test_broken_graphml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.graphml"
    nx.write_graphml(nx.path_graph(3), path)
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace(">", "", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=rf"^{path}:\d+: not valid GraphML/XML"):
        read_graph_folder(tmp_path)


def test_inconsistent_user_graphs():
    g = nx.path_graph(3)
    g.nodes[0]["label"] = 1
    with pytest.raises(DataError, match="graph 0: node 1 has no 'label' but other nodes do"):
        from_networkx([g])
    a, b = nx.path_graph(2), nx.path_graph(2)
    a.graph["label"] = 1
    with pytest.raises(DataError, match="graph 1: has no graph label but other graphs do"):
        from_networkx([a, b])
    with pytest.raises(DataError, match="2 labels for 1 graphs"):
        from_networkx([a], labels=[0, 1])
    with pytest.raises(DataError, match="not a networkx graph"):
        from_networkx([[(0, 1)]])


def test_folder_problems(tu_root, tmp_path):
    with pytest.raises(DataError, match="no graph files"):
        read_graph_folder(tmp_path)
    with pytest.raises(DataError, match="no such folder"):
        read_graph_folder(tmp_path / "missing")
    with pytest.raises(DataError, match="looks like a TU data set.*load_tu"):
        read_graph_folder(tu_root / "MUTAG")


def test_directed_and_multi_graphs_become_simple_undirected():
    g = nx.MultiDiGraph([(0, 1), (0, 1), (1, 2), (2, 2)])
    data = from_networkx([g])[0]
    assert sorted(map(tuple, data.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
