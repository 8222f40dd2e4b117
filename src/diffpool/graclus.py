r"""Deterministic clustering for DiffPool-DET: Graclus-style normalised-cut matching.

Graclus (Dhillon et al., 2007) coarsens a graph by repeatedly matching every unmatched node with
the unmatched neighbour that maximises the normalised-cut weight
:math:`w_{ij}\,(1/d_i + 1/d_j)`; each pass roughly halves the node count. We repeat passes on
the coarsened graph until at most ``k`` clusters remain. Nodes are visited in a fixed order
(by id), so the result depends only on the graph. Where no edge is left to contract (isolated
nodes, disconnected parts) the smallest clusters are merged until ``k`` remain.

The paper's DiffPool-DET uses such hard assignments instead of the learned S; see
:func:`det_hierarchy`, which computes them once per graph for every pooling level.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["normalized_cut_clustering", "det_hierarchy"]


def _matching_pass(weights: dict[tuple[int, int], float], num_nodes: int, limit: int) -> np.ndarray:
    """One greedy matching pass; returns new cluster ids (0..m-1) for the ``num_nodes`` nodes."""
    degree = np.zeros(num_nodes)
    neighbours: list[list[tuple[int, float]]] = [[] for _ in range(num_nodes)]
    for (i, j), w in weights.items():
        degree[i] += w
        neighbours[i].append((j, w))
    cluster = np.full(num_nodes, -1, dtype=np.int64)
    next_id = 0
    merges_allowed = num_nodes - limit
    for i in range(num_nodes):
        if cluster[i] >= 0:
            continue
        best, best_score = -1, 0.0
        if merges_allowed > 0:
            for j, w in sorted(neighbours[i]):
                if j != i and cluster[j] < 0:
                    score = w * (1.0 / degree[i] + 1.0 / degree[j])
                    if score > best_score:
                        best, best_score = j, score
        cluster[i] = next_id
        if best >= 0:
            cluster[best] = next_id
            merges_allowed -= 1
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
    while count > target:
        step = _matching_pass(weights, count, target)
        new_count = int(step.max()) + 1 if count else 0
        if new_count == count:
            break
        assignment = step[assignment]
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
