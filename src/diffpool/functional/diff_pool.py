r"""The pooling math of DiffPool (Ying et al., NeurIPS 2018), in a dense and a sparse form.

For one graph with adjacency :math:`A` (n×n), node embeddings :math:`Z` (n×F) and assignment
logits :math:`s` (n×K):

.. math::
    S = \mathrm{softmax}(s) \quad
    X' = S^\top Z \quad
    A' = S^\top A S \quad
    L_{LP} = \lVert A - S S^\top \rVert_F \quad
    L_E = \tfrac{1}{n} \textstyle\sum_i H(S_i)

:func:`dense_diff_pool` works on padded batches ([B, N, ·] with a node mask), as PyG's layer does.
:func:`sparse_diff_pool` works on a PyG mini-batch (nodes of all graphs stacked, ``edge_index``,
``batch``) and never forms an n×n tensor: :math:`A S` is a scatter over edges and the link loss
uses :math:`\lVert A - SS^\top\rVert_F^2 = \lVert A\rVert_F^2 - 2\,\mathrm{tr}(S^\top A S)
+ \lVert S^\top S\rVert_F^2`, so cost is linear in edges and nodes.

Both accept ``num_clusters`` [B]: graph ``b`` then uses only its first ``num_clusters[b]``
clusters (per-graph cluster counts); the surplus logits are masked out of the softmax and the
returned ``mask`` marks the clusters in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from ._autograd import (
    assignment_softmax_entropy,
    cluster_mask,
    gram_squared_norm,
    link_loss,
    safe_sqrt,
    widened,
)
from ._checks import check_assignment_logits, check_dense_batch, check_num_clusters, check_sparse_batch
from ._partition import Partition
from ._products import products_in_batch_order, products_in_parts, propagate, squared_norm_per_graph

__all__ = ["PoolOutput", "dense_diff_pool", "sparse_diff_pool"]


class PoolOutput(NamedTuple):
    """Result of one DiffPool coarsening.

    Attributes:
        x: pooled features :math:`S^\\top Z`, [B, K, F].
        adj: pooled adjacency :math:`S^\\top A S`, [B, K, K].
        mask: [B, K] bool, the clusters in use (all True unless ``num_clusters`` was given).
        link_loss: [B], :math:`\\lVert A_g - S_g S_g^\\top\\rVert_F` per graph (not squared,
            not normalised).
        entropy: [B], mean over the graph's real nodes of :math:`H(S_i)`.
    """

    x: Tensor
    adj: Tensor
    mask: Tensor
    link_loss: Tensor
    entropy: Tensor


def dense_diff_pool(
    x: Tensor,
    adj: Tensor,
    s: Tensor,
    mask: Tensor | None = None,
    num_clusters: Tensor | None = None,
) -> PoolOutput:
    r"""DiffPool on a padded batch, as PyG's ``dense_diff_pool`` (same inputs).

    For every graph of the batch, with :math:`S = \mathrm{softmax}(s)` row-wise:

    .. math::
        X' = S^\top Z \qquad A' = S^\top A S \qquad
        L_{LP} = \lVert A - S S^\top\rVert_F \qquad
        L_E = \tfrac{1}{n} \textstyle\sum_i H(S_i)

    (Ying et al., "Hierarchical Graph Representation Learning with Differentiable Pooling",
    NeurIPS 2018, Eq. 3–4 and Sec. 3.3). Unlike PyG, the losses are returned per graph, unscaled
    (PyG divides the link loss by the number of entries and averages over the batch), and the link
    loss is computed without the [B, N, N] matrix :math:`SS^\top`.

    Args:
        x: node embeddings :math:`Z`, [B, N, F] (or [N, F] for one graph).
        adj: adjacency, [B, N, N] (or [N, N]); may be weighted.
        s: assignment logits, [B, N, K] (or [N, K]); softmax is taken here.
        mask: [B, N] bool, real nodes. Padded nodes contribute nothing anywhere.
        num_clusters: optional [B] long, clusters used by each graph (surplus logits masked).

    Returns:
        :class:`PoolOutput`: ``x`` [B, K, F], ``adj`` [B, K, K], ``mask`` [B, K] and the per-graph
        losses [B].
    """
    return dense_pool(x, adj, s, mask, num_clusters)[0]


def dense_pool(
    x: Tensor,
    adj: Tensor,
    s: Tensor,
    mask: Tensor | None = None,
    num_clusters: Tensor | None = None,
    *,
    validate: bool = True,
) -> tuple[PoolOutput, Tensor]:
    """:func:`dense_diff_pool` plus the assignment S it computed ([B, N, K], padded rows 0), for
    :class:`~diffpool.nn.DenseDiffPool`, which returns S too (a second softmax would cost that work
    and keep its autograd graph alive). ``validate=False`` skips the NaN/inf scan of the inputs, for
    a caller that made them from a checked batch (shapes are always checked), and takes a ``mask``
    to mean that there is padding."""
    return dense_pool_parts([(x, adj, s, mask, num_clusters)], validate=validate)[0]


DenseInputs = tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]


def dense_pool_parts(
    parts: Sequence[DenseInputs], *, validate: bool = True
) -> list[tuple[PoolOutput, Tensor]]:
    """:func:`dense_pool` of each part ``(x, adj, s, mask, num_clusters)``, with one read from the
    device for all parts' link-loss checks (:func:`~._autograd.link_loss`)."""
    pooled = [_dense_pool_unchecked_link(*part, validate=validate) for part in parts]
    out = []
    for (result, s_prob, adj, _), positions in zip(pooled, _flagged([p[3] for p in pooled])):
        if positions:
            result = result._replace(
                link_loss=_exact_dense_link_loss(result.link_loss, positions, adj, s_prob)
            )
        out.append((result, s_prob))
    return out


def _dense_pool_unchecked_link(
    x: Tensor,
    adj: Tensor,
    s: Tensor,
    mask: Tensor | None,
    num_clusters: Tensor | None,
    *,
    validate: bool,
) -> tuple[PoolOutput, Tensor, Tensor, Tensor | None]:
    """The dense pooling with the link loss of the formula; also the adjacency it used and the graphs
    whose link loss must be recomputed (see :func:`dense_pool_parts`)."""
    x, adj, s, mask, padded, num_clusters = check_dense_batch(
        "dense_diff_pool", x, adj, s, mask, num_clusters, validate=validate
    )
    batch_size, k = x.size(0), s.size(-1)
    allowed = None if num_clusters is None else cluster_mask(num_clusters, k).unsqueeze(1)
    s_prob, node_entropy = assignment_softmax_entropy(s, allowed)
    if padded:
        # Padded nodes contribute nothing: their rows of S, Z and A become 0. Without padding (every
        # level ≥ 2 with fixed K) these products would only copy S, Z and A, and autograd keep the copies.
        node = mask.unsqueeze(-1).to(x.dtype)
        s_prob = s_prob * node
        x = x * node
        adj = adj * node * node.transpose(1, 2)

    s_t = s_prob.transpose(1, 2)
    out_x = s_t @ x
    out_adj = s_t @ adj @ s_prob
    # By the Frobenius identity, as in the sparse form: no [B, N, N] product SSᵀ nor its difference
    # with A to compute and keep, and tr(SᵀAS) comes with A'.
    link, inexact = link_loss(widened(adj).pow(2).sum(dim=(1, 2)), out_adj, gram_squared_norm(s_prob))
    entropy = (node_entropy * mask.to(x.dtype)).sum(-1) / mask.sum(-1).clamp_min(1)
    out_mask = (
        torch.ones(batch_size, k, dtype=torch.bool, device=x.device)
        if num_clusters is None
        else cluster_mask(num_clusters, k)
    )
    return PoolOutput(out_x, out_adj, out_mask, link, entropy), s_prob, adj, inexact


def _exact_dense_link_loss(link: Tensor, positions: list[int], adj: Tensor, s_prob: Tensor) -> Tensor:
    """``link`` with the graphs at ``positions`` computed directly in float64."""
    graphs = torch.tensor(positions, device=link.device)
    s64 = s_prob[graphs].double()
    exact = torch.linalg.matrix_norm(adj[graphs].double() - s64 @ s64.transpose(1, 2))
    return link.index_put((graphs,), exact.to(link.dtype))


def sparse_diff_pool(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Tensor | None = None,
    num_clusters: Tensor | None = None,
) -> PoolOutput:
    r"""DiffPool on a PyG mini-batch, without any n×n tensor.

    For every graph :math:`g` of the batch, with :math:`S_g = \mathrm{softmax}(s_g)` row-wise:

    .. math::
        X'_g = S_g^\top Z_g \qquad A'_g = S_g^\top A_g S_g \qquad
        L_{LP,g} = \lVert A_g - S_g S_g^\top\rVert_F \qquad
        L_{E,g} = \tfrac{1}{n_g} \textstyle\sum_i H(S_{g,i})

    :math:`A S` is a sum over the edges, and the link loss comes from
    :math:`\lVert A - SS^\top\rVert_F^2 = \lVert A\rVert_F^2 - 2\,\mathrm{tr}(S^\top A S)
    + \lVert S^\top S\rVert_F^2`, so time and memory grow with edges and nodes, never with n².
    (Ying et al., "Hierarchical Graph Representation Learning with Differentiable Pooling",
    NeurIPS 2018, Eq. 3–4 and Sec. 3.3.)

    Args:
        x: node embeddings :math:`Z`, [N, F] (nodes of all graphs stacked).
        edge_index: [2, E] edges (source, target); an edge (i, j) is the entry A[i, j].
        s: assignment logits, [N, K].
        batch: [N] sorted graph id of every node (PyG's ``batch``).
        edge_weight: optional [E]; duplicate edges add their weights.
        num_clusters: optional [B] long, clusters used by each graph (surplus logits masked).

    Returns:
        :class:`PoolOutput` with dense ``x`` [B, K, F], ``adj`` [B, K, K], ``mask`` [B, K] and the
        per-graph losses [B].

    Cost: O(E·K + N·K·(F + K)) time and O(N·K + B·K·(F + K)) memory.
    """
    parts, _ = sparse_pool(x, edge_index, s, batch, edge_weight, num_clusters)
    return parts[0]


class _Assigned(NamedTuple):
    """What every sparse pooling computes before the per-graph products."""

    x: Tensor
    s_prob: Tensor
    a_s: Tensor
    edge_weight: Tensor
    size_tensor: Tensor
    num_clusters: Tensor | None
    norm_a: Tensor
    entropy: Tensor


def _assign(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Tensor | None,
    num_clusters: Tensor | None,
    validate: bool,
    batch_size: int | None,
) -> _Assigned:
    """Checks, S = softmax(s) with its entropies, A·S, ‖A_g‖²_F and the per-graph mean entropy."""
    if validate:
        check_sparse_batch(x, edge_index, batch, edge_weight)
        check_assignment_logits(s, x.size(0))
    num_nodes, k = s.shape
    if batch_size is None:
        batch_size = int(batch[-1]) + 1
    num_clusters = check_num_clusters(num_clusters, batch_size, k, values=validate)
    if x.dtype != s.dtype:
        # Under autocast a GNN may return Z in float32 (GCN's scatter) and logits in bf16 (a
        # linear head); the products below need one dtype: the wider.
        dtype = torch.promote_types(x.dtype, s.dtype)
        x, s = x.to(dtype), s.to(dtype)
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1), dtype=x.dtype, device=x.device)
    else:
        edge_weight = edge_weight.to(x.dtype)

    # One comparison builds the [N, K] mask (cheaper than gathering rows of a [B, K] one).
    allowed = (
        None
        if num_clusters is None
        else torch.arange(k, device=s.device) < num_clusters.to(s.device)[batch].unsqueeze(-1)
    )
    s_prob, node_entropy = assignment_softmax_entropy(s, allowed)
    a_s = propagate(edge_index, edge_weight, s_prob)
    # index_add, not bincount: bincount reads its maximum back from the device.
    size_tensor = torch.zeros(batch_size, dtype=torch.long, device=batch.device).index_add_(
        0, batch, torch.ones_like(batch)
    )
    norm_a = squared_norm_per_graph(edge_index, edge_weight, batch, num_nodes, batch_size)
    counts = size_tensor.to(x.dtype).clamp_min(1)
    entropy = (
        torch.zeros(batch_size, dtype=x.dtype, device=x.device).index_add(0, batch, node_entropy) / counts
    )
    return _Assigned(x, s_prob, a_s, edge_weight, size_tensor, num_clusters, norm_a, entropy)


def sparse_pool(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Tensor | None = None,
    num_clusters: Tensor | None = None,
    partition: Partition | None = None,
    *,
    validate: bool = True,
) -> tuple[list[PoolOutput], Tensor]:
    """:func:`sparse_diff_pool` with the coarsened graphs in the parts of ``partition`` (default: one
    part, the whole batch), plus the assignment S it computed ([N, K]).

    For :class:`~diffpool.nn.DiffPool`, which returns S too (a second softmax would cost several
    passes over an [N, K] tensor and keep its autograd graph alive). Part ``p`` gets a
    :class:`PoolOutput` of its graphs in its order, padded to its own largest cluster count (K for
    the whole batch), so the batch padded to its largest K is never built for a batch in parts.
    ``validate=False`` skips the input checks, for a caller that made ``x`` and ``s`` itself from a
    batch it has checked.
    """
    if partition is not None and validate and int(batch[-1]) + 1 != partition.batch_size:
        raise ValueError(
            f"the partition must list every graph of the batch (0..{int(batch[-1])}) exactly once; "
            f"it lists {partition.batch_size} graphs"
        )
    a = _assign(
        x,
        edge_index,
        s,
        batch,
        edge_weight,
        num_clusters,
        validate,
        None if partition is None else partition.batch_size,
    )
    batch_size, k = a.size_tensor.numel(), a.s_prob.size(1)
    # The per-graph sizes the products' shapes depend on, in one read from the device.
    if a.num_clusters is None:
        sizes = a.size_tensor.tolist()
        used = [k] * batch_size
    else:
        sizes, used = torch.stack([a.size_tensor, a.num_clusters.to(a.size_tensor)]).tolist()
    if partition is None or partition.is_whole:
        out_x, out_adj, gram_norm = products_in_batch_order(
            a.s_prob, a.x, a.a_s, batch, a.size_tensor, sizes, used
        )
        out_mask = (
            torch.ones(batch_size, k, dtype=torch.bool, device=x.device)
            if a.num_clusters is None
            else cluster_mask(a.num_clusters, k)
        )
        link, inexact = link_loss(a.norm_a, out_adj, gram_norm)
        positions = _flagged([inexact])[0]
        if positions:
            link = _exact_sparse_link_loss(
                link, positions, list(range(batch_size)), a, edge_index, batch, used
            )
        return [PoolOutput(out_x, out_adj, out_mask, link, a.entropy)], a.s_prob
    outputs = []
    products = products_in_parts(a.s_prob, a.x, a.a_s, batch, a.size_tensor, sizes, used, partition.parts)
    indices = [partition.index(p).to(x.device) for p in range(len(partition))]
    links = [
        link_loss(a.norm_a[index], out_adj, gram_norm)
        for index, (_, out_adj, gram_norm) in zip(indices, products)
    ]
    flagged = _flagged([inexact for _, inexact in links])
    for part, index, (out_x, out_adj, _), (link, _), positions in zip(
        partition.parts, indices, products, links, flagged
    ):
        counts = torch.tensor([used[g] for g in part], device=x.device)
        if positions:
            link = _exact_sparse_link_loss(link, positions, part, a, edge_index, batch, used)
        outputs.append(
            PoolOutput(out_x, out_adj, cluster_mask(counts, out_adj.size(-1)), link, a.entropy[index])
        )
    return outputs, a.s_prob


def _flagged(inexact: list[Tensor | None]) -> list[list[int]]:
    """The positions flagged in each of the [B_p] bool tensors (none for ``None``), in one read."""
    if any(t is None for t in inexact):
        return [[] for _ in inexact]
    flags = torch.cat([t for t in inexact if t is not None]).tolist()
    out, start = [], 0
    for t in inexact:
        assert t is not None
        out.append([i for i, flag in enumerate(flags[start : start + t.numel()]) if flag])
        start += t.numel()
    return out


def _exact_sparse_link_loss(
    link: Tensor,
    positions: list[int],
    graphs: Sequence[int],
    a: _Assigned,
    edge_index: Tensor,
    batch: Tensor,
    used: list[int],
) -> Tensor:
    """``link`` (the values of ``graphs``, in that order) with the entries at ``positions`` recomputed
    from S in float64, value and gradient, still without an n×n matrix."""
    sizes = a.size_tensor.tolist()
    starts = [sum(sizes[:g]) for g in range(len(sizes))]
    edge_graph = batch[edge_index[0]]
    exact = []
    for position in positions:
        g = graphs[position]
        first, n = starts[g], sizes[g]
        s64 = a.s_prob[first : first + n, : used[g]].double()
        on_g = edge_graph == g
        local = edge_index[:, on_g] - first
        weight = a.edge_weight[on_g].double()
        a_s = propagate(local, weight, s64)
        norm_a = squared_norm_per_graph(
            local, weight, torch.zeros(n, dtype=torch.long, device=batch.device), n, 1
        )
        squared = norm_a - 2 * (s64 * a_s).sum() + gram_squared_norm(s64)
        exact.append(safe_sqrt(squared).reshape(()))
    index = torch.tensor(positions, device=link.device)
    return link.index_put((index,), torch.stack(exact).to(link.dtype))
