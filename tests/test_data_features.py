"""Feature specs: plain data that maps new graphs exactly as the training graphs were mapped."""

from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.data import Data

from data_fixtures import data_cache, dense_reference, tu  # noqa: F401
from diffpool.data import (
    COMPACT_KEYS,
    DEFAULT_DEGREE_CAP,
    DataError,
    GraphDataset,
    SyntheticHierarchy,
    apply_features,
    check_feature_spec,
    describe_features,
    expand_features,
    make_feature_spec,
)
from diffpool.data.synthetic import synthetic_large


def graph(edges, n, labels=None, attrs=None, source=None):
    edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    data = Data(edge_index=edge_index, num_nodes=n)
    if labels is not None:
        data.node_label = torch.tensor(labels).view(n, -1)
    if attrs is not None:
        data.node_attr = torch.tensor(attrs, dtype=torch.float32).view(n, -1)
    if source is not None:
        data.source = source
    return data


def test_spec_is_plain_json_and_reproduces_the_training_features(tu):
    dataset = tu("ENZYMES")
    spec = dataset.feature_spec
    assert json.loads(json.dumps(spec)) == spec
    assert spec["parts"] == ["attributes", "labels"] and spec["num_attributes"] == 18
    assert spec["node_label_values"] == [[1, 2, 3]] and spec["num_features"] == 21
    assert describe_features(spec) == "21 = 18 attributes + 3 node-label one-hot"


def test_apply_features_to_raw_graphs_matches_load_tu(tu, tu_root):
    """Rebuilding ENZYMES graph 7 from its raw files with the stored spec gives the same x."""
    from diffpool.data.tu import build_graphs, read_tu_raw

    graphs, _ = build_graphs(read_tu_raw(tu_root / "ENZYMES", "ENZYMES"))
    spec = json.loads(json.dumps(tu("ENZYMES").feature_spec))  # as if read back from a checkpoint
    (mapped,) = apply_features([graphs[7]], spec)
    assert torch.equal(mapped.x, tu("ENZYMES")[7].x)
    assert "node_label" not in mapped and "node_attr" not in mapped
    assert "node_label" in graphs[7]  # the input is not modified


def test_labels_one_hot_by_known_values_not_by_range():
    graphs = [graph([(0, 1)], 2, labels=[3, 7]), graph([(0, 1), (1, 2)], 3, labels=[7, 7, 10])]
    spec = make_feature_spec(graphs, "labels")
    assert spec["node_label_values"] == [[3, 7, 10]] and spec["num_features"] == 3
    x = apply_features(graphs, spec)[1].x
    assert x.tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_multi_column_node_labels():
    graphs = [graph([(0, 1)], 2, labels=[[1, 5], [2, 5]]), graph([], 1, labels=[[1, 6]])]
    spec = make_feature_spec(graphs, "labels")
    assert spec["node_label_values"] == [[1, 2], [5, 6]] and spec["num_node_labels"] == 4
    assert apply_features(graphs, spec)[0].x.tolist() == [[1, 0, 1, 0], [0, 1, 1, 0]]


def test_unknown_node_label_is_an_error_naming_the_graph():
    spec = make_feature_spec([graph([(0, 1)], 2, labels=[0, 1])], "labels")
    with pytest.raises(
        DataError,
        match=r"mine\.graphml: node 1 has label 5, which the feature spec "
        r"does not know \(known labels: \[0, 1\]\)",
    ):
        apply_features([graph([(0, 1)], 2, labels=[0, 5], source="mine.graphml")], spec)


def test_missing_or_wrong_node_data_is_an_error():
    spec = make_feature_spec([graph([(0, 1)], 2, labels=[0, 1], attrs=[[1.0, 2.0], [3.0, 4.0]])], "auto")
    assert spec["parts"] == ["attributes", "labels"] and spec["num_features"] == 4
    with pytest.raises(DataError, match="graph 0: has no node attributes, but the features expect 2"):
        apply_features([graph([(0, 1)], 2, labels=[0, 1])], spec)
    with pytest.raises(DataError, match="graph 0: has 3 node attributes per node, but the features expect 2"):
        apply_features([graph([(0, 1)], 2, labels=[0, 1], attrs=[[1.0] * 3] * 2)], spec)
    with pytest.raises(DataError, match="graph 0: has no node labels"):
        apply_features([graph([(0, 1)], 2, attrs=[[1.0, 2.0]] * 2)], spec)
    with pytest.raises(DataError, match="node 1 has a NaN or infinite attribute"):
        apply_features([graph([(0, 1)], 2, labels=[0, 1], attrs=[[1.0, 2.0], [float("nan"), 0.0]])], spec)


def test_degree_cap_is_stored_and_applied_to_new_graphs():
    star = graph([(0, i) for i in range(1, 6)], 6)  # centre has degree 5
    spec = make_feature_spec([star], "degree")
    assert spec["degree_cap"] == 5 and spec["num_features"] == 6
    bigger = graph([(0, i) for i in range(1, 10)], 10)  # degree 9 > cap: shares the last column
    x = apply_features([bigger], spec)[0].x
    assert x.shape == (10, 6) and x[0].argmax() == 5 and x[1].argmax() == 1
    capped = make_feature_spec([bigger], "degree", degree_cap=3)
    assert capped["num_features"] == 4 and apply_features([bigger], capped)[0].x[0].argmax() == 3


def test_degree_cap_defaults_to_at_most_the_global_cap():
    hub = graph([(0, i) for i in range(1, 200)], 200)
    assert make_feature_spec([hub], "degree")["degree_cap"] == DEFAULT_DEGREE_CAP


def test_auto_falls_back_to_degree_and_isolated_nodes_get_degree_zero():
    graphs = [graph([(0, 1)], 3)]
    spec = make_feature_spec(graphs, "auto")
    assert spec["parts"] == ["degree"] and spec["kind"] == "auto"
    assert apply_features(graphs, spec)[0].x.argmax(1).tolist() == [1, 1, 0]


def test_inconsistent_node_data_across_graphs():
    with pytest.raises(DataError, match="graph 1: has no node labels, but other graphs of data do"):
        make_feature_spec([graph([], 1, labels=[0]), graph([], 1)], "auto")


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"kind": "auto"}, "feature spec lacks parts"),
        ("degree", "a feature spec is a dict"),
    ],
)
def test_malformed_specs(broken, message):
    with pytest.raises(DataError, match=message):
        check_feature_spec(broken)


def test_spec_with_wrong_total_width():
    spec = make_feature_spec([graph([(0, 1)], 2)], "constant")
    assert check_feature_spec(spec) is spec
    with pytest.raises(DataError, match="says 5 features but its parts add up to 1"):
        check_feature_spec(dict(spec, num_features=5))


def test_attribute_columns_are_the_leading_attribute_features():
    from diffpool.data import attribute_columns

    g = graph([(0, 1)], 2, labels=[1, 2], attrs=[[0.5, 7.0], [1.5, -3.0]])
    assert attribute_columns(make_feature_spec([g])) == 2  # then 2 one-hot label columns
    assert attribute_columns(make_feature_spec([g], "labels")) == 0
    assert attribute_columns(make_feature_spec([g], "degree")) == 0
    assert attribute_columns(None) == 0
    spec = make_feature_spec([g])
    with pytest.raises(DataError, match="attributes must be the first columns"):
        attribute_columns({**spec, "parts": ["labels", "attributes"]})


def mixed(edges, n, labels, attrs) -> Data:
    """A graph with two node-label columns and two attributes per node."""
    data = graph(edges, n)
    data.node_label = torch.tensor(labels, dtype=torch.long).view(n, 2)
    data.node_attr = torch.tensor(attrs, dtype=torch.float32).view(n, 2)
    return data


MIXED = [
    mixed([(0, 1), (1, 2), (0, 2)], 4, [[1, 5], [2, 5], [1, 6], [3, 6]], [[0.5, -0.0]] * 4),
    mixed([], 2, [[3, 5], [3, 5]], [[1e-30, 7.0], [-2.5, 1e30]]),  # no edges
    mixed([], 0, [], []),  # no nodes
    mixed([(0, i) for i in range(1, 9)], 9, [[2, 6]] * 9, [[1.0, 2.0]] * 9),  # a hub
]


@pytest.mark.parametrize("kind", ["auto", "labels", "attributes", "degree", "constant"])
@pytest.mark.parametrize("cap", [None, 3])
def test_compact_features_expand_to_the_dense_ones(kind, cap):
    """Stored compact (x_attr, x_hot) or built dense, ``x`` is the same: values, columns, type."""
    spec = make_feature_spec(MIXED, kind, degree_cap=cap if kind == "degree" else None)
    dense = apply_features(MIXED, spec)
    compact = apply_features(MIXED, spec, compact=True)
    for data, plain, stored in zip(MIXED, dense, compact):
        assert "x" not in stored and set(COMPACT_KEYS) & set(stored.keys())
        assert ("x_attr" in stored) == ("attributes" in spec["parts"])
        if "x_hot" in stored:
            assert stored.x_hot.dtype == torch.int16
        expected = dense_reference(data, spec)
        assert plain.x.dtype == torch.float32 and torch.equal(plain.x, expected)
        expanded = expand_features(stored.clone(), spec)
        assert expanded.x.dtype == torch.float32 and torch.equal(expanded.x, expected)
        assert not set(COMPACT_KEYS) & set(expanded.keys())
    assert expand_features(dense[0], spec) is dense[0]  # a graph with x is left as it is


def test_compact_features_of_a_data_set_are_expanded_as_graphs_are_read():
    spec = make_feature_spec(MIXED, "auto")
    dataset = GraphDataset(apply_features(MIXED, spec, compact=True), feature_spec=spec)
    assert "x" not in dataset._data and dataset.num_features == spec["num_features"] == 7
    expected = [dense_reference(data, spec) for data in MIXED]
    for i, data in enumerate(dataset):
        assert torch.equal(data.x, expected[i]) and data.num_nodes == MIXED[i].num_nodes
    assert torch.equal(dataset[[3, 1]][0].x, expected[3])
    assert "x_hot" in dataset._data  # reading graphs leaves the stored ones compact
    with pytest.raises(DataError, match="needs the feature spec"):
        expand_features(apply_features(MIXED, spec, compact=True)[0], None)


def test_hot_columns_are_int32_past_int16():
    spec = make_feature_spec([graph([(0, 1)], 2, labels=[0, 40_000])], "labels")
    spec = {
        **spec,
        "node_label_values": [list(range(40_001))],
        "num_node_labels": 40_001,
        "num_features": 40_001,
    }
    (stored,) = apply_features([graph([(0, 1)], 2, labels=[0, 40_000])], spec, compact=True)
    assert stored.x_hot.dtype == torch.int32 and stored.x_hot.view(-1).tolist() == [0, 40_000]
    assert expand_features(stored, spec).x[1, 40_000] == 1


@pytest.mark.parametrize("features", ["degree", "constant"])
def test_synthetic_features_are_the_defined_ones(features):
    dataset = SyntheticHierarchy(num_graphs=8, seed=3, features=features)
    spec = dataset.feature_spec
    for data in dataset:
        assert torch.equal(data.x, dense_reference(data, spec))
    large = synthetic_large(num_graphs=2, seed=1, community_size=(100, 200), links=(5, 10), features=features)
    for data in large:
        assert torch.equal(data.x, dense_reference(data, large.feature_spec))
