"""A user's own graphs: networkx objects, or a folder of GraphML / edge-list files.

Conventions (all optional):

* node attribute ``label`` — an int (or a list of ints) → node labels, one-hot encoded;
* node attribute ``x`` — a number, a list of numbers, or a comma-separated string of numbers
  (GraphML has no list type), or ``x0``, ``x1``, ... one number each → continuous attributes;
* graph attribute ``label`` (``G.graph["label"]``), the ``labels`` argument, a ``# label: 3`` comment
  in an edge list, or a ``labels.csv`` (``file,label`` lines) in the folder → graph label.

Graphs are treated as undirected and unweighted; duplicate edges collapse and self-loops are
dropped, as for the TU sets. Pass the ``feature_spec`` (and ``label_mapping``) a model was trained
with so the graphs get exactly the same feature columns; a graph that cannot (no attributes, an
unknown node label, ...) is reported by its file name.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from .dataset import GraphDataset
from .errors import DataError, file_error
from .features import apply_features, make_feature_spec

__all__ = ["from_networkx", "read_graph_folder", "read_edge_list", "GRAPH_SUFFIXES"]

GRAPH_SUFFIXES = (".graphml", ".edgelist", ".txt")
LABELS_FILE = "labels.csv"
_ATTR_KEY = re.compile(r"^x(\d+)$")
PathLike = Union[str, "os.PathLike[str]"]


def _as_int(value: Any, where: str, what: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise DataError(f"{where}: {what} must be an integer, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise DataError(f"{where}: {what} must be an integer, got {value!r}")


def _node_label(value: Any, where: str) -> list[int]:
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_as_int(v, where, "node label") for v in value]
    return [_as_int(value, where, "node label")]


def _node_attr(attrs: dict, where: str) -> Optional[list[float]]:
    numbered = sorted(((int(m.group(1)), key) for key in attrs if (m := _ATTR_KEY.match(str(key)))))
    if "x" in attrs:
        value = attrs["x"]
        if isinstance(value, str):
            parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
        elif isinstance(value, (list, tuple, np.ndarray, torch.Tensor)):
            parts = list(np.asarray(value, dtype=object).reshape(-1))
        else:
            parts = [value]
    elif numbered:
        if [i for i, _ in numbered] != list(range(len(numbered))):
            raise DataError(f"{where}: attribute keys {[k for _, k in numbered]} must be x0, x1, ... without gaps")
        parts = [attrs[key] for _, key in numbered]
    else:
        return None
    try:
        return [float(p) for p in parts]
    except (TypeError, ValueError):
        raise DataError(f"{where}: node attributes must be numbers, got {attrs.get('x', parts)!r}") from None


def _graph_to_data(graph: nx.Graph, where: str) -> tuple[Data, Any]:
    """One networkx graph → ``Data`` with raw node data; returns it with the graph's own label."""
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    pairs = [(index[u], index[v]) for u, v in graph.edges() if u != v]
    edge_index = torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)
    edge_index = to_undirected(edge_index, num_nodes=len(nodes))
    data = Data(edge_index=edge_index, num_nodes=len(nodes))

    labels, attrs = [], []
    for node in nodes:
        node_data = graph.nodes[node]
        node_where = f"{where}: node {node!r}"
        labels.append(_node_label(node_data["label"], node_where) if "label" in node_data else None)
        attrs.append(_node_attr(node_data, node_where))
    for values, key, what in ((labels, "node_label", "'label'"), (attrs, "node_attr", "attributes ('x')")):
        present = [v is not None for v in values]
        if nodes and all(present):
            widths = {len(v) for v in values}
            if len(widths) > 1:
                raise DataError(f"{where}: nodes have {what} of different lengths {sorted(widths)}")
            dtype = torch.long if key == "node_label" else torch.float32
            data[key] = torch.tensor(values, dtype=dtype).reshape(len(nodes), -1)
        elif any(present):
            missing = nodes[present.index(False)]
            raise DataError(f"{where}: node {missing!r} has no {what} but other nodes do")
    return data, graph.graph.get("label")


def from_networkx(
    graphs: Iterable[nx.Graph],
    labels: Optional[Sequence[Any]] = None,
    feature_spec: Optional[dict] = None,
    *,
    label_mapping: Optional[dict] = None,
    features: str = "auto",
    sources: Optional[Sequence[str]] = None,
    name: str = "graphs",
) -> GraphDataset:
    """Turn networkx graphs into a :class:`GraphDataset` (see the module docstring for conventions).

    ``feature_spec`` / ``label_mapping``: those of a trained model, to map these graphs the same way
    (else derived from these graphs, with ``features`` as in :func:`~diffpool.data.load_tu`).
    ``sources``: a name per graph (e.g. its file) used in error messages and kept as ``data.source``.
    """
    graphs = list(graphs)
    if not graphs:
        raise DataError(f"{name}: no graphs given")
    if labels is not None and len(labels) != len(graphs):
        raise DataError(f"{name}: {len(labels)} labels for {len(graphs)} graphs")
    if sources is not None and len(sources) != len(graphs):
        raise DataError(f"{name}: {len(sources)} sources for {len(graphs)} graphs")
    data_list, raw_labels = [], []
    for i, graph in enumerate(graphs):
        if not isinstance(graph, nx.Graph):
            raise DataError(f"{name}: item {i} is a {type(graph).__name__}, not a networkx graph")
        where = sources[i] if sources is not None else f"graph {i}"
        data, own_label = _graph_to_data(graph, where)
        if sources is not None:
            data.source = str(sources[i])
        data_list.append(data)
        label = labels[i] if labels is not None else own_label
        raw_labels.append(None if label is None else _as_int(label, where, "graph label"))

    have = [label is not None for label in raw_labels]
    if any(have) and not all(have):
        i = have.index(False)
        where = sources[i] if sources is not None else f"graph {i}"
        raise DataError(f"{where}: has no graph label but other graphs do (label all or none)")
    mapping = dict(label_mapping) if label_mapping is not None else {}
    if all(have):
        if label_mapping is None:
            mapping = {raw: index for index, raw in enumerate(sorted(set(raw_labels)))}
        for i, (data, raw) in enumerate(zip(data_list, raw_labels)):
            if raw not in mapping:
                where = sources[i] if sources is not None else f"graph {i}"
                raise DataError(f"{where}: graph label {raw} is not one of the known labels "
                                f"{sorted(mapping)}")
            data.y = torch.tensor([mapping[raw]], dtype=torch.long)

    spec = feature_spec if feature_spec is not None else make_feature_spec(data_list, features, name=name)
    return GraphDataset(apply_features(data_list, spec), name=name, label_mapping=mapping,
                        feature_spec=spec, info={"sources": list(sources) if sources else []})


def read_edge_list(path: PathLike) -> nx.Graph:
    """An edge list: ``u v`` per line (space/tab/comma separated; a lone ``u`` is an isolated node;
    a trailing weight or ``{...}`` dict, as networkx writes, is ignored). ``#`` starts a comment;
    ``# label: 3`` sets the graph label."""
    path = Path(path)
    graph = nx.Graph()
    text = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            match = re.match(r"#\s*label\s*[:=]\s*(\S+)\s*$", stripped)
            if match:
                graph.graph["label"] = _as_int(match.group(1), f"{path}:{number}", "graph label")
            continue
        body = stripped.split("#", 1)[0].strip()
        if not body:
            continue
        body = re.sub(r"\{.*\}\s*$", "", body).strip()
        tokens = [t for t in re.split(r"[,\s]+", body) if t]
        if len(tokens) == 1:
            graph.add_node(tokens[0])
        elif len(tokens) == 2:
            graph.add_edge(tokens[0], tokens[1])
        elif len(tokens) == 3:
            try:
                float(tokens[2])
            except ValueError:
                raise file_error(path, number, f"expected 'u v' or 'u v weight', found {stripped!r}") from None
            graph.add_edge(tokens[0], tokens[1])
        else:
            raise file_error(path, number, f"expected 'u v' (two node ids), found {len(tokens)} values: {stripped!r}")
    if graph.number_of_nodes() == 0:
        raise file_error(path, 1, "no nodes or edges in this edge list")
    return graph


def _read_graphml(path: Path) -> nx.Graph:
    try:
        graph = nx.read_graphml(path)
    except ET.ParseError as error:
        line = error.position[0] if getattr(error, "position", None) else 0
        raise file_error(path, line, f"not valid GraphML/XML ({error})") from None
    except (nx.NetworkXError, KeyError, ValueError) as error:
        raise file_error(path, 0, f"cannot read this GraphML file ({error})") from None
    if isinstance(graph, nx.MultiGraph):
        graph = nx.Graph(graph)
    return graph


def _read_labels_file(path: Path) -> dict:
    labels = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        fields = [f.strip() for f in body.split(",")]
        if len(fields) != 2:
            raise file_error(path, number, f"expected 'file,label', found {line.strip()!r}")
        if number == 1 and not re.fullmatch(r"-?\d+", fields[1]):
            continue  # a header line
        labels[fields[0]] = _as_int(fields[1], f"{path}:{number}", "graph label")
    return labels


def read_graph_folder(
    path: PathLike,
    *,
    feature_spec: Optional[dict] = None,
    label_mapping: Optional[dict] = None,
    features: str = "auto",
) -> GraphDataset:
    """Read every ``*.graphml``, ``*.edgelist`` and ``*.txt`` file in ``path`` (sorted by name), one
    graph per file, into a :class:`GraphDataset`; ``data.source`` holds each graph's file."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    if any(folder.glob("*_graph_indicator.txt")):
        raise DataError(f"{folder}: looks like a TU data set (NAME_A.txt, NAME_graph_indicator.txt, ...): "
                        f"load it with diffpool.data.load_tu(NAME, root={str(folder.parent)!r})")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in GRAPH_SUFFIXES)
    if not files:
        raise DataError(f"{folder}: no graph files (*.graphml, *.edgelist, *.txt) found")
    labels_path = folder / LABELS_FILE
    file_labels = _read_labels_file(labels_path) if labels_path.is_file() else {}
    graphs = []
    for file in files:
        graph = _read_graphml(file) if file.suffix.lower() == ".graphml" else read_edge_list(file)
        for key in (file.name, file.stem):
            if key in file_labels:
                graph.graph["label"] = file_labels[key]
                break
        graphs.append(graph)
    return from_networkx(graphs, feature_spec=feature_spec, label_mapping=label_mapping, features=features,
                         sources=[str(f) for f in files], name=folder.name)
