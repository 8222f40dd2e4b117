"""Input checks of the pooling functions: bad input fails with a message that names the problem,
not deep inside a product."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "check_assignment_logits",
    "check_clusters",
    "check_dense_batch",
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


def check_num_clusters(
    num_clusters: Tensor | None, batch_size: int, k: int, *, values: bool = True
) -> Tensor | None:
    """``num_clusters`` as a tensor of shape [B]; with ``values``, every count in 1..k (one read from
    the device: a caller that made the counts itself may skip it)."""
    if num_clusters is None:
        return None
    num_clusters = torch.as_tensor(num_clusters)
    if num_clusters.shape != (batch_size,):
        raise ValueError(
            f"num_clusters must have shape [{batch_size}] (one per graph), got {list(num_clusters.shape)}"
        )
    if values and num_clusters.numel():
        lo, hi = torch.stack(torch.aminmax(num_clusters)).tolist()  # one read from the device
        if lo < 1 or hi > k:
            raise ValueError(f"num_clusters must lie in 1..{k} (the assignment's K), got values {lo}..{hi}")
    return num_clusters


def check_dense_batch(
    name: str,
    x: Tensor,
    adj: Tensor,
    s: Tensor,
    mask: Tensor | None,
    num_clusters: Tensor | None,
    *,
    validate: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor, bool, Tensor | None]:
    """The inputs of the dense pooling ``name`` as a padded batch (one graph, [N, ·], becomes a batch of
    one): ``x, adj, s``, the node mask (all True without one), whether there is padding, and
    ``num_clusters``. Shapes are always checked; with ``validate`` also NaN/inf and the counts' values
    (a caller that skips validation passes a mask only where there is padding)."""
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if adj.dim() == 2:
        adj = adj.unsqueeze(0)
    if s.dim() == 2:
        s = s.unsqueeze(0)
    if x.dim() != 3 or adj.dim() != 3 or s.dim() != 3:
        raise ValueError(f"{name} expects x [B, N, F], adj [B, N, N] and s [B, N, K]")
    batch_size, num_nodes, _ = x.shape
    if adj.shape != (batch_size, num_nodes, num_nodes):
        raise ValueError(
            f"adj has shape {list(adj.shape)}, expected [{batch_size}, {num_nodes}, {num_nodes}] to match x"
        )
    if s.shape[:2] != (batch_size, num_nodes):
        raise ValueError(f"s has shape {list(s.shape)}, expected [{batch_size}, {num_nodes}, K] to match x")
    k = s.size(-1)
    check_clusters(k)
    if validate:
        for label, t in (("x", x), ("adj", adj), ("s", s)):
            check_finite(label, t)
    if mask is None:
        padded = False
        mask = torch.ones(batch_size, num_nodes, dtype=torch.bool, device=x.device)
    elif mask.shape != (batch_size, num_nodes):
        raise ValueError(f"mask has shape {list(mask.shape)}, expected [{batch_size}, {num_nodes}]")
    else:
        mask = mask.bool()
        padded = not validate or not bool(mask.all())
    num_clusters = check_num_clusters(num_clusters, batch_size, k, values=validate)
    return x, adj, s, mask, padded, num_clusters


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
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must be [2, E], got shape {list(edge_index.shape)}")
    if edge_index.is_floating_point():
        raise ValueError("edge_index must hold integer node ids")
    # Every value check at once: one read from the device, not one per check.
    unsorted, first, lo, hi, crossing, non_finite = _batch_summary(x, edge_index, batch).tolist()
    if unsorted or first != 0:
        raise ValueError("batch must be sorted graph ids starting at 0, as PyG's DataLoader makes them")
    if edge_index.numel():
        if lo < 0 or hi >= n:
            raise ValueError(f"edge_index refers to node ids {lo}..{hi}, but the batch has nodes 0..{n - 1}")
        if crossing:
            raise ValueError("edge_index has edges between nodes of different graphs")
    if edge_weight is not None:
        if edge_weight.shape != (edge_index.size(1),):
            raise ValueError(
                f"edge_weight must be [E] = [{edge_index.size(1)}], got {list(edge_weight.shape)}"
            )
        check_finite("edge_weight", edge_weight)
    if non_finite:
        check_finite("x", x)


def check_assignment_logits(s: Tensor, num_nodes: int) -> None:
    if s.dim() != 2:
        raise ValueError(f"s must be [N, K] assignment logits, got shape {list(s.shape)}")
    if s.size(0) != num_nodes:
        raise ValueError(f"s has {s.size(0)} rows but x has {num_nodes} nodes")
    check_clusters(s.size(1))
    check_finite("s", s)


def _batch_summary(x: Tensor, edge_index: Tensor, batch: Tensor) -> Tensor:
    """[6] int64: batch unsorted, its first id, the smallest and largest node id of an edge, whether
    an edge joins two graphs (0 without edges), and whether x has a NaN or infinity."""
    n = batch.numel()
    long = torch.long
    unsorted = (batch[1:] < batch[:-1]).any().to(long)
    if edge_index.numel():
        lo, hi = edge_index.min(), edge_index.max()
        # Ids out of range are reported above; clamped here so the lookup below stays valid.
        ends = batch[edge_index.clamp(0, n - 1)]
        crossing = (ends[0] != ends[1]).any().to(long)
    else:
        lo = hi = crossing = torch.zeros((), dtype=long, device=batch.device)
    if x.is_floating_point():
        non_finite = (~torch.isfinite(x).all()).to(device=batch.device, dtype=long)
    else:
        non_finite = torch.zeros((), dtype=long, device=batch.device)
    return torch.stack([unsorted, batch[0].to(long), lo.to(long), hi.to(long), crossing, non_finite])
