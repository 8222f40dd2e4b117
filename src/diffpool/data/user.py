"""A user's own graphs: networkx objects, or a folder of GraphML / edge-list files.

Conventions (all optional):

* node attribute ``label`` — an int (or a list of ints) → node labels, one-hot encoded;
* node attribute ``x`` — a number, a list of numbers, or a comma-separated string of numbers
  (GraphML has no list type), or ``x0``, ``x1``, ... one number each → continuous attributes;
* graph attribute ``label`` (``G.graph["label"]``), the ``labels`` argument, a ``# label: 3`` comment
  in an edge list, or a ``labels.csv`` (``file,label`` lines) in the folder → graph label.

Graphs are treated as undirected and unweighted: a directed graph's edges lose their direction,
parallel edges (a multigraph's, or an edge list's repeated lines) collapse into one and self-loops
are dropped, as for the TU sets; each of these conversions is reported in a warning naming the
file. Pass the ``feature_spec`` (and ``label_mapping``) a model was trained with so the graphs get
exactly the same feature columns; a graph that cannot (no attributes, an unknown node label, ...)
is reported by its file name.

A folder is read file by file: ``*.graphml`` and ``*.edgelist`` (or the ``suffixes`` given), in
the order of their names; other files are not graphs and are listed in ``dataset.info["ignored"]``
(a ``notes.txt`` is never read as an edge list). A graph without nodes is an error naming its
file, or with ``skip_empty`` is left out and listed in ``dataset.info["skipped"]``.
"""

from __future__ import annotations

import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Union

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from .dataset import GraphDataset
from .errors import DataError, file_error, read_text_file, text_encoding_problem
from .features import apply_features, make_feature_spec

__all__ = [
    "from_networkx",
    "read_graph_folder",
    "read_edge_list",
    "read_graph_file",
    "graph_files",
    "GRAPH_SUFFIXES",
]

#: The files a folder of graphs is read from, unless other suffixes are given.
GRAPH_SUFFIXES = (".graphml", ".edgelist")
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


def _node_attr(attrs: dict, where: str) -> list[float] | None:
    numbered = sorted((int(m.group(1)), key) for key in attrs if (m := _ATTR_KEY.match(str(key))))
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
            raise DataError(
                f"{where}: attribute keys {[k for _, k in numbered]} must be x0, x1, ... without gaps"
            )
        parts = [attrs[key] for _, key in numbered]
    else:
        return None
    try:
        return [float(p) for p in parts]
    except (TypeError, ValueError):
        raise DataError(f"{where}: node attributes must be numbers, got {attrs.get('x', parts)!r}") from None


def _report_conversions(graph: nx.Graph, where: str) -> None:
    """Warn, naming the graph, about what becoming a simple undirected graph changes in it."""
    edges = [(u, v) for u, v in graph.edges() if u != v]
    loops = graph.number_of_edges() - len(edges)
    distinct = set(edges) if graph.is_directed() else {frozenset(e) for e in edges}
    # Parallel edges: a multigraph's, or an edge list's repeated lines (counted when it was read).
    parallel = len(edges) - len(distinct) + int(graph.graph.get("repeated_edges", 0))
    changes = []
    if graph.is_directed():
        one_way = sum(1 for u, v in distinct if (v, u) not in distinct)
        changes.append(
            "a directed graph, read as undirected"
            + (f" ({one_way} one-way edge{'s' if one_way != 1 else ''} now both ways)" if one_way else "")
        )
    if parallel:
        changes.append(f"{parallel} parallel edge{'s' if parallel != 1 else ''} merged into one")
    if loops:
        changes.append(f"{loops} self-loop{'s' if loops != 1 else ''} dropped")
    if changes:
        warnings.warn(
            f"{where}: {'; '.join(changes)}: graphs are used as simple undirected graphs", stacklevel=2
        )


def _graph_to_data(graph: nx.Graph, where: str) -> tuple[Data, Any]:
    """One networkx graph → ``Data`` with raw node data; returns it with the graph's own label."""
    _report_conversions(graph, where)
    nodes = list(graph.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    pairs = [(index[u], index[v]) for u, v in graph.edges() if u != v]
    edge_index = torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)
    edge_index = to_undirected(edge_index, num_nodes=len(nodes))
    data = Data(edge_index=edge_index, num_nodes=len(nodes))

    labels: list[list[int] | None] = []
    attrs: list[list[float] | None] = []
    for node in nodes:
        node_data = graph.nodes[node]
        node_where = f"{where}: node {node!r}"
        labels.append(_node_label(node_data["label"], node_where) if "label" in node_data else None)
        attrs.append(_node_attr(node_data, node_where))
    for values, key, what in ((labels, "node_label", "'label'"), (attrs, "node_attr", "attributes ('x')")):
        present = [v is not None for v in values]
        if nodes and all(present):
            widths = {len(v) for v in values if v is not None}
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
    labels: Sequence[Any] | None = None,
    feature_spec: dict | None = None,
    *,
    label_mapping: dict | None = None,
    features: str = "auto",
    sources: Sequence[str] | None = None,
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
            mapping = {
                raw: index for index, raw in enumerate(sorted({r for r in raw_labels if r is not None}))
            }
        for i, (data, raw) in enumerate(zip(data_list, raw_labels)):
            if raw not in mapping:
                where = sources[i] if sources is not None else f"graph {i}"
                raise DataError(
                    f"{where}: graph label {raw} is not one of the known labels {sorted(mapping)}"
                )
            data.y = torch.tensor([mapping[raw]], dtype=torch.long)

    spec = feature_spec if feature_spec is not None else make_feature_spec(data_list, features, name=name)
    return GraphDataset(
        apply_features(data_list, spec),
        name=name,
        label_mapping=mapping,
        feature_spec=spec,
        info={"sources": list(sources) if sources else []},
    )


def read_edge_list(path: PathLike) -> nx.Graph:
    """An edge list: ``u v`` per line (space/tab/comma separated; a lone ``u`` is an isolated node;
    a trailing weight or ``{...}`` dict, as networkx writes, is ignored). ``#`` starts a comment;
    ``# label: 3`` sets the graph label."""
    graph = _read_edge_list(path)
    if graph.number_of_nodes() == 0:
        raise file_error(path, 1, "no nodes or edges in this edge list")
    return graph


def _read_edge_list(path: PathLike) -> nx.Graph:
    """The graph of an edge list, possibly without nodes; ``graph.graph["repeated_edges"]`` counts
    lines that repeat an earlier edge in the same direction (collapsed, and reported)."""
    path = Path(path)
    graph = nx.Graph()
    text = read_text_file(path, what="edge-list file")
    seen: set = set()
    repeated = 0

    def add_edge(u: str, v: str) -> None:
        nonlocal repeated
        repeated += (u, v) in seen
        seen.add((u, v))
        graph.add_edge(u, v)

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
            add_edge(tokens[0], tokens[1])
        elif len(tokens) == 3:
            try:
                float(tokens[2])
            except ValueError:
                raise file_error(
                    path, number, f"expected 'u v' or 'u v weight', found {stripped!r}"
                ) from None
            add_edge(tokens[0], tokens[1])
        else:
            raise file_error(
                path, number, f"expected 'u v' (two node ids), found {len(tokens)} values: {stripped!r}"
            )
    if repeated:
        graph.graph["repeated_edges"] = repeated
    return graph


def _read_graphml(path: Path) -> nx.Graph:
    """The graph of a GraphML file as written (directed, a multigraph): :func:`_graph_to_data`
    converts it and reports what changed."""
    if path.is_dir():
        raise file_error(path, 0, "is a folder, where a GraphML file is expected")
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as error:
        raise file_error(path, 0, f"cannot be read ({error.strerror or error})") from None
    problem = text_encoding_problem(head)
    # XML declares its own encoding (UTF-16 with a BOM, a UTF-8 BOM are valid XML); compressed data is not.
    if problem is not None and not problem[0].startswith(("UTF-8", "UTF-16 text", "UTF-32")):
        raise file_error(path, 1, f"is {problem[0]}, not GraphML text; {problem[1]}")
    try:
        graph = nx.read_graphml(path)
    except ET.ParseError as error:
        line = error.position[0] if getattr(error, "position", None) else 0
        raise file_error(path, line, f"not valid GraphML/XML ({error})") from None
    except (nx.NetworkXError, KeyError, ValueError) as error:
        raise file_error(path, 0, f"cannot read this GraphML file ({error})") from None
    return graph


def read_graph_file(path: PathLike) -> nx.Graph:
    """One graph file: GraphML for ``*.graphml``, else an edge list (possibly without nodes)."""
    path = Path(path)
    return _read_graphml(path) if path.suffix.lower() == ".graphml" else _read_edge_list(path)


def _read_labels_file(path: Path) -> dict:
    labels = {}
    for number, line in enumerate(read_text_file(path, what="labels.csv file").splitlines(), start=1):
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


def normalise_suffixes(suffixes: Iterable[str] | None) -> tuple[str, ...]:
    """``suffixes`` as lower-case ``.ext`` strings (``txt`` → ``.txt``); :data:`GRAPH_SUFFIXES` for None."""
    if suffixes is None:
        return GRAPH_SUFFIXES
    out = tuple("." + s.strip().lstrip(".").lower() for s in suffixes if s.strip().lstrip("."))
    if not out:
        raise DataError("no file suffixes given to read graphs from")
    return out


def graph_files(folder: Path, suffixes: Iterable[str] | None = None) -> tuple[list[Path], list[Path]]:
    """``(graph files, other files)`` of ``folder``, sorted by name: files with one of the suffixes,
    and the rest (``labels.csv`` and hidden files left out of both)."""
    wanted = normalise_suffixes(suffixes)
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    files = [p for p in entries if p.suffix.lower() in wanted]
    for path in files:
        if path.is_dir():
            raise file_error(path, 0, "is a folder, where a graph file is expected")
    others = [p for p in entries if p.suffix.lower() not in wanted and p.name != LABELS_FILE and p.is_file()]
    return files, others


def read_graph_folder(
    path: PathLike,
    *,
    feature_spec: dict | None = None,
    label_mapping: dict | None = None,
    features: str = "auto",
    suffixes: Sequence[str] | None = None,
    skip_empty: bool = False,
) -> GraphDataset:
    """Read every ``*.graphml`` and ``*.edgelist`` file in ``path`` (or those with one of ``suffixes``;
    sorted by name), one graph per file, into a :class:`GraphDataset`; ``data.source`` holds each
    graph's file. ``info["ignored"]`` lists the other files; a graph without nodes is an error, or
    with ``skip_empty`` listed in ``info["skipped"]`` as ``{"graph": file, "reason": ...}``."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    if any(folder.glob("*_graph_indicator.txt")):
        raise DataError(
            f"{folder}: looks like a TU data set (NAME_A.txt, NAME_graph_indicator.txt, ...): "
            f"load it with diffpool.data.load_tu(NAME, root={str(folder.parent)!r})"
        )
    wanted = normalise_suffixes(suffixes)
    files, others = graph_files(folder, wanted)
    if not files:
        listed = (
            f"; it holds {', '.join(p.name for p in others[:5])}{', ...' if len(others) > 5 else ''}"
            if others
            else ""
        )
        raise DataError(f"{folder}: no graph files ({', '.join('*' + s for s in wanted)}) found{listed}")
    labels_path = folder / LABELS_FILE
    file_labels = _read_labels_file(labels_path) if os.path.lexists(labels_path) else {}
    graphs, sources, skipped = [], [], []
    for file in files:
        graph = read_graph_file(file)
        if graph.number_of_nodes() == 0:
            if not skip_empty:
                raise file_error(file, 0, "holds a graph without nodes; a graph needs at least one")
            skipped.append({"graph": str(file), "reason": "a graph without nodes"})
            continue
        for key in (file.name, file.stem):
            if key in file_labels:
                graph.graph["label"] = file_labels[key]
                break
        graphs.append(graph)
        sources.append(str(file))
    if not graphs:
        raise DataError(f"{folder}: no graphs left: all {len(files)} graph files hold graphs without nodes")
    dataset = from_networkx(
        graphs,
        feature_spec=feature_spec,
        label_mapping=label_mapping,
        features=features,
        sources=sources,
        name=folder.name,
    )
    dataset.info.update(skipped=skipped, ignored=[str(p) for p in others], suffixes=list(wanted))
    return dataset
