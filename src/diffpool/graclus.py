r"""Deterministic clustering for DiffPool-DET: Graclus-style normalised-cut matching.

Graclus (Dhillon et al., 2007) coarsens a graph by matching nodes along edges of high
normalised-cut weight :math:`w_{ij}\,(1/d_i + 1/d_j)` and contracting the matched pairs; we
repeat passes on the coarsened graph (degrees become cluster volumes) until at most ``k`` clusters
remain. Each pass merges only mutually-best pairs. Where no edge is left to contract (isolated
nodes, disconnected parts) the smallest clusters are merged until ``k`` remain.

Node order. Ties (equal scores, equal cluster sizes) must be broken somehow, and breaking them by
node id made the partition depend on how the nodes are numbered. The nodes are therefore first put
in a canonical order (:func:`_canonical_order`): colour refinement (1-WL) over the weighted graph,
started from the node features ``x`` where given, then individualisation-refinement for the
colours still shared. Every tie is broken in that order and clusters are numbered by their first
node in it. Relabelling the nodes then gives the same partition mapped through the relabelling,
and the same cluster ids, where the colours tell all nodes apart; where nodes are interchangeable
(the nodes of a cycle, a star's leaves, identical branches on one node, isolated nodes with equal
features), the partition is mapped through the relabelling and an automorphism of the graph (that
keeps ``x``), so the pooled graphs are isomorphic and a model invariant to node order gives the
same output. What remains to the node ids: nodes that colour refinement cannot separate although no
automorphism relates them (some regular graphs), ties left after :data:`INDIVIDUALISATIONS` steps,
and, very rarely, a collision of the 64-bit colour hashes. Without ``x``, features do not take part:
an automorphism of the structure alone may then move nodes whose features differ.

The paper's DiffPool-DET uses such hard assignments instead of the learned S; see
:func:`det_hierarchy`, which computes them once per graph for every pooling level.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["normalized_cut_clustering", "det_hierarchy"]

_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_SHIFT1, _SHIFT2, _SHIFT3 = np.uint64(30), np.uint64(27), np.uint64(31)
_TAG = np.uint64(0x9E3779B97F4A7C15)  # keeps a node's own colour apart from its neighbours' sum
# Individualisations after the twins are ordered: a cycle needs 2, a molecule's rings a few, the
# REDDIT-BINARY graph with the most identical branches on one node 80; past this many, the ties
# left fall to the node ids (bounds the cost on large symmetric graphs).
INDIVIDUALISATIONS = 128


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (products wrap modulo 2**64, as intended)."""
    z = (z ^ (z >> _SHIFT1)) * _MIX1
    z = (z ^ (z >> _SHIFT2)) * _MIX2
    return z ^ (z >> _SHIFT3)


def _distinct(values: np.ndarray) -> int:
    """How many different values (``np.unique`` costs more on these small arrays)."""
    ordered = np.sort(values)
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + (values.size > 0)


def _refine(
    colour: np.ndarray, src: np.ndarray, dst: np.ndarray, edge_hash: np.ndarray, count: int
) -> tuple[np.ndarray, int]:
    """Colour refinement (1-WL) until a round separates no further nodes; ``count`` colours now.

    Each round hashes a node's colour with the sum (modulo 2**64, so independent of the edge order)
    of its neighbours' colours mixed with the edge weights.
    """
    num_nodes = colour.size
    while count < num_nodes:
        around = np.zeros(num_nodes, dtype=np.uint64)
        np.add.at(around, src, _mix(colour[dst] ^ edge_hash))
        refined = _mix(colour * _TAG + around)
        refined_count = _distinct(refined)
        if refined_count == count:
            break
        colour, count = refined, refined_count
    return colour, count


def _groups(colour: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes grouped by equal (colour, key): each node's place in its group (by id) and the
    group's first node."""
    num_nodes = colour.size
    group = np.lexsort((np.arange(num_nodes), key, colour))
    same = np.zeros(num_nodes, dtype=bool)
    same[1:] = (colour[group][1:] == colour[group][:-1]) & (key[group][1:] == key[group][:-1])
    starts = np.maximum.accumulate(np.where(same, 0, np.arange(num_nodes)))
    place, first = np.empty(num_nodes, dtype=np.int64), np.empty(num_nodes, dtype=np.int64)
    place[group], first[group] = np.arange(num_nodes) - starts, group[starts]
    return place, first


def _twin_places(colour: np.ndarray, src: np.ndarray, dst: np.ndarray, edge_hash: np.ndarray) -> np.ndarray:
    """Each node's place (by id) among its twins, 0 for a node without one.

    Twins have the same colour and the same weighted neighbours, apart from each other: open twins
    (not adjacent: leaves of one hub, isolated nodes) or closed twins (a clique whose members have
    the same other neighbours, with equal weights inside it). Any reordering of a group of twins
    is an automorphism, so ordering them by id keeps the order canonical up to an automorphism.
    """
    num_nodes = colour.size
    ids = _mix(np.arange(1, num_nodes + 1, dtype=np.uint64) * _TAG)  # compared only for equality
    open_key = np.zeros(num_nodes, dtype=np.uint64)
    np.add.at(open_key, src, _mix(ids[dst] ^ edge_hash))
    open_place, _ = _groups(colour, open_key)
    # closed twins: equal neighbour sets, self included; then the weights are checked
    pairs = np.unique(src * num_nodes + dst)
    closed_key = ids.copy()
    np.add.at(closed_key, pairs // num_nodes, ids[pairs % num_nodes])
    closed_place, first = _groups(colour, closed_key)
    inside = first[src] == first[dst]
    # the same weights to every other member, and to every node outside the group
    pair, where = np.unique(src[inside] * num_nodes + dst[inside], return_inverse=True)
    pair_hash = np.zeros(pair.size, dtype=np.uint64)
    np.add.at(pair_hash, where.reshape(-1), edge_hash[inside])
    outside = np.zeros(num_nodes, dtype=np.uint64)
    np.add.at(outside, src[~inside], _mix(ids[dst[~inside]] ^ edge_hash[~inside]))
    valid = np.bincount(first, minlength=num_nodes) > 1
    for owner, value in ((first[pair // num_nodes], pair_hash), (first, outside)):
        low = np.full(num_nodes, np.iinfo(np.uint64).max, dtype=np.uint64)
        high = np.zeros(num_nodes, dtype=np.uint64)
        np.minimum.at(low, owner, value)
        np.maximum.at(high, owner, value)
        valid &= low == high  # (members of a group of two or more are adjacent: pairs exist)
    return np.where(valid[first], closed_place, 0) + open_place


def _canonical_order(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray, num_nodes: int, x: Tensor | None
) -> np.ndarray:
    """The nodes in an order that relabelling changes only by an automorphism of the graph.

    Colour refinement from the feature rows (equal rows start equal). While colours are shared:
    twins (see :func:`_twin_places`) are ordered among themselves at once, since any order of them
    is an automorphism; then, up to :data:`INDIVIDUALISATIONS` times, the lowest-id node of the
    tied class of smallest colour gets a colour of its own and refinement runs again. Another
    choice in that class would give an automorphic image of this order wherever the class is one
    orbit of the automorphisms that keep the colours so far, which holds for all but graphs that
    colour refinement fails on. Ties left after that go to the node ids.
    """
    colour = np.zeros(num_nodes, dtype=np.uint64)
    if x is not None and x.numel() > 0:
        # a row's hash from its values' bits (so NaN rows are equal too), each column salted apart
        bits = np.ascontiguousarray(x.detach().cpu().double().reshape(num_nodes, -1).numpy()).view(np.uint64)
        salt = _mix(np.arange(1, bits.shape[1] + 1, dtype=np.uint64) * _TAG)
        colour = _mix(_mix(bits ^ salt).sum(axis=1, dtype=np.uint64))
    edge_hash = _mix(np.ascontiguousarray(weight, dtype=np.float64).view(np.uint64))
    colour, count = _refine(colour, src, dst, edge_hash, _distinct(colour))
    if count < num_nodes:
        colour = _mix(colour ^ _mix(_twin_places(colour, src, dst, edge_hash).astype(np.uint64) + _TAG))
        colour, count = _refine(colour, src, dst, edge_hash, _distinct(colour))
    for _ in range(INDIVIDUALISATIONS):
        if count == num_nodes:
            break
        order = np.argsort(colour, kind="stable")
        ordered = colour[order]
        chosen = order[int(np.argmax(ordered[1:] == ordered[:-1]))]
        colour = colour.copy()
        colour[chosen : chosen + 1] = _mix(colour[chosen : chosen + 1] + _TAG)  # arrays wrap silently
        colour, count = _refine(colour, src, dst, edge_hash, count + 1)
    return np.argsort(colour, kind="stable")


def _matching_pass(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray, volume: np.ndarray, limit: int
) -> np.ndarray:
    """One matching pass; returns new cluster ids (0..m-1) for the current nodes.

    ``src → dst`` with ``weight`` are the current pairs, each once per direction. Each node picks
    the neighbour with the highest normalised-cut score ``w_ij (1/vol_i + 1/vol_j)`` (ties: the
    lower id); pairs that pick each other merge, best scores first (ties: the lower id), at most
    ``num_nodes - limit`` of them. Unlike visiting nodes in a fixed order, this never forces a
    node into a weak pair because its good partners were taken. The ids are places in the
    canonical order (see :func:`normalized_cut_clustering`), so the ties do not depend on how the
    caller numbered the nodes. ``volume`` is each node's total degree in the original graph
    (edges inside it included). Merged nodes take the id of their lower member's place among the
    new clusters, in node order.
    """
    num_nodes = volume.size
    vol = np.maximum(volume, 1e-12)
    score = weight * (1.0 / vol[src] + 1.0 / vol[dst])
    positive = score > 0
    src, dst, score = src[positive], dst[positive], score[positive]
    by_node = np.lexsort((dst, -score, src))  # each node's best first, ties to the lower id
    head = np.ones(by_node.size, dtype=bool)
    head[1:] = src[by_node][1:] != src[by_node][:-1]
    first = by_node[head]
    best = np.full(num_nodes, -1, dtype=np.int64)
    best_score = np.zeros(num_nodes)
    best[src[first]], best_score[src[first]] = dst[first], score[first]
    lower = np.flatnonzero(best > np.arange(num_nodes))
    lower = lower[best[best[lower]] == lower]  # mutual: the pair's lower id
    lower = lower[np.lexsort((lower, -best_score[lower]))][: max(num_nodes - limit, 0)]
    fresh = np.ones(num_nodes, dtype=bool)
    fresh[best[lower]] = False
    cluster = np.cumsum(fresh) - 1
    cluster[best[lower]] = cluster[lower]
    return cluster


def _contract(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray, cluster: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs between different clusters, their weights summed (in the order given)."""
    a, b = cluster[src], cluster[dst]
    between = a != b
    key, inverse = np.unique(a[between] * max(count, 1) + b[between], return_inverse=True)
    summed = np.bincount(inverse.reshape(-1), weights=weight[between], minlength=key.size)
    return key // max(count, 1), key % max(count, 1), summed


def _cluster(
    ends: np.ndarray, edge_weight: np.ndarray, num_nodes: int, num_clusters: int, x: Tensor | None
) -> np.ndarray:
    """:func:`normalized_cut_clustering` on ``ends`` ([2, E] int64) and float64 weights."""
    target = min(num_clusters, num_nodes)
    off = ends[0] != ends[1]
    # symmetrise (the cut weight of an undirected pair): each edge counts in both directions
    src = np.concatenate([ends[0, off], ends[1, off]])
    dst = np.concatenate([ends[1, off], ends[0, off]])
    ew = np.concatenate([edge_weight[off], edge_weight[off]])
    order = _canonical_order(src, dst, ew, num_nodes, x)
    rank = np.empty(num_nodes, dtype=np.int64)
    rank[order] = np.arange(num_nodes)
    # From here on a node's id is its place in the canonical order, so every "lower id" tie-break
    # below is canonical. Edges are summed in a canonical order too (sorted, weights ascending), so
    # that float weights give bit-identical sums for a relabelled graph.
    src, dst = rank[src], rank[dst]
    edges = np.lexsort((ew, dst, src))
    src, dst, weight = _contract(src[edges], dst[edges], ew[edges], np.arange(num_nodes), num_nodes)
    volume = np.bincount(src, weights=weight, minlength=num_nodes)
    assignment = np.arange(num_nodes)
    count = num_nodes
    while count > target:
        step = _matching_pass(src, dst, weight, volume, target)
        new_count = int(step.max()) + 1
        if new_count == count:
            break
        assignment = step[assignment]
        volume = np.bincount(step, weights=volume, minlength=new_count)
        src, dst, weight = _contract(src, dst, weight, step, new_count)
        count = new_count
    if count > target:  # nothing left to contract: fold the smallest clusters together
        sizes = np.bincount(assignment, minlength=count)
        order = np.argsort(-sizes, kind="stable")  # equal sizes: the canonical order
        fold = np.empty(count, dtype=np.int64)
        fold[order] = np.minimum(np.arange(count), target - 1)
        assignment = fold[assignment]
    return assignment[rank]


def _check(num_nodes: int, x: Tensor | None) -> None:
    if x is not None and x.size(0) != num_nodes:
        raise ValueError(f"x has {x.size(0)} rows for {num_nodes} nodes")


def normalized_cut_clustering(
    edge_index: Tensor,
    num_nodes: int,
    num_clusters: int,
    edge_weight: Tensor | None = None,
    *,
    x: Tensor | None = None,
) -> Tensor:
    """Cluster ids in ``0..min(num_clusters, num_nodes)-1`` for each node, deterministically.

    Ties are broken in the canonical node order of the module docstring, so relabelling the
    nodes (and reordering the edges) changes the result only by the relabelling and, where nodes
    are interchangeable, an automorphism of the graph (with its features ``x``, [num_nodes, F],
    where given). Clusters are numbered in that order too.
    """
    if num_clusters < 1:
        raise ValueError(f"num_clusters must be at least 1, got {num_clusters}")
    _check(num_nodes, x)
    ends = edge_index.detach().cpu().numpy().astype(np.int64, copy=False)
    weight = np.ones(ends.shape[1]) if edge_weight is None else edge_weight.detach().cpu().double().numpy()
    return torch.as_tensor(_cluster(ends, weight, num_nodes, num_clusters, x), dtype=torch.long)


def det_hierarchy(
    edge_index: Tensor,
    num_nodes: int,
    ratio: float,
    levels: int,
    max_clusters: list[int],
    *,
    x: Tensor | None = None,
) -> list[Tensor]:
    """Hard cluster ids for each pooling level of one graph.

    Level ``l`` clusters the graph coarsened by the levels before it into
    ``min(ceil(ratio · n_l), max_clusters[l])`` clusters. The node features ``x`` (optional) take
    part in the first level's canonical order (see the module docstring). Clusters are numbered in
    that order, so a relabelled graph gives the same coarsened graph, up to an automorphism where
    nodes are interchangeable, and the later levels follow.
    """
    _check(num_nodes, x)
    ids, n = [], num_nodes
    ends = edge_index.detach().cpu().numpy().astype(np.int64, copy=False)
    weight = np.ones(ends.shape[1])
    for level in range(levels):
        k = max(1, min(math.ceil(ratio * n), max_clusters[level]))
        cluster = _cluster(ends, weight, n, k, x if level == 0 else None)
        ids.append(torch.as_tensor(cluster, dtype=torch.long))
        # coarsen: edges between clusters, weights summed
        n = int(cluster.max()) + 1 if n else 0
        src, dst, weight = _contract(ends[0], ends[1], weight, cluster, n)
        ends = np.stack([src, dst])
    return ids
