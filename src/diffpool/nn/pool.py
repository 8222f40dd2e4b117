r"""The DiffPool layer as a module: it owns GNN_embed and GNN_pool and applies the pooling math.

.. math::
    Z = \mathrm{GNN}_{embed}(A, X) \qquad
    S = \mathrm{softmax}(\mathrm{GNN}_{pool}(A, X)) \qquad
    X' = S^\top Z \qquad A' = S^\top A S

with the auxiliary losses :math:`L_{LP} = \lVert A - SS^\top\rVert_F` and
:math:`L_E = \frac{1}{n}\sum_i H(S_i)` per graph. :class:`DiffPool` takes a sparse PyG
mini-batch (``x, edge_index, batch``) and never builds an n×n tensor; :class:`DenseDiffPool`
takes the padded coarsened graphs of the next level (``x, adj, mask``).

Example::

    pool = DiffPool(in_channels=dataset.num_features, hidden_channels=64, max_clusters=16)
    out = pool(batch.x, batch.edge_index, batch.batch)
    out.pooled.x, out.pooled.adj        # [B, 16, 192], [B, 16, 16]
    loss = ce + out.pooled.link_loss.mean() + out.pooled.entropy.mean()
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..functional import (PoolOutput, check_sparse_batch, dense_pool_with_assignment, sparse_pool_parts,
                          sparse_pool_with_assignment)
from .blocks import GNNBlock

__all__ = ["DiffPool", "DenseDiffPool", "DiffPoolOutput", "DiffPoolPartsOutput"]


class DiffPoolOutput(NamedTuple):
    """What one DiffPool layer returns."""

    pooled: PoolOutput
    """the coarsened graph (``x``, ``adj``, ``mask``) and the per-graph losses."""
    embedding: Tensor
    """Z, the node embeddings of the input graph (for a readout at this level)."""
    assignment: Tensor
    """S, soft assignment of each input node to the clusters; rows sum to 1."""


class DiffPoolPartsOutput(NamedTuple):
    """What :meth:`DiffPool.forward_parts` returns: the coarsened graphs in parts."""

    pooled: list[PoolOutput]
    """per part, its graphs' coarsened graph padded to the part's largest cluster count, and their losses."""
    embedding: Tensor
    """Z, the node embeddings of the input batch."""
    assignment: Tensor
    """S, [N, K] for the whole batch; rows sum to 1."""


class _DiffPoolBase(nn.Module):
    dense: bool = False

    def __init__(self, in_channels: int, hidden_channels: int, max_clusters: int, *,
                 num_layers: int = 3, conv: str = "sage", batch_norm: bool = True,
                 normalize: bool = True, concat: bool = True) -> None:
        super().__init__()
        if max_clusters < 1:
            raise ValueError(f"DiffPool needs at least one cluster, got max_clusters={max_clusters}")
        block = dict(num_layers=num_layers, conv=conv, dense=self.dense, batch_norm=batch_norm,
                     normalize=normalize, concat=concat)
        self.embed = GNNBlock(in_channels, hidden_channels, **block)
        self.pool = GNNBlock(in_channels, hidden_channels, **block)
        # A linear head, so assignment logits are not L2-normalised (that would flatten the softmax).
        self.assign = nn.Linear(self.pool.out_channels, max_clusters)
        self.max_clusters = max_clusters
        self.out_channels = self.embed.out_channels

    def _logits(self, h: Tensor, num_clusters: Optional[Tensor]) -> Tensor:
        """Assignment logits for the clusters some graph of the batch uses, not all ``max_clusters``."""
        if num_clusters is None:
            return self.assign(h)
        if bool((num_clusters > self.max_clusters).any()):
            raise ValueError(f"num_clusters asks for up to {int(num_clusters.max())} clusters, "
                             f"but this layer has max_clusters={self.max_clusters}")
        used = int(num_clusters.max())
        return F.linear(h, self.assign.weight[:used], self.assign.bias[:used])


class DiffPool(_DiffPoolBase):
    r"""DiffPool on a sparse PyG mini-batch (first level).

    Args:
        in_channels: node feature size.
        hidden_channels: width of every GNN layer.
        max_clusters: K, the number of clusters (per graph, at most).
        num_layers, conv, batch_norm, normalize, concat: see :class:`GNNBlock`.

    Shapes: ``x [N, F], edge_index [2, E], batch [N]`` →
    ``pooled.x [B, K, out_channels], pooled.adj [B, K, K]``, ``assignment [N, K]``.
    """

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor,
                num_clusters: Optional[Tensor] = None) -> DiffPoolOutput:
        """``num_clusters`` [B]: use only the first ``num_clusters[b]`` clusters for graph ``b``.

        The outputs then have ``K = max(num_clusters)`` columns, not ``max_clusters``: clusters no
        graph of the batch uses are neither computed nor returned.
        """
        z, logits = self._embed_and_assign(x, edge_index, batch, num_clusters)
        # z and the logits come from the checked batch: no second scan of them.
        pooled, assignment = sparse_pool_with_assignment(z, edge_index, logits, batch, num_clusters=num_clusters,
                                                         validate=False)
        return DiffPoolOutput(pooled, z, assignment)

    def forward_parts(self, x: Tensor, edge_index: Tensor, batch: Tensor, num_clusters: Optional[Tensor],
                      parts: Sequence[Sequence[int] | Tensor]) -> DiffPoolPartsOutput:
        """As :meth:`forward`, the coarsened graphs returned in ``parts`` (lists of graph indices
        partitioning the batch), each padded only to its own largest cluster count
        (see :func:`~diffpool.functional.sparse_pool_parts`)."""
        z, logits = self._embed_and_assign(x, edge_index, batch, num_clusters)
        pooled, assignment = sparse_pool_parts(z, edge_index, logits, batch, parts, num_clusters=num_clusters,
                                               validate=False)
        return DiffPoolPartsOutput(pooled, z, assignment)

    def _embed_and_assign(self, x: Tensor, edge_index: Tensor, batch: Tensor,
                          num_clusters: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        check_sparse_batch(x, edge_index, batch)  # before the GNNs, so bad input fails with a clear message
        return self.embed(x, edge_index), self._logits(self.pool(x, edge_index), num_clusters)


class DenseDiffPool(_DiffPoolBase):
    r"""DiffPool on padded graphs ``x [B, N, F], adj [B, N, N], mask [B, N]`` (levels ≥ 2).

    Same arguments as :class:`DiffPool`; ``assignment`` is ``[B, N, K]`` with padded rows 0.
    """

    dense = True

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor,
                num_clusters: Optional[Tensor] = None) -> DiffPoolOutput:
        return self.forward_parts([x], [adj], [mask], [num_clusters])[0]

    def forward_parts(self, xs: list[Tensor], adjs: list[Tensor], masks: list[Tensor],
                      num_clusters: list[Optional[Tensor]]) -> list[DiffPoolOutput]:
        """The batch as parts of similar-sized graphs, each padded to its own largest (see
        :meth:`GNNBlock.forward_parts`); batch norm sees all parts together, the pooling is per graph."""
        # Both GNNs aggregate over the same neighbourhoods: made once, kept once for the backward pass.
        graphs = self.embed.neighbourhoods(adjs)
        zs = self.embed.forward_prepared(xs, graphs, masks)
        hs = self.pool.forward_prepared(xs, graphs, masks)
        outputs = []
        for z, h, adj, mask, counts in zip(zs, hs, adjs, masks, num_clusters):
            # Inputs are the previous level's outputs, computed from a checked batch.
            pooled, assignment = dense_pool_with_assignment(z, adj, self._logits(h, counts), mask,
                                                            num_clusters=counts, check_finite=False)
            outputs.append(DiffPoolOutput(pooled, z, assignment))
        return outputs
