r"""Dense models beside the sparse ones: ours with every level dense, and PyG's MinCutPool and DMoN.

*Ours dense*: :class:`~diffpool.models.DiffPoolNet`'s architecture with every level dense.

The sparse mini-batch is padded (``to_dense_batch`` / ``to_dense_adj``, to the batch's largest
graph) and level 1 is a :class:`~diffpool.nn.DenseDiffPool` instead of the sparse
:class:`~diffpool.nn.DiffPool`. Everything else (blocks, readouts, losses) is the same code and the
classifier the same head, so the benchmark isolates what the sparse first level buys.

*PyG's MinCutPool and DMoN* (:class:`PygPoolFamilyNet`): the architecture of the ``pyg`` reference
(:class:`~.reference.PygDiffPoolNet`, PyG's ``examples/proteins_diff_pool.py``: three
``DenseSAGEConv`` + ReLU + batch norm per GNN, two levels at ``ceil(0.25 · max_nodes)`` and
``ceil(0.25 · K_1)`` clusters, a mean readout of the last level, two linear layers) with PyG's own
pooling of the method in place of ``dense_diff_pool``:

* ``mincut``: ``torch_geometric.nn.dense.dense_mincut_pool(Z, A, s, mask)``, ``s`` the assignment
  GNN's output (it applies the softmax itself); loss NLL + cut + orthogonality.
* ``dmon``: ``torch_geometric.nn.DMoNPooling``. Its own assignment layer (an MLP on the features it
  pools, ``S = softmax(MLP(X))``, ``X' = selu(SᵀX)``) would make S a function of the pooled features.
  Here its ``mlp`` is replaced by :class:`GivenLogits`, which hands it the assignment GNN's output
  computed just before the call, and it is called with ``Z`` from the embedding GNN, so that
  ``S = softmax(GNN_pool(A, X))`` and ``X' = selu(SᵀZ)`` as in ours; everything else (masking, SᵀAS,
  the spectral, orthogonality and cluster losses, the normalised pooled adjacency) is PyG's code.
  Loss NLL + spectral + orthogonality + cluster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DMoNPooling
from torch_geometric.nn.dense import dense_mincut_pool
from torch_geometric.utils import to_dense_adj, to_dense_batch

from diffpool.models import ModelConfig, ModelOutput
from diffpool.nn import DenseDiffPool, GNNBlock, dense_readout

from .reference import PygDiffPoolNet

__all__ = ["DenseDiffPoolNet", "GivenLogits", "PygPoolFamilyNet", "PYG_POOL_METHODS", "pyg_pool"]

#: The pooling methods :class:`PygPoolFamilyNet` and :func:`pyg_pool` run with PyG's own code.
PYG_POOL_METHODS = ("mincut", "dmon")


def _mlp(in_channels: int, hidden: int, out_channels: int, dropout: float) -> nn.Sequential:
    """The classifier head of :class:`~diffpool.models.DiffPoolNet`, rebuilt: the package keeps it private."""
    return nn.Sequential(
        nn.Linear(in_channels, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_channels)
    )


class DenseDiffPoolNet(nn.Module):
    """``forward(batch)`` takes a PyG ``Batch`` and returns a :class:`~diffpool.models.ModelOutput`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        block = c.block_options()
        self.cluster_counts = c.cluster_counts()
        pools, channels = [], c.in_channels
        for k in self.cluster_counts:
            pools.append(DenseDiffPool(channels, c.hidden, k, **block))
            channels = pools[-1].out_channels
        self.pools = nn.ModuleList(pools)
        self.final = GNNBlock(channels, c.hidden, dense=True, **block)
        readout_size = sum(p.out_channels for p in pools) + self.final.out_channels
        self.classifier = _mlp(readout_size, c.mlp_hidden, c.num_classes, c.dropout)

    def forward(self, data) -> ModelOutput:
        x, mask = to_dense_batch(data.x, data.batch)
        adj = to_dense_adj(data.edge_index, data.batch, max_num_nodes=x.size(1))
        sizes = mask.sum(-1)
        readouts, links, entropies, assignments, counts = [], [], [], [], []
        for level, pool in enumerate(self.pools):
            out = pool(x, adj, mask, self.config.clusters_per_graph(level, sizes))
            readouts.append(dense_readout(out.embedding.x, mask, self.config.readout))
            links.append(out.link_loss)
            entropies.append(out.entropy)
            assignments.append(out.assignment)
            counts.append(sizes)
            x, adj, mask = out.pooled.x, out.pooled.adj, out.pooled.mask
            sizes = mask.sum(-1)
        readouts.append(dense_readout(self.final(x, adj, mask), mask, self.config.readout))
        logits = self.classifier(torch.cat(readouts, dim=-1))
        return ModelOutput(logits, {"link": links, "entropy": entropies}, assignments, counts)


class GivenLogits(nn.Module):
    """Stands in for :class:`~torch_geometric.nn.DMoNPooling`'s assignment MLP: returns the logits
    set in :attr:`logits` just before the call (once), whatever its input."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.in_channels = self.out_channels = k  # what DMoNPooling's repr reads
        self.logits: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        logits, self.logits = self.logits, None
        if logits is None:
            raise RuntimeError("GivenLogits: set .logits to the assignment logits before the pooling call")
        return logits

    def reset_parameters(self) -> None:
        pass


def dmon_pooling(k: int) -> DMoNPooling:
    """PyG's DMoNPooling with ``k`` clusters whose assignment logits are given (:class:`GivenLogits`)."""
    pool = DMoNPooling(k, k)
    pool.mlp = GivenLogits(k)
    return pool


def pyg_pool(
    method: str, pool: DMoNPooling | None, z: Tensor, adj: Tensor, logits: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """One level of PyG's pooling ``method``: ``(x [B, K, F], adj [B, K, K], [its losses])``, each
    loss the mean over the batch as PyG returns it. ``pool`` is the level's :func:`dmon_pooling`
    (``dmon``; None for ``mincut``)."""
    if method == "mincut":
        x, adj, cut, ortho = dense_mincut_pool(z, adj, logits, mask)
        return x, adj, [cut, ortho]
    if method == "dmon":
        if pool is None:
            raise ValueError("dmon needs its DMoNPooling module")
        assert isinstance(pool.mlp, GivenLogits)
        pool.mlp.logits = logits
        _, x, adj, spectral, ortho, cluster = pool(z, adj, mask)
        return x, adj, [spectral, ortho, cluster]
    raise ValueError(f"unknown PyG pooling method {method!r}; choose from {', '.join(PYG_POOL_METHODS)}")


class PygPoolFamilyNet(PygDiffPoolNet):
    """``forward(x [B, N, F], adj [B, N, N], mask [B, N]) → (log-probs, sum of the pooling losses)``:
    the ``pyg`` reference's architecture (its layers) with PyG's MinCutPool (``method="mincut"``) or
    DMoN (``"dmon"``) at both levels."""

    def __init__(
        self,
        method: str,
        in_channels: int,
        num_classes: int,
        max_nodes: int,
        hidden: int = 64,
        ratio: float = 0.25,
    ) -> None:
        if method not in PYG_POOL_METHODS:
            raise ValueError(
                f"unknown PyG pooling method {method!r}; choose from {', '.join(PYG_POOL_METHODS)}"
            )
        super().__init__(in_channels, num_classes, max_nodes, hidden=hidden, ratio=ratio)
        self.method = method
        k1, k2 = self.cluster_counts
        self.dmon = nn.ModuleList([dmon_pooling(k1), dmon_pooling(k2)]) if method == "dmon" else None

    def _pool(self, level: int, z: Tensor, adj: Tensor, logits: Tensor, mask: Tensor | None):
        return pyg_pool(self.method, None if self.dmon is None else self.dmon[level], z, adj, logits, mask)

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s = self.gnn1_pool(x, adj, mask)
        z = self.gnn1_embed(x, adj, mask)
        x, adj, losses1 = self._pool(0, z, adj, s, mask)
        s = self.gnn2_pool(x, adj)
        z = self.gnn2_embed(x, adj)
        x, adj, losses2 = self._pool(1, z, adj, s, None)
        x = self.gnn3_embed(x, adj).mean(dim=1)
        x = self.lin2(F.relu(self.lin1(x)))
        return F.log_softmax(x, dim=-1), sum(losses1 + losses2, x.new_zeros(()))
