r"""Deterministic clustering for DiffPool-DET: Graclus-style normalised-cut matching.

Graclus (Dhillon et al., 2007) coarsens a graph by matching nodes along edges of high
normalised-cut weight :math:`w_{ij}\,(1/d_i + 1/d_j)` and contracting the matched pairs; we
repeat passes on the coarsened graph (degrees become cluster volumes) until at most ``k`` clusters
remain. Each pass merges only mutually-best pairs, so the result is deterministic and does not
depend on the node order. Where no edge is left to contract (isolated nodes, disconnected parts)
the smallest clusters are merged until ``k`` remain.

The paper's DiffPool-DET uses such hard assignments instead of the learned S; see
:func:`det_hierarchy`, which computes them once per graph for every pooling level.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["normalized_cut_clustering", "det_hierarchy"]


def _matching_pass(weights: dict[tuple[int, int], float], volume: np.ndarray, limit: int) -> np.ndarray:
    """One matching pass; returns new cluster ids (0..m-1) for the current nodes.

    Each node picks the neighbour with the highest normalised-cut score
    ``w_ij (1/vol_i + 1/vol_j)`` (ties: the lower id); pairs that pick each other merge, best
    scores first, at most ``num_nodes - limit`` of them. Unlike visiting nodes in a fixed order,
    this never forces a node into a weak pair because its good partners were taken, and the
    result does not depend on the node order. ``volume`` is each node's total degree in the
    original graph (edges inside it included).
    """
    num_nodes = volume.size
    vol = np.maximum(volume, 1e-12)
    best = np.full(num_nodes, -1, dtype=np.int64)
    best_score = np.zeros(num_nodes)
    for (i, j), w in weights.items():
        score = w * (1.0 / vol[i] + 1.0 / vol[j])
        if score > best_score[i] or (score == best_score[i] and best[i] >= 0 and j < best[i]):
            best[i], best_score[i] = j, score
    pairs = sorted(((-best_score[i], i, int(best[i])) for i in range(num_nodes)
                    if best[i] > i and best[best[i]] == i))
    pairs = pairs[:max(num_nodes - limit, 0)]
    partner = np.full(num_nodes, -1, dtype=np.int64)
    for _, i, j in pairs:
        partner[j] = i
    cluster = np.full(num_nodes, -1, dtype=np.int64)
    next_id = 0
    for i in range(num_nodes):  # a partner j always has a lower id, so it is numbered already
        if partner[i] >= 0:
            cluster[i] = cluster[partner[i]]
        else:
            cluster[i] = next_id
            next_id += 1
    return cluster


def normalized_cut_clustering(edge_index: Tensor, num_nodes: int, num_clusters: int,
                              edge_weight: Tensor | None = None) -> Tensor:
    """Cluster ids in ``0..min(num_clusters, num_nodes)-1`` for each node, deterministically."""
    if num_clusters < 1:
        raise ValueError(f"num_clusters must be at least 1, got {num_clusters}")
    target = min(num_clusters, num_nodes)
    weights: dict[tuple[int, int], float] = {}
    ew = edge_weight.tolist() if edge_weight is not None else [1.0] * edge_index.size(1)
    for (i, j), w in zip(edge_index.t().tolist(), ew):
        if i != j:  # symmetrise: the cut weight of an undirected pair
            weights[(i, j)] = weights.get((i, j), 0.0) + w
            weights[(j, i)] = weights.get((j, i), 0.0) + w
    assignment = np.arange(num_nodes)
    count = num_nodes
    volume = np.zeros(num_nodes)
    for (i, _), w in weights.items():
        volume[i] += w
    while count > target:
        step = _matching_pass(weights, volume, target)
        new_count = int(step.max()) + 1 if count else 0
        if new_count == count:
            break
        assignment = step[assignment]
        volume = np.bincount(step, weights=volume, minlength=new_count)
        merged: dict[tuple[int, int], float] = {}
        for (i, j), w in weights.items():
            a, b = int(step[i]), int(step[j])
            if a != b:
                merged[(a, b)] = merged.get((a, b), 0.0) + w
        weights, count = merged, new_count
    if count > target:  # nothing left to contract: fold the smallest clusters together
        sizes = np.bincount(assignment, minlength=count)
        order = np.argsort(-sizes, kind="stable")
        fold = np.empty(count, dtype=np.int64)
        fold[order] = np.minimum(np.arange(count), target - 1)
        assignment = fold[assignment]
    return torch.as_tensor(assignment, dtype=torch.long)


def det_hierarchy(edge_index: Tensor, num_nodes: int, ratio: float, levels: int,
                  max_clusters: list[int]) -> list[Tensor]:
    """Hard cluster ids for each pooling level of one graph.

    Level ``l`` clusters the graph coarsened by the levels before it into
    ``min(ceil(ratio · n_l), max_clusters[l])`` clusters.
    """
    ids, n = [], num_nodes
    weight = torch.ones(edge_index.size(1))
    for level in range(levels):
        k = max(1, min(math.ceil(ratio * n), max_clusters[level]))
        cluster = normalized_cut_clustering(edge_index, n, k, weight)
        ids.append(cluster)
        # coarsen: edges between clusters, weights summed
        pairs = cluster[edge_index]
        keep = pairs[0] != pairs[1]
        n = int(cluster.max()) + 1 if n else 0
        if keep.any():
            key = pairs[0, keep] * max(n, 1) + pairs[1, keep]
            unique, inverse = torch.unique(key, return_inverse=True)
            weight = torch.zeros(unique.numel()).index_add(0, inverse, weight[keep])
            edge_index = torch.stack([unique // max(n, 1), unique % max(n, 1)])
        else:
            edge_index, weight = torch.empty(2, 0, dtype=torch.long), torch.empty(0)
    return ids
