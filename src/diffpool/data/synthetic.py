"""``SyntheticHierarchy``: the built-in, offline data set whose classes live at the community level.

Each graph is a few dense communities (random graphs with edge probability ``p_in``) joined by
sparse links; the class is how the communities are arranged — the *community graph* is a

    0: path     1: cycle     2: star     3: clique

Everything a single node can see is drawn from the same distributions for every class: the number
of communities, their sizes and densities are sampled independently of the class, and each pair of
adjacent communities is joined by the same small number of links. What differs is only which
communities are linked, so a flat GNN has to infer a global shape from many local views, while a
model that pools each community into one node sees the arrangement directly. Ground-truth community
ids are kept per node (``data.community``) so that learned clusters can be scored against them
(e.g. NMI). Node order is shuffled, so positions reveal nothing.

Generation is deterministic per ``seed`` (graph ``i`` uses its own generator seeded by
``(seed, i)``) and takes about a second per thousand graphs.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from .dataset import GraphDataset
from .errors import DataError
from .features import apply_features, make_feature_spec

__all__ = ["SyntheticHierarchy", "ARRANGEMENTS", "community_graph"]

ARRANGEMENTS: tuple[str, ...] = ("path", "cycle", "star", "clique")


def community_graph(arrangement: str, k: int) -> list[tuple[int, int]]:
    """The edges between communities ``0..k-1`` for one arrangement."""
    if arrangement == "path":
        return [(i, i + 1) for i in range(k - 1)]
    if arrangement == "cycle":
        return [(i, i + 1) for i in range(k - 1)] + [(k - 1, 0)]
    if arrangement == "star":
        return [(0, i) for i in range(1, k)]
    if arrangement == "clique":
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    raise DataError(f"unknown arrangement {arrangement!r}: choose from {', '.join(ARRANGEMENTS)}")


def _range(value, name: str, kind=int) -> tuple:
    low, high = (value, value) if np.isscalar(value) else tuple(value)
    if low > high:
        raise DataError(f"{name}: the lower end {low} exceeds the upper end {high}")
    return kind(low), kind(high)


class SyntheticHierarchy(GraphDataset):
    """Graphs of dense communities whose arrangement (path, cycle, star, clique) is the class.

    Args:
        num_graphs: how many graphs (classes balanced to within one graph).
        seed: everything is a function of the seed.
        communities: (min, max) number of communities per graph, drawn uniformly.
        community_size: (min, max) nodes per community, drawn uniformly per community.
        p_in: (min, max) edge probability inside a community, drawn per graph (each community is
            also given a random spanning tree, so it is connected).
        links: (min, max) links joining two adjacent communities, drawn per community pair.
        features: node features as in :func:`~diffpool.data.load_tu` (``degree`` or ``constant``;
            the data has no node labels or attributes).
        degree_cap: cap of the one-hot degree (default: the largest degree seen, at most 64).
    """

    def __init__(
        self,
        num_graphs: int = 1000,
        seed: int = 0,
        *,
        communities: tuple[int, int] = (4, 6),
        community_size: tuple[int, int] = (6, 12),
        p_in: tuple[float, float] = (0.6, 0.8),
        links: tuple[int, int] = (1, 1),
        features: str = "degree",
        degree_cap: Optional[int] = None,
        transform: Optional[Callable] = None,
    ) -> None:
        if num_graphs < 1:
            raise DataError(f"num_graphs must be at least 1, got {num_graphs}")
        k_range = _range(communities, "communities")
        size_range = _range(community_size, "community_size")
        p_range = _range(p_in, "p_in", float)
        link_range = _range(links, "links")
        if k_range[0] < 3:
            raise DataError("communities: at least 3 per graph, or path, star and clique coincide")
        if size_range[0] < 2 or link_range[0] < 1 or not 0 < p_range[0] <= p_range[1] <= 1:
            raise DataError("community_size ≥ 2, links ≥ 1 and 0 < p_in ≤ 1 are required")
        if link_range[1] > size_range[0] ** 2:
            raise DataError("links: more links per pair than node pairs between two communities")

        order = np.random.default_rng([seed, 2**31]).permutation(num_graphs)
        classes = np.empty(num_graphs, dtype=np.int64)
        classes[order] = np.arange(num_graphs) % len(ARRANGEMENTS)
        graphs = [self._graph(np.random.default_rng([seed, i]), int(classes[i]), k_range, size_range,
                              p_range, link_range) for i in range(num_graphs)]
        spec = make_feature_spec(graphs, features, degree_cap=degree_cap, name="synthetic")
        settings = {"num_graphs": num_graphs, "seed": seed, "communities": list(k_range),
                    "community_size": list(size_range), "p_in": list(p_range), "links": list(link_range)}
        super().__init__(
            apply_features(graphs, spec),
            name="synthetic",
            label_mapping={i: i for i in range(len(ARRANGEMENTS))},
            feature_spec=spec,
            info={"generator": "SyntheticHierarchy", "settings": settings,
                  "class_names": list(ARRANGEMENTS)},
            transform=transform,
        )

    @staticmethod
    def _graph(rng: np.random.Generator, label: int, k_range, size_range, p_range, link_range) -> Data:
        k = int(rng.integers(k_range[0], k_range[1] + 1))
        sizes = rng.integers(size_range[0], size_range[1] + 1, size=k)
        p = rng.uniform(*p_range)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        n = int(offsets[-1])
        pairs = []
        for c in range(k):
            s, base = int(sizes[c]), int(offsets[c])
            # a random spanning tree keeps the community connected ...
            perm = rng.permutation(s)
            parents = [perm[int(rng.integers(0, j))] for j in range(1, s)]
            pairs += [(base + int(perm[j]), base + int(parents[j - 1])) for j in range(1, s)]
            # ... and each other pair is an edge with probability p
            iu, ju = np.triu_indices(s, k=1)
            keep = rng.random(iu.size) < p
            pairs += list(zip((base + iu[keep]).tolist(), (base + ju[keep]).tolist()))
        # communities are placed on the arrangement in random order
        place = rng.permutation(k)
        for a, b in community_graph(ARRANGEMENTS[label], k):
            ca, cb = int(place[a]), int(place[b])
            count = int(rng.integers(link_range[0], link_range[1] + 1))
            chosen = rng.choice(int(sizes[ca]) * int(sizes[cb]), size=count, replace=False)
            for flat in chosen.tolist():
                u, v = divmod(flat, int(sizes[cb]))
                pairs.append((int(offsets[ca]) + u, int(offsets[cb]) + v))
        community = np.repeat(np.arange(k), sizes)
        # shuffle node ids so that positions say nothing about communities
        relabel = rng.permutation(n)
        edges = relabel[np.asarray(pairs, dtype=np.int64).T]
        node_community = np.empty(n, dtype=np.int64)
        node_community[relabel] = community
        edge_index = to_undirected(torch.from_numpy(edges), num_nodes=n)
        return Data(edge_index=edge_index, y=torch.tensor([label]), num_nodes=n,
                    community=torch.from_numpy(node_community), num_communities=torch.tensor([k]))
