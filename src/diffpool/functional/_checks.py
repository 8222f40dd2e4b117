"""Input checks of the pooling functions: bad input fails with a message that names the problem,
not deep inside a product."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "check_assignment_logits",
    "check_clusters",
    "check_finite",
    "check_num_clusters",
    "check_sparse_batch",
]


def check_finite(name: str, t: Tensor) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); check the input features")


def check_clusters(k: int) -> None:
    if k < 1:
        raise ValueError(f"the assignment has K={k} clusters; K must be at least 1")


def check_num_clusters(num_clusters: Tensor | None, batch_size: int, k: int) -> Tensor | None:
    if num_clusters is None:
        return None
    num_clusters = torch.as_tensor(num_clusters)
    if num_clusters.shape != (batch_size,):
        raise ValueError(
            f"num_clusters must have shape [{batch_size}] (one per graph), got {list(num_clusters.shape)}"
        )
    if bool((num_clusters < 1).any()) or bool((num_clusters > k).any()):
        raise ValueError(
            f"num_clusters must lie in 1..{k} (the assignment's K), got values "
            f"{int(num_clusters.min())}..{int(num_clusters.max())}"
        )
    return num_clusters


def check_sparse_batch(
    x: Tensor, edge_index: Tensor, batch: Tensor, edge_weight: Tensor | None = None
) -> None:
    """Raises ``ValueError`` naming the problem unless ``x, edge_index, batch`` form a valid PyG mini-batch.

    :class:`~diffpool.nn.DiffPool` calls this before its GNNs, so bad input fails with this message
    rather than deep inside a convolution.
    """
    if x.dim() != 2:
        raise ValueError(f"x must be [N, F] (nodes of all graphs stacked), got shape {list(x.shape)}")
    n = x.size(0)
    if batch.dim() != 1 or batch.numel() != n:
        raise ValueError(
            f"batch must be [N] with one graph id per node: x has {n} nodes, "
            f"batch has shape {list(batch.shape)}"
        )
    if n == 0:
        raise ValueError("the batch has no nodes")
    if batch.is_floating_point():
        raise ValueError("batch must hold integer graph ids")
    if bool((batch[1:] < batch[:-1]).any()) or int(batch[0]) != 0:
        raise ValueError("batch must be sorted graph ids starting at 0, as PyG's DataLoader makes them")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must be [2, E], got shape {list(edge_index.shape)}")
    if edge_index.is_floating_point():
        raise ValueError("edge_index must hold integer node ids")
    if edge_index.numel():
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= n:
            raise ValueError(f"edge_index refers to node ids {lo}..{hi}, but the batch has nodes 0..{n - 1}")
        if bool((batch[edge_index[0]] != batch[edge_index[1]]).any()):
            raise ValueError("edge_index has edges between nodes of different graphs")
    if edge_weight is not None:
        if edge_weight.shape != (edge_index.size(1),):
            raise ValueError(
                f"edge_weight must be [E] = [{edge_index.size(1)}], got {list(edge_weight.shape)}"
            )
        check_finite("edge_weight", edge_weight)
    check_finite("x", x)


def check_assignment_logits(s: Tensor, num_nodes: int) -> None:
    if s.dim() != 2:
        raise ValueError(f"s must be [N, K] assignment logits, got shape {list(s.shape)}")
    if s.size(0) != num_nodes:
        raise ValueError(f"s has {s.size(0)} rows but x has {num_nodes} nodes")
    check_clusters(s.size(1))
    check_finite("s", s)
