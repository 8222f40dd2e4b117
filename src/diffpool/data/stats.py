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
from .features import describe_features

__all__ = ["graph_sizes", "dataset_stats", "format_stats", "feature_sources"]

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


def _unique_undirected(
    edge_index: torch.Tensor, edge_graph: torch.Tensor, num_graphs: int, max_nodes: int
) -> np.ndarray:
    """Per graph, the number of distinct unordered pairs {u, v} (a self-loop counts once)."""
    if edge_index.numel() == 0:
        return np.zeros(num_graphs, dtype=np.int64)
    ei = edge_index.numpy().astype(np.int64)
    lo, hi = np.minimum(ei[0], ei[1]), np.maximum(ei[0], ei[1])
    m = max_nodes + 1
    keys = np.unique((edge_graph.numpy().astype(np.int64) * m + lo) * m + hi)
    return np.bincount(keys // (m * m), minlength=num_graphs)


def graph_sizes(dataset: InMemoryDataset | Sequence[Data]) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, edges)`` per graph, edges counted as unique undirected pairs."""
    if isinstance(dataset, InMemoryDataset) and dataset.slices is not None and "x" in dataset.slices:
        store = dataset._data
        node_ptr = dataset.slices["x"]
        edge_ptr = dataset.slices["edge_index"]
        num_graphs = node_ptr.numel() - 1
        nodes = (node_ptr[1:] - node_ptr[:-1]).numpy()
        edge_graph = torch.repeat_interleave(torch.arange(num_graphs), edge_ptr[1:] - edge_ptr[:-1])
        edges = _unique_undirected(store.edge_index, edge_graph, num_graphs, int(nodes.max(initial=0)))
        index = np.asarray(list(dataset.indices()), dtype=np.int64)
        return nodes[index], edges[index]
    graphs = list(dataset)
    nodes = np.array([int(g.num_nodes) for g in graphs], dtype=np.int64)
    if not graphs:
        return nodes, nodes.copy()
    edge_index = torch.cat([g.edge_index for g in graphs], dim=1)
    edge_graph = torch.repeat_interleave(
        torch.arange(len(graphs)), torch.tensor([g.edge_index.size(1) for g in graphs])
    )
    return nodes, _unique_undirected(edge_index, edge_graph, len(graphs), int(nodes.max(initial=0)))


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
