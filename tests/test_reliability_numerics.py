"""Numerically hard inputs for the pooling math and the model: finite outputs, finite gradients.

Cases: one-hot assignments (entropy at log 0, logits up to ±1e30), A = 0 (edgeless graphs), A = SSᵀ
exactly (the link loss's square root at 0), one-node graphs, a 10⁴-node graph with K = 1, identical
nodes (all features equal, including all zero), and feature scales from 1e-30 to 1e6; for
``sparse_diff_pool``, ``dense_diff_pool`` and ``DiffPoolNet`` with fixed and per-graph clusters.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from diffpool.functional import dense_diff_pool, sparse_diff_pool
from diffpool.models import DiffPoolNet, ModelConfig, classification_loss

torch.set_num_threads(1)


def assert_finite(name: str, t) -> None:
    assert t is not None, f"{name}: no gradient"
    assert bool(torch.isfinite(t).all()), (
        f"{name} has {int((~torch.isfinite(t)).sum())} non-finite value(s): {t}"
    )


def check_pool_output(out, *leaves) -> None:
    """Every output finite, and the gradient of a loss using all of them finite for every input."""
    for name in ("x", "adj", "link_loss", "entropy"):
        assert_finite(name, getattr(out, name))
    loss = out.x.sum() + out.adj.sum() + out.link_loss.sum() + out.entropy.sum()
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    for i, g in enumerate(grads):
        assert_finite(f"gradient {i}", g)


def path_edges(n: int, offset: int = 0) -> torch.Tensor:
    src = torch.arange(offset, offset + n - 1)
    return torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)


# --------------------------------------------------------------------------- the functional layer
@pytest.mark.parametrize("per_graph", [False, True])
@pytest.mark.parametrize("scale", [1e4, 1e30])
def test_one_hot_assignment_has_zero_entropy_and_finite_gradients(per_graph, scale):
    torch.manual_seed(0)
    sizes = [5, 3, 4]
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    edge_index = torch.cat([path_edges(5), path_edges(3, 5), path_edges(4, 8)], dim=1)
    n, k = sum(sizes), 4
    target = torch.tensor([0, 0, 1, 1, 2, 0, 0, 0, 1, 1, 0, 0])
    logits = ((torch.nn.functional.one_hot(target, k) * 2 - 1) * scale).float().requires_grad_()
    x = torch.randn(n, 6, requires_grad=True)
    clusters = torch.tensor([3, 1, 2]) if per_graph else None
    out = sparse_diff_pool(x, edge_index, logits, batch, num_clusters=clusters)
    assert torch.allclose(out.entropy, torch.zeros(3), atol=1e-6)
    check_pool_output(out, x, logits)

    dense_x = torch.zeros(3, 5, 6)
    dense_s = torch.full((3, 5, k), -scale)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    start = 0
    for g, size in enumerate(sizes):
        dense_x[g, :size] = x.detach()[start : start + size]
        dense_s[g, :size] = logits.detach()[start : start + size]
        mask[g, :size] = True
        start += size
    dense_x.requires_grad_()
    dense_s.requires_grad_()
    adj = torch.zeros(3, 5, 5)
    out = dense_diff_pool(dense_x, adj, dense_s, mask, num_clusters=clusters)
    assert torch.allclose(out.entropy, torch.zeros(3), atol=1e-6)
    check_pool_output(out, dense_x, dense_s)


@pytest.mark.parametrize("per_graph", [False, True])
def test_edgeless_graphs_give_zero_pooled_adjacency_and_finite_gradients(per_graph):
    torch.manual_seed(1)
    sizes = [4, 1, 6]
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    x = torch.randn(11, 5, requires_grad=True)
    s = torch.randn(11, 3, requires_grad=True)
    edge_index = torch.empty(2, 0, dtype=torch.long)
    clusters = torch.tensor([1, 1, 2]) if per_graph else None
    out = sparse_diff_pool(x, edge_index, s, batch, num_clusters=clusters)
    assert torch.equal(out.adj, torch.zeros_like(out.adj))
    check_pool_output(out, x, s)
    adj = torch.zeros(3, 6, 6, requires_grad=True)
    dense_x = torch.randn(3, 6, 5, requires_grad=True)
    dense_s = torch.randn(3, 6, 3, requires_grad=True)
    mask = torch.arange(6) < torch.tensor(sizes).unsqueeze(-1)
    out = dense_diff_pool(dense_x, adj, dense_s, mask, num_clusters=clusters)
    assert torch.equal(out.adj, torch.zeros_like(out.adj))
    check_pool_output(out, dense_x, adj, dense_s)


def test_link_loss_at_exactly_zero_has_a_finite_gradient():
    """A = SSᵀ exactly (one node with a self-loop, K = 1): ‖A − SSᵀ‖ = 0, where √ has no derivative."""
    x = torch.randn(1, 4, requires_grad=True)
    s = torch.zeros(1, 1, requires_grad=True)
    edge_index = torch.tensor([[0], [0]])
    out = sparse_diff_pool(x, edge_index, s, torch.zeros(1, dtype=torch.long))
    assert float(out.link_loss) == 0.0
    check_pool_output(out, x, s)
    out = dense_diff_pool(x.unsqueeze(0), torch.ones(1, 1, 1, requires_grad=True), s.unsqueeze(0))
    assert float(out.link_loss) == 0.0
    check_pool_output(out, x, s)
    # and a whole graph: two nodes, all four entries of A set, both in the one cluster
    edge_index = torch.tensor([[0, 0, 1, 1], [0, 1, 0, 1]])
    s2 = torch.zeros(2, 1, requires_grad=True)
    out = sparse_diff_pool(torch.randn(2, 3), edge_index, s2, torch.zeros(2, dtype=torch.long))
    assert abs(float(out.link_loss)) < 1e-6
    check_pool_output(out, s2)


def test_one_node_graphs():
    torch.manual_seed(2)
    batch = torch.arange(4)
    x = torch.randn(4, 3, requires_grad=True)
    s = torch.randn(4, 2, requires_grad=True)
    edge_index = torch.empty(2, 0, dtype=torch.long)
    for clusters in (None, torch.ones(4, dtype=torch.long)):
        out = sparse_diff_pool(x, edge_index, s, batch, num_clusters=clusters)
        check_pool_output(out, x, s)
        out = dense_diff_pool(x.unsqueeze(1), torch.zeros(4, 1, 1), s.unsqueeze(1), num_clusters=clusters)
        check_pool_output(out, x, s)


def test_a_graph_without_real_nodes_in_a_padded_batch():
    x = torch.randn(2, 3, 4, requires_grad=True)
    s = torch.randn(2, 3, 2, requires_grad=True)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    out = dense_diff_pool(x, torch.ones(2, 3, 3), s, mask)
    assert float(out.entropy[1]) == 0.0 and float(out.link_loss[1]) == 0.0
    check_pool_output(out, x, s)


def test_ten_thousand_nodes_one_cluster():
    torch.manual_seed(3)
    n = 10_000
    x = torch.randn(n, 8, requires_grad=True)
    s = torch.randn(n, 1, requires_grad=True)
    edge_index = path_edges(n)
    out = sparse_diff_pool(x, edge_index, s, torch.zeros(n, dtype=torch.long))
    check_pool_output(out, x, s)
    # S = 1: A' = Σ A = 2(n − 1), L_LP² = n² − 2·(2(n − 1)) + 2(n − 1) = n² − 2(n − 1), H = 0
    assert float(out.adj) == pytest.approx(2 * (n - 1))
    assert float(out.link_loss) == pytest.approx(math.sqrt(n * n - 2 * (n - 1)), rel=1e-6)
    assert float(out.entropy) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("scale", [1e-30, 1e-6, 1.0, 1e6, 1e15])
def test_feature_scales_keep_the_layer_finite(scale):
    torch.manual_seed(4)
    sizes = [6, 2]
    batch = torch.repeat_interleave(torch.arange(2), torch.tensor(sizes))
    x = (torch.randn(8, 4) * scale).requires_grad_()
    s = torch.randn(8, 3, requires_grad=True)
    edge_index = torch.cat([path_edges(6), path_edges(2, 6)], dim=1)
    out = sparse_diff_pool(x, edge_index, s, batch)
    check_pool_output(out, x, s)


def test_identical_nodes():
    x = torch.ones(6, 4, requires_grad=True)
    s = torch.zeros(6, 3, requires_grad=True)  # uniform assignment: maximal entropy log 3
    edge_index = path_edges(6)
    out = sparse_diff_pool(x, edge_index, s, torch.zeros(6, dtype=torch.long))
    assert float(out.entropy) == pytest.approx(math.log(3), rel=1e-6)
    check_pool_output(out, x, s)


# --------------------------------------------------------------------------- the model
def model(
    per_graph: bool, max_nodes: int, *, ratio: float = 0.25, levels: int = 2, seed: int = 0
) -> DiffPoolNet:
    torch.manual_seed(seed)
    return DiffPoolNet(
        ModelConfig(
            in_channels=4,
            num_classes=2,
            max_nodes=max_nodes,
            hidden=8,
            mlp_hidden=8,
            levels=levels,
            ratio=ratio,
            per_graph_clusters=per_graph,
        )
    )


def graph(n: int, x: torch.Tensor, edges: bool = True, label: int = 0) -> Data:
    edge_index = path_edges(n) if edges and n > 1 else torch.empty(2, 0, dtype=torch.long)
    return Data(x=x, edge_index=edge_index, y=torch.tensor([label]), num_nodes=n)


def check_model(net: DiffPoolNet, graphs: list[Data], *, train: bool = True) -> None:
    net.train(train)
    batch = Batch.from_data_list(graphs)
    batch.x.requires_grad_()
    output = net(batch)
    assert_finite("logits", output.logits)
    for level, (link, entropy) in enumerate(zip(output.link_losses, output.entropies)):
        assert_finite(f"link loss {level}", link)
        assert_finite(f"entropy {level}", entropy)
    losses = classification_loss(output, batch.y, link_normalization="nodes")
    assert_finite("loss", losses["loss"])
    net.zero_grad()
    losses["loss"].backward()
    assert_finite("input gradient", batch.x.grad)
    for name, p in net.named_parameters():
        if p.grad is not None:
            assert_finite(name, p.grad)


@pytest.mark.parametrize("per_graph", [False, True])
def test_model_on_edgeless_graphs(per_graph):
    torch.manual_seed(5)
    graphs = [graph(n, torch.randn(n, 4), edges=False, label=i % 2) for i, n in enumerate([5, 3, 8, 2])]
    check_model(model(per_graph, 8), graphs)
    check_model(model(per_graph, 8), graphs, train=False)


@pytest.mark.parametrize("per_graph", [False, True])
def test_model_on_one_node_graphs(per_graph):
    torch.manual_seed(6)
    graphs = [graph(1, torch.randn(1, 4), label=i % 2) for i in range(4)]
    check_model(model(per_graph, 1), graphs)
    check_model(model(per_graph, 1), graphs, train=False)
    # one-node graphs mixed with larger ones
    mixed = graphs[:2] + [graph(7, torch.randn(7, 4), label=1)]
    check_model(model(per_graph, 7), mixed)


@pytest.mark.parametrize("per_graph", [False, True])
def test_model_on_identical_nodes(per_graph):
    for value in (0.0, 1.0):  # all features equal; all zero (L2 norm of a zero vector)
        graphs = [graph(n, torch.full((n, 4), value), label=i % 2) for i, n in enumerate([6, 4, 6])]
        check_model(model(per_graph, 6), graphs)
        check_model(model(per_graph, 6), graphs, train=False)


@pytest.mark.parametrize("per_graph", [False, True])
@pytest.mark.parametrize("scale", [1e-30, 1e-6, 1e6, 1e15])
def test_model_on_huge_and_tiny_feature_scales(per_graph, scale):
    torch.manual_seed(7)
    graphs = [graph(n, torch.randn(n, 4) * scale, label=i % 2) for i, n in enumerate([6, 3, 9])]
    check_model(model(per_graph, 9), graphs)
    check_model(model(per_graph, 9), graphs, train=False)


@pytest.mark.parametrize("per_graph", [False, True])
def test_model_on_a_ten_thousand_node_graph_with_one_cluster(per_graph):
    torch.manual_seed(8)
    n = 10_000
    net = model(per_graph, n, ratio=1e-4, levels=1)
    assert net.cluster_counts == [1]
    graphs = [graph(n, torch.randn(n, 4), label=0), graph(40, torch.randn(40, 4), label=1)]
    check_model(net, graphs)


def test_logits_beyond_the_float_range_of_their_difference():
    """Regression: logits ±3e38 (finite) made log_softmax -inf, so the entropy 0·(-inf) and its
    gradient were NaN. Fixed by clamping log S where S is exactly 0 (functional._entropy_per_node)."""
    target = torch.tensor([0, 1, 0, 2])
    s = ((torch.nn.functional.one_hot(target, 3) * 2 - 1) * 3e38).float().requires_grad_()
    x = torch.randn(4, 2, requires_grad=True)
    batch = torch.zeros(4, dtype=torch.long)
    for clusters in (None, torch.tensor([3])):
        out = sparse_diff_pool(x, path_edges(4), s, batch, num_clusters=clusters)
        assert float(out.entropy) == 0.0
        check_pool_output(out, x, s)
        out = dense_diff_pool(x.unsqueeze(0), torch.zeros(1, 4, 4), s.unsqueeze(0), num_clusters=clusters)
        assert float(out.entropy) == 0.0
        check_pool_output(out, x, s)


@pytest.mark.parametrize("sizes", [[3], [1], [2, 1]])
def test_training_on_a_batch_whose_top_level_has_one_cluster(sizes):
    """Regression: with per-graph cluster counts, a batch of one small graph (e.g. an epoch's last
    graph) has a single cluster at its top level, and batch norm in training refused one row
    ("Expected more than 1 value per channel"), stopping a PROTEINS cross-validation at fold 4."""
    torch.manual_seed(9)
    net = model(True, 40)
    before = [b.clone() for name, b in net.named_buffers() if name.endswith("running_mean")]
    check_model(net, [graph(n, torch.randn(n, 4), label=i % 2) for i, n in enumerate(sizes)])
    after = [b for name, b in net.named_buffers() if name.endswith("running_mean")]
    if sum(sizes) > 1:  # levels with several rows still update the running statistics
        assert any(not torch.equal(a, b) for a, b in zip(before, after))
