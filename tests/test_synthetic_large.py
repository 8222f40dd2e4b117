"""synthetic-large: the synthetic set's classes in graphs of 10⁴–5·10⁴ nodes, its run defaults, and a
training step and the benchmark on a scaled-down variant (full-size graphs are only generated)."""

from __future__ import annotations

import math
import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from diffpool.data import ARRANGEMENTS, DataError, SyntheticHierarchy, graph_sizes, load_dataset
from diffpool.data.synthetic import LARGE_NUM_GRAPHS, LARGE_SETTINGS, community_graph, synthetic_large
from diffpool.models import DiffPoolNet, classification_loss
from diffpool.optim import adam
from diffpool.training.config import DATASET_DEFAULTS, RunConfig

# A scaled-down variant: the same generator path (sparse communities), a few hundred nodes a community.
SMALL = dict(community_size=(100, 300), links=(5, 20))


@pytest.fixture(scope="module")
def large():
    return synthetic_large(num_graphs=8, seed=3)


@pytest.fixture(scope="module")
def small():
    return synthetic_large(num_graphs=16, seed=1, **SMALL)


def test_the_large_setting_has_the_documented_sizes(large):
    k_low, k_high = LARGE_SETTINGS["communities"]
    s_low, s_high = LARGE_SETTINGS["community_size"]
    assert (k_low * s_low, k_high * s_high) == (10_000, 49_998)  # what the docs promise
    nodes, edges = graph_sizes(large)
    assert len(large) == 8 and large.name == "synthetic-large" and LARGE_NUM_GRAPHS == 200
    assert nodes.min() >= 10_000 and nodes.max() <= 50_000
    degree = 2 * edges / nodes
    assert np.all((degree > 7) & (degree < 13)), degree  # sparse: about 10, never dense communities
    assert large.num_features == 8 and large.info["settings"]["degree"] == [6.0, 10.0]
    for data in (large[0], large[5]):
        sizes = np.bincount(data.community.numpy())
        assert sizes.min() >= s_low and sizes.max() <= s_high


def test_classes_balanced_and_deterministic_per_seed(large, small):
    assert np.bincount(large._data.y.numpy(), minlength=4).tolist() == [2, 2, 2, 2]
    assert np.bincount(small._data.y.numpy(), minlength=4).tolist() == [4, 4, 4, 4]
    again = synthetic_large(num_graphs=16, seed=1, **SMALL)
    for key in ("x", "edge_index", "y", "community"):
        assert torch.equal(getattr(again._data, key), getattr(small._data, key)), key
    other = synthetic_large(num_graphs=16, seed=2, **SMALL)
    assert not torch.equal(other[0].edge_index, small[0].edge_index)


def test_graphs_are_simple_connected_and_arranged_as_the_class_says(small):
    for index in range(0, 16, 3):
        data = small[index]
        src, dst = data.edge_index.numpy()
        n = int(data.num_nodes)
        key = src * n + dst
        assert np.all(np.diff(key) > 0)  # sorted by source then target, no duplicates
        assert np.all(src != dst)
        assert set(key.tolist()) == set((dst * n + src).tolist())  # both directions
        g = nx.Graph(list(zip(src.tolist(), dst.tolist())))
        assert g.number_of_nodes() == n and nx.is_connected(g)
        community = data.community.numpy()
        k = int(data.num_communities)
        inside = community[src] == community[dst]
        between = {tuple(sorted(p)) for p in zip(community[src[~inside]], community[dst[~inside]])}
        expected = nx.Graph(community_graph(ARRANGEMENTS[int(data.y)], k))
        assert nx.is_isomorphic(nx.Graph(list(between)), expected)
        colour = data.x.argmax(1)
        assert all(len(set(colour[data.community == c].tolist())) == 1 for c in range(k))


def test_edge_counts_do_not_depend_on_the_class():
    args = ((4, 6), (50, 120), (0.5, 0.9), (3, 9), True, 8, 0.0, (6.0, 10.0))
    for i in range(6):
        versions = [
            SyntheticHierarchy._graph(np.random.default_rng([5, i]), label, *args) for label in range(4)
        ]
        assert len({int(g.num_nodes) for g in versions}) == 1
        assert len({g.edge_index.size(1) for g in versions}) == 1
        assert len({tuple(np.bincount(g.community.numpy())) for g in versions}) == 1


def test_degree_is_validated():
    with pytest.raises(DataError, match="degree"):
        synthetic_large(num_graphs=2, degree=(0.0, 2.0), **SMALL)
    with pytest.raises(DataError, match="lower end"):
        synthetic_large(num_graphs=2, degree=(8.0, 4.0), **SMALL)


def test_load_dataset_by_name():
    dataset = load_dataset("synthetic-large", num_graphs=4, seed=3)
    assert dataset.name == "synthetic-large" and len(dataset) == 4
    nodes, _ = graph_sizes(dataset)
    assert nodes.min() >= 10_000
    limit = int(np.sort(nodes)[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kept = load_dataset("synthetic-large", num_graphs=4, seed=3, max_nodes=limit)
    assert len(kept) == 2 and kept.filtered["removed"] == 2
    assert any("synthetic-large: removed 2 of 4" in str(w.message) for w in caught)
    assert len(load_dataset("synthetic", num_graphs=10)) == 10  # the small set keeps its own default


def test_run_defaults_keep_the_cluster_count_small():
    config = RunConfig.for_dataset("synthetic-large")
    assert config.levels == 1 and config.batch_size <= 4
    assert (
        DATASET_DEFAULTS["synthetic-large"]["entropy_weight"]
        == DATASET_DEFAULTS["synthetic"]["entropy_weight"]
    )
    model = config.model_config(in_channels=8, num_classes=4, max_nodes=49_998)
    (k,) = model.cluster_counts()
    assert 16 <= k <= 64  # a few clusters per community, not ceil(0.12 · n) = 6,000
    per_graph = model.clusters_per_graph(0, torch.tensor([10_000, 30_000, 49_998])).tolist()
    assert per_graph[0] == config.cluster_floor == 8 and per_graph[-1] == k
    assert math.ceil(config.ratio * 6 * 8333) * 49_998 * 4 < 2**24  # S of the largest graph: a few MB


def test_a_training_step_on_a_scaled_down_variant(small):
    config = RunConfig.for_dataset("synthetic-large", ratio=0.02)  # K ≈ 20 at this scale, as at full size
    nodes, _ = graph_sizes(small)
    model = DiffPoolNet(config.model_config(small.num_features, small.num_classes, int(nodes.max())))
    optimizer = adam(model.parameters(), lr=1e-3)
    batch = next(iter(DataLoader(small, batch_size=config.batch_size)))
    losses = classification_loss(
        model(batch),
        batch.y,
        link_weight=config.link_weight,
        entropy_weight=config.entropy_weight,
        link_normalization=config.link_normalization,
    )
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"])
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad
    )
    optimizer.step()


def test_the_benchmark_runs_both_cases_on_a_scaled_down_set(tmp_path):
    from benchmarks.large_graphs import data_file, prepare_data, run_case

    overrides = dict(community_size=(60, 120), links=(3, 10))
    path = data_file(tmp_path, 4, 0, overrides)
    first = prepare_data(path, 4, 0, overrides)
    assert first["generated"] and path.exists() and not prepare_data(path, 4, 0, overrides)["generated"]
    seen = []
    ours = run_case("ours", str(path), ratio=0.05, warmup_batches=1, progress=seen.append)
    assert ours["status"] == "ok" and ours["whole_epoch"] and ours["graphs"] == 4 and ours["batch_size"] == 4
    assert ours["config"]["levels"] == 1 and ours["peak_rss_mb"] > 0 and seen[-1]["graphs"] == 4
    pyg = run_case("pyg", str(path), ratio=0.05, warmup_batches=0, max_batches=2, pyg_padding="batch")
    assert pyg["status"] == "ok" and pyg["batch_size"] == 1 and pyg["batches"] == 2 and not pyg["whole_epoch"]
    assert pyg["epoch_s_extrapolated"] > pyg["epoch_s"]
