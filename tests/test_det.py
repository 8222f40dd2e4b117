"""DiffPool-DET: the deterministic normalised-cut clustering and the model that uses it."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_undirected

from diffpool.graclus import det_hierarchy, normalized_cut_clustering
from diffpool.models import ModelConfig, attach_det_clusters, build_model, classification_loss


def clique(nodes):
    return [(i, j) for i in nodes for j in nodes if i != j]


def test_two_cliques_joined_by_one_edge_become_two_clusters():
    edges = clique(range(0, 5)) + clique(range(5, 10)) + [(4, 5), (5, 4)]
    edge_index = torch.tensor(edges).t()
    cluster = normalized_cut_clustering(edge_index, 10, 2)
    assert cluster.unique().numel() == 2
    assert (cluster[:5] == cluster[0]).all() and (cluster[5:] == cluster[5]).all()
    assert cluster[0] != cluster[5]


def test_deterministic_and_within_bounds():
    gen = torch.Generator().manual_seed(0)
    edge_index = to_undirected(torch.randint(0, 40, (2, 80), generator=gen), num_nodes=40)
    first = normalized_cut_clustering(edge_index, 40, 10)
    assert torch.equal(first, normalized_cut_clustering(edge_index, 40, 10))
    assert first.min() == 0 and first.max() < 10 and first.numel() == 40


def test_isolated_nodes_are_folded_into_k_clusters():
    cluster = normalized_cut_clustering(torch.empty(2, 0, dtype=torch.long), 7, 3)
    assert cluster.unique().numel() == 3
    assert normalized_cut_clustering(torch.empty(2, 0, dtype=torch.long), 1, 3).tolist() == [0]
    with pytest.raises(ValueError, match="at least 1"):
        normalized_cut_clustering(torch.empty(2, 0, dtype=torch.long), 3, 0)


def test_hierarchy_levels_shrink():
    gen = torch.Generator().manual_seed(1)
    edge_index = to_undirected(torch.randint(0, 60, (2, 150), generator=gen), num_nodes=60)
    level1, level2 = det_hierarchy(edge_index, 60, 0.25, 2, [15, 4])
    assert level1.numel() == 60 and int(level1.max()) + 1 <= 15
    assert level2.numel() == int(level1.max()) + 1 and int(level2.max()) + 1 <= 4


def test_det_model_trains_with_hard_assignments():
    gen = torch.Generator().manual_seed(2)
    graphs = []
    for i, n in enumerate([12, 5, 20, 1]):
        edge_index = to_undirected(torch.randint(0, n, (2, 2 * n), generator=gen), num_nodes=n)
        graphs.append(
            Data(
                x=torch.randn(n, 4, generator=gen),
                edge_index=edge_index,
                y=torch.tensor([i % 2]),
                num_nodes=n,
            )
        )
    config = ModelConfig(in_channels=4, num_classes=2, max_nodes=20, variant="det", hidden=8, mlp_hidden=8)
    model = build_model(config)
    with pytest.raises(ValueError, match="attach_det_clusters"):
        model(Batch.from_data_list(graphs))
    batch = Batch.from_data_list(attach_det_clusters(graphs, config))
    out = model(batch)
    assert out.logits.shape == (4, 2)
    for level in out.assignments:  # hard: every row one-hot
        rows = level.reshape(-1, level.size(-1))
        used = rows.sum(-1) > 0
        assert torch.equal(rows[used].max(-1).values, torch.ones(int(used.sum())))
    torch.testing.assert_close(torch.stack(out.entropies), torch.zeros(2, 4))
    classification_loss(out, batch.y, link_weight=0.0)["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
