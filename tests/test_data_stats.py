"""Graph sizes and statistics: nodes from the collated offsets, edges as distinct unordered pairs
counted without sorting the edges when they are coalesced, the same counts as a set of pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data
from torch_geometric.utils import coalesce

import diffpool.data.stats as stats_module
from data_fixtures import data_cache, tu  # noqa: F401
from diffpool.data import GraphDataset, SyntheticHierarchy, dataset_stats, graph_sizes, node_counts
from diffpool.data.synthetic import synthetic_large


def pair_counts(graphs) -> tuple[list[int], list[int]]:
    """The definition: nodes, and distinct unordered pairs {u, v} of each graph (a self-loop once)."""
    nodes = [int(g.num_nodes) for g in graphs]
    edges = [len({frozenset(pair) for pair in g.edge_index.t().tolist()}) for g in graphs]
    return nodes, edges


def graph(n: int, pairs, *, both: bool = True, sort: bool = True) -> Data:
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t()
    if both:
        edge_index = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    if sort:
        edge_index = coalesce(edge_index, num_nodes=n)
    return Data(edge_index=edge_index, num_nodes=n, x=torch.ones(n, 1), y=torch.tensor([0]))


# Isolated nodes, graphs without edges, a graph without nodes, self-loops, long rows (a star).
SIMPLE = [
    graph(4, [(0, 1), (1, 2)]),  # node 3 isolated
    graph(3, []),
    graph(1, []),
    graph(5, [(0, 1), (0, 2), (0, 3), (0, 4), (3, 4)]),
    graph(0, []),
    graph(3, [(0, 0), (1, 2)], both=False),  # a self-loop listed once, an edge one way only
    graph(2, [(1, 1)]),  # a self-loop listed twice, coalesced to once
    graph(6, [(i, j) for i in range(6) for j in range(i + 1, 6)]),
]
# Not coalesced: edges unsorted, listed twice, one way only in the larger-to-smaller direction.
UNORDERED = [
    graph(3, [(2, 1), (0, 1), (1, 0), (2, 1)], both=False, sort=False),
    graph(4, [(3, 0), (1, 2)], both=False, sort=False),
    graph(2, [], both=False, sort=False),
]


def _check(graphs) -> None:
    """graph_sizes of the list and of the data set collated from it equal the definition."""
    expected = pair_counts(graphs)
    for data in (graphs, GraphDataset(graphs)):
        nodes, edges = graph_sizes(data)
        assert nodes.tolist() == expected[0] and edges.tolist() == expected[1]
        assert nodes.dtype == np.int64 and edges.dtype == np.int64
        assert node_counts(data).tolist() == expected[0] and node_counts(data).dtype == np.int64


def test_sizes_equal_the_definition_on_small_graphs():
    _check(SIMPLE)
    _check(UNORDERED)
    _check(SIMPLE + UNORDERED)
    subset = GraphDataset(SIMPLE)[[7, 0, 4]]  # out of order
    nodes, edges = graph_sizes(subset)
    assert nodes.tolist() == node_counts(subset).tolist() == [6, 4, 0] and edges.tolist() == [15, 2, 0]


def test_coalesced_edges_are_counted_without_a_sort(monkeypatch):
    """The loaders' edges (coalesced) never reach the sort; any other edges do, with the same result."""
    calls = []
    real = stats_module._unique_undirected
    synthetic = SyntheticHierarchy(num_graphs=12, seed=4)
    monkeypatch.setattr(stats_module, "_unique_undirected", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(np, "unique", None)  # a sort of all edges would fail here
    monkeypatch.setattr(stats_module, "_ROWS", 3)  # steps that split graphs and rows
    _check(SIMPLE)
    assert graph_sizes(synthetic)[1].tolist() == pair_counts(synthetic)[1]
    assert not calls
    monkeypatch.undo()
    monkeypatch.setattr(stats_module, "_unique_undirected", lambda *a: calls.append(1) or real(*a))
    _check(UNORDERED)
    assert calls


def test_node_counts_read_no_edges(monkeypatch):
    dataset = GraphDataset(SIMPLE)
    dataset._data.edge_index = None  # reading it would fail
    assert node_counts(dataset).tolist() == [4, 3, 1, 5, 0, 3, 2, 6]


def test_ids_outside_their_graph_take_the_general_count():
    bad = Data(edge_index=torch.tensor([[0, 1], [1, 3]]), num_nodes=3)  # node 3 of a 3-node graph
    assert stats_module._coalesced_pairs(bad.edge_index.numpy(), np.array([0, 3]), np.array([0, 2])) is None
    assert graph_sizes([bad])[1].tolist() == [2]


@st.composite
def _graph_lists(draw) -> list[Data]:
    graphs = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        n = draw(st.integers(min_value=0, max_value=7))
        pairs = draw(st.lists(st.tuples(st.integers(0, max(n - 1, 0)), st.integers(0, max(n - 1, 0)))))
        pairs = pairs if n else []
        graphs.append(graph(n, pairs, both=draw(st.booleans()), sort=draw(st.booleans())))
    return graphs


@settings(max_examples=150, deadline=None)
@given(_graph_lists(), st.integers(min_value=1, max_value=9))
def test_sizes_equal_the_definition_on_random_graphs(graphs, rows):
    stats_module._ROWS, saved = rows, stats_module._ROWS
    try:
        _check(graphs)
    finally:
        stats_module._ROWS = saved


@pytest.mark.parametrize("name", ["MUTAG", "IMDB-BINARY", "PROTEINS"])
def test_sizes_of_real_sets_equal_the_definition(tu, name):
    dataset = tu(name)
    nodes, edges = graph_sizes(dataset)
    assert (nodes.tolist(), edges.tolist()) == pair_counts(dataset)


def test_imdb_average_edges_are_the_published_figure(tu):
    assert round(dataset_stats(tu("IMDB-BINARY"))["avg_edges"], 2) == 96.53


def test_sizes_of_large_synthetic_graphs():
    large = synthetic_large(num_graphs=3, seed=2, community_size=(300, 600), links=(5, 20))
    nodes, edges = graph_sizes(large)
    assert (nodes.tolist(), edges.tolist()) == pair_counts(large)
