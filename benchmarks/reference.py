r"""The reference: PyG's ``examples/proteins_diff_pool.py`` architecture with PyG's own layer.

Rebuilt here (same structure, not imported) so the benchmark measures exactly that model:
every GNN is three :class:`DenseSAGEConv` layers, each followed by ReLU and batch norm over all
(padded) node rows, outputs concatenated; the assignment GNNs end in a linear layer + ReLU; two
levels at ``ceil(0.25 · max_nodes)`` and ``ceil(0.25 · K_1)`` clusters; a mean readout of the last
level, two linear layers, log-softmax. The loss is NLL + link loss + entropy as PyG's
``dense_diff_pool`` returns them. Inputs are padded to the data set's largest graph, as the example's
``T.ToDense(max_nodes)`` does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import DenseSAGEConv, dense_diff_pool

__all__ = ["PygGNN", "PygDiffPoolNet"]


class PygGNN(nn.Module):
    """Three DenseSAGEConv + ReLU + BatchNorm layers, concatenated; optional final linear + ReLU."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, lin: bool = True) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [
                DenseSAGEConv(in_channels, hidden),
                DenseSAGEConv(hidden, hidden),
                DenseSAGEConv(hidden, out_channels),
            ]
        )
        self.bns = nn.ModuleList(
            [nn.BatchNorm1d(hidden), nn.BatchNorm1d(hidden), nn.BatchNorm1d(out_channels)]
        )
        self.lin = nn.Linear(2 * hidden + out_channels, out_channels) if lin else None

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        outs = []
        for conv, bn in zip(self.convs, self.bns):
            x = F.relu(conv(x, adj, mask))
            b, n, c = x.shape
            x = bn(x.reshape(-1, c)).reshape(b, n, c)
            outs.append(x)
        x = torch.cat(outs, dim=-1)
        return F.relu(self.lin(x)) if self.lin is not None else x


class PygDiffPoolNet(nn.Module):
    """``forward(x [B, N, F], adj [B, N, N], mask [B, N]) → (log-probs, link loss, entropy)``."""

    def __init__(
        self, in_channels: int, num_classes: int, max_nodes: int, hidden: int = 64, ratio: float = 0.25
    ) -> None:
        super().__init__()
        k1 = math.ceil(ratio * max_nodes)
        k2 = math.ceil(ratio * k1)
        self.cluster_counts = [k1, k2]
        self.gnn1_pool = PygGNN(in_channels, hidden, k1)
        self.gnn1_embed = PygGNN(in_channels, hidden, hidden, lin=False)
        self.gnn2_pool = PygGNN(3 * hidden, hidden, k2)
        self.gnn2_embed = PygGNN(3 * hidden, hidden, hidden, lin=False)
        self.gnn3_embed = PygGNN(3 * hidden, hidden, hidden, lin=False)
        self.lin1 = nn.Linear(3 * hidden, hidden)
        self.lin2 = nn.Linear(hidden, num_classes)

    def level1(
        self, x: Tensor, adj: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The first level on the padded input: ``(x [B, K_1, F], adj [B, K_1, K_1], link loss, entropy)``."""
        return dense_diff_pool(self.gnn1_embed(x, adj, mask), adj, self.gnn1_pool(x, adj, mask), mask)

    def rest(self, x: Tensor, adj: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Everything after level 1: ``(log-probs, level 2's link loss, level 2's entropy)``."""
        s = self.gnn2_pool(x, adj)
        x = self.gnn2_embed(x, adj)
        x, adj, link, entropy = dense_diff_pool(x, adj, s)
        x = self.gnn3_embed(x, adj).mean(dim=1)
        x = self.lin2(F.relu(self.lin1(x)))
        return F.log_softmax(x, dim=-1), link, entropy

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        x, adj, l1, e1 = self.level1(x, adj, mask)
        log_probs, l2, e2 = self.rest(x, adj)
        return log_probs, l1 + l2, e1 + e2
