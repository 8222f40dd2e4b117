r"""GNN blocks: a few message-passing layers whose outputs are concatenated (the paper's setting).

Each layer is ``conv → L2-normalise → ReLU → batch norm`` (the last layer: ``conv → L2-normalise``),
and the block returns ``[h_1 ‖ h_2 ‖ … ‖ h_L]``. The convolutions are PyG's: :class:`SAGEConv`
(mean), :class:`GCNConv` or :class:`GINConv` on sparse graphs, and their ``Dense*`` twins on the
padded coarsened graphs. In the dense form batch norm sees only real nodes (``mask``), so
padding never enters its statistics.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import (DenseGCNConv, DenseGINConv, DenseSAGEConv, GCNConv, GINConv,
                                SAGEConv, global_add_pool, global_max_pool, global_mean_pool)

ConvKind = Literal["sage", "gcn", "gin"]
Readout = Literal["max", "mean", "sum"]
CONV_KINDS: tuple[str, ...] = ("sage", "gcn", "gin")
READOUTS: tuple[str, ...] = ("max", "mean", "sum")

__all__ = ["GNNBlock", "batch_norm_rows", "make_conv", "sparse_readout", "dense_readout", "without_self_loops",
           "CONV_KINDS", "READOUTS"]


def without_self_loops(adj: Tensor) -> Tensor:
    """``adj`` with a zero diagonal: the neighbourhood a GNN aggregates over, N(v) without v.

    A coarsened adjacency ``SᵀAS`` keeps each cluster's internal edge mass on its diagonal, often
    tens of times the weight of the links between clusters; a mean aggregator would then see
    mostly the node itself. GraphSAGE aggregates over N(v) \\ {v} and handles v through its root
    weight (GCN and GIN treat the node separately too), so the GNNs get the diagonal removed,
    while the pooling itself uses the full ``SᵀAS``.
    """
    return adj * (1 - torch.eye(adj.size(-1), dtype=adj.dtype, device=adj.device))


def mean_adjacency(adj: Tensor) -> Tensor:
    """``adj`` with each row divided by its sum (at least 1): ``mean_adjacency(A) @ X`` averages each
    node's neighbours, as PyG's :class:`DenseSAGEConv` does with ``(A X) / deg``."""
    return adj / adj.sum(dim=-1, keepdim=True).clamp(min=1)


class _DenseSAGEConv(DenseSAGEConv):
    r"""PyG's :class:`DenseSAGEConv` (same parameters, same output), with the mean aggregation
    ``P = A / deg`` made once (per block, or per DiffPool layer for its two GNNs) instead of once per layer.

    PyG computes ``lin_rel((A X) / deg)``; each layer then keeps both ``A X`` and its quotient for
    the backward pass. Given ``P`` (:meth:`forward_mean`), a layer keeps one [B, N, F] product and
    the block one ``P``, shared by its layers. ``lin_rel`` has no bias, so ``lin_rel(P X) = P lin_rel(X)``
    exactly; when ``F_in > F_out`` (the first layer of every block after level 1 gets the 3·64 = 192
    concatenated channels and outputs 64) aggregating after the projection makes the product 3× cheaper.
    """

    def forward(self, x: Tensor, adj: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        adj = adj.unsqueeze(0) if adj.dim() == 2 else adj
        return self.forward_mean(x, mean_adjacency(adj), mask)

    def forward_mean(self, x: Tensor, mean_adj: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """The layer given ``mean_adj = mean_adjacency(A)`` [B, N, N]."""
        x = x.unsqueeze(0) if x.dim() == 2 else x
        batch_size, num_nodes, _ = mean_adj.size()
        if self.in_channels > self.out_channels:
            out = torch.matmul(mean_adj, self.lin_rel(x))
        else:
            out = self.lin_rel(torch.matmul(mean_adj, x))
        out = out + self.lin_root(x)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        if mask is not None:
            out = out * mask.view(batch_size, num_nodes, 1).to(x.dtype)
        return out


def make_conv(kind: str, in_channels: int, out_channels: int, *, dense: bool) -> nn.Module:
    """One PyG convolution of the given kind, sparse (``edge_index``) or dense (``adj``)."""
    if kind == "sage":
        return _DenseSAGEConv(in_channels, out_channels) if dense else SAGEConv(in_channels, out_channels, aggr="mean")
    if kind == "gcn":
        return DenseGCNConv(in_channels, out_channels) if dense else GCNConv(in_channels, out_channels)
    if kind == "gin":
        mlp = nn.Sequential(nn.Linear(in_channels, out_channels), nn.ReLU(), nn.Linear(out_channels, out_channels))
        return DenseGINConv(mlp) if dense else GINConv(mlp)
    raise ValueError(f"unknown convolution {kind!r}; choose one of {', '.join(CONV_KINDS)}")


class GNNBlock(nn.Module):
    r"""``num_layers`` graph convolutions with outputs concatenated.

    Args:
        in_channels: input feature size.
        hidden_channels: output size of every layer.
        num_layers: number of convolutions (paper: 3).
        conv: ``"sage"`` (GraphSAGE mean, paper), ``"gcn"`` or ``"gin"``.
        dense: work on padded ``[B, N, F]`` graphs with ``adj [B, N, N]`` instead of ``edge_index``.
        batch_norm: batch norm after every layer but the last (over real nodes only).
        normalize: L2-normalise every layer's output (paper).
        concat: return all layers' outputs concatenated (paper) instead of the last one.

    Shapes:
        sparse: ``x [N, in] , edge_index [2, E] → [N, out_channels]``;
        dense: ``x [B, N, in], adj [B, N, N], mask [B, N] → [B, N, out_channels]``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, num_layers: int = 3, *,
                 conv: str = "sage", dense: bool = False, batch_norm: bool = True,
                 normalize: bool = True, concat: bool = True) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a GNN block needs at least one layer, got num_layers={num_layers}")
        self.dense = dense
        self.normalize = normalize
        self.concat = concat
        self.convs = nn.ModuleList(
            make_conv(conv, in_channels if i == 0 else hidden_channels, hidden_channels, dense=dense)
            for i in range(num_layers))
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(hidden_channels) if batch_norm else nn.Identity() for _ in range(num_layers - 1))
        self.out_channels = hidden_channels * num_layers if concat else hidden_channels
        self._mean_aggregation = dense and conv == "sage"

    def forward(self, x: Tensor, graph: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """``graph`` is ``edge_index`` (sparse) or ``adj`` (dense); ``mask`` marks real nodes (dense).

        A dense ``adj`` is used without its diagonal (see :func:`without_self_loops`).
        """
        return self.forward_parts([x], [graph], [mask])[0]

    def neighbourhoods(self, adjs: list[Tensor]) -> list[Tensor]:
        """What the dense layers aggregate over, from each part's ``adj``: the adjacency without its
        diagonal (:func:`without_self_loops`), row-normalised for GraphSAGE's mean (:func:`mean_adjacency`).
        Blocks of the same convolution over the same graphs can share it (:meth:`forward_prepared`).
        A sparse block's ``edge_index`` needs nothing: it is returned as given."""
        if not self.dense:
            return adjs
        graphs = [without_self_loops(adj) for adj in adjs]
        return [mean_adjacency(g) for g in graphs] if self._mean_aggregation else graphs

    def forward_parts(self, xs: list[Tensor], graphs: list[Tensor], masks: list[Optional[Tensor]]) -> list[Tensor]:
        """The block over a batch split into parts (dense: graphs of similar size, each padded only to
        its own largest): every part goes through the same layers, and batch norm takes its statistics
        over the real nodes of all parts together — the same result as one batch padded to its
        largest graph, without paying for that padding. The sparse form takes one part."""
        return self.forward_prepared(xs, self.neighbourhoods(graphs), masks)

    def forward_prepared(self, xs: list[Tensor], graphs: list[Tensor], masks: list[Optional[Tensor]]) -> list[Tensor]:
        """:meth:`forward_parts` with dense ``graphs`` already passed through :meth:`neighbourhoods`."""
        if self.dense:
            # No padding in a part (every level ≥ 2 with fixed K): the same result without the masked
            # batch-norm gathers/scatters and the mask multiplies, which dominate small levels.
            masks = [None if mask is not None and bool(mask.all()) else mask for mask in masks]
        else:
            masks = [None] * len(xs)
        outputs: list[list[Tensor]] = [[] for _ in xs]
        for i, conv in enumerate(self.convs):
            if not self.dense:
                xs = [conv(x, graph) for x, graph in zip(xs, graphs)]
            elif self._mean_aggregation:
                xs = [conv.forward_mean(x, graph, mask) for x, graph, mask in zip(xs, graphs, masks)]
            else:
                xs = [conv(x, graph, mask) for x, graph, mask in zip(xs, graphs, masks)]
            if self.normalize:
                xs = [F.normalize(x, p=2.0, dim=-1) for x in xs]
            if i < len(self.norms):
                xs = _batch_norm_parts(self.norms[i], [F.relu(x) for x in xs], masks)
            for out, x in zip(outputs, xs):
                out.append(x)
        results = [torch.cat(out, dim=-1) if self.concat else out[-1] for out in outputs]
        return [out if mask is None else out * mask.unsqueeze(-1).to(out.dtype) for out, mask in zip(results, masks)]


def _batch_norm_parts(norm: nn.Module, xs: list[Tensor], masks: list[Optional[Tensor]]) -> list[Tensor]:
    """Batch norm of parts ([N, F] sparse, [B_p, N_p, F] padded) with statistics over all their real rows together."""
    rows = [x.reshape(-1, x.size(-1)) if mask is None else x[mask] for x, mask in zip(xs, masks)]
    normed = ([batch_norm_rows(norm, rows[0])] if len(rows) == 1
              else list(batch_norm_rows(norm, torch.cat(rows)).split([r.size(0) for r in rows])))
    outs = []
    for x, mask, r in zip(xs, masks, normed):
        if mask is None:
            outs.append(r.reshape(x.shape))
        else:
            # Statistics over real nodes only: padding must not shift the mean or variance.
            out = torch.zeros_like(x)
            out[mask] = r
            outs.append(out)
    return outs


def batch_norm_rows(norm: nn.Module, rows: Tensor) -> Tensor:
    """Batch norm over ``rows`` [R, F]. A single row has no batch statistics (torch refuses it in
    training): it is normalised with the running estimates, which it does not update. With per-graph
    cluster counts a batch holding one small graph has a single cluster at its top level."""
    # Not SyncBatchNorm (DDP with --sync-batchnorm): it must take part in every rank's collective,
    # and handles a single local row itself when there are several ranks.
    if isinstance(norm, nn.BatchNorm1d) and norm.training and rows.size(0) < 2:
        return F.batch_norm(rows, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                            training=False, eps=norm.eps)
    return norm(rows)


def sparse_readout(x: Tensor, batch: Tensor, kind: str, size: Optional[int] = None) -> Tensor:
    """Graph-level readout of stacked node features: ``[N, F] → [B, F]``."""
    if kind == "max":
        return global_max_pool(x, batch, size)
    if kind == "mean":
        return global_mean_pool(x, batch, size)
    if kind == "sum":
        return global_add_pool(x, batch, size)
    raise ValueError(f"unknown readout {kind!r}; choose one of {', '.join(READOUTS)}")


def dense_readout(x: Tensor, mask: Tensor, kind: str) -> Tensor:
    """Graph-level readout over real nodes of a padded batch: ``[B, N, F] → [B, F]``."""
    m = mask.unsqueeze(-1)
    if kind == "max":
        return x.masked_fill(~m, float("-inf")).max(dim=1).values
    if kind == "mean":
        return (x * m).sum(dim=1) / m.sum(dim=1).clamp_min(1)
    if kind == "sum":
        return (x * m).sum(dim=1)
    raise ValueError(f"unknown readout {kind!r}; choose one of {', '.join(READOUTS)}")
