r"""The pooling math of MinCutPool (Bianchi, Grattarola and Alippi, "Spectral Clustering with Graph
Neural Networks for Graph Pooling", ICML 2020), in a dense and a sparse form.

For one graph with adjacency :math:`A` (n×n), degrees :math:`D = \mathrm{diag}(A\mathbf{1})`, node
embeddings :math:`Z` (n×F) and assignment logits :math:`s` (n×K):

.. math::
    S = \mathrm{softmax}(s) \quad X' = S^\top Z \quad
    A' = \tilde D^{-1/2} \tilde A \tilde D^{-1/2},\ \tilde A = S^\top A S - \mathrm{diag}(S^\top A S)

    L_{cut} = -\frac{\mathrm{tr}(S^\top A S)}{\mathrm{tr}(S^\top D S)} \quad
    L_{ortho} = \Big\lVert \frac{S^\top S}{\lVert S^\top S\rVert_F} - \frac{I_K}{\sqrt K} \Big\rVert_F

(:math:`\tilde D` the row sums of :math:`\tilde A`). In MinCutPool the logits come from an MLP on the
output of a message-passing layer (PyG's example); :class:`~diffpool.nn.MinCutPool` uses a GNN with a
linear head, as :class:`~diffpool.nn.DiffPool` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor

from ._autograd import widened
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

__all__ = ["MinCutOutput", "dense_mincut_pool", "sparse_mincut_pool"]


class MinCutOutput(NamedTuple):
    """Result of one MinCutPool coarsening.

    Attributes:
        x: pooled features :math:`S^\\top Z`, [B, K, F].
        adj: pooled adjacency, [B, K, K]: :math:`S^\\top A S` with a zero diagonal, symmetrically
            normalised by its row sums.
        mask: [B, K] bool, the clusters in use (all True unless ``num_clusters`` was given).
        cut_loss: [B], :math:`-\\mathrm{tr}(S^\\top A S) / \\mathrm{tr}(S^\\top D S)` per graph, in
            [-1, 0] for non-negative weights; 0 for a graph without edges (where it is 0/0).
        ortho_loss: [B], :math:`\\lVert S^\\top S / \\lVert S^\\top S\\rVert_F - I_k/\\sqrt{k}\\rVert_F`
            per graph, k its clusters in use; in [0, √2).
    """

    x: Tensor
    adj: Tensor
    mask: Tensor
    cut_loss: Tensor
    ortho_loss: Tensor


def _finish(coarsened: Coarsened, trace_sds: Tensor) -> MinCutOutput:
    """The pooled graphs and losses of one part, from its products and every graph's tr(SᵀDS)."""
    cut = ratio_or_zero(-trace(widened(coarsened.adj)), widened(trace_sds))
    return MinCutOutput(
        coarsened.x,
        normalized_adjacency(coarsened.adj),
        coarsened.mask,
        cut,
        orthogonality_loss(coarsened.gram, coarsened.mask),
    )


def dense_mincut_pool(
    x: Tensor,
    adj: Tensor,
    s: Tensor,
    mask: Tensor | None = None,
    num_clusters: Tensor | None = None,
) -> MinCutOutput:
    r"""MinCutPool on a padded batch (the inputs of PyG's ``dense_mincut_pool``).

    For every graph of the batch, with :math:`S = \mathrm{softmax}(s)` row-wise and
    :math:`D = \mathrm{diag}(A\mathbf 1)`:

    .. math::
        X' = S^\top Z \qquad
        A' = \tilde D^{-1/2} \tilde A \tilde D^{-1/2},\ \tilde A = S^\top A S - \mathrm{diag}(S^\top A S)
        \qquad
        L_{cut} = -\frac{\mathrm{tr}(S^\top A S)}{\mathrm{tr}(S^\top D S)} \qquad
        L_{ortho} = \Big\lVert \frac{S^\top S}{\lVert S^\top S\rVert_F} - \frac{I_k}{\sqrt k} \Big\rVert_F

    (Bianchi et al., ICML 2020, Eq. 7–9). Unlike PyG's, the losses are per graph (PyG averages them over
    the batch), a graph without edges has cut loss 0 (PyG: NaN), padded nodes count nowhere (PyG takes
    degrees from the unmasked ``adj``), and with ``num_clusters`` a graph's identity covers only its own
    ``k`` clusters.

    Args:
        x: node embeddings :math:`Z`, [B, N, F] (or [N, F] for one graph).
        adj: adjacency, [B, N, N] (or [N, N]); may be weighted.
        s: assignment logits, [B, N, K] (or [N, K]); softmax is taken here.
        mask: [B, N] bool, real nodes.
        num_clusters: optional [B] long, clusters used by each graph (surplus logits masked).

    Returns:
        :class:`MinCutOutput`: ``x`` [B, K, F], ``adj`` [B, K, K], ``mask`` [B, K] and the per-graph
        losses [B].
    """
    return dense_mincut_parts([(x, adj, s, mask, num_clusters)])[0][0]


DenseInputs = tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None]


def dense_mincut_parts(
    parts: Sequence[DenseInputs], *, validate: bool = True
) -> list[tuple[MinCutOutput, Tensor]]:
    """:func:`dense_mincut_pool` of each part ``(x, adj, s, mask, num_clusters)``, with the assignment S
    it computed ([B_p, N_p, K], padded rows 0), for :class:`~diffpool.nn.DenseMinCutPool`.
    ``validate=False`` skips the NaN/inf scan and takes a ``mask`` to mean there is padding."""
    out = []
    for part in parts:
        dense = dense_coarsen("dense_mincut_pool", *part, validate=validate)
        trace_sds = (dense.degree * dense.s_prob.pow(2).sum(-1)).sum(-1)
        out.append((_finish(dense.coarsened, trace_sds), dense.s_prob))
    return out


def sparse_mincut_pool(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Tensor | None = None,
    num_clusters: Tensor | None = None,
) -> MinCutOutput:
    r"""MinCutPool on a PyG mini-batch, without any n×n tensor.

    The same outputs as :func:`dense_mincut_pool` for every graph :math:`g` of the batch. :math:`AS` is a
    sum over the edges, the degrees :math:`d_i = \sum_j A_{ij}` are summed from the edges (D is never
    formed) and :math:`\mathrm{tr}(S^\top D S) = \sum_i d_i \lVert S_i\rVert^2`, so time and memory grow
    with edges and nodes, never with n².

    Args:
        x: node embeddings :math:`Z`, [N, F] (nodes of all graphs stacked).
        edge_index: [2, E] edges (source, target); an edge (i, j) is the entry A[i, j].
        s: assignment logits, [N, K].
        batch: [N] sorted graph id of every node (PyG's ``batch``).
        edge_weight: optional [E]; duplicate edges add their weights.
        num_clusters: optional [B] long, clusters used by each graph (surplus logits masked).

    Returns:
        :class:`MinCutOutput` with dense ``x`` [B, K, F], ``adj`` [B, K, K], ``mask`` [B, K] and the
        per-graph losses [B].

    Cost: O(E·K + N·K·(F + K)) time and O(N·(F + K) + B·K·(F + K)) memory.
    """
    parts, _ = sparse_mincut_parts(x, edge_index, s, batch, edge_weight, num_clusters)
    return parts[0]


def sparse_mincut_parts(
    x: Tensor,
    edge_index: Tensor,
    s: Tensor,
    batch: Tensor,
    edge_weight: Tensor | None = None,
    num_clusters: Tensor | None = None,
    partition: Partition | None = None,
    *,
    validate: bool = True,
) -> tuple[list[MinCutOutput], Tensor]:
    """:func:`sparse_mincut_pool` with the coarsened graphs in the parts of ``partition`` (default: one
    part, the whole batch), plus the assignment S ([N, K]), for :class:`~diffpool.nn.MinCutPool`."""
    sparse = sparse_coarsen(x, edge_index, s, batch, edge_weight, num_clusters, partition, validate=validate)
    trace_sds = sparse.per_graph(sparse.degree * sparse.s_prob.pow(2).sum(-1))
    return [_finish(part, part.take(trace_sds)) for part in sparse.parts], sparse.s_prob
