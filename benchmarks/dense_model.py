r"""*Ours dense*: :class:`~diffpool.models.DiffPoolNet`'s architecture with every level dense.

The sparse mini-batch is padded (``to_dense_batch`` / ``to_dense_adj``, to the batch's largest
graph) and level 1 is a :class:`~diffpool.nn.DenseDiffPool` instead of the sparse
:class:`~diffpool.nn.DiffPool`. Everything else (blocks, readouts, losses) is the same code and the
classifier the same head, so the benchmark isolates what the sparse first level buys.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import to_dense_adj, to_dense_batch

from diffpool.models import ModelConfig, ModelOutput
from diffpool.nn import DenseDiffPool, GNNBlock, dense_readout

__all__ = ["DenseDiffPoolNet"]


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
