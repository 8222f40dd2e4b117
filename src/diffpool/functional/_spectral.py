r"""What MinCutPool and DMoN share: the soft assignment and its per-graph products in a sparse and a
dense form, the coarsened adjacency as both define it, and their orthogonality loss.

Both pool as DiffPool does, :math:`S = \mathrm{softmax}(s)`, :math:`X' = S^\top Z`,
:math:`A' = S^\top A S`; their losses need besides :math:`S^\top S` (K×K per graph) and the weighted
node degrees :math:`d_i = \sum_j A_{ij}`. The sparse form takes :math:`d` from the edges and
:math:`S^\top S` from the same per-graph products as :math:`S^\top Z` (the columns of S appended to
Z), so no n×n tensor is formed, forward or backward.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ._autograd import cluster_mask, safe_sqrt, widened
from ._checks import check_assignment_logits, check_dense_batch, check_num_clusters, check_sparse_batch
from ._partition import Partition
from ._products import products_in_batch_order, products_in_parts, propagate

__all__ = [
    "Coarsened",
    "DenseCoarsening",
    "SparseCoarsening",
    "dense_coarsen",
    "frobenius_norm",
    "normalized_adjacency",
    "orthogonality_loss",
    "ratio_or_zero",
    "sparse_coarsen",
    "trace",
]

# Added to every √d' before the division, as PyG's dense_mincut_pool and DMoNPooling do.
EPS = 1e-15


class Coarsened(NamedTuple):
    """The coarsened graphs of one part of a batch, before the method's own finishing."""

    x: Tensor
    """:math:`S^\\top Z`, [B_p, K_p, F]."""
    adj: Tensor
    """:math:`S^\\top A S`, [B_p, K_p, K_p]."""
    gram: Tensor
    """:math:`S^\\top S`, [B_p, K_p, K_p]."""
    mask: Tensor
    """[B_p, K_p] bool, the clusters each graph uses."""
    graphs: Tensor | None
    """[B_p] long, the part's graphs in the batch; None: the whole batch in order."""

    def take(self, values: Tensor) -> Tensor:
        """Per-graph ``values`` [B, ...] of the whole batch → this part's [B_p, ...], its clusters only
        (a trailing cluster axis is cut to K_p)."""
        if self.graphs is not None:
            values = values.index_select(0, self.graphs)
        if values.dim() == 2:
            values = values[:, : self.mask.size(-1)]
        return values


class SparseCoarsening(NamedTuple):
    """:func:`sparse_coarsen`'s result: the parts and the per-node values the losses sum per graph."""

    parts: list[Coarsened]
    s_prob: Tensor
    """S, [N, K] (zero in the clusters a graph does not use)."""
    degree: Tensor
    """[N], :math:`d_i = \\sum_j A_{ij}` over the edges (i, j) (duplicates add up)."""
    batch: Tensor
    sizes: Tensor
    """[B] node count of every graph."""

    def per_graph(self, values: Tensor) -> Tensor:
        """The sum over every graph's nodes of per-node ``values`` [N, ...] → [B, ...]."""
        out = values.new_zeros(self.sizes.numel(), *values.shape[1:])
        return out.index_add(0, self.batch, values)


def _softmax(s: Tensor, allowed: Tensor | None) -> Tensor:
    """Row-wise softmax; clusters not ``allowed`` get exactly 0."""
    return torch.softmax(s if allowed is None else s.masked_fill(~allowed, float("-inf")), dim=-1)


def sparse_coarsen(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Tensor | None = None,
    num_clusters: Tensor | None = None,
    partition: Partition | None = None,
    *,
    validate: bool = True,
) -> SparseCoarsening:
    """S = softmax(s), A·S over the edges, the degrees, and per part of ``partition`` (default: one,
    the whole batch) :math:`S^\\top Z`, :math:`S^\\top A S` and :math:`S^\\top S` of every graph. Inputs
    as :func:`~.diff_pool.sparse_diff_pool`'s; ``validate=False`` skips the input checks, for a caller
    that made ``x`` and ``s`` itself from a batch it has checked."""
    if validate:
        check_sparse_batch(x, edge_index, batch, edge_weight)
        check_assignment_logits(s, x.size(0))
    if partition is not None and validate and int(batch[-1]) + 1 != partition.batch_size:
        raise ValueError(
            f"the partition must list every graph of the batch (0..{int(batch[-1])}) exactly once; "
            f"it lists {partition.batch_size} graphs"
        )
    num_nodes, k = s.shape
    batch_size = int(batch[-1]) + 1 if partition is None else partition.batch_size
    num_clusters = check_num_clusters(num_clusters, batch_size, k, values=validate)
    if x.dtype != s.dtype:  # under autocast Z and the logits may differ; the products need one dtype
        dtype = torch.promote_types(x.dtype, s.dtype)
        x, s = x.to(dtype), s.to(dtype)
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.size(1), dtype=x.dtype, device=x.device)
    else:
        edge_weight = edge_weight.to(x.dtype)

    allowed = (
        None
        if num_clusters is None
        else torch.arange(k, device=s.device) < num_clusters.to(s.device)[batch].unsqueeze(-1)
    )
    s_prob = _softmax(s, allowed)
    a_s = propagate(edge_index, edge_weight, s_prob)
    degree = torch.zeros(num_nodes, dtype=x.dtype, device=x.device).index_add(0, edge_index[0], edge_weight)
    # index_add, not bincount: bincount reads its maximum back from the device.
    size_tensor = torch.zeros(batch_size, dtype=torch.long, device=batch.device).index_add_(
        0, batch, torch.ones_like(batch)
    )
    # The per-graph sizes the products' shapes depend on, in one read from the device.
    if num_clusters is None:
        sizes, used = size_tensor.tolist(), [k] * batch_size
    else:
        sizes, used = torch.stack([size_tensor, num_clusters.to(size_tensor)]).tolist()
    # Z with the columns of S appended: Sᵀ[Z | S] = [SᵀZ | SᵀS], by the same per-graph products.
    features = x.size(1)
    z_s = torch.cat([x, s_prob], dim=-1)
    if partition is None or partition.is_whole:
        out, out_adj, _ = products_in_batch_order(s_prob, z_s, a_s, batch, size_tensor, sizes, used)
        mask = (
            torch.ones(batch_size, k, dtype=torch.bool, device=x.device)
            if num_clusters is None
            else cluster_mask(num_clusters, k)
        )
        parts = [Coarsened(out[..., :features], out_adj, out[..., features:], mask, None)]
    else:
        parts = []
        products = products_in_parts(s_prob, z_s, a_s, batch, size_tensor, sizes, used, partition.parts)
        for p, (part, (out, out_adj, _)) in enumerate(zip(partition.parts, products)):
            width = out_adj.size(-1)
            counts = torch.tensor([used[g] for g in part], device=x.device)
            parts.append(
                Coarsened(
                    out[..., :features],
                    out_adj,
                    out[..., features : features + width],
                    cluster_mask(counts, width),
                    partition.index(p).to(x.device),
                )
            )
    return SparseCoarsening(parts, s_prob, degree, batch, size_tensor)


class DenseCoarsening(NamedTuple):
    """:func:`dense_coarsen`'s result."""

    coarsened: Coarsened
    s_prob: Tensor
    """S, [B, N, K] (padded rows 0)."""
    degree: Tensor
    """[B, N], :math:`d_i = \\sum_j A_{ij}` (padded nodes 0)."""
    num_nodes: Tensor
    """[B] real nodes of every graph."""


def dense_coarsen(
    name: str,
    x: Tensor,
    adj: Tensor,
    s: Tensor,
    mask: Tensor | None = None,
    num_clusters: Tensor | None = None,
    *,
    validate: bool = True,
) -> DenseCoarsening:
    """The dense form of :func:`sparse_coarsen` on a padded batch (inputs as
    :func:`~.diff_pool.dense_diff_pool`'s): padded nodes contribute nothing anywhere."""
    x, adj, s, mask, padded, num_clusters = check_dense_batch(
        name, x, adj, s, mask, num_clusters, validate=validate
    )
    batch_size, k = x.size(0), s.size(-1)
    allowed = None if num_clusters is None else cluster_mask(num_clusters, k).unsqueeze(1)
    s_prob = _softmax(s, allowed)
    if padded:
        node = mask.unsqueeze(-1).to(x.dtype)
        s_prob = s_prob * node
        x = x * node
        adj = adj * node * node.transpose(1, 2)
    s_t = s_prob.transpose(1, 2)
    out_mask = (
        torch.ones(batch_size, k, dtype=torch.bool, device=x.device)
        if num_clusters is None
        else cluster_mask(num_clusters, k)
    )
    coarsened = Coarsened(s_t @ x, s_t @ adj @ s_prob, s_t @ s_prob, out_mask, None)
    return DenseCoarsening(coarsened, s_prob, adj.sum(-1), mask.sum(-1))


def trace(matrices: Tensor) -> Tensor:
    """[B, K, K] → [B] traces."""
    return matrices.diagonal(dim1=-2, dim2=-1).sum(-1)


def ratio_or_zero(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator`` where the denominator is not 0, else 0 with a zero gradient (a
    plain ``where`` would carry the NaN of 0/0 into the gradient)."""
    defined = denominator != 0
    safe = torch.where(defined, denominator, torch.ones_like(denominator))
    return torch.where(defined, numerator / safe, torch.zeros_like(numerator))


def frobenius_norm(t: Tensor) -> Tensor:
    """‖t‖_F over the last two dims, with gradient 0 (not NaN) where it is 0."""
    return safe_sqrt(t.pow(2).sum(dim=(-2, -1)))


def orthogonality_loss(gram: Tensor, mask: Tensor) -> Tensor:
    r""":math:`\lVert S^\top S / \lVert S^\top S\rVert_F - I_k / \sqrt{k}\rVert_F` per graph, from
    :math:`S^\top S` [B, K, K] and the clusters each graph uses ``mask`` [B, K] (k of them: the identity
    covers those). 0 for a graph without nodes (:math:`S^\top S = 0`; only a padded batch has one)."""
    gram = widened(gram)
    used = mask.to(gram.dtype)
    norm = frobenius_norm(gram)
    scale = torch.where(norm > 0, norm, torch.ones_like(norm))
    ideal = torch.diag_embed(used) / used.sum(-1).clamp_min(1).sqrt()[:, None, None]
    loss = frobenius_norm(gram / scale[:, None, None] - ideal)
    return torch.where(norm > 0, loss, torch.zeros_like(loss))


def normalized_adjacency(adj: Tensor) -> Tensor:
    r"""The coarsened adjacency as MinCutPool and DMoN pass it on: :math:`S^\top A S` [B, K, K] with its
    diagonal set to 0, then :math:`\tilde D^{-1/2} \tilde A \tilde D^{-1/2}` (:math:`\tilde D` its row
    sums), with :math:`\sqrt{\tilde d} + 10^{-15}` as PyG divides by. A cluster whose row sum is not
    positive (no edges to the other clusters: an edgeless graph, a single cluster, a cluster a graph
    does not use) keeps its row and column undivided, all 0 for non-negative weights; PyG's divisor
    there is 1e-15 (or NaN), which makes the gradient 1e30 times too large or NaN."""
    k = adj.size(-1)
    off_diagonal = adj.masked_fill(torch.eye(k, dtype=torch.bool, device=adj.device), 0)
    degree = off_diagonal.sum(-1)
    positive = degree > 0
    ones = torch.ones_like(degree)
    root = torch.where(positive, torch.where(positive, degree, ones).sqrt() + EPS, ones)
    return off_diagonal / root[:, None, :] / root[:, :, None]
