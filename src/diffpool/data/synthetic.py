"""``SyntheticHierarchy``: the built-in, offline data set whose classes live at the community level.

Each graph is a few dense communities (random graphs, each with its own edge probability) joined by
single links; the class is how the communities are arranged — the *community graph* is a

    0: path      1: cycle      2: star      3: tadpole (a triangle with a path for a tail)

The four arrangements have k − 1 or k community links, and both trees get one extra link on a
random pair, so every graph with k communities has exactly k links between communities whatever
its class. (A clique arrangement was the first idea, but its k(k−1)/2 links give the class away by
the edge count alone, and padding the others with edges inside communities gives it away by
triangle counts.) Nothing else depends on the class either: the number of communities, their sizes
and densities and the node order are drawn before the class is looked at, so graph ``i`` has the
same nodes, communities and edge count whichever class it is given. Link endpoints within a pair are
distinct nodes, so links form no triangles. A flat GNN therefore has to infer a global shape from
many local views, while a model that pools each community into one node sees the arrangement
directly (the four community graphs differ in their degree sequences).

Node features: every community has a colour (by default one of 8, distinct within a graph), stored
as the node label of its nodes and one-hot encoded by the default ``features="auto"``. Colours are
drawn independently of the class, so they reveal nothing about it; but without them no GNN can
recover the communities — structurally alike nodes of different communities get alike assignments
from any message-passing network (measured: a DiffPool layer trained on the link and entropy
losses reaches NMI ≈ 0.3 without colours, 1.0 with). ``colours=0`` gives the structure-only
variant (one-hot degree features); ``colour_noise`` repaints a share of nodes at random.
Ground-truth community ids are kept per node (``data.community``) so that learned clusters can be
scored against them (e.g. NMI). Node order is shuffled, so positions reveal nothing.

Generation is deterministic per ``seed`` (graph ``i`` uses its own generator seeded by
``(seed, i)``) and takes about a second per thousand graphs.

The large setting (:func:`synthetic_large`, ``--dataset synthetic-large``) is the same generator
and classes with communities of thousands of nodes: graphs of 10⁴–5·10⁴ nodes, 200 of them by
default. Dense communities of that size would be billions of edges, so its communities are sparse
(``degree``: random graphs of mean degree 6–10 on top of the spanning tree) and drawn as edge lists,
never as an n × n matrix; 100–500 links join adjacent communities, about 1 % of a community's
edges as one link is of the small set's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import torch
from torch_geometric.data import Data

from .dataset import GraphDataset
from .errors import DataError
from .features import apply_features, make_feature_spec

__all__ = [
    "SyntheticHierarchy",
    "ARRANGEMENTS",
    "community_graph",
    "synthetic_large",
    "LARGE_SETTINGS",
    "LARGE_NUM_GRAPHS",
]

ARRANGEMENTS: tuple[str, ...] = ("path", "cycle", "star", "tadpole")


def community_graph(arrangement: str, k: int) -> list[tuple[int, int]]:
    """The edges between communities ``0..k-1`` for one arrangement."""
    if arrangement == "path":
        return [(i, i + 1) for i in range(k - 1)]
    if arrangement == "cycle":
        return [(i, i + 1) for i in range(k - 1)] + [(k - 1, 0)]
    if arrangement == "star":
        return [(0, i) for i in range(1, k)]
    if arrangement == "tadpole":
        return [(0, 1), (1, 2), (2, 0)] + [(i, i + 1) for i in range(2, k - 1)]
    if arrangement == "clique":  # not one of the classes (see the module docstring); kept for experiments
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    raise DataError(f"unknown arrangement {arrangement!r}: choose from {', '.join(ARRANGEMENTS)}")


@cache
def _upper_pairs(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(size, k=1)


def _pairs(index: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The unordered pairs ``{i, j}`` of ``0..size-1`` numbered ``index`` (``0 ≤ index < size(size−1)/2``):
    pair ``t`` is ``{i, i + d mod size}`` with ``i = t mod size`` and offset ``d = t // size + 1``; for an
    even size the offset ``size/2`` names each pair twice, so only its first half is used."""
    half = size // 2
    offset, first = index // size + 1, index % size
    if size % 2 == 0:
        full = size * (half - 1)  # pairs of offsets 1 .. half-1
        last = index >= full
        first = np.where(last, index - full, first)
        offset = np.where(last, half, offset)
    return first, (first + offset) % size


def _sparse_community(rng: np.random.Generator, size: int, degree: float) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(u, v)`` of one sparse community of ``size`` nodes: a random spanning tree and each
    other pair with probability ``degree / (size − 1)``, drawn as a count and a sample of pairs (the
    same distribution as a coin per pair, without the size² coins). Tree and random edges may repeat."""
    perm = rng.permutation(size)
    parents = perm[(rng.random(size - 1) * np.arange(1, size)).astype(np.int64)]
    pairs = size * (size - 1) // 2
    count = int(rng.binomial(pairs, min(1.0, degree / (size - 1))))
    u, v = _pairs(rng.choice(pairs, size=count, replace=False, shuffle=False), size)
    return np.concatenate([perm[1:], u]), np.concatenate([parents, v])


def _range(value, name: str, kind=int) -> tuple:
    low, high = (value, value) if np.isscalar(value) else tuple(value)
    if low > high:
        raise DataError(f"{name}: the lower end {low} exceeds the upper end {high}")
    return kind(low), kind(high)


class SyntheticHierarchy(GraphDataset):
    """Graphs of communities whose arrangement (path, cycle, star, tadpole) is the class.

    Args:
        num_graphs: how many graphs (classes balanced to within one graph).
        seed: everything is a function of the seed.
        communities: (min, max) number of communities per graph, drawn uniformly.
        community_size: (min, max) nodes per community, drawn uniformly per community.
        p_in: (min, max) edge probability inside a community, drawn per community (each community
            also gets a random spanning tree, so it is connected).
        degree: if given, (min, max) mean degree of a community's random edges, drawn per community,
            instead of ``p_in`` (edge probability ``degree / (size − 1)``; the spanning tree adds about
            2): sparse communities, drawn as edge lists, for communities of thousands of nodes.
        links: (min, max) links joining two adjacent communities, drawn per community pair.
        balance_edges: give the trees (path, star) the links of a k-th pair on a random existing
            pair, so that the number of links does not depend on the class.
        colours: if > 0, every community gets a colour out of this many (distinct colours within a
            graph while there are enough), stored as the node label of its nodes. Colours are drawn
            independently of the class, so they do not reveal it; they give a pooling layer a way
            to tell communities apart, which structure alone does not (structurally alike nodes of
            different communities get alike assignments from any GNN).
        colour_noise: probability that a node's label is a random colour instead of its community's.
        features: node features as in :func:`~diffpool.data.load_tu`: ``auto`` is one-hot colour
            with colours, else one-hot degree; ``labels``, ``degree``, ``constant``.
        degree_cap: cap of the one-hot degree (default: the largest degree seen, at most 64).
        name: the data set's name in logs and messages.
    """

    def __init__(
        self,
        num_graphs: int = 1000,
        seed: int = 0,
        *,
        communities: tuple[int, int] = (4, 6),
        community_size: tuple[int, int] = (6, 12),
        p_in: tuple[float, float] = (0.5, 0.9),
        degree: tuple[float, float] | None = None,
        links: tuple[int, int] = (1, 1),
        balance_edges: bool = True,
        colours: int = 8,
        colour_noise: float = 0.0,
        features: str = "auto",
        degree_cap: int | None = None,
        transform: Callable | None = None,
        name: str = "synthetic",
    ) -> None:
        if num_graphs < 1:
            raise DataError(f"num_graphs must be at least 1, got {num_graphs}")
        k_range = _range(communities, "communities")
        size_range = _range(community_size, "community_size")
        p_range = _range(p_in, "p_in", float)
        link_range = _range(links, "links")
        degree_range = None if degree is None else _range(degree, "degree", float)
        if k_range[0] < 4:
            raise DataError("communities: at least 4 per graph, or the arrangements coincide")
        if size_range[0] < 2 or link_range[0] < 1 or not 0 < p_range[0] <= p_range[1] <= 1:
            raise DataError("community_size ≥ 2, links ≥ 1 and 0 < p_in ≤ 1 are required")
        if link_range[1] > size_range[0]:
            raise DataError("links: more links per pair than node pairs between two communities")
        if degree_range is not None and not degree_range[0] > 0:
            raise DataError(f"degree must be positive, got {degree_range[0]}")
        if colours < 0 or not 0 <= colour_noise <= 1:
            raise DataError("colours must be ≥ 0 and colour_noise in [0, 1]")

        order = np.random.default_rng([seed, 2**31]).permutation(num_graphs)
        classes = np.empty(num_graphs, dtype=np.int64)
        classes[order] = np.arange(num_graphs) % len(ARRANGEMENTS)
        graphs = [
            self._graph(
                np.random.default_rng([seed, i]),
                int(classes[i]),
                k_range,
                size_range,
                p_range,
                link_range,
                balance_edges,
                colours,
                colour_noise,
                degree_range,
            )
            for i in range(num_graphs)
        ]
        spec = make_feature_spec(graphs, features, degree_cap=degree_cap, name=name)
        settings = {
            "num_graphs": num_graphs,
            "seed": seed,
            "communities": list(k_range),
            "community_size": list(size_range),
            "p_in": list(p_range),
            "links": list(link_range),
            "balance_edges": balance_edges,
            "colours": colours,
            "colour_noise": colour_noise,
        }
        if degree_range is not None:
            settings["degree"] = list(degree_range)
        super().__init__(
            apply_features(graphs, spec),
            name=name,
            label_mapping={i: i for i in range(len(ARRANGEMENTS))},
            feature_spec=spec,
            info={"generator": "SyntheticHierarchy", "settings": settings, "class_names": list(ARRANGEMENTS)},
            transform=transform,
        )

    @staticmethod
    def _graph(
        rng: np.random.Generator,
        label: int,
        k_range,
        size_range,
        p_range,
        link_range,
        balance_edges: bool,
        colours: int = 0,
        colour_noise: float = 0.0,
        degree_range=None,
    ) -> Data:
        # everything up to the arrangement is drawn without looking at the label
        k = int(rng.integers(k_range[0], k_range[1] + 1))
        sizes = rng.integers(size_range[0], size_range[1] + 1, size=k)
        low, high = p_range if degree_range is None else degree_range
        densities = rng.uniform(low, high, size=k)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        n = int(offsets[-1])
        community = np.repeat(np.arange(k), sizes)
        if degree_range is None:
            adjacency = np.zeros((n, n), dtype=bool)
            for c in range(k):
                s, base = int(sizes[c]), int(offsets[c])
                # a random spanning tree keeps the community connected (node perm[j] hangs off one of
                # perm[0..j-1]) ...
                perm = base + rng.permutation(s)
                parents = perm[(rng.random(s - 1) * np.arange(1, s)).astype(np.int64)]
                adjacency[perm[1:], parents] = adjacency[parents, perm[1:]] = True
                # ... and each other pair is an edge with the community's probability
                iu, ju = _upper_pairs(s)
                keep = rng.random(iu.size) < densities[c]
                adjacency[base + iu[keep], base + ju[keep]] = True
                adjacency[base + ju[keep], base + iu[keep]] = True
        else:  # sparse communities: edge lists, one direction, duplicates removed below
            inside = [_sparse_community(rng, int(sizes[c]), float(densities[c])) for c in range(k)]
            heads = [offsets[c] + u for c, (u, _) in enumerate(inside)]
            tails = [offsets[c] + v for c, (_, v) in enumerate(inside)]
        place = rng.permutation(k)  # which community sits where in the arrangement
        link_counts = rng.integers(link_range[0], link_range[1] + 1, size=k)
        extra_pair = int(rng.integers(0, k - 1))
        link_seed = int(rng.integers(2**63 - 1))
        colour_seed = int(rng.integers(2**63 - 1))  # own stream: colours never change the structure
        if colours:
            paint = np.random.default_rng(colour_seed)
            palette = (
                paint.choice(colours, size=k, replace=False)
                if colours >= k
                else paint.integers(0, colours, size=k)
            )
            node_colour = palette[community]
            noisy = paint.random(n) < colour_noise
            node_colour[noisy] = paint.integers(0, colours, size=int(noisy.sum()))

        # the arrangement: the only thing that depends on the label
        arrangement = community_graph(ARRANGEMENTS[label], k)
        counts = list(link_counts[: len(arrangement)])
        if balance_edges and len(arrangement) < k:  # a tree: its k-th pair's links go on a random pair
            counts[extra_pair] += int(link_counts[-1])
        links = np.random.default_rng(link_seed)
        for (a, b), count in zip(arrangement, counts):
            ca, cb = int(place[a]), int(place[b])
            count = min(int(count), int(sizes[ca]), int(sizes[cb]))
            # distinct endpoints on both sides: links between two communities close no triangle
            us = offsets[ca] + links.choice(int(sizes[ca]), size=count, replace=False)
            vs = offsets[cb] + links.choice(int(sizes[cb]), size=count, replace=False)
            if degree_range is None:
                adjacency[us, vs] = adjacency[vs, us] = True
            else:
                heads.append(us)
                tails.append(vs)
        if degree_range is None:
            rows, cols = np.nonzero(adjacency)
        else:
            u, v = np.concatenate(heads), np.concatenate(tails)
            key = np.sort(np.minimum(u, v) * n + np.maximum(u, v))
            key = key[np.concatenate([[True], key[1:] != key[:-1]])]  # a tree edge may be drawn again
            u, v = key // n, key % n
            rows, cols = np.concatenate([u, v]), np.concatenate([v, u])
        # shuffle node ids so that positions say nothing about communities
        relabel = rng.permutation(n)
        # sorted by source, then target, as PyG's coalesce leaves it (one sort of row · n + col)
        key = np.sort(relabel[rows].astype(np.int64) * n + relabel[cols])
        edge_index = torch.from_numpy(np.stack([key // n, key % n]))
        node_community = np.empty(n, dtype=np.int64)
        node_community[relabel] = community
        data = Data(
            edge_index=edge_index,
            y=torch.tensor([label]),
            num_nodes=n,
            community=torch.from_numpy(node_community),
            num_communities=torch.tensor([k]),
        )
        if colours:
            node_label = np.empty(n, dtype=np.int64)
            node_label[relabel] = node_colour
            data.node_label = torch.from_numpy(node_label).view(n, 1)
        return data


#: The large setting: the same classes with communities of thousands of nodes, 10⁴–5·10⁴ nodes a graph
#: (4 communities of 2,500 to 6 of 8,333), sparse inside (mean degree about 10 with the tree) and
#: joined by 100–500 links a pair (about 1 % of a community's edges, as one link is of the small set's).
LARGE_SETTINGS: dict = dict(
    communities=(4, 6), community_size=(2500, 8333), degree=(6.0, 10.0), links=(100, 500)
)
LARGE_NUM_GRAPHS = 200


def synthetic_large(num_graphs: int = LARGE_NUM_GRAPHS, seed: int = 0, **options) -> SyntheticHierarchy:
    """The large setting (:data:`LARGE_SETTINGS`, named ``synthetic-large``); ``options`` override
    any :class:`SyntheticHierarchy` argument (e.g. smaller ``community_size`` for tests)."""
    return SyntheticHierarchy(num_graphs, seed, **{**LARGE_SETTINGS, "name": "synthetic-large", **options})
