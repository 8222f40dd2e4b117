"""The modules and the hierarchical classifier: invariances, masking, shapes, losses, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_dense_adj, to_dense_batch, to_undirected

from diffpool.models import ModelConfig, build_model, classification_loss
from diffpool.nn import DenseDiffPool, DiffPool, GNNBlock
from diffpool.nn.blocks import _l2_normalize as l2_normalize


def random_graph(n: int, feature_dim: int, gen: torch.Generator, label: int = 0) -> Data:
    m = max(1, 2 * n)
    edge_index = torch.randint(0, n, (2, m), generator=gen)
    edge_index = to_undirected(edge_index[:, edge_index[0] != edge_index[1]], num_nodes=n)
    return Data(
        x=torch.randn(n, feature_dim, generator=gen),
        edge_index=edge_index,
        y=torch.tensor([label]),
        num_nodes=n,
    )


def random_graphs(sizes, feature_dim=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [random_graph(n, feature_dim, gen, label=i % 3) for i, n in enumerate(sizes)]


def permute_nodes(data: Data, gen: torch.Generator) -> Data:
    perm = torch.randperm(data.num_nodes, generator=gen)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(data.num_nodes)
    return Data(x=data.x[perm], edge_index=inverse[data.edge_index], y=data.y, num_nodes=data.num_nodes)


SIZES = [9, 1, 14, 5, 20, 3]


def make_model(
    per_graph=False, variant="diffpool", conv="sage", readout="max", levels=2, seed=0, attributes=0
):
    torch.manual_seed(seed)
    config = ModelConfig(
        in_channels=6,
        num_classes=3,
        max_nodes=max(SIZES),
        hidden=16,
        levels=levels,
        per_graph_clusters=per_graph,
        variant=variant,
        conv=conv,
        readout=readout,
        mlp_hidden=16,
        normalized_attributes=attributes,
    )
    return build_model(config)


def train_briefly(model, graphs, steps=3):
    """A few optimiser steps so batch-norm running statistics are not trivial."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = Batch.from_data_list(graphs)
    model.train()
    for _ in range(steps):
        loss = classification_loss(model(batch), batch.y)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.mark.parametrize("per_graph", [False, True])
@pytest.mark.parametrize("conv", ["sage", "gcn", "gin"])
def test_logits_invariant_to_node_permutation(per_graph, conv, device):
    graphs = random_graphs(SIZES)
    model = make_model(per_graph=per_graph, conv=conv)
    train_briefly(model, graphs)
    model.to(device)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        base = model(Batch.from_data_list(graphs).to(device)).logits
        permuted = model(Batch.from_data_list([permute_nodes(g, gen) for g in graphs]).to(device)).logits
    torch.testing.assert_close(base, permuted, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("variant", ["diffpool", "graphsage", "baseline"])
def test_logits_invariant_to_graph_order_in_batch(variant):
    graphs = random_graphs(SIZES)
    model = make_model(variant=variant, per_graph=True)
    train_briefly(model, graphs)
    order = [3, 0, 5, 1, 4, 2]
    with torch.no_grad():
        base = model(Batch.from_data_list(graphs)).logits
        shuffled = model(Batch.from_data_list([graphs[i] for i in order])).logits
    torch.testing.assert_close(base[order], shuffled, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("attributes", [0, 2])
def test_eval_logits_of_a_graph_do_not_depend_on_its_batch_mates(attributes):
    graphs = random_graphs(SIZES)
    model = make_model(per_graph=True, attributes=attributes)
    train_briefly(model, graphs)
    with torch.no_grad():
        together = model(Batch.from_data_list(graphs)).logits
        alone = torch.cat([model(Batch.from_data_list([g])).logits for g in graphs])
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)


def rescaled(graphs, column, scale, shift):
    out = []
    for g in graphs:
        x = g.x.clone()
        x[:, column] = x[:, column] * scale + shift
        out.append(Data(x=x, edge_index=g.edge_index, y=g.y, num_nodes=g.num_nodes))
    return out


@pytest.mark.parametrize("variant", ["diffpool", "graphsage", "baseline"])
def test_input_norm_makes_training_blind_to_the_scale_of_an_attribute(variant):
    graphs = random_graphs(SIZES)
    # PROTEINS-like: one attribute on a scale hundreds of times the others.
    wide = rescaled(graphs, column=0, scale=400.0, shift=30.0)
    outputs = {}
    for attributes in (0, 2):
        model = make_model(variant=variant, attributes=attributes)
        model.train()  # batch statistics: the scale of a column is divided out
        with torch.no_grad():
            outputs[attributes] = [model(Batch.from_data_list(gs)).logits for gs in (graphs, wide)]
    torch.testing.assert_close(*outputs[2], atol=1e-4, rtol=1e-3)
    assert not torch.allclose(*outputs[0], atol=1e-2)


def test_input_norm_normalises_the_attribute_columns_only_with_training_statistics():
    from diffpool.nn import AttributeNorm

    assert list(make_model().input_norm.parameters()) == []  # off by default: nothing to learn or save
    norm = AttributeNorm(2)
    gen = torch.Generator().manual_seed(0)
    attributes = torch.randn(500, 2, generator=gen) * torch.tensor([400.0, 3.0]) + torch.tensor([30.0, -2.0])
    one_hot = torch.zeros(500, 3)
    one_hot[:, 0] = 1  # labels 1 and 2 never occur in training
    x = torch.cat([attributes, one_hot], dim=1)
    for _ in range(100):
        out = norm(x)
    torch.testing.assert_close(out[:, 2:], one_hot)
    torch.testing.assert_close(out[:, :2].mean(0), torch.zeros(2), atol=1e-4, rtol=0)
    torch.testing.assert_close(out[:, :2].std(0), torch.ones(2), atol=1e-2, rtol=0)
    norm.eval()
    unseen = torch.cat([attributes.mean(0), torch.tensor([0.0, 0.0, 1.0])]).unsqueeze(0)
    # Evaluation uses the running estimates (100 steps of momentum 0.1: the training mean and spread),
    # and a label never seen in training stays 1 (standardised, it would be ~1/√eps ≈ 316).
    torch.testing.assert_close(norm(unseen), torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0]]), atol=0.02, rtol=0)


def test_normalized_attributes_must_fit_the_features():
    with pytest.raises(ValueError, match="normalized_attributes must lie in 0..in_channels .6., got 7"):
        ModelConfig(in_channels=6, num_classes=3, max_nodes=9, normalized_attributes=7)


def test_output_shapes_and_assignments():
    graphs = random_graphs(SIZES)
    model = make_model()
    out = model(Batch.from_data_list(graphs))
    k1, k2 = model.cluster_counts
    assert (k1, k2) == (5, 2)  # ceil(0.25·20), ceil(0.25·5)
    assert out.logits.shape == (len(SIZES), 3)
    assert out.assignments[0].shape == (sum(SIZES), k1)
    assert out.assignments[1].shape == (len(SIZES), k1, k2)
    torch.testing.assert_close(out.assignments[0].sum(-1), torch.ones(sum(SIZES)))
    torch.testing.assert_close(out.assignments[1].sum(-1), torch.ones(len(SIZES), k1))
    assert [t.shape for t in out.link_losses] == [(len(SIZES),)] * 2
    assert torch.equal(out.node_counts[0], torch.tensor(SIZES))


def test_per_graph_clusters_use_ceil_of_ratio_times_size():
    graphs = random_graphs(SIZES)
    model = make_model(per_graph=True)
    out = model(Batch.from_data_list(graphs))
    expected_k1 = torch.tensor([3, 1, 4, 2, 5, 1])  # ceil(0.25·n)
    used = out.assignments[0] > 0
    batch = Batch.from_data_list(graphs).batch
    for g, k in enumerate(expected_k1.tolist()):
        assert used[batch == g].any(0).sum() == k
        assert not used[batch == g][:, k:].any()
    assert torch.equal(out.node_counts[1], expected_k1)
    assert torch.equal((out.assignments[1].sum(1) > 0).sum(-1), torch.tensor([1, 1, 1, 1, 2, 1]))


def test_min_clusters_floors_each_graphs_clusters_at_every_level_but_never_exceeds_k():
    config = ModelConfig(
        in_channels=6, num_classes=3, max_nodes=max(SIZES), levels=2, per_graph_clusters=True, min_clusters=3
    )  # K = [5, 2]
    sizes = torch.tensor(SIZES)
    assert torch.equal(config.clusters_per_graph(0, sizes), torch.tensor([3, 3, 4, 3, 5, 3]))
    assert torch.equal(config.clusters_per_graph(1, torch.tensor([3, 5])), torch.tensor([2, 2]))
    torch.manual_seed(0)
    model = build_model(config)
    graphs = random_graphs(SIZES)
    batch = Batch.from_data_list(graphs)
    out = model(batch)
    used = out.assignments[0] > 0
    for g, k in enumerate([3, 3, 4, 3, 5, 3]):
        rows = used[batch.batch == g]
        assert rows[:, :k].all() and not rows[:, k:].any()
    assert torch.equal(out.node_counts[1], torch.tensor([3, 3, 4, 3, 5, 3]))
    with pytest.raises(ValueError, match="min_clusters"):
        ModelConfig(in_channels=6, num_classes=3, max_nodes=9, per_graph_clusters=True, min_clusters=0)


def test_dense_batch_norm_ignores_padding():
    """In training mode, padding a batch further must not change the real nodes' outputs."""
    torch.manual_seed(0)
    block = GNNBlock(4, 8, dense=True)
    x = torch.randn(3, 6, 4)
    mask = torch.tensor([[1] * 6, [1] * 2 + [0] * 4, [1] * 4 + [0] * 2], dtype=torch.bool)
    adj = (torch.rand(3, 6, 6) > 0.5).float()
    adj = adj * (mask.unsqueeze(-1) & mask.unsqueeze(1))
    out = block(x, adj, mask)
    extra = 5
    wide = block(
        torch.nn.functional.pad(x, (0, 0, 0, extra), value=3.0),
        torch.nn.functional.pad(adj, (0, extra, 0, extra)),
        torch.nn.functional.pad(mask, (0, extra)),
    )
    torch.testing.assert_close(out, wide[:, :6], atol=1e-5, rtol=1e-5)
    assert wide[:, 6:].abs().max() == 0
    assert out[~mask].abs().max() == 0


def test_sparse_layer_equals_dense_layer_with_same_weights():
    """The sparse first level computes exactly what the padded dense form computes (train mode)."""
    torch.manual_seed(0)
    graphs = random_graphs(SIZES)
    batch = Batch.from_data_list(graphs)
    sparse = DiffPool(6, 8, max_clusters=4)
    dense = DenseDiffPool(6, 8, max_clusters=4)
    state = {}
    # SAGEConv: lin_l (neighbours, with bias) + lin_r (root); DenseSAGEConv: lin_rel + lin_root (with bias).
    renames = {
        "lin_l.weight": "lin_rel.weight",
        "lin_l.bias": "lin_root.bias",
        "lin_r.weight": "lin_root.weight",
    }
    for name, value in sparse.state_dict().items():
        for old, new in renames.items():
            name = name.replace(old, new)
        state[name] = value
    dense.load_state_dict(state)
    num_clusters = torch.tensor([3, 1, 4, 2, 4, 1])
    a = sparse(batch.x, batch.edge_index, batch.batch, num_clusters)
    x, mask = to_dense_batch(batch.x, batch.batch)
    b = dense(x, to_dense_adj(batch.edge_index, batch.batch), mask, num_clusters)
    for left, right in [
        (a.pooled.x, b.pooled.x),
        (a.pooled.adj, b.pooled.adj),
        (a.link_loss, b.link_loss),
        (a.entropy, b.entropy),
    ]:
        torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)
    assert torch.equal(a.pooled.mask, b.pooled.mask)
    torch.testing.assert_close(a.assignment, b.assignment[mask], atol=1e-5, rtol=1e-5)


def test_loss_helper_weights_and_nolp():
    graphs = random_graphs(SIZES)
    model = make_model()
    batch = Batch.from_data_list(graphs)
    out = model(batch)
    full = classification_loss(out, batch.y, link_weight=1.0, entropy_weight=1.0)
    nolp = classification_loss(out, batch.y, link_weight=0.0, entropy_weight=1.0)
    ce_only = classification_loss(out, batch.y, link_weight=0.0, entropy_weight=0.0)
    torch.testing.assert_close(ce_only["loss"], torch.nn.functional.cross_entropy(out.logits, batch.y))
    torch.testing.assert_close(full["loss"] - nolp["loss"], full["link"])
    torch.testing.assert_close(nolp["loss"] - ce_only["loss"], full["entropy"])
    expected_link = sum(level.mean() for level in out.link_losses)
    torch.testing.assert_close(full["link"], expected_link)
    per_node = classification_loss(out, batch.y, link_normalization="nodes")
    expected = sum((level / n).mean() for level, n in zip(out.link_losses, out.node_counts))
    torch.testing.assert_close(per_node["link"], expected)
    with pytest.raises(ValueError, match="link_normalization"):
        classification_loss(out, batch.y, link_normalization="edges")


@pytest.mark.parametrize("per_graph", [False, True])
def test_gradients_reach_every_parameter(per_graph, device):
    """A training step on the device: every parameter gets a finite gradient."""
    graphs = random_graphs(SIZES)
    model = make_model(per_graph=per_graph).to(device)
    batch = Batch.from_data_list(graphs).to(device)
    classification_loss(model(batch), batch.y)["loss"].backward()
    missing = [
        name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert not missing, missing


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(ratio=0.0), "ratio"),
        (dict(ratio=1.5), "ratio"),
        (dict(conv="gat"), "conv"),
        (dict(readout="median"), "readout"),
        (dict(variant="fancy"), "variant"),
        (dict(hidden=0), "hidden"),
        (dict(levels=0), "levels"),
    ],
)
def test_invalid_config_is_rejected(changes, message):
    base = dict(in_channels=3, num_classes=2, max_nodes=10)
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**base, **changes})


def test_module_rejects_zero_clusters():
    with pytest.raises(ValueError, match="at least one cluster"):
        DiffPool(3, 8, max_clusters=0)


def test_per_graph_clusters_compute_only_the_clusters_the_batch_uses():
    model = make_model(per_graph=True)  # K1 = 5 for the largest graph (20 nodes)
    small = random_graphs([9, 1, 5, 3])  # ceil(0.25·9) = 3 is the most any of these needs
    out = model(Batch.from_data_list(small))
    assert out.assignments[0].shape == (18, 3)
    assert out.assignments[1].shape == (4, 3, 1)
    with pytest.raises(ValueError, match="max_clusters=5"):
        model.pools[0](small[0].x, small[0].edge_index, torch.zeros(9, dtype=torch.long), torch.tensor([6]))


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("conv", ["sage", "gcn"])
def test_levels_run_as_parts_of_similar_size_give_the_padded_result(monkeypatch, train, conv):
    """Per-graph clusters with graphs of very different sizes: levels ≥ 2 split into parts, each padded
    only to its own largest graph; outputs and gradients equal one batch padded to the largest."""
    from diffpool.functional import Partition
    from diffpool.functional import _partition as functional

    sizes = [150, 3, 40, 9, 90, 1, 20, 60]
    graphs = random_graphs(sizes, seed=4)
    for g in graphs:  # float64: only the order of sums differs, so the results must agree tightly
        g.x = g.x.double()
    batch = Batch.from_data_list(graphs)
    torch.manual_seed(3)
    # Mean readout: with max, rows tied at the maximum (e.g. all 0 after ReLU) may route the
    # (sub)gradient to a different row in a differently shaped tensor.
    config = ModelConfig(
        in_channels=6,
        num_classes=3,
        max_nodes=max(sizes),
        hidden=8,
        levels=3,
        ratio=0.5,
        per_graph_clusters=True,
        conv=conv,
        mlp_hidden=8,
        readout="mean",
    )
    model = build_model(config).double()
    if not train:
        train_briefly(model, graphs)

    def run(parts: bool):
        monkeypatch.setattr(functional, "MIN_PADDED_CELLS", 0 if parts else float("inf"))
        # The padded run's level 1 takes the one batched product over the padded batch, which shares
        # no code with the parts' products (products_in_parts): an independent oracle.
        monkeypatch.setattr(functional, "PAD_ROWS_FACTOR", 2.0 if parts else math.inf)
        monkeypatch.setattr(functional, "PAD_MAX_ELEMENTS", 1 << 22 if parts else math.inf)
        model.zero_grad()
        model.train(train)
        out = model(batch)
        classification_loss(out, batch.y)["loss"].backward()
        return out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    monkeypatch.setattr(functional, "MIN_PADDED_CELLS", 0)
    level_sizes = torch.tensor([-(-n // 2) for n in sizes])  # ceil(0.5 · n): the clusters after level 1
    assert len(Partition.by_size(level_sizes, len(sizes))) >= 3
    padded, padded_grads = run(parts=False)
    split, split_grads = run(parts=True)
    tight = dict(atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(split.logits, padded.logits, **tight)
    for a, b in zip(
        split.link_losses + split.entropies + split.node_counts,
        padded.link_losses + padded.entropies + padded.node_counts,
    ):
        torch.testing.assert_close(a, b, **tight)
    for a, b in zip(split.assignments[1:], padded.assignments[1:]):
        rows, cols = min(a.size(1), b.size(1)), min(a.size(2), b.size(2))
        torch.testing.assert_close(a[:, :rows, :cols], b[:, :rows, :cols], **tight)
        assert a[:, rows:].abs().sum() == 0 and b[:, :, cols:].abs().sum() == 0
    assert split_grads.keys() == padded_grads.keys()
    for name in padded_grads:
        torch.testing.assert_close(split_grads[name], padded_grads[name], **tight)


@pytest.mark.parametrize("in_channels, out_channels", [(12, 5), (5, 5), (3, 8)])
def test_dense_sage_layer_equals_pygs_with_the_same_weights(in_channels, out_channels):
    from torch_geometric.nn import DenseSAGEConv

    from diffpool.nn.blocks import _mean_adjacency as mean_adjacency
    from diffpool.nn.blocks import _RealRows, make_conv

    torch.manual_seed(0)
    ours = make_conv("sage", in_channels, out_channels, dense=True)
    pyg = DenseSAGEConv(in_channels, out_channels)
    pyg.load_state_dict(ours.state_dict())
    x = torch.randn(3, 7, in_channels, requires_grad=True)
    adj = torch.rand(3, 7, 7).round() * torch.rand(3, 7, 7)  # weighted, some rows empty
    adj[1, 4] = 0
    adj.requires_grad_(True)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[2, 5:] = False
    with torch.no_grad():  # padding is never linked to a real node (as to_dense_adj and the pooling make it)
        adj.mul_(mask.unsqueeze(-1) & mask.unsqueeze(1))
    expected = pyg(x, adj, mask)
    layout = _RealRows(x, mask)
    on_rows = layout.padded(ours.forward_rows(layout.rows(x), mean_adjacency(adj), layout))
    for got in (ours(x, adj, mask), on_rows):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        weights = torch.randn_like(expected)
        grad_x, grad_adj = torch.autograd.grad((got * weights).sum(), (x, adj))
        want_x, want_adj = torch.autograd.grad((expected * weights).sum(), (x, adj), retain_graph=True)
        torch.testing.assert_close(grad_x, want_x, atol=1e-5, rtol=1e-4)
        # Entries linking padding (0 here) have a gradient in PyG, which reads padded features, not in ours.
        real_pairs = mask.unsqueeze(-1) & mask.unsqueeze(1)
        torch.testing.assert_close(grad_adj[real_pairs], want_adj[real_pairs], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("conv", ["sage", "gcn", "gin"])
def test_dense_block_takes_one_unbatched_graph(conv):
    torch.manual_seed(0)
    block = GNNBlock(4, 8, conv=conv, dense=True).eval()
    x, adj = torch.randn(5, 4), (torch.rand(5, 5) > 0.5).float()
    out = block(x, adj)
    assert out.shape == (5, block.out_channels)
    torch.testing.assert_close(out, block(x.unsqueeze(0), adj.unsqueeze(0))[0])


def test_l2_normalize_equals_torch_normalize_with_its_gradient():
    torch.manual_seed(0)
    x = torch.randn(30, 7, dtype=torch.float64)
    x[3] = 0  # a zero row: divided by the floor, as F.normalize does
    x[5] *= 1e-14  # a row below the floor
    x[7] = 0
    x[7, 0] = 1e-12  # a row at the floor: clamp_min lets its gradient through
    x.requires_grad_(True)
    upstream = torch.randn(30, 7, dtype=torch.float64)
    ours = l2_normalize(x)
    theirs = torch.nn.functional.normalize(x, p=2.0, dim=-1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    (grad_ours,) = torch.autograd.grad((ours * upstream).sum(), x)
    (grad_theirs,) = torch.autograd.grad((theirs * upstream).sum(), x)
    torch.testing.assert_close(grad_ours, grad_theirs)
    assert torch.autograd.gradcheck(
        l2_normalize, (torch.randn(5, 2, 4, dtype=torch.float64, requires_grad=True),)
    )


@pytest.mark.parametrize("conv", ["sage", "gcn", "gin"])
@pytest.mark.parametrize("per_graph", [False, True])
def test_every_convolution_trains_under_bf16_autocast(conv, per_graph, device):
    # GCN's sparse layers return Z in float32 while the assignment head gives bf16 logits: the
    # first level's pooling used to fail on the mixed dtypes.
    model = make_model(per_graph=per_graph, conv=conv).to(device)
    batch = Batch.from_data_list(random_graphs(SIZES)).to(device)
    exact = classification_loss(model(batch), batch.y)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        mixed = classification_loss(model(batch), batch.y)
    mixed["loss"].backward()
    for term in ("ce", "link", "entropy"):  # each term, not only their sum of ~11
        torch.testing.assert_close(mixed[term].float(), exact[term].detach(), rtol=0, atol=0.05)
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad
    )
