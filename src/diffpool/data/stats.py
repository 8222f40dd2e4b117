"""Summary statistics of a graph data set, as the TU collection publishes them.

``avg edges`` counts undirected edges once, i.e. unique unordered node pairs — the published TU
figures (IMDB lists each edge four times in ``NAME_A.txt``, but its published 96.53 counts it once).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from .dataset import GraphDataset
from .features import COMPACT_KEYS, describe_features

__all__ = ["graph_sizes", "node_counts", "dataset_stats", "format_stats", "feature_sources"]

_NODE_FILES = {"attributes": "node_attributes", "labels": "node_labels"}


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def feature_sources(dataset) -> str:
    """Which node features were built and from what, in one line, e.g. ``21 = 18 attributes + 3
    node-label one-hot, from ENZYMES_node_attributes.txt and ENZYMES_node_labels.txt in /data/ENZYMES``.
    Automatic features that fell back to degrees say which files were absent."""
    spec = getattr(dataset, "feature_spec", None)
    built = describe_features(spec)
    if not spec:
        return built
    info = getattr(dataset, "info", {}) or {}
    name = getattr(dataset, "name", "graphs")
    parts = spec["parts"]
    if info.get("generator") == "SyntheticHierarchy":
        what = {
            "labels": "the community colours",
            "degree": "the generated edges",
            "attributes": "attributes",
        }
        origin = _and([what[p] for p in parts if p in what]) or "no data"
        return f"{built}, from {origin} of the synthetic set"
    if info.get("source"):  # a TU folder
        folder = Path(info["source"])
        files = [f"{name}_{_NODE_FILES[p]}.txt" for p in parts if p in _NODE_FILES]
        files += [f"the edges in {name}_A.txt"] if "degree" in parts else []
        origin = f"from {_and(files)} in {folder}" if files else "a constant per node"
        absent = [
            f"{name}_{_NODE_FILES[p]}.txt"
            for p in ("labels", "attributes")
            if p not in parts and not (folder / f"{name}_{_NODE_FILES[p]}.txt").is_file()
        ]
        if spec.get("kind") == "auto" and absent:
            origin += f" (there is no {' or '.join(absent)})"
        return f"{built}, {origin}"
    sources = [s for s in info.get("sources", []) if s]
    if sources:  # a user's graph files
        what = {
            "attributes": "the nodes' 'x' attributes",
            "labels": "the nodes' 'label' attribute",
            "degree": "the edges",
        }
        common = os.path.commonpath([os.path.dirname(s) or "." for s in sources])
        origin = _and([what[p] for p in parts if p in what]) or "a constant per node"
        return f"{built}, from {origin} of {len(sources)} file{'s' if len(sources) != 1 else ''} in {common}"
    return built


_ROWS = 1 << 16  # edges per step of the passes over an edge index: bounds their temporaries
_NODE_KEYS = ("x", *COMPACT_KEYS)  # node-level tensors whose slices say where each graph's nodes are


def _unique_undirected(
    edge_index: torch.Tensor, edge_graph: torch.Tensor, num_graphs: int, max_nodes: int
) -> np.ndarray:
    """Per graph, the number of distinct unordered pairs {u, v} (a self-loop counts once), for edges
    in any order: one key per edge, made unique. It makes several int64 copies of the edges and
    sorts their keys; :func:`_coalesced_pairs` counts the same without them where the edges are
    coalesced."""
    if edge_index.numel() == 0:
        return np.zeros(num_graphs, dtype=np.int64)
    ei = edge_index.numpy().astype(np.int64)
    lo, hi = np.minimum(ei[0], ei[1]), np.maximum(ei[0], ei[1])
    m = max_nodes + 1
    keys = np.unique((edge_graph.numpy().astype(np.int64) * m + lo) * m + hi)
    return np.bincount(keys // (m * m), minlength=num_graphs)


def _graphs_of(edge_ptr: np.ndarray, start: int, stop: int) -> tuple[int, np.ndarray]:
    """The first graph with edges among ``start:stop`` of a collated edge index, and the graph of each
    of these edges counted from it (``edge_ptr``: where each graph's edges start, [G + 1])."""
    first = int(np.searchsorted(edge_ptr, start, side="right")) - 1
    last = int(np.searchsorted(edge_ptr, stop - 1, side="right")) - 1
    bounds = np.clip(edge_ptr[first : last + 2], start, stop)
    return first, np.repeat(np.arange(last - first + 1), np.diff(bounds))


def _coalesced_pairs(edge_index: np.ndarray, node_ptr: np.ndarray, edge_ptr: np.ndarray) -> np.ndarray | None:
    """:func:`_unique_undirected` of a collated edge index (node ids local to each graph, as
    ``InMemoryDataset`` stores them) whose graphs list their edges coalesced: sorted by (row,
    column), none twice, every id inside its graph, as PyG's ``coalesce`` leaves them and every
    loader of this package stores them. None for any other edge index.

    Each listed edge is then a distinct ordered pair, and a graph's unordered pairs are its listed
    edges less the edges (u, v), u < v, whose reverse (v, u) is listed too. Two passes over the
    edges, ``_ROWS`` at a time and without a sort: the first checks the order and counts each
    node's edges (the rows' bounds), the second finds each reverse by a binary search in its row.
    Time O(E log(max degree)), memory O(nodes + graphs) beside the edge index.
    """
    num_graphs, num_nodes, num_edges = len(node_ptr) - 1, int(node_ptr[-1]), edge_index.shape[1]
    rows, cols = edge_index[0], edge_index[1]
    row_ptr = np.zeros(num_nodes + 1, np.int64)  # node i's edge count at i + 1, then summed up
    last_row, last_col = -1, -1  # the edge before this step's first, in global ids
    for start in range(0, num_edges, _ROWS):
        stop = min(start + _ROWS, num_edges)
        first, graph = _graphs_of(edge_ptr, start, stop)
        offset = node_ptr[first:-1][graph]
        size = node_ptr[first + 1 :][graph] - offset
        row, col = rows[start:stop], cols[start:stop]
        if ((row < 0) | (row >= size) | (col < 0) | (col >= size)).any():
            return None
        row, col = row + offset, col + offset  # global ids: each graph's follow the previous graph's
        row_before = np.concatenate(([last_row], row[:-1]))
        col_before = np.concatenate(([last_col], col[:-1]))
        if not ((row > row_before) | ((row == row_before) & (col > col_before))).all():
            return None
        last_row, last_col = int(row[-1]), int(col[-1])
        row_ptr[int(row[0]) + 1 : last_row + 2] += np.bincount(row - int(row[0]))
    np.cumsum(row_ptr, out=row_ptr)  # node i's edges are row_ptr[i]:row_ptr[i + 1]
    steps = int(np.diff(row_ptr).max(initial=0)).bit_length()  # halvings of the longest row to none
    mutual = np.zeros(num_graphs, np.int64)
    for start in range(0, num_edges, _ROWS):
        stop = min(start + _ROWS, num_edges)
        first, graph = _graphs_of(edge_ptr, start, stop)
        row, col = rows[start:stop], cols[start:stop]
        upper = np.flatnonzero(row < col)
        graph, u = graph[upper], row[upper]
        target = col[upper] + node_ptr[first:-1][graph]  # the row v that would list (v, u)
        low, high = row_ptr[target], row_ptr[target + 1]
        end = high
        for _ in range(steps):  # the first position in row v whose column is not below u
            middle = (low + high) >> 1
            below = (middle < high) & (cols[np.minimum(middle, num_edges - 1)] < u)
            low = np.where(below, middle + 1, low)
            high = np.where(below, high, middle)
        found = low < end
        found[found] = cols[low[found]] == u[found]
        counted = np.bincount(graph[found])
        mutual[first : first + len(counted)] += counted
    return np.diff(edge_ptr) - mutual


def _node_ptr(dataset: InMemoryDataset) -> np.ndarray | None:
    """Where each graph's nodes start in a collated data set, and where the last ones end: [G + 1]."""
    for key in _NODE_KEYS:
        if key in dataset.slices:
            return dataset.slices[key].numpy()
    counts = getattr(dataset._data, "_num_nodes", None)  # what collate keeps, when nothing else says it
    if isinstance(counts, list) and len(counts) == len(dataset.slices["edge_index"]) - 1:
        return np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
    return None


def _pairs(edge_index: torch.Tensor, node_ptr: np.ndarray, edge_ptr: np.ndarray) -> np.ndarray:
    """Distinct unordered pairs per graph of a collated edge index with local node ids."""
    counted = _coalesced_pairs(edge_index.numpy(), node_ptr, edge_ptr)
    if counted is not None:
        return counted
    num_graphs = len(node_ptr) - 1
    edge_graph = torch.repeat_interleave(torch.arange(num_graphs), torch.from_numpy(np.diff(edge_ptr)))
    return _unique_undirected(edge_index, edge_graph, num_graphs, int(np.diff(node_ptr).max(initial=0)))


def _collated_node_ptr(dataset) -> np.ndarray | None:
    """:func:`_node_ptr` of a collated data set of several graphs; None for anything else."""
    if isinstance(dataset, InMemoryDataset) and dataset.slices is not None and "edge_index" in dataset.slices:
        return _node_ptr(dataset)
    return None


def node_counts(dataset: InMemoryDataset | Sequence[Data]) -> np.ndarray:
    """Nodes per graph (int64); of a collated data set from its offsets alone, without the edges."""
    node_ptr = _collated_node_ptr(dataset)
    if isinstance(dataset, InMemoryDataset) and node_ptr is not None:
        return np.diff(node_ptr)[np.asarray(list(dataset.indices()), dtype=np.int64)]
    return np.array([int(g.num_nodes) for g in dataset], dtype=np.int64)


def graph_sizes(dataset: InMemoryDataset | Sequence[Data]) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, edges)`` per graph, edges counted as unique undirected pairs (a self-loop once).

    Node counts come from the collated offsets of an ``InMemoryDataset`` (:func:`node_counts`
    alone reads nothing else). Coalesced edges (every loader's) are counted in two passes without
    a sort, in time O(E log(max degree)) and memory O(nodes + graphs) (:func:`_coalesced_pairs`);
    any others by sorting a key per edge.
    """
    node_ptr = _collated_node_ptr(dataset)
    if isinstance(dataset, InMemoryDataset) and node_ptr is not None:
        edge_ptr = dataset.slices["edge_index"].numpy()
        nodes = np.diff(node_ptr)
        edges = _pairs(dataset._data.edge_index, node_ptr, edge_ptr)
        index = np.asarray(list(dataset.indices()), dtype=np.int64)
        return nodes[index], edges[index]
    graphs = list(dataset)
    nodes = np.array([int(g.num_nodes) for g in graphs], dtype=np.int64)
    if not graphs:
        return nodes, nodes.copy()
    edge_index = torch.cat([g.edge_index for g in graphs], dim=1)
    edge_ptr = np.concatenate(([0], np.cumsum([g.edge_index.size(1) for g in graphs], dtype=np.int64)))
    return nodes, _pairs(edge_index, np.concatenate(([0], np.cumsum(nodes))), edge_ptr)


def _labels(dataset) -> np.ndarray:
    if isinstance(dataset, InMemoryDataset) and dataset.slices is not None and "y" in dataset.slices:
        y = dataset._data.y.view(-1).numpy()
        return y[np.asarray(list(dataset.indices()), dtype=np.int64)]
    return np.array([int(g.y.view(-1)[0]) for g in dataset], dtype=np.int64)


def dataset_stats(dataset: GraphDataset | Sequence[Data]) -> dict:
    """Plain-dict statistics: graphs, classes and their balance, node and edge counts, feature dims."""
    nodes, edges = graph_sizes(dataset)
    labels = _labels(dataset)
    mapping = getattr(dataset, "label_mapping", None) or {int(v): int(v) for v in np.unique(labels)}
    info = getattr(dataset, "info", {}) or {}
    names = info.get("class_names")  # e.g. the synthetic set's arrangements
    inverse = {index: (names[index] if names else raw) for raw, index in mapping.items()}
    counts = np.bincount(labels, minlength=len(inverse)) if labels.size else np.zeros(0, np.int64)
    spec = getattr(dataset, "feature_spec", None)
    first = dataset[0]
    return {
        "name": getattr(dataset, "name", "graphs"),
        "graphs": int(len(nodes)),
        "classes": int(len(inverse)),
        "class_counts": {str(inverse[i]): int(c) for i, c in enumerate(counts)},
        "class_balance": {str(inverse[i]): float(c / max(len(labels), 1)) for i, c in enumerate(counts)},
        "avg_nodes": float(nodes.mean()),
        "min_nodes": int(nodes.min()),
        "max_nodes": int(nodes.max()),
        "avg_edges": float(edges.mean()),
        "max_edges": int(edges.max()),
        "num_features": int(first.x.size(1)) if getattr(first, "x", None) is not None else 0,
        "features": describe_features(spec),
        "feature_sources": feature_sources(dataset),
        "node_label_values": info.get("node_label_values", (spec or {}).get("node_label_values") or []),
        "num_node_attributes": int(info.get("num_node_attributes", (spec or {}).get("num_attributes", 0))),
        "feature_spec": spec,
        "filtered": getattr(dataset, "filtered", None),
    }


def format_stats(stats: dict) -> str:
    """The statistics as an aligned two-column table for a terminal."""
    balance = ", ".join(
        f"{label}: {stats['class_counts'][label]} ({share:.1%})"
        for label, share in stats["class_balance"].items()
    )
    values = stats["node_label_values"]
    node_labels = ", ".join(f"{len(v)} values" for v in values) if values else "none"
    rows = [
        ("graphs", f"{stats['graphs']}"),
        ("classes", f"{stats['classes']}"),
        ("class balance", balance),
        ("avg nodes", f"{stats['avg_nodes']:.2f}"),
        ("max nodes", f"{stats['max_nodes']}"),
        ("avg edges", f"{stats['avg_edges']:.2f}  (undirected, each edge once)"),
        ("node labels", node_labels),
        ("node attributes", f"{stats['num_node_attributes']}"),
        ("feature dims", stats["features"]),
        ("feature source", stats.get("feature_sources", "").partition(", ")[2].removeprefix("from ") or "-"),
    ]
    if stats.get("filtered"):
        f = stats["filtered"]
        rows.append(("filtered", f"{f['removed']} graphs with more than {f['max_nodes']} nodes removed"))
    width = max(len(key) for key, _ in rows)
    lines = [stats["name"]] + [f"  {key:<{width}}  {value}" for key, value in rows]
    return "\n".join(lines)
