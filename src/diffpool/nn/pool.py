r"""The learned pooling layers as modules: each owns GNN_embed and GNN_pool and applies its pooling math.

.. math::
    Z = \mathrm{GNN}_{embed}(A, X) \qquad
    S = \mathrm{softmax}(\mathrm{GNN}_{pool}(A, X)) \qquad
    X' = S^\top Z \qquad A' = S^\top A S

with the auxiliary losses :math:`L_{LP} = \lVert A - SS^\top\rVert_F` and
:math:`L_E = \frac{1}{n}\sum_i H(S_i)` per graph. :class:`DiffPool` takes a sparse PyG
mini-batch (``x, edge_index, batch``) and never builds an n×n tensor; :class:`DenseDiffPool`
takes the small padded coarsened graphs of the next levels.

:class:`MinCutPool` / :class:`DenseMinCutPool` and :class:`DMoNPool` / :class:`DenseDMoNPool` are the
same layers with the pooling math of MinCutPool and DMoN (:mod:`diffpool.functional`): same arguments,
same inputs, their own losses (``out.losses`` names every layer's per-graph losses).

Example::

    pool = DiffPool(in_channels=dataset.num_features, hidden_channels=64, max_clusters=16)
    out = pool(batch.x, batch.edge_index, batch.batch)
    out.pooled.x, out.pooled.adj        # [B, 16, 192], [B, 16, 16]
    loss = ce + out.link_loss.mean() + out.entropy.mean()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional import PaddedBatch, Partition
from ..functional._checks import check_sparse_batch
from ..functional.diff_pool import dense_pool_parts, sparse_pool
from ..functional.dmon_pool import dense_dmon_parts, sparse_dmon_parts
from ..functional.mincut_pool import dense_mincut_parts, sparse_mincut_parts
from .blocks import ConvKind, GNNBlock, _real_rows

__all__ = [
    "DMoNPool",
    "DMoNPoolOutput",
    "DenseDMoNPool",
    "DenseDiffPool",
    "DenseMinCutPool",
    "DiffPool",
    "DiffPoolOutput",
    "MinCutPool",
    "MinCutPoolOutput",
]


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

    @property
    def losses(self) -> dict[str, Tensor]:
        """The per-graph losses by the names :func:`~diffpool.models.classification_loss` gives them."""
        return {"link": self.link_loss, "entropy": self.entropy}


class MinCutPoolOutput(NamedTuple):
    """What one MinCutPool layer returns (fields as :class:`DiffPoolOutput`'s)."""

    pooled: PaddedBatch
    """the coarsened graphs; their adjacency has a zero diagonal and is degree-normalised."""
    cut_loss: Tensor
    """[B], :math:`-\\mathrm{tr}(S^\\top A S) / \\mathrm{tr}(S^\\top D S)` of every graph (0 without
    edges)."""
    ortho_loss: Tensor
    """[B], :math:`\\lVert S^\\top S / \\lVert S^\\top S\\rVert_F - I_k/\\sqrt{k}\\rVert_F` of every graph."""
    embedding: Tensor | PaddedBatch
    assignment: Tensor

    @property
    def losses(self) -> dict[str, Tensor]:
        return {"cut": self.cut_loss, "ortho": self.ortho_loss}


class DMoNPoolOutput(NamedTuple):
    """What one DMoN layer returns (fields as :class:`DiffPoolOutput`'s)."""

    pooled: PaddedBatch
    """the coarsened graphs: SELU of the pooled features; the adjacency has a zero diagonal and is
    degree-normalised."""
    spectral_loss: Tensor
    """[B], the negated modularity of every graph's soft clustering (0 without edges)."""
    ortho_loss: Tensor
    """[B], :math:`\\lVert S^\\top S / \\lVert S^\\top S\\rVert_F - I_k/\\sqrt{k}\\rVert_F` of every graph."""
    cluster_loss: Tensor
    """[B], :math:`\\sqrt{k}\\,\\lVert \\sum_i S_i\\rVert / n - 1` of every graph (collapse)."""
    embedding: Tensor | PaddedBatch
    assignment: Tensor

    @property
    def losses(self) -> dict[str, Tensor]:
        return {"spectral": self.spectral_loss, "ortho": self.ortho_loss, "cluster": self.cluster_loss}


Output = TypeVar("Output", DiffPoolOutput, MinCutPoolOutput, DMoNPoolOutput)


class _LearnedPool(nn.Module, Generic[Output]):
    """GNN_embed, GNN_pool and the linear head of the assignment logits, shared by every layer; a
    subclass names its pooling math (``_sparse`` or ``_dense``, the private ``*_parts`` functions of
    :mod:`diffpool.functional`) and its output type."""

    dense: bool = False
    method: str = "DiffPool"
    _output: Callable[..., Output]

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
            raise ValueError(f"{self.method} needs at least one cluster, got max_clusters={max_clusters}")
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


class _SparsePool(_LearnedPool[Output]):
    """A learned pooling on a sparse PyG mini-batch (the first level)."""

    _sparse: Callable[..., tuple[list[Any], Tensor]]

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor,
        num_clusters: Tensor | None = None,
        partition: Partition | None = None,
    ) -> Output:
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
        parts, assignment = type(self)._sparse(
            z, edge_index, logits, batch, num_clusters=num_clusters, partition=partition, validate=False
        )
        if partition is None:
            partition = Partition.whole(len(parts[0].x), x.device)
        pooled = PaddedBatch([p.x for p in parts], [p.adj for p in parts], [p.mask for p in parts], partition)
        # Every pooling output is (x, adj, mask, *its per-graph losses).
        losses = [partition.merge([p[i] for p in parts]) for i in range(3, len(parts[0]))]
        return type(self)._output(pooled, *losses, z, assignment)


class _DensePool(_LearnedPool[Output]):
    """A learned pooling on small padded graphs (the levels after the first)."""

    dense = True
    _dense: Callable[..., list[tuple[Any, Tensor]]]

    def forward(
        self,
        x: Tensor | PaddedBatch,
        adj: Tensor | None = None,
        mask: Tensor | None = None,
        num_clusters: Tensor | None = None,
    ) -> Output:
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
        results = type(self)._dense(
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
        losses = [partition.merge([p[i] for p in parts]) for i in range(3, len(parts[0]))]
        return type(self)._output(pooled_graphs, *losses, embedding, partition.merge_padded(assignments))


class DiffPool(_SparsePool[DiffPoolOutput]):
    r"""DiffPool on a sparse PyG mini-batch (the first level).

    Args:
        in_channels: node feature size.
        hidden_channels: width of every GNN layer.
        max_clusters: K, the number of clusters (per graph, at most).
        num_layers, conv, batch_norm, normalize, concat: see :class:`GNNBlock`.

    Shapes: ``x [N, F], edge_index [2, E], batch [N]`` →
    ``pooled.x [B, K, out_channels], pooled.adj [B, K, K]``, ``assignment [N, K]``.
    """

    _sparse = staticmethod(sparse_pool)
    _output = DiffPoolOutput


class DenseDiffPool(_DensePool[DiffPoolOutput]):
    r"""DiffPool on small padded graphs (the levels after the first).

    Same arguments as :class:`DiffPool`. Takes a :class:`~diffpool.functional.PaddedBatch` (what the
    previous level returned, in its parts), or one padded batch ``x [B, N, F], adj [B, N, N]`` with
    ``mask [B, N]``; ``assignment`` is ``[B, N, K]`` with padded rows 0.
    """

    _dense = staticmethod(dense_pool_parts)
    _output = DiffPoolOutput


class MinCutPool(_SparsePool[MinCutPoolOutput]):
    r"""MinCutPool (Bianchi et al., ICML 2020) on a sparse PyG mini-batch, with GNN_embed and GNN_pool
    as :class:`DiffPool` (same arguments and shapes): :math:`S = \mathrm{softmax}(\mathrm{Linear}(
    \mathrm{GNN}_{pool}(A, X)))`, the pooled adjacency degree-normalised with a zero diagonal, and the
    cut and orthogonality losses per graph (:func:`~diffpool.functional.sparse_mincut_pool`)."""

    method = "MinCutPool"
    _sparse = staticmethod(sparse_mincut_parts)
    _output = MinCutPoolOutput


class DenseMinCutPool(_DensePool[MinCutPoolOutput]):
    """MinCutPool on small padded graphs (the levels after the first); as :class:`DenseDiffPool`."""

    method = "MinCutPool"
    _dense = staticmethod(dense_mincut_parts)
    _output = MinCutPoolOutput


class DMoNPool(_SparsePool[DMoNPoolOutput]):
    r"""DMoN (Tsitsulin et al., JMLR 2023) on a sparse PyG mini-batch, with GNN_embed and GNN_pool as
    :class:`DiffPool` (same arguments and shapes): SELU of the pooled features, the pooled adjacency
    degree-normalised with a zero diagonal, and the spectral (modularity), orthogonality and cluster
    losses per graph (:func:`~diffpool.functional.sparse_dmon_pool`)."""

    method = "DMoN"
    _sparse = staticmethod(sparse_dmon_parts)
    _output = DMoNPoolOutput


class DenseDMoNPool(_DensePool[DMoNPoolOutput]):
    """DMoN on small padded graphs (the levels after the first); as :class:`DenseDiffPool`."""

    method = "DMoN"
    _dense = staticmethod(dense_dmon_parts)
    _output = DMoNPoolOutput


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
