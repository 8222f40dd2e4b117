r"""The DiffPool layer as a module: it owns GNN_embed and GNN_pool and applies the pooling math.

.. math::
    Z = \mathrm{GNN}_{embed}(A, X) \qquad
    S = \mathrm{softmax}(\mathrm{GNN}_{pool}(A, X)) \qquad
    X' = S^\top Z \qquad A' = S^\top A S

with the auxiliary losses :math:`L_{LP} = \lVert A - SS^\top\rVert_F` and
:math:`L_E = \frac{1}{n}\sum_i H(S_i)` per graph. :class:`DiffPool` takes a sparse PyG
mini-batch (``x, edge_index, batch``) and never builds an n×n tensor; :class:`DenseDiffPool`
takes the small padded coarsened graphs of the next levels.

Example::

    pool = DiffPool(in_channels=dataset.num_features, hidden_channels=64, max_clusters=16)
    out = pool(batch.x, batch.edge_index, batch.batch)
    out.pooled.x, out.pooled.adj        # [B, 16, 192], [B, 16, 16]
    loss = ce + out.link_loss.mean() + out.entropy.mean()
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional import PaddedBatch, Partition
from ..functional._checks import check_sparse_batch
from ..functional.diff_pool import dense_pool_parts, sparse_pool
from .blocks import ConvKind, GNNBlock, _real_rows

__all__ = ["DenseDiffPool", "DiffPool", "DiffPoolOutput"]


class DiffPoolOutput(NamedTuple):
    """What one DiffPool layer returns."""

    pooled: PaddedBatch
    """the coarsened graphs, in the parts of the layer's partition (``pooled.x`` [B, K, F],
    ``pooled.adj`` [B, K, K] and ``pooled.mask`` [B, K] give them in batch order)."""
    link_loss: Tensor
    """[B], :math:`\\lVert A_g - S_g S_g^\\top\\rVert_F` of every graph, in batch order."""
    entropy: Tensor
    """[B], mean row entropy of every graph's S, in batch order."""
    embedding: Tensor | PaddedBatch
    """Z, the node embeddings of the input graphs (for a readout at this level): [N, F] for
    :class:`DiffPool`, the input graphs with features Z for :class:`DenseDiffPool`."""
    assignment: Tensor
    """S, soft assignment of each input node to the clusters; rows sum to 1: [N, K] for
    :class:`DiffPool`, [B, N, K] in batch order (padded rows 0) for :class:`DenseDiffPool`."""


class _DiffPoolBase(nn.Module):
    dense: bool = False

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        max_clusters: int,
        *,
        num_layers: int = 3,
        conv: ConvKind = "sage",
        batch_norm: bool = True,
        normalize: bool = True,
        concat: bool = True,
    ) -> None:
        super().__init__()
        if max_clusters < 1:
            raise ValueError(f"DiffPool needs at least one cluster, got max_clusters={max_clusters}")
        self.embed = GNNBlock(
            in_channels,
            hidden_channels,
            num_layers,
            conv=conv,
            dense=self.dense,
            batch_norm=batch_norm,
            normalize=normalize,
            concat=concat,
        )
        self.pool = GNNBlock(
            in_channels,
            hidden_channels,
            num_layers,
            conv=conv,
            dense=self.dense,
            batch_norm=batch_norm,
            normalize=normalize,
            concat=concat,
        )
        # A linear head, so assignment logits are not L2-normalised (that would flatten the softmax).
        self.assign = nn.Linear(self.pool.out_channels, max_clusters)
        self.max_clusters = max_clusters
        self.out_channels = self.embed.out_channels

    def _clusters_used(self, num_clusters: list[Tensor | None]) -> list[int]:
        """The most clusters a graph of each part uses (``max_clusters`` without counts), with the
        counts checked against 1..max_clusters: one read from the device for all parts."""
        given = [c for c in num_clusters if c is not None]
        if not given:
            return [self.max_clusters] * len(num_clusters)
        bounds = torch.stack([torch.stack(torch.aminmax(c)) for c in given]).tolist()
        lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
        if lo < 1 or hi > self.max_clusters:
            raise ValueError(
                f"num_clusters asks for {lo}..{hi} clusters, but this layer has "
                f"max_clusters={self.max_clusters} (and every graph needs at least one)"
            )
        most = iter(b[1] for b in bounds)
        return [self.max_clusters if c is None else next(most) for c in num_clusters]

    def _logits(self, h: Tensor, used: int) -> Tensor:
        """Assignment logits for the clusters some graph uses, not all ``max_clusters``."""
        if used == self.max_clusters:
            return self.assign(h)
        return F.linear(h, self.assign.weight[:used], self.assign.bias[:used])


class DiffPool(_DiffPoolBase):
    r"""DiffPool on a sparse PyG mini-batch (the first level).

    Args:
        in_channels: node feature size.
        hidden_channels: width of every GNN layer.
        max_clusters: K, the number of clusters (per graph, at most).
        num_layers, conv, batch_norm, normalize, concat: see :class:`GNNBlock`.

    Shapes: ``x [N, F], edge_index [2, E], batch [N]`` →
    ``pooled.x [B, K, out_channels], pooled.adj [B, K, K]``, ``assignment [N, K]``.
    """

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor,
        num_clusters: Tensor | None = None,
        partition: Partition | None = None,
    ) -> DiffPoolOutput:
        """``num_clusters`` [B]: use only the first ``num_clusters[b]`` clusters for graph ``b``; the
        outputs then have ``K = max(num_clusters)`` columns, not ``max_clusters``.

        ``partition``: keep the coarsened graphs in these parts, each padded only to its own largest
        cluster count (see :meth:`Partition.by_size`); default one part, the whole batch.
        """
        check_sparse_batch(x, edge_index, batch)  # before the GNNs, so bad input fails with a clear message
        (used,) = self._clusters_used([num_clusters])
        z = self.embed(x, edge_index)
        logits = self._logits(self.pool(x, edge_index), used)
        # z and the logits come from the checked batch: no second scan of them.
        parts, assignment = sparse_pool(
            z, edge_index, logits, batch, num_clusters=num_clusters, partition=partition, validate=False
        )
        if partition is None:
            partition = Partition.whole(len(parts[0].x), x.device)
        pooled = PaddedBatch([p.x for p in parts], [p.adj for p in parts], [p.mask for p in parts], partition)
        return DiffPoolOutput(
            pooled,
            partition.merge([p.link_loss for p in parts]),
            partition.merge([p.entropy for p in parts]),
            z,
            assignment,
        )


class DenseDiffPool(_DiffPoolBase):
    r"""DiffPool on small padded graphs (the levels after the first).

    Same arguments as :class:`DiffPool`. Takes a :class:`~diffpool.functional.PaddedBatch` (what the
    previous level returned, in its parts), or one padded batch ``x [B, N, F], adj [B, N, N]`` with
    ``mask [B, N]``; ``assignment`` is ``[B, N, K]`` with padded rows 0.
    """

    dense = True

    def forward(
        self,
        x: Tensor | PaddedBatch,
        adj: Tensor | None = None,
        mask: Tensor | None = None,
        num_clusters: Tensor | None = None,
    ) -> DiffPoolOutput:
        """``num_clusters`` [B] in batch order: use only the first ``num_clusters[b]`` clusters for
        graph ``b``."""
        graphs = _padded_batch(x, adj, mask)
        # Both GNNs aggregate over the same neighbourhoods, which the batch makes once and keeps.
        embedding = self.embed(graphs)
        hidden = self.pool(graphs)
        counts: list[Tensor | None] = (
            [None] * len(graphs.parts) if num_clusters is None else list(graphs.partition.split(num_clusters))
        )
        used = self._clusters_used(counts)
        layouts = _real_rows(graphs)  # found by the GNNs above: no second look at the masks
        # Inputs are the previous level's outputs, computed from a checked batch; a mask only where
        # there is padding to take out.
        results = dense_pool_parts(
            [
                (z, adj_p, self._logits(h, k), None if layout.index is None else mask_p, c)
                for (z, adj_p, mask_p), (h, _, _), c, k, layout in zip(
                    embedding.parts, hidden.parts, counts, used, layouts
                )
            ],
            validate=False,
        )
        parts = [pooled for pooled, _ in results]
        assignments = [s for _, s in results]
        partition = graphs.partition
        pooled_graphs = PaddedBatch(
            [p.x for p in parts], [p.adj for p in parts], [p.mask for p in parts], partition
        )
        return DiffPoolOutput(
            pooled_graphs,
            partition.merge([p.link_loss for p in parts]),
            partition.merge([p.entropy for p in parts]),
            embedding,
            partition.merge_padded(assignments),
        )


def _padded_batch(x: Tensor | PaddedBatch, adj: Tensor | None, mask: Tensor | None) -> PaddedBatch:
    if isinstance(x, PaddedBatch):
        if adj is not None or mask is not None:
            raise ValueError("pass either a PaddedBatch or the tensors x, adj and mask, not both")
        return x
    if adj is None:
        raise ValueError(
            "a dense layer needs the adjacency: pass x [B, N, F] with adj [B, N, N], or a PaddedBatch"
        )
    return PaddedBatch.padded(x, adj, mask)
