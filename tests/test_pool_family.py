"""MinCutPool and DMoN: the sparse and dense math against PyG's dense layers graph by graph, their
undefined cases, no n×n tensor; the layers, the classifier with each pooling, and the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.nn import DMoNPooling
from torch_geometric.nn import dense_mincut_pool as pyg_dense_mincut_pool
from torch_geometric.utils import to_dense_adj, to_dense_batch

from diffpool.functional import (
    Partition,
    dense_dmon_pool,
    dense_mincut_pool,
    sparse_dmon_pool,
    sparse_mincut_pool,
)
from diffpool.functional.dmon_pool import sparse_dmon_parts
from diffpool.functional.mincut_pool import sparse_mincut_parts
from diffpool.models import POOL_LOSS_TERMS, ModelConfig, build_model, classification_loss
from diffpool.nn import DenseDMoNPool, DenseMinCutPool, DiffPool, DMoNPool, MinCutPool
from test_functional import SIZE_CASES, _LargestTensor, products, random_batch  # noqa: F401
from test_models import SIZES, permute_nodes, random_graphs, train_briefly

METHODS = ["mincut", "dmon"]
SPARSE = {"mincut": sparse_mincut_pool, "dmon": sparse_dmon_pool}
DENSE = {"mincut": dense_mincut_pool, "dmon": dense_dmon_pool}
SPARSE_PARTS = {"mincut": sparse_mincut_parts, "dmon": sparse_dmon_parts}
LOSSES = {"mincut": ("cut_loss", "ortho_loss"), "dmon": ("spectral_loss", "ortho_loss", "cluster_loss")}
TOL = {torch.float32: dict(atol=1e-5, rtol=1e-5), torch.float64: dict(atol=1e-10, rtol=1e-10)}


def _pyg_dmon(x, adj, s):
    """PyG's DMoNPooling with the given logits as its S: its MLP is made the identity on the logits,
    fed [s | x]; the pooled features are the x columns of its output."""
    k, f = s.size(-1), x.size(-1)
    layer = DMoNPooling(k + f, k).to(x.dtype)
    with torch.no_grad():
        linear = layer.mlp.lins[0]
        linear.weight.copy_(torch.cat([torch.eye(k), torch.zeros(k, f)], dim=1))
        linear.bias.zero_()
    _, out, out_adj, spectral, ortho, cluster = layer(torch.cat([s, x], dim=-1), adj)
    return out[..., k:], out_adj, [spectral, ortho, cluster]


def pyg_reference(method, x, edge_index, s, batch, edge_weight=None, num_clusters=None):
    """PyG's dense layer run on every graph alone (its losses are batch means: alone, one graph's),
    outputs padded to the batch's K. Where PyG's loss is NaN (no edges: 0/0) or its adjacency's
    gradient is (no edges, or a single cluster: √0 in the normalisation), the value we define is put
    in, as a constant: 0, with gradient 0."""
    batch_size, k_total = int(batch.max()) + 1, s.size(1)
    adj = to_dense_adj(edge_index, batch, edge_weight, batch_size=batch_size)
    xs, adjs, losses = [], [], []
    for g in range(batch_size):
        nodes = (batch == g).nonzero().flatten()
        n = nodes.numel()
        k = k_total if num_clusters is None else int(num_clusters[g])
        inputs = x[nodes][None], adj[g, :n, :n][None], s[nodes, :k][None]
        if method == "mincut":
            out, out_adj, cut, ortho = pyg_dense_mincut_pool(*inputs)
            terms = [cut, ortho]
        else:
            out, out_adj, terms = _pyg_dmon(*inputs)
        edgeless = not bool((adj[g] != 0).any())
        if edgeless or k == 1:
            assert out_adj.abs().max() == 0
            out_adj = torch.zeros_like(out_adj).detach()
        if edgeless:
            assert torch.isnan(terms[0]), "PyG's cut or spectral loss is 0/0 without edges"
            terms[0] = torch.zeros_like(terms[0]).detach()
        px = x.new_zeros(k_total, x.size(1))
        px[:k] = out[0]
        pa = x.new_zeros(k_total, k_total)
        pa[:k, :k] = out_adj[0]
        xs.append(px)
        adjs.append(pa)
        losses.append(torch.stack([t.reshape(()) for t in terms]))
    return torch.stack(xs), torch.stack(adjs), list(torch.stack(losses).unbind(1))


def ours(method, out):
    return out.x, out.adj, [getattr(out, name) for name in LOSSES[method]]


def objective(x, adj, losses, seed=1):
    """A random linear functional of every output, so gradients test all of them."""
    gen = torch.Generator().manual_seed(seed)
    total = 0
    for t in (x, adj, *losses):
        total = total + (t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum()
    return total


def assert_outputs_close(mine, reference, tol):
    (x, adj, losses), (ref_x, ref_adj, ref_losses) = mine, reference
    torch.testing.assert_close(x, ref_x, **tol)
    torch.testing.assert_close(adj, ref_adj, **tol)
    for loss, ref in zip(losses, ref_losses):
        torch.testing.assert_close(loss, ref, **tol)


def batch_for(case, weighted=True, dtype=torch.float32, seed=None):
    sizes = SIZE_CASES[case]
    return random_batch(sizes, weighted=weighted, seed=seed if seed is not None else len(case), dtype=dtype)


# ----------------------------------------------------------------------------- the math against PyG
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(SIZE_CASES))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.usefixtures("products")
def test_sparse_and_dense_forms_match_pyg_graph_by_graph(method, case, weighted, device):
    """Mixed sizes, one-node graphs, isolated nodes, self-loops, duplicate edges, edgeless graphs."""
    x, edge_index, s, batch, weight = batch_for(case, weighted)
    reference = pyg_reference(method, x, edge_index, s, batch, weight)
    on_device = [None if t is None else t.to(device) for t in (x, edge_index, s, batch, weight)]
    sparse = SPARSE[method](*on_device)
    assert_outputs_close([_cpu(t) for t in ours(method, sparse)], reference, TOL[x.dtype])
    xd, mask = to_dense_batch(x, batch)
    sd, _ = to_dense_batch(s, batch)
    adj = to_dense_adj(edge_index, batch, weight)
    dense = DENSE[method](*(t.to(device) for t in (xd, adj, sd, mask)))
    assert_outputs_close([_cpu(t) for t in ours(method, dense)], reference, TOL[x.dtype])
    assert dense.mask.all()


def _cpu(t):
    return [v.cpu() for v in t] if isinstance(t, list) else t.cpu()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(SIZE_CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_match_pyg(method, case, dtype):
    """Gradients of every output with respect to the features, the logits and the edge weights."""
    x, edge_index, s, batch, weight = batch_for(case, dtype=dtype)

    def gradients(fn):
        leaves = [t.detach().clone().requires_grad_(True) for t in (x, s, weight)]
        objective(*fn(*leaves)).backward()
        return [leaf.grad for leaf in leaves]

    def dense(x_, s_, w_):
        xd, mask = to_dense_batch(x_, batch)
        sd, _ = to_dense_batch(s_, batch)
        return ours(method, DENSE[method](xd, to_dense_adj(edge_index, batch, w_), sd, mask))

    reference = gradients(lambda x_, s_, w_: pyg_reference(method, x_, edge_index, s_, batch, w_))
    sparse = gradients(lambda x_, s_, w_: ours(method, SPARSE[method](x_, edge_index, s_, batch, w_)))
    for mine in (sparse, gradients(dense)):
        for a, b in zip(mine, reference):
            assert torch.isfinite(a).all()
            torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.usefixtures("products")
def test_per_graph_cluster_counts_match_pyg_on_each_graphs_own_clusters(method):
    x, edge_index, s, batch, weight = random_batch([7, 1, 12, 3, 5, 9], k=5, seed=8)
    num_clusters = torch.tensor([3, 1, 5, 2, 1, 4])
    reference = pyg_reference(method, x, edge_index, s, batch, weight, num_clusters)
    out = SPARSE[method](x, edge_index, s, batch, weight, num_clusters)
    assert_outputs_close(ours(method, out), reference, TOL[x.dtype])
    assert torch.equal(out.mask.sum(-1), num_clusters)
    xd, mask = to_dense_batch(x, batch)
    sd, _ = to_dense_batch(s, batch)
    dense = DENSE[method](xd, to_dense_adj(edge_index, batch, weight), sd, mask, num_clusters)
    assert_outputs_close(ours(method, dense), reference, TOL[x.dtype])

    def gradients(fn):
        leaves = [t.detach().clone().requires_grad_(True) for t in (x, s)]
        objective(*fn(*leaves)).backward()
        return [leaf.grad for leaf in leaves]

    mine = gradients(
        lambda x_, s_: ours(method, SPARSE[method](x_, edge_index, s_, batch, weight, num_clusters))
    )
    theirs = gradients(lambda x_, s_: pyg_reference(method, x_, edge_index, s_, batch, weight, num_clusters))
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b, **TOL[x.dtype])


@pytest.mark.parametrize("method", METHODS)
def test_coarsened_graphs_in_parts_equal_the_whole_batch(method):
    """The layers' private form that keeps the coarsened graphs in parts (per-graph cluster counts)."""
    x, edge_index, s, batch, weight = random_batch([7, 1, 12, 3, 5, 9], k=5, seed=2, dtype=torch.float64)
    num_clusters = torch.tensor([3, 1, 5, 2, 1, 4])
    parts = [[2, 5], [0, 3], [1, 4]]
    whole = SPARSE[method](x, edge_index, s, batch, weight, num_clusters)
    outputs, assignment = SPARSE_PARTS[method](
        x, edge_index, s, batch, weight, num_clusters, Partition(parts)
    )
    torch.testing.assert_close(assignment.sum(-1), torch.ones(len(batch), dtype=x.dtype))
    for part, out in zip(parts, outputs):
        k = int(num_clusters[part].max())
        assert out.x.shape[1] == k
        torch.testing.assert_close(out.x, whole.x[part, :k])
        torch.testing.assert_close(out.adj, whole.adj[part, :k, :k])
        assert torch.equal(out.mask, whole.mask[part, :k])
        for name in LOSSES[method]:
            torch.testing.assert_close(getattr(out, name), getattr(whole, name)[part])


def test_edgeless_graphs_have_zero_cut_and_spectral_loss_with_zero_gradient():
    """No edges: tr(SᵀDS) = 2m = 0, so the cut and modularity are 0/0; both losses are 0 there."""
    x = torch.randn(4, 3)
    s = torch.randn(4, 3, requires_grad=True)
    edge_index = torch.zeros(2, 0, dtype=torch.long)
    batch = torch.zeros(4, dtype=torch.long)
    for method in METHODS:
        out = SPARSE[method](x, edge_index, s, batch)
        first = getattr(out, LOSSES[method][0])
        assert first.tolist() == [0.0]
        (grad,) = torch.autograd.grad(first.sum() + out.adj.sum(), s)
        assert torch.equal(grad, torch.zeros_like(grad))
        assert out.adj.abs().max() == 0
        assert torch.isfinite(out.ortho_loss).all()


def test_losses_take_their_documented_values_on_clear_clusterings():
    """Two disjoint triangles, each assigned to its own cluster: a perfect cut (−1), orthogonal
    clusters (0), modularity 1/2 (spectral −1/2), equal sizes (cluster 0); all in one: √2 − 1."""
    triangle = [(0, 1), (1, 2), (2, 0)]
    edges = [(i + o, j + o) for o in (0, 3) for i, j in triangle]
    edge_index = torch.tensor(edges + [(j, i) for i, j in edges]).t()
    batch = torch.zeros(6, dtype=torch.long)
    x = torch.randn(6, 2, dtype=torch.float64)
    split = torch.tensor([[50.0, -50.0]] * 3 + [[-50.0, 50.0]] * 3, dtype=torch.float64)
    mincut = sparse_mincut_pool(x, edge_index, split, batch)
    torch.testing.assert_close(mincut.cut_loss, torch.tensor([-1.0], dtype=torch.float64))
    torch.testing.assert_close(mincut.ortho_loss, torch.zeros(1, dtype=torch.float64), atol=1e-12, rtol=0)
    dmon = sparse_dmon_pool(x, edge_index, split, batch)
    torch.testing.assert_close(dmon.spectral_loss, torch.tensor([-0.5], dtype=torch.float64))
    torch.testing.assert_close(dmon.cluster_loss, torch.zeros(1, dtype=torch.float64), atol=1e-12, rtol=0)
    collapsed = sparse_dmon_pool(x, edge_index, torch.tensor([[50.0, -50.0]] * 6, dtype=torch.float64), batch)
    torch.testing.assert_close(collapsed.cluster_loss, torch.tensor([2**0.5 - 1], dtype=torch.float64))
    torch.testing.assert_close(collapsed.spectral_loss, torch.zeros(1, dtype=torch.float64))


@pytest.mark.parametrize("method", METHODS)
def test_sparse_form_never_builds_an_n_by_n_tensor(method):
    """20,000 nodes, 100,000 edges, K = 50: forward and backward stay linear in size."""
    n, e, k, f = 20_000, 100_000, 50, 16
    gen = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, n, (2, e), generator=gen)
    x = torch.randn(n, f, generator=gen, requires_grad=True)
    s = torch.randn(n, k, generator=gen, requires_grad=True)
    batch = torch.zeros(n, dtype=torch.long)
    with _LargestTensor() as guard:
        out = SPARSE[method](x, edge_index, s, batch)
        total = out.x.sum() + out.adj.sum() + sum(getattr(out, name).sum() for name in LOSSES[method])
        total.backward()
    assert torch.isfinite(s.grad).all() and torch.isfinite(x.grad).all()
    assert guard.largest <= e * k, guard.largest
    assert guard.largest < n * n / 50


@pytest.mark.parametrize("method", METHODS)
def test_bad_input_gives_the_same_clear_errors(method):
    x, edge_index, s, batch, _ = random_batch([4, 3], seed=29)
    with pytest.raises(ValueError, match="sorted"):
        SPARSE[method](x, edge_index, s, batch.flip(0))
    with pytest.raises(ValueError, match="num_clusters must lie"):
        SPARSE[method](x, edge_index, s, batch, num_clusters=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=f"dense_{method}_pool expects x"):
        DENSE[method](torch.randn(5), torch.randn(5, 5), torch.randn(5, 2))


# ----------------------------------------------------------------------------- the layers
LAYERS = {"mincut": (MinCutPool, DenseMinCutPool), "dmon": (DMoNPool, DenseDMoNPool)}


@pytest.mark.parametrize("method", METHODS)
def test_sparse_layer_equals_dense_layer_with_same_weights(method):
    """The sparse first level computes what the padded dense layer computes (train mode)."""
    torch.manual_seed(0)
    graphs = random_graphs(SIZES)
    batch = Batch.from_data_list(graphs)
    sparse_layer, dense_layer = LAYERS[method]
    sparse, dense = sparse_layer(6, 8, max_clusters=4), dense_layer(6, 8, max_clusters=4)
    # SAGEConv: lin_l (neighbours, with bias) + lin_r (root); DenseSAGEConv: lin_rel + lin_root (with bias).
    renames = {
        "lin_l.weight": "lin_rel.weight",
        "lin_l.bias": "lin_root.bias",
        "lin_r.weight": "lin_root.weight",
    }
    state = {}
    for name, value in sparse.state_dict().items():
        for old, new in renames.items():
            name = name.replace(old, new)
        state[name] = value
    dense.load_state_dict(state)
    num_clusters = torch.tensor([3, 1, 4, 2, 4, 1])
    a = sparse(batch.x, batch.edge_index, batch.batch, num_clusters)
    x, mask = to_dense_batch(batch.x, batch.batch)
    b = dense(x, to_dense_adj(batch.edge_index, batch.batch), mask, num_clusters)
    assert type(a) is type(b) and list(a.losses) == list(b.losses)
    for left, right in [(a.pooled.x, b.pooled.x), (a.pooled.adj, b.pooled.adj), *zip(a[1:-2], b[1:-2])]:
        torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)
    assert torch.equal(a.pooled.mask, b.pooled.mask)
    torch.testing.assert_close(a.assignment, b.assignment[mask], atol=1e-5, rtol=1e-5)
    assert [t.shape for t in a.losses.values()] == [(len(SIZES),)] * len(LOSSES[method])


@pytest.mark.parametrize("layer", [MinCutPool, DenseMinCutPool, DMoNPool, DenseDMoNPool])
def test_layers_reject_zero_clusters(layer):
    with pytest.raises(ValueError, match="at least one cluster"):
        layer(3, 8, max_clusters=0)


# ----------------------------------------------------------------------------- the classifier
def family_model(pool, per_graph=False, levels=2, seed=0):
    torch.manual_seed(seed)
    config = ModelConfig(
        in_channels=6,
        num_classes=3,
        max_nodes=max(SIZES),
        hidden=16,
        levels=levels,
        per_graph_clusters=per_graph,
        pool=pool,
        mlp_hidden=16,
    )
    return build_model(config)


@pytest.mark.parametrize("pool", METHODS)
@pytest.mark.parametrize("per_graph", [False, True])
def test_model_with_each_pooling_trains_a_step_with_a_gradient_for_every_parameter(pool, per_graph, device):
    graphs = random_graphs(SIZES)
    model = family_model(pool, per_graph).to(device)
    assert isinstance(model.pools[0], LAYERS[pool][0]) and isinstance(model.pools[1], LAYERS[pool][1])
    batch = Batch.from_data_list(graphs).to(device)
    out = model(batch)
    assert list(out.aux_losses) == list(POOL_LOSS_TERMS[pool])
    assert all(len(levels) == 2 for levels in out.aux_losses.values())
    assert out.link_losses == [] and out.entropies == []
    losses = classification_loss(out, batch.y)
    assert list(losses) == ["loss", "ce", *POOL_LOSS_TERMS[pool]]
    losses["loss"].backward()
    missing = [
        name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert not missing, missing
    torch.testing.assert_close(out.assignments[0].sum(-1), torch.ones(sum(SIZES), device=device))


@pytest.mark.parametrize("pool", METHODS)
def test_model_with_each_pooling_trains_under_bf16_autocast_close_to_float32(pool):
    graphs = random_graphs(SIZES)
    batch = Batch.from_data_list(graphs)
    model = family_model(pool, per_graph=True)
    exact = classification_loss(model(batch), batch.y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = classification_loss(model(batch), batch.y)
    mixed["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    for name in exact:
        torch.testing.assert_close(mixed[name].float(), exact[name], atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("pool", METHODS)
def test_model_with_each_pooling_is_invariant_to_node_order_in_eval_mode(pool):
    graphs = random_graphs(SIZES)
    model = family_model(pool, per_graph=True)
    train_briefly(model, graphs)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        base = model(Batch.from_data_list(graphs))
        permuted = model(Batch.from_data_list([permute_nodes(g, gen) for g in graphs]))
    torch.testing.assert_close(base.logits, permuted.logits, atol=1e-4, rtol=1e-4)
    for name in POOL_LOSS_TERMS[pool]:
        for a, b in zip(base.aux_losses[name], permuted.aux_losses[name]):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_classification_loss_weighs_the_terms_of_each_pooling():
    graphs = random_graphs(SIZES)
    batch = Batch.from_data_list(graphs)
    weights = dict(cut_weight=0.5, ortho_weight=2.0, spectral_weight=3.0, cluster_weight=0.25)
    names = {"cut": "cut_weight", "ortho": "ortho_weight", "spectral": "spectral_weight"}
    names["cluster"] = "cluster_weight"
    for pool in METHODS:
        out = family_model(pool)(batch)
        losses = classification_loss(out, batch.y, link_weight=7.0, entropy_weight=9.0, **weights)
        expected = torch.nn.functional.cross_entropy(out.logits, batch.y)
        for name in POOL_LOSS_TERMS[pool]:
            term = sum(level.mean() for level in out.aux_losses[name])
            torch.testing.assert_close(losses[name], term)
            expected = expected + weights[names[name]] * term
        torch.testing.assert_close(losses["loss"], expected)
    # DiffPool's terms and keys as before
    out = family_model("diffpool")(batch)
    losses = classification_loss(out, batch.y, cut_weight=0.0)
    assert list(losses) == ["loss", "ce", "link", "entropy"]
    ce = torch.nn.functional.cross_entropy(out.logits, batch.y)
    torch.testing.assert_close(losses["loss"], ce + losses["link"] + losses["entropy"])


@pytest.mark.parametrize("pool", METHODS)
def test_levels_in_parts_give_the_padded_result(monkeypatch, pool):
    """Per-graph clusters, graphs of very different sizes: the levels kept in parts of similar size
    give the outputs and gradients of one batch padded to its largest graph."""
    from diffpool.functional import _partition as functional

    sizes = [150, 3, 40, 9, 90, 1, 20, 60]
    graphs = random_graphs(sizes, seed=4)
    for g in graphs:
        g.x = g.x.double()
    batch = Batch.from_data_list(graphs)
    torch.manual_seed(3)
    config = ModelConfig(
        in_channels=6,
        num_classes=3,
        max_nodes=max(sizes),
        hidden=8,
        levels=3,
        ratio=0.5,
        per_graph_clusters=True,
        mlp_hidden=8,
        readout="mean",
        pool=pool,
    )
    model = build_model(config).double()

    def run(parts: bool):
        monkeypatch.setattr(functional, "MIN_PADDED_CELLS", 0 if parts else float("inf"))
        monkeypatch.setattr(functional, "PAD_ROWS_FACTOR", 2.0 if parts else math.inf)
        monkeypatch.setattr(functional, "PAD_MAX_ELEMENTS", 1 << 22 if parts else math.inf)
        model.zero_grad()
        out = model(batch)
        classification_loss(out, batch.y)["loss"].backward()
        return out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    padded, padded_grads = run(parts=False)
    split, split_grads = run(parts=True)
    tight = dict(atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(split.logits, padded.logits, **tight)
    for name in POOL_LOSS_TERMS[pool]:
        for a, b in zip(split.aux_losses[name], padded.aux_losses[name]):
            torch.testing.assert_close(a, b, **tight)
    assert split_grads.keys() == padded_grads.keys()
    for name in padded_grads:
        torch.testing.assert_close(split_grads[name], padded_grads[name], **tight)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(pool="graclus"), "pool 'graclus' is not one of diffpool, mincut, dmon"),
        (dict(pool="mincut", variant="det"), "clusters fixed by Graclus"),
        (dict(pool="dmon", variant="graphsage"), "no pooling"),
        (dict(pool="dmon", variant="nolp"), "without its link loss"),
    ],
)
def test_pool_must_be_known_and_go_with_the_learned_hierarchy(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(in_channels=3, num_classes=2, max_nodes=10, **changes)


def test_saved_model_configurations_without_pool_are_diffpool():
    config = ModelConfig(in_channels=3, num_classes=2, max_nodes=10).to_dict()
    del config["pool"]
    assert isinstance(build_model(ModelConfig(**config)).pools[0], DiffPool)


# ----------------------------------------------------------------------------- runs and pictures
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_train_command_with_mincut_pooling_runs_logs_its_terms_and_draws(tmp_path, capsys, monkeypatch):
    from diffpool.cli import main
    from diffpool.viz.runs import run_curves

    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["train", "--pool", "mincut", "--epochs", "1", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pool"] == "mincut" and summary["epochs_run"] == 1
    assert json.loads((out / "config.json").read_text())["config"]["pool"] == "mincut"
    (epoch,) = json.loads((out / "result.json").read_text())["history"]
    assert {"train_loss", "train_ce", "train_cut", "train_ortho"} <= set(epoch)
    assert "train_link" not in epoch and -1 <= epoch["train_cut"] <= 0
    header = (out / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_cut", "train_ortho"} <= set(header)
    assert summary["picture"] and (out / summary["picture"].rsplit("/", 1)[-1]).is_file()
    assert np.isfinite(run_curves(out)["mean"]["train_cut"]).all()


def test_pool_option_is_checked_and_old_configurations_are_diffpool(tmp_path, capsys):
    from diffpool.cli import main
    from diffpool.models import ConfigError
    from diffpool.training import RunConfig
    from diffpool.training.protocols import saved_run_config

    with pytest.raises(ConfigError, match="pool 'spectral' is not one of"):
        RunConfig(pool="spectral")
    with pytest.raises(ConfigError, match="variant graphsage has no pooling"):
        RunConfig(variant="graphsage", pool="mincut")
    assert RunConfig(pool="dmon").model_config(4, 2, 10).pool == "dmon"
    saved = RunConfig().to_dict()
    del saved["pool"]
    assert saved_run_config(saved, "config.json").pool == "diffpool"
    assert main(["train", "--variant", "det", "--pool", "mincut", "--out", str(tmp_path / "x")]) == 2
    assert "variant det has clusters fixed by Graclus" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        main(["train", "--pool", "graclus"])
    assert "invalid choice: 'graclus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--pool" in capsys.readouterr().out


@pytest.mark.parametrize("pool", ["diffpool", *METHODS])
def test_pictures_of_the_learned_clusters_for_every_pooling(pool, tmp_path):
    """A tiny model of each pooling, trained a few steps on the synthetic set, drawn to a PNG."""
    from diffpool.data import load_dataset
    from diffpool.viz import FIGURE_DPI, FIGURE_SIZE
    from diffpool.viz.assignments import assignment_view, write_assignment_png

    dataset = load_dataset("synthetic", num_graphs=12)
    graphs = [dataset[i] for i in range(len(dataset))]
    torch.manual_seed(0)
    config = ModelConfig(
        in_channels=dataset.num_features,
        num_classes=dataset.num_classes,
        max_nodes=max(int(g.num_nodes) for g in graphs),
        hidden=8,
        levels=2,
        ratio=0.12,
        per_graph_clusters=True,
        min_clusters=4,
        pool=pool,
        mlp_hidden=8,
    )
    model = build_model(config)
    train_briefly(model, graphs, steps=3)
    view = assignment_view(model, graphs[0], title="synthetic graph 0")
    assert view.pooling == {"diffpool": "DiffPool", "mincut": "MinCutPool", "dmon": "DMoN"}[pool]
    assert len(view.levels) == 2 and view.nmi is not None
    torch.testing.assert_close(
        torch.from_numpy(view.probabilities.sum(1)), torch.ones(view.num_nodes).double()
    )
    path = write_assignment_png(view, tmp_path / f"{pool}.png")
    import matplotlib.image

    assert matplotlib.image.imread(str(path)).shape[:2] == (
        int(FIGURE_SIZE[1] * FIGURE_DPI),
        int(FIGURE_SIZE[0] * FIGURE_DPI),
    )
