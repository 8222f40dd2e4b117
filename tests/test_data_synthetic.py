"""SyntheticHierarchy: deterministic, balanced, with true communities whose arrangement is the class."""

from __future__ import annotations

import time

import networkx as nx
import numpy as np
import pytest
import torch

from diffpool.data import ARRANGEMENTS, DataError, SyntheticHierarchy, graph_sizes
from diffpool.data.synthetic import community_graph


@pytest.fixture(scope="module")
def synthetic():
    return SyntheticHierarchy(num_graphs=400, seed=7)


def test_generation_is_fast():
    start = time.perf_counter()
    dataset = SyntheticHierarchy(num_graphs=1000, seed=0)
    assert len(dataset) == 1000
    assert time.perf_counter() - start < 10  # about a second on one core


def test_deterministic_per_seed(synthetic):
    again = SyntheticHierarchy(num_graphs=400, seed=7)
    for key in ("x", "edge_index", "y", "community"):
        assert torch.equal(getattr(again._data, key), getattr(synthetic._data, key)), key
    other = SyntheticHierarchy(num_graphs=400, seed=8)
    assert not torch.equal(other._data.edge_index, synthetic._data.edge_index) or not torch.equal(
        other._data.y, synthetic._data.y
    )
    # graph i depends only on (seed, i): a shorter set shares its graphs' structure
    short = SyntheticHierarchy(num_graphs=50, seed=7)
    same_class = [i for i in range(50) if short[i].y == synthetic[i].y]
    assert same_class
    for i in same_class:
        assert torch.equal(short[i].edge_index, synthetic[i].edge_index)


def test_classes_are_balanced(synthetic):
    assert synthetic.num_classes == 4 and synthetic.info["class_names"] == list(ARRANGEMENTS)
    counts = np.bincount(synthetic._data.y.numpy(), minlength=4)
    assert counts.tolist() == [100, 100, 100, 100]
    odd = SyntheticHierarchy(num_graphs=10, seed=0)
    assert sorted(np.bincount(odd._data.y.numpy(), minlength=4).tolist()) == [2, 2, 3, 3]


def test_graphs_are_valid_pyg_graphs(synthetic):
    for data in (synthetic[0], synthetic[399]):
        n = data.num_nodes
        assert data.x.dtype == torch.float32 and data.x.shape == (n, synthetic.num_features)
        assert data.y.shape == (1,) and data.community.shape == (n,) and data.community.dtype == torch.long
        g = nx.Graph(data.edge_index.t().tolist())
        assert g.number_of_nodes() == n and nx.is_connected(g)
        assert g.number_of_edges() * 2 == data.edge_index.size(1)  # both directions, no duplicates
        assert nx.number_of_selfloops(g) == 0


@pytest.mark.parametrize("index", range(0, 400, 37))
def test_communities_are_dense_and_arranged_as_the_class_says(synthetic, index):
    data = synthetic[index]
    community = data.community.numpy()
    k = int(data.num_communities)
    assert sorted(set(community.tolist())) == list(range(k)) and 4 <= k <= 6
    sizes = np.bincount(community)
    assert sizes.min() >= 6 and sizes.max() <= 12
    src, dst = data.edge_index.numpy()
    inside = community[src] == community[dst]
    for c in range(k):  # each community is dense and connected
        members = np.flatnonzero(community == c)
        edges = inside & (community[src] == c)
        density = edges.sum() / (len(members) * (len(members) - 1))
        assert density >= 0.3
    between = {tuple(sorted(p)) for p in zip(community[src[~inside]], community[dst[~inside]])}
    expected = nx.Graph(community_graph(ARRANGEMENTS[int(data.y)], k))
    assert nx.is_isomorphic(nx.Graph(list(between)), expected)
    # k links in all (the trees carry one pair twice): the class is in which pairs are linked
    assert (~inside).sum() // 2 == k
    # links between communities use distinct endpoints, so they close no triangle
    g = nx.Graph(data.edge_index.t().tolist())
    for u, v in zip(src[~inside], dst[~inside]):
        assert not set(g[u]) & set(g[v])


def test_each_community_has_its_own_colour(synthetic):
    assert synthetic.feature_spec["parts"] == ["labels"] and synthetic.num_features == 8
    for data in (synthetic[1], synthetic[2], synthetic[3]):
        colour = data.x.argmax(1)
        assert torch.equal(data.x.sum(1), torch.ones(data.num_nodes))
        per_community = [set(colour[data.community == c].tolist()) for c in range(int(data.num_communities))]
        assert all(len(colours) == 1 for colours in per_community)
        assert len(set.union(*per_community)) == int(data.num_communities)  # distinct within a graph


def test_colours_do_not_reveal_the_class(synthetic):
    """Colours are drawn per graph regardless of the class: every class uses the whole palette."""
    y = synthetic._data.y
    for c in range(4):
        x = torch.cat([synthetic[i].x for i in torch.nonzero(y == c).view(-1).tolist()])
        share = x.mean(0)
        assert torch.all((share > 0.08) & (share < 0.17)), share  # ≈ 1/8 each


def test_colour_noise_and_structure_only():
    noisy = SyntheticHierarchy(num_graphs=40, seed=0, colour_noise=0.3)
    data = noisy[0]
    colour = data.x.argmax(1)
    majority = [torch.mode(colour[data.community == c]).values for c in range(int(data.num_communities))]
    off = (colour != torch.stack(majority)[data.community]).float().mean()
    assert 0.05 < off < 0.5
    plain = SyntheticHierarchy(num_graphs=40, seed=0, colours=0)
    assert plain.feature_spec["parts"] == ["degree"] and "node_label" not in plain[0]
    assert torch.equal(plain[0].edge_index, SyntheticHierarchy(num_graphs=40, seed=0)[0].edge_index)


def test_node_order_does_not_reveal_communities(synthetic):
    community = synthetic[5].community.numpy()
    assert np.any(np.diff(community) < 0) and np.count_nonzero(np.diff(community)) > len(set(community))


def test_counts_do_not_depend_on_the_class():
    """Graph i drawn as each of the four classes has the same nodes, communities and edge count."""
    args = ((4, 6), (6, 12), (0.5, 0.9), (1, 1), True, 8, 0.1)
    for i in range(25):
        versions = [
            SyntheticHierarchy._graph(np.random.default_rng([3, i]), label, *args) for label in range(4)
        ]
        assert len({int(g.num_nodes) for g in versions}) == 1
        assert len({g.edge_index.size(1) for g in versions}) == 1
        assert len({tuple(np.bincount(g.community.numpy())) for g in versions}) == 1
        assert len({tuple(g.node_label.view(-1).tolist()) for g in versions}) == 1
        degree_sums = {int(torch.bincount(g.edge_index[0]).sum()) for g in versions}
        assert len(degree_sums) == 1


def test_without_balancing_trees_have_one_link_less():
    args = ((5, 5), (8, 8), (0.7, 0.7), (1, 1), False)
    path, cycle, star, tadpole = (
        SyntheticHierarchy._graph(np.random.default_rng([0, 1]), label, *args) for label in range(4)
    )
    assert path.edge_index.size(1) == star.edge_index.size(1) == cycle.edge_index.size(1) - 2
    assert tadpole.edge_index.size(1) == cycle.edge_index.size(1)


def test_arrangements_are_distinct_for_every_community_count():
    for k in range(4, 9):
        shapes = [nx.Graph(community_graph(name, k)) for name in ARRANGEMENTS]
        assert all(nx.is_connected(g) and g.number_of_nodes() == k for g in shapes)
        degree_sequences = {tuple(sorted(d for _, d in g.degree())) for g in shapes}
        assert len(degree_sequences) == 4  # one message-passing round on the community graph tells them apart


def test_sizes_stay_within_bounds():
    nodes, _ = graph_sizes(SyntheticHierarchy(num_graphs=200, seed=1))
    assert nodes.max() <= 72 and nodes.min() >= 24


def test_options_and_their_validation():
    small = SyntheticHierarchy(
        num_graphs=8, seed=0, communities=(4, 4), community_size=(5, 5), links=(2, 2), features="constant"
    )
    assert small.num_features == 1 and all(int(d.num_nodes) == 20 for d in small)
    for data in small:  # two links per adjacent pair, and the trees' extra pair: 8 links in all
        community = data.community[data.edge_index]
        assert int((community[0] != community[1]).sum()) // 2 == 8
    assert small.feature_spec["kind"] == "constant"
    with pytest.raises(DataError, match="at least 4"):
        SyntheticHierarchy(num_graphs=4, communities=(3, 4))
    with pytest.raises(DataError, match="lower end"):
        SyntheticHierarchy(num_graphs=4, community_size=(9, 6))
    with pytest.raises(DataError, match="num_graphs"):
        SyntheticHierarchy(num_graphs=0)
    with pytest.raises(DataError, match="colour_noise"):
        SyntheticHierarchy(num_graphs=4, colour_noise=1.5)
