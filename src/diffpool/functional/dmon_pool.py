r"""The pooling math of DMoN, Deep Modularity Networks (Tsitsulin, Palowitch, Perozzi and Müller, "Graph
Clustering with Graph Neural Networks", JMLR 2023), in a dense and a sparse form.

For one graph with adjacency :math:`A` (n×n), degrees :math:`d = A\mathbf{1}`, :math:`2m = \sum_i d_i`,
node embeddings :math:`Z` (n×F) and assignment logits :math:`s` (n×K):

.. math::
    S = \mathrm{softmax}(s) \quad X' = \mathrm{SELU}(S^\top Z) \quad
    A' = \tilde D^{-1/2} \tilde A \tilde D^{-1/2},\ \tilde A = S^\top A S - \mathrm{diag}(S^\top A S)

    L_{spectral} = -\frac{1}{2m} \mathrm{tr}\Big(S^\top A S - \frac{S^\top d\, d^\top S}{2m}\Big) \quad
    L_{ortho} = \Big\lVert \frac{S^\top S}{\lVert S^\top S\rVert_F} - \frac{I_K}{\sqrt K} \Big\rVert_F \quad
    L_{cluster} = \frac{\sqrt K}{n} \Big\lVert \sum_i S_i \Big\rVert_2 - 1

:math:`L_{spectral}` is the negated modularity of the soft clustering; :math:`L_{cluster}` (the
collapse regulariser) is 0 for clusters of equal size and :math:`\sqrt K - 1` when all nodes share one.
The losses are those of PyG's ``DMoNPooling``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ._autograd import safe_sqrt, widened
from ._partition import Partition
from ._spectral import (
    Coarsened,
    dense_coarsen,
    normalized_adjacency,
    orthogonality_loss,
    ratio_or_zero,
    sparse_coarsen,
    trace,
)

__all__ = ["DMoNOutput", "dense_dmon_pool", "sparse_dmon_pool"]


class DMoNOutput(NamedTuple):
    """Result of one DMoN coarsening.

    Attributes:
        x: pooled features :math:`\\mathrm{SELU}(S^\\top Z)`, [B, K, F].
        adj: pooled adjacency, [B, K, K]: :math:`S^\\top A S` with a zero diagonal, symmetrically
            normalised by its row sums.
        mask: [B, K] bool, the clusters in use (all True unless ``num_clusters`` was given).
        spectral_loss: [B], the negated modularity
            :math:`-\\mathrm{tr}(S^\\top A S - S^\\top d d^\\top S / 2m) / 2m` per graph; 0 for a graph
            without edges (2m = 0, where the modularity is undefined).
        ortho_loss: [B], :math:`\\lVert S^\\top S / \\lVert S^\\top S\\rVert_F - I_k/\\sqrt{k}\\rVert_F`
            per graph, k its clusters in use.
        cluster_loss: [B], :math:`\\sqrt{k}\\,\\lVert \\sum_i S_i\\rVert_2 / n - 1` per graph, in
            [0, √k − 1].
    """

    x: Tensor
    adj: Tensor
    mask: Tensor
    spectral_loss: Tensor
    ortho_loss: Tensor
    cluster_loss: Tensor


def _finish(
    coarsened: Coarsened, s_d: Tensor, cluster_size: Tensor, two_m: Tensor, num_nodes: Tensor
) -> DMoNOutput:
    """The pooled graphs and losses of one part, from its products and every graph's
    :math:`S^\\top d` [B_p, K_p], :math:`\\sum_i S_i` [B_p, K_p], 2m [B_p] and node count [B_p]."""
    s_d, cluster_size, two_m = widened(s_d), widened(cluster_size), widened(two_m)
    # -(tr(SᵀAS) − ‖Sᵀd‖²/2m)/2m, term by term as PyG's trace of the difference.
    expected = ratio_or_zero(s_d.pow(2).sum(-1), two_m)
    spectral = ratio_or_zero(-(trace(widened(coarsened.adj)) - expected), two_m)
    k = coarsened.mask.sum(-1).to(cluster_size.dtype)
    size_norm = safe_sqrt(cluster_size.pow(2).sum(-1))
    per_node = ratio_or_zero(size_norm, num_nodes.to(size_norm.dtype))
    # 0, not -1, for a graph without nodes (only a padded batch has one).
    cluster = torch.where(num_nodes > 0, per_node * k.sqrt() - 1, torch.zeros_like(per_node))
    return DMoNOutput(
        F.selu(coarsened.x),
        normalized_adjacency(coarsened.adj),
        coarsened.mask,
        spectral,
        orthogonality_loss(coarsened.gram, coarsened.mask),
        cluster,
    )


def dense_dmon_pool(
    x: Tensor,
    adj: Tensor,
    s: Tensor,
    mask: Tensor | None = None,
    num_clusters: Tensor | None = None,
) -> DMoNOutput:
    r"""DMoN on a padded batch: PyG's ``DMoNPooling`` after its MLP, given the logits.

    For every graph of the batch, with :math:`S = \mathrm{softmax}(s)` row-wise, :math:`d = A\mathbf 1`
    and :math:`2m = \sum_i d_i`:

    .. math::
        X' = \mathrm{SELU}(S^\top Z) \qquad
        A' = \tilde D^{-1/2} \tilde A \tilde D^{-1/2},\ \tilde A = S^\top A S - \mathrm{diag}(S^\top A S)

        L_{spectral} = -\frac{1}{2m} \mathrm{tr}\Big(S^\top A S - \frac{S^\top d\, d^\top S}{2m}\Big)
        \qquad
        L_{ortho} = \Big\lVert \frac{S^\top S}{\lVert S^\top S\rVert_F} - \frac{I_k}{\sqrt k} \Big\rVert_F
        \qquad
        L_{cluster} = \frac{\sqrt k}{n} \Big\lVert \sum_i S_i \Big\rVert_2 - 1

    (Tsitsulin et al., JMLR 2023, Eq. 3 and Sec. 4, with the orthogonality term PyG adds). Unlike PyG's,
    the losses are per graph: PyG averages them over the batch and, for graphs of different sizes,
    divides each graph's cluster norm by every graph's node count before averaging (reported in PyG's
    GitHub tracker, issues/10148).
    A graph without edges has spectral loss 0 (PyG: NaN); with ``num_clusters`` a graph's ``k`` is its
    own cluster count.

    Args:
        x: node embeddings :math:`Z`, [B, N, F] (or [N, F] for one graph).
        adj: adjacency, [B, N, N] (or [N, N]); may be weighted.
        s: assignment logits, [B, N, K] (or [N, K]); softmax is taken here.
        mask: [B, N] bool, real nodes. Padded nodes contribute nothing anywhere.
        num_clusters: optional [B] long, clusters used by each graph (surplus logits masked).

    Returns:
        :class:`DMoNOutput`: ``x`` [B, K, F], ``adj`` [B, K, K], ``mask`` [B, K] and the per-graph
        losses [B].
    """
    return dense_dmon_parts([(x, adj, s, mask, num_clusters)])[0][0]


DenseInputs = tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]


def dense_dmon_parts(
    parts: Sequence[DenseInputs], *, validate: bool = True
) -> list[tuple[DMoNOutput, Tensor]]:
    """:func:`dense_dmon_pool` of each part ``(x, adj, s, mask, num_clusters)``, with the assignment S it
    computed ([B_p, N_p, K], padded rows 0), for :class:`~diffpool.nn.DenseDMoNPool`.
    ``validate=False`` skips the NaN/inf scan and takes a ``mask`` to mean there is padding."""
    out = []
    for part in parts:
        dense = dense_coarsen("dense_dmon_pool", *part, validate=validate)
        s_d = (dense.s_prob * dense.degree.unsqueeze(-1)).sum(1)
        finished = _finish(dense.coarsened, s_d, dense.s_prob.sum(1), dense.degree.sum(-1), dense.num_nodes)
        out.append((finished, dense.s_prob))
    return out


def sparse_dmon_pool(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Tensor | None = None,
    num_clusters: Tensor | None = None,
) -> DMoNOutput:
    r"""DMoN on a PyG mini-batch, without any n×n tensor.

    The same outputs as :func:`dense_dmon_pool` for every graph of the batch. :math:`AS` is a sum over the
    edges; the degrees :math:`d`, :math:`2m`, :math:`S^\top d` and :math:`\sum_i S_i` are sums over
    edges and nodes, and :math:`\mathrm{tr}(S^\top d d^\top S) = \lVert S^\top d\rVert^2` needs no
    n×n matrix either.

    Args:
        x: node embeddings :math:`Z`, [N, F] (nodes of all graphs stacked).
        edge_index: [2, E] edges (source, target); an edge (i, j) is the entry A[i, j].
        s: assignment logits, [N, K].
        batch: [N] sorted graph id of every node (PyG's ``batch``).
        edge_weight: optional [E]; duplicate edges add their weights.
        num_clusters: optional [B] long, clusters used by each graph (surplus logits masked).

    Returns:
        :class:`DMoNOutput` with dense ``x`` [B, K, F], ``adj`` [B, K, K], ``mask`` [B, K] and the
        per-graph losses [B].

    Cost: O(E·K + N·K·(F + K)) time and O(N·(F + K) + B·K·(F + K)) memory.
    """
    parts, _ = sparse_dmon_parts(x, edge_index, s, batch, edge_weight, num_clusters)
    return parts[0]


def sparse_dmon_parts(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Tensor | None = None,
    num_clusters: Tensor | None = None,
    partition: Partition | None = None,
    *,
    validate: bool = True,
) -> tuple[list[DMoNOutput], Tensor]:
    """:func:`sparse_dmon_pool` with the coarsened graphs in the parts of ``partition`` (default: one
    part, the whole batch), plus the assignment S ([N, K]), for :class:`~diffpool.nn.DMoNPool`."""
    sparse = sparse_coarsen(x, edge_index, s, batch, edge_weight, num_clusters, partition, validate=validate)
    s_prob, degree = sparse.s_prob, sparse.degree
    s_d = sparse.per_graph(s_prob * degree.unsqueeze(-1))
    cluster_size = sparse.per_graph(s_prob)
    two_m = sparse.per_graph(degree)
    outputs = [
        _finish(part, part.take(s_d), part.take(cluster_size), part.take(two_m), part.take(sparse.sizes))
        for part in sparse.parts
    ]
    return outputs, s_prob
