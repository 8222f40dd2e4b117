"""The pooling math: sparse and dense forms against a straightforward per-graph reference."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch_geometric.utils import to_dense_adj, to_dense_batch, to_undirected

from diffpool.functional import PoolOutput, dense_diff_pool, sparse_diff_pool

TOL = dict(atol=1e-5, rtol=1e-5)


def random_batch(
    sizes, *, feature_dim=5, k=4, seed=0, weighted=True, self_loops=True, duplicates=True, dtype=torch.float32
):
    """A PyG-style batch: graphs of the given sizes, some isolated nodes, some graphs edgeless."""
    gen = torch.Generator().manual_seed(seed)
    offsets = [0]
    for n in sizes:
        offsets.append(offsets[-1] + n)
    edges = []
    for g, n in enumerate(sizes):
        if n < 2 and not self_loops:
            continue
        for _ in range(int(1.5 * n) if g % 3 != 2 else 0):  # every third graph has no edges
            i, j = torch.randint(0, n, (2,), generator=gen).tolist()
            if i == j and not self_loops:
                continue
            edges.append((offsets[g] + i, offsets[g] + j))
        if duplicates and edges and g == 0:
            edges.append(edges[0])
    edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    total = offsets[-1]
    weight = (torch.rand(edge_index.size(1), generator=gen, dtype=dtype) + 0.5) if weighted else None
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    x = torch.randn(total, feature_dim, generator=gen, dtype=dtype)
    s = torch.randn(total, k, generator=gen, dtype=dtype) * 2
    return x, edge_index, s, batch, weight


def reference_pool(x, edge_index, s, batch, edge_weight=None, num_clusters=None):
    """The definition, graph by graph, with explicit dense matrices."""
    adj = to_dense_adj(edge_index, batch, edge_weight, batch_size=int(batch.max()) + 1)
    outs_x, outs_adj, links, ents = [], [], [], []
    k_total = s.size(1)
    for g in range(adj.size(0)):
        idx = (batch == g).nonzero().flatten()
        n = idx.numel()
        k = k_total if num_clusters is None else int(num_clusters[g])
        S = torch.softmax(s[idx, :k], dim=-1)
        A = adj[g, :n, :n]
        Z = x[idx]
        px = torch.zeros(k_total, x.size(1), dtype=x.dtype)
        px[:k] = S.t() @ Z
        pa = torch.zeros(k_total, k_total, dtype=x.dtype)
        pa[:k, :k] = S.t() @ A @ S
        outs_x.append(px)
        outs_adj.append(pa)
        diff = ((A - S @ S.t()) ** 2).sum()
        links.append(diff.sqrt() if diff > 0 else diff * 0)
        ents.append(-(S * torch.log(S)).sum(-1).mean())
    return torch.stack(outs_x), torch.stack(outs_adj), torch.stack(links), torch.stack(ents)


def dense_inputs(x, edge_index, s, batch, weight):
    xd, mask = to_dense_batch(x, batch)
    sd, _ = to_dense_batch(s, batch)
    adj = to_dense_adj(edge_index, batch, weight)
    return xd, adj, sd, mask


def scalar_objective(out: PoolOutput, gen_seed=1):
    """A random linear functional of every output, so gradients test all of them."""
    gen = torch.Generator().manual_seed(gen_seed)
    total = 0
    for t in (out.x, out.adj, out.link_loss, out.entropy):
        total = total + (t * torch.randn(t.shape, generator=gen, dtype=t.dtype).to(t.device)).sum()
    return total


def grads(fn, *tensors):
    leaves = [t.detach().clone().requires_grad_(True) if t is not None else None for t in tensors]
    value = fn(*leaves)
    value.backward()
    return value, [leaf.grad for leaf in leaves if leaf is not None]


@pytest.fixture(params=["padded", "grouped", "per-graph"])
def products(request, monkeypatch):
    """Every way the sparse form computes the per-graph products: one batched product over the batch
    padded to its largest graph, one per group of similar-sized graphs, a loop over graphs."""
    from diffpool.functional import _partition as functional

    monkeypatch.setattr(functional, "PAD_ROWS_FACTOR", math.inf if request.param == "padded" else 0.0)
    monkeypatch.setattr(functional, "PAD_MAX_ELEMENTS", 0 if request.param == "per-graph" else math.inf)
    monkeypatch.setattr(functional, "GROUP_PAD_MAX_ELEMENTS", 0 if request.param == "per-graph" else math.inf)
    return request.param


SIZE_CASES = {
    "mixed": [7, 1, 12, 3, 5, 9],
    "one-node-graphs": [1, 1, 1],
    "single-graph": [20],
    "isolated-and-edgeless": [4, 6, 2, 8],
}


@pytest.mark.parametrize("case", list(SIZE_CASES))
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_and_dense_match_reference(case, weighted, products, device):
    x, edge_index, s, batch, weight = random_batch(
        SIZE_CASES[case], weighted=weighted, seed=hash(case) % 1000
    )
    ref = reference_pool(x, edge_index, s, batch, weight)
    on_device = [None if t is None else t.to(device) for t in (x, edge_index, s, batch, weight)]
    sparse = sparse_diff_pool(*on_device)
    dense = dense_diff_pool(*dense_inputs(*on_device))
    for out in (sparse, dense):
        assert out.x.device.type == device.type
        out = PoolOutput(*(t.cpu() for t in out))
        torch.testing.assert_close(out.x, ref[0], **TOL)
        torch.testing.assert_close(out.adj, ref[1], **TOL)
        torch.testing.assert_close(out.link_loss, ref[2], **TOL)
        torch.testing.assert_close(out.entropy, ref[3], **TOL)
        assert out.mask.all() and out.mask.shape == (len(SIZE_CASES[case]), s.size(1))


@pytest.mark.parametrize("case", list(SIZE_CASES))
def test_gradients_match_reference(case, products, device):
    """The reference runs on the CPU; ours on ``device``, its gradients flowing back to the CPU leaves."""
    x, edge_index, s, batch, weight = random_batch(SIZE_CASES[case], seed=3)
    edges_d, batch_d = edge_index.to(device), batch.to(device)

    def via_reference(x_, s_, w_):
        rx, radj, rlink, rent = reference_pool(x_, edge_index, s_, batch, w_)
        return scalar_objective(PoolOutput(rx, radj, None, rlink, rent))

    def via_sparse(x_, s_, w_):
        return scalar_objective(
            sparse_diff_pool(x_.to(device), edges_d, s_.to(device), batch_d, w_.to(device))
        )

    def via_dense(x_, s_, w_):
        inputs = dense_inputs(x_.to(device), edges_d, s_.to(device), batch_d, w_.to(device))
        return scalar_objective(dense_diff_pool(*inputs))

    ref_value, ref_grads = grads(via_reference, x, s, weight)
    for fn in (via_sparse, via_dense):
        value, got = grads(fn, x, s, weight)
        torch.testing.assert_close(value.cpu(), ref_value, **TOL)
        for g, r in zip(got, ref_grads):
            torch.testing.assert_close(g, r, **TOL)


def test_per_graph_cluster_counts_match_reference(products):
    sizes = [7, 1, 12, 3, 5]
    x, edge_index, s, batch, weight = random_batch(sizes, k=6, seed=5)
    num_clusters = torch.tensor([2, 1, 6, 1, 3])
    ref = reference_pool(x, edge_index, s, batch, weight, num_clusters)
    sparse = sparse_diff_pool(x, edge_index, s, batch, weight, num_clusters=num_clusters)
    dense = dense_diff_pool(*dense_inputs(x, edge_index, s, batch, weight), num_clusters=num_clusters)
    expected_mask = torch.arange(6) < num_clusters.unsqueeze(-1)
    for out in (sparse, dense):
        torch.testing.assert_close(out.x, ref[0], **TOL)
        torch.testing.assert_close(out.adj, ref[1], **TOL)
        torch.testing.assert_close(out.link_loss, ref[2], **TOL)
        torch.testing.assert_close(out.entropy, ref[3], **TOL)
        assert torch.equal(out.mask, expected_mask)
    # surplus clusters receive nothing
    assert sparse.x[~expected_mask].abs().max() == 0


PARTITIONS = {
    "one-part": [[0, 1, 2, 3, 4, 5]],
    "by-size": [[2, 5], [0, 4], [3, 1]],
    "shuffled-singletons": [[4], [1], [5], [0], [3], [2]],
    "uneven": [[5, 1, 3], [2], [0, 4]],
}


@pytest.mark.parametrize("per_graph_k", [True, False])
@pytest.mark.parametrize("partition", list(PARTITIONS))
def test_pooled_parts_match_reference_values_and_gradients(partition, per_graph_k, products):
    """Each part holds its graphs in its order, padded to its own largest cluster count; values and
    gradients equal the per-graph definition."""
    from diffpool.functional import Partition
    from diffpool.functional.diff_pool import sparse_pool

    sizes = [7, 1, 12, 3, 5, 9]
    # float64: the link loss is a difference of large terms, whose float32 gradients differ in the
    # fifth digit between any two orders of summation.
    x, edge_index, s, batch, weight = random_batch(sizes, k=6, seed=17, dtype=torch.float64)
    num_clusters = torch.tensor([2, 1, 6, 1, 3, 4]) if per_graph_k else None
    counts = num_clusters if per_graph_k else torch.full((6,), 6)
    parts = [torch.tensor(p) for p in PARTITIONS[partition]]
    gen = torch.Generator().manual_seed(2)
    probes = [torch.randn(t, generator=gen, dtype=torch.float64) for t in ((6, 6, 5), (6, 6, 6), (6,), (6,))]

    def objective(outputs):  # a random linear functional of every output of every graph, in batch order
        total = 0
        for part, out in zip(parts, outputs):
            w = out.adj.size(-1)
            total = total + (out.x * probes[0][part, :w]).sum() + (out.adj * probes[1][part, :w, :w]).sum()
            total = total + (out.link_loss * probes[2][part]).sum() + (out.entropy * probes[3][part]).sum()
        return total

    ref = reference_pool(x, edge_index, s, batch, weight, num_clusters)
    outputs, assignment = sparse_pool(x, edge_index, s, batch, weight, num_clusters, Partition(parts))
    assert len(outputs) == len(parts)
    for part, out in zip(parts, outputs):
        w = int(counts[part].max())
        assert out.x.shape == (len(part), w, 5) and out.adj.shape == (len(part), w, w)
        assert torch.equal(out.mask, torch.arange(w) < counts[part].unsqueeze(-1))
        torch.testing.assert_close(out.x, ref[0][part, :w], **TOL)
        torch.testing.assert_close(out.adj, ref[1][part, :w, :w], **TOL)
        torch.testing.assert_close(out.link_loss, ref[2][part], **TOL)
        torch.testing.assert_close(out.entropy, ref[3][part], **TOL)
    torch.testing.assert_close(assignment.sum(-1), torch.ones(x.size(0), dtype=torch.float64))

    def via_parts(x_, s_, w_):
        return objective(sparse_pool(x_, edge_index, s_, batch, w_, num_clusters, Partition(parts))[0])

    def via_reference(x_, s_, w_):
        rx, radj, rlink, rent = reference_pool(x_, edge_index, s_, batch, w_, num_clusters)
        widths = [int(counts[p].max()) for p in parts]
        return objective(
            [
                PoolOutput(rx[p, :w], radj[p][:, :w, :w], None, rlink[p], rent[p])
                for p, w in zip(parts, widths)
            ]
        )

    value, got = grads(via_parts, x, s, weight)
    ref_value, ref_grads = grads(via_reference, x, s, weight)
    torch.testing.assert_close(value, ref_value, **TOL)
    for g, r in zip(got, ref_grads):
        torch.testing.assert_close(g, r, **TOL)


@pytest.mark.parametrize(
    "parts", [[[0, 1]], [[0, 1], [1, 2]], [[0, 1, 2, 3]], [[0], [2], [1], [5]], [[0, 1, 2], []]]
)
def test_pooled_parts_must_partition_the_batch(parts):
    from diffpool.functional import Partition
    from diffpool.functional.diff_pool import sparse_pool

    x, edge_index, s, batch, weight = random_batch([4, 6, 3], seed=19)
    with pytest.raises(ValueError, match="every graph of the batch"):
        sparse_pool(x, edge_index, s, batch, weight, partition=Partition([torch.tensor(p) for p in parts]))


def test_padding_contributes_nothing():
    x, edge_index, s, batch, weight = random_batch([5, 3, 8], seed=7)
    xd, adj, sd, mask = dense_inputs(x, edge_index, s, batch, weight)
    clean = dense_diff_pool(xd, adj, sd, mask)
    # garbage in padded rows and columns must not change anything
    noisy_x = torch.where(mask.unsqueeze(-1), xd, torch.full_like(xd, 99.0))
    noisy_s = torch.where(mask.unsqueeze(-1), sd, torch.full_like(sd, -7.0))
    pair = mask.unsqueeze(-1) & mask.unsqueeze(1)
    noisy_adj = torch.where(pair, adj, torch.full_like(adj, 5.0))
    noisy = dense_diff_pool(noisy_x, noisy_adj, noisy_s, mask)
    for a, b in zip(clean, noisy):
        torch.testing.assert_close(a, b)
    # and padding the batch further changes nothing either
    extra = 4
    pad = lambda t, dims: torch.nn.functional.pad(t, dims)  # noqa: E731
    wider = dense_diff_pool(
        pad(xd, (0, 0, 0, extra)),
        pad(adj, (0, extra, 0, extra)),
        pad(sd, (0, 0, 0, extra)),
        pad(mask, (0, extra)),
    )
    for a, b in zip(clean, wider):
        torch.testing.assert_close(a, b)


def test_assignment_rows_sum_to_one_and_pooled_mass_is_node_count():
    x, edge_index, s, batch, weight = random_batch([6, 9, 2], seed=11)
    ones = torch.ones(x.size(0), 1)
    out = sparse_diff_pool(ones, edge_index, s, batch, weight)
    # Sᵀ·1 summed over clusters equals the number of nodes iff every row of S sums to 1
    torch.testing.assert_close(out.x.sum(dim=(1, 2)), torch.tensor([6.0, 9.0, 2.0]))
    torch.testing.assert_close(torch.softmax(s, -1).sum(-1), torch.ones(x.size(0)))


def test_pooled_adjacency_is_symmetric_for_symmetric_input():
    x, edge_index, s, batch, _ = random_batch([10, 6, 14], seed=13, weighted=False)
    edge_index = to_undirected(edge_index)
    assert torch.equal(to_dense_adj(edge_index, batch), to_dense_adj(edge_index, batch).transpose(1, 2))
    out = sparse_diff_pool(x, edge_index, s, batch)
    torch.testing.assert_close(out.adj, out.adj.transpose(1, 2), **TOL)


def test_frobenius_identity_on_random_inputs():
    """‖A − SSᵀ‖² = ‖A‖² − 2 tr(SᵀAS) + ‖SᵀS‖², checked in float64 on random dense matrices."""
    gen = torch.Generator().manual_seed(17)
    for n, k in [(1, 1), (5, 3), (30, 7), (50, 50)]:
        A = torch.rand(n, n, generator=gen, dtype=torch.float64) * (torch.rand(n, n, generator=gen) < 0.3)
        S = torch.softmax(torch.randn(n, k, generator=gen, dtype=torch.float64), dim=-1)
        lhs = ((A - S @ S.t()) ** 2).sum()
        rhs = (A**2).sum() - 2 * torch.trace(S.t() @ A @ S) + ((S.t() @ S) ** 2).sum()
        torch.testing.assert_close(lhs, rhs, atol=1e-10, rtol=1e-10)


def test_duplicate_edges_add_their_weights():
    edge_index = torch.tensor([[0, 0, 1], [1, 1, 0]])
    weight = torch.tensor([0.25, 0.5, 2.0])
    x, s, batch = torch.randn(2, 3), torch.randn(2, 2), torch.zeros(2, dtype=torch.long)
    out = sparse_diff_pool(x, edge_index, s, batch, weight)
    ref = reference_pool(x, edge_index, s, batch, weight)
    torch.testing.assert_close(out.link_loss, ref[2], **TOL)
    torch.testing.assert_close(out.adj, ref[1], **TOL)


def test_zero_link_loss_has_finite_gradient():
    # One node with a self-loop and K = 1: S = [[1]], A = [[1]], so A − SSᵀ = 0 exactly.
    x = torch.randn(1, 3, requires_grad=True)
    s = torch.randn(1, 1, requires_grad=True)
    out = sparse_diff_pool(x, torch.tensor([[0], [0]]), s, torch.zeros(1, dtype=torch.long))
    assert out.link_loss.item() == 0
    (out.link_loss.sum() + out.entropy.sum() + out.x.sum()).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(s.grad).all()


def test_one_hot_assignment_has_zero_entropy_and_finite_gradients():
    x, edge_index, _, batch, weight = random_batch([6, 4], seed=19)
    s = torch.full((10, 3), -1e4)
    s[torch.arange(10), torch.arange(10) % 3] = 1e4
    s.requires_grad_(True)
    for out in (
        sparse_diff_pool(x, edge_index, s, batch, weight),
        dense_diff_pool(*dense_inputs(x, edge_index, s, batch, weight)),
    ):
        torch.testing.assert_close(out.entropy, torch.zeros(2))
        s.grad = None
        scalar_objective(out).backward()
        assert torch.isfinite(s.grad).all()


def test_entropy_of_uniform_assignment_is_log_k():
    x, edge_index, _, batch, _ = random_batch([5, 7], seed=23)
    s = torch.zeros(12, 6)
    out = sparse_diff_pool(x, edge_index, s, batch)
    torch.testing.assert_close(out.entropy, torch.full((2,), math.log(6)))


class _LargestTensor(TorchDispatchMode):
    """Records the element count of the largest tensor any operation produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_sparse_pool_never_builds_an_n_by_n_tensor():
    """20,000 nodes, 100,000 edges, K = 50: forward and backward stay linear in size."""
    n, e, k, f = 20_000, 100_000, 50, 16
    gen = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, n, (2, e), generator=gen)
    x = torch.randn(n, f, generator=gen, requires_grad=True)
    s = torch.randn(n, k, generator=gen, requires_grad=True)
    batch = torch.zeros(n, dtype=torch.long)
    with _LargestTensor() as guard:
        out = sparse_diff_pool(x, edge_index, s, batch)
        (out.link_loss.sum() + out.entropy.sum() + out.x.sum() + out.adj.sum()).backward()
    assert torch.isfinite(out.link_loss).all() and torch.isfinite(s.grad).all()
    # The dense form needs n² = 4·10⁸ elements; the sparse one at most E·K = 5·10⁶.
    assert guard.largest <= e * k, guard.largest
    assert guard.largest < n * n / 50


# ----------------------------------------------------------------------------- bad input
def _valid():
    return random_batch([4, 3], seed=29)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda x, ei, s, b: (x[:, None], ei, s, b), "x must be"),
        (lambda x, ei, s, b: (x, ei, s[:-1], b), "rows but x has"),
        (lambda x, ei, s, b: (x, ei, s, b[:-1]), "batch must be"),
        (lambda x, ei, s, b: (x, ei - 10, s, b), "node ids"),
        (lambda x, ei, s, b: (x, ei + 100, s, b), "node ids"),
        (lambda x, ei, s, b: (x, ei[0], s, b), "edge_index must be"),
        (lambda x, ei, s, b: (x, ei, s[:, :0], b), "at least 1"),
        (lambda x, ei, s, b: (torch.where(x > 1, float("nan"), x), ei, s, b), "NaN"),
        (lambda x, ei, s, b: (x, ei, s.fill_(float("inf")), b), "NaN or infinite"),
        (lambda x, ei, s, b: (x, ei, s, b.flip(0)), "sorted"),
        (lambda x, ei, s, b: (x, torch.tensor([[0], [6]]), s, b), "different graphs"),
    ],
)
def test_sparse_bad_input_gives_clear_error(mutate, message):
    x, edge_index, s, batch, _ = _valid()
    with pytest.raises(ValueError, match=message):
        sparse_diff_pool(*mutate(x, edge_index, s, batch))


def test_bad_num_clusters_and_edge_weights():
    x, edge_index, s, batch, _ = _valid()
    with pytest.raises(ValueError, match="num_clusters must lie"):
        sparse_diff_pool(x, edge_index, s, batch, num_clusters=torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="one per graph"):
        sparse_diff_pool(x, edge_index, s, batch, num_clusters=torch.tensor([1]))
    with pytest.raises(ValueError, match="edge_weight must be"):
        sparse_diff_pool(x, edge_index, s, batch, torch.ones(3))


@pytest.mark.parametrize(
    "shapes, message",
    [
        (((2, 5, 3), (2, 5, 4), (2, 5, 2)), "adj has shape"),
        (((2, 5, 3), (2, 5, 5), (2, 4, 2)), "s has shape"),
        (((2, 5, 3), (2, 5, 5), (2, 5, 0)), "at least 1"),
        (((5,), (5, 5), (5, 2)), "expects x"),
    ],
)
def test_dense_bad_shapes(shapes, message):
    x, adj, s = (torch.randn(*shape) for shape in shapes)
    with pytest.raises(ValueError, match=message):
        dense_diff_pool(x, adj, s)
    with pytest.raises(ValueError, match="mask has shape"):
        dense_diff_pool(
            torch.randn(2, 5, 3),
            torch.rand(2, 5, 5),
            torch.randn(2, 5, 2),
            torch.ones(2, 4, dtype=torch.bool),
        )


@pytest.mark.parametrize("masked", [False, True])
def test_softmax_entropy_backward_passes_gradcheck(masked):
    from diffpool.functional._autograd import assignment_softmax_entropy

    gen = torch.Generator().manual_seed(5)
    s = (torch.randn(6, 5, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    allowed = (torch.arange(5) < torch.tensor([5, 3, 1, 4, 2, 5]).unsqueeze(-1)) if masked else None
    torch.autograd.gradcheck(lambda t: assignment_softmax_entropy(t, allowed), (s,))
    prob, entropy = assignment_softmax_entropy(s, allowed)
    reference = torch.softmax(s if allowed is None else s.masked_fill(~allowed, float("-inf")), -1)
    torch.testing.assert_close(prob, reference)
    torch.testing.assert_close(entropy, -(reference * reference.clamp_min(1e-300).log()).sum(-1))


@pytest.mark.parametrize("form", ["sparse", "dense"])
def test_link_loss_under_bf16_autocast_stays_close_and_backward_runs(form, device):
    x, edge_index, s, batch, weight = (t.to(device) for t in random_batch([9, 14, 6], k=4, seed=3))
    dense_x, adj, dense_s, mask = dense_inputs(x, edge_index, s, batch, weight)
    full = dense_x.new_ones(
        mask.shape, dtype=torch.bool
    )  # no padding: the path every fixed-K level ≥ 2 takes

    def pool():
        if form == "sparse":
            return sparse_diff_pool(x, edge_index, s, batch, edge_weight=weight)
        return dense_diff_pool(dense_x[:, :6], adj[:, :6, :6], dense_s[:, :6], full[:, :6])

    exact = pool().link_loss
    s.requires_grad_(True)
    dense_s.requires_grad_(True)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        mixed = pool().link_loss
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, exact.detach(), rtol=3e-2, atol=1e-2)
    mixed.sum().backward()  # a float32 assignment with bf16 products used to fail here
    grad = s.grad if form == "sparse" else dense_s.grad
    assert grad is not None and torch.isfinite(grad).all()
