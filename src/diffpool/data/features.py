"""Node features: how ``data.x`` is built from what a graph carries, recorded as a plain dict.

Raw per-node information lives on a graph as ``node_label`` (long [n, k]: k integer label columns,
as in TU ``NAME_node_labels.txt``) and ``node_attr`` (float [n, d]: continuous attributes). A
*feature spec* says how to turn that, and the graph structure, into ``x``:

``auto``
    node attributes and one-hot node labels, whichever the data has (attributes first, as PyG
    does); one-hot degree when it has neither.
``labels`` / ``attributes``
    only that part.
``degree``
    one-hot node degree, degrees ``≥ degree_cap`` sharing the last column.
``constant``
    a single column of ones (structure only).

The spec is made once from the training data (:func:`make_feature_spec`) and stored with the data
set and every checkpoint; :func:`apply_features` maps any later graphs (test folds, a user's own
graphs) exactly the same way, and raises :class:`~diffpool.data.DataError` when they cannot be
(missing attributes, a node label never seen in training, ...).

Every column of ``x`` but the attributes' is part of a one-hot block, so ``x`` can be stored
compact (``apply_features(..., compact=True)``): ``x_attr`` (float32 [n, d], the attribute columns
as they are) and ``x_hot`` (int16 [n, h], int32 past 2¹⁵ columns: the column of the 1 of each of
the h one-hot blocks). :func:`expand_features` turns that back into the same ``x``;
:class:`~diffpool.data.GraphDataset` stores TU sets so and expands each graph as it is read, which
keeps one-hot degrees (65 float32 columns a node) from multiplying the data's size. Example spec::

    {"kind": "auto", "parts": ["attributes", "labels"], "num_attributes": 18,
     "num_node_labels": 3, "node_label_values": [[1, 2, 3]], "degree_cap": None,
     "num_features": 21, "version": 1}
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.utils import degree as node_degree

from .errors import DataError

__all__ = [
    "FEATURE_KINDS",
    "DEFAULT_DEGREE_CAP",
    "COMPACT_KEYS",
    "make_feature_spec",
    "apply_features",
    "expand_features",
    "check_feature_spec",
    "describe_features",
    "attribute_columns",
]

FEATURE_KINDS: tuple[str, ...] = ("auto", "labels", "attributes", "degree", "constant")
#: Degrees at or above this share one one-hot column unless a cap is given: keeps social graphs
#: with hub nodes (REDDIT: degrees in the thousands) from getting thousands of feature columns.
DEFAULT_DEGREE_CAP = 64
SPEC_VERSION = 1
_PARTS = ("attributes", "labels", "degree", "constant")
#: The node-level tensors that hold ``x`` compact: attribute columns, and each one-hot block's column.
COMPACT_KEYS: tuple[str, ...] = ("x_attr", "x_hot")


def _where(data: Data, index: int) -> str:
    """How to name a graph in an error: its source file when known, else its position."""
    source = getattr(data, "source", None)
    return str(source) if isinstance(source, str) else f"graph {index}"


def _degrees(data: Data) -> torch.Tensor:
    """Number of neighbours of each node (edge_index holds both directions of every edge)."""
    num_nodes = int(data.num_nodes)
    if data.edge_index is None or data.edge_index.numel() == 0:
        return torch.zeros(num_nodes, dtype=torch.long)
    return node_degree(data.edge_index[0], num_nodes, dtype=torch.long)


def _has(data: Data, key: str) -> bool:
    value = getattr(data, key, None)
    return isinstance(value, torch.Tensor) and value.dim() == 2 and value.size(1) > 0


def make_feature_spec(
    data_list: Sequence[Data],
    kind: str = "auto",
    *,
    degree_cap: int | None = None,
    name: str = "data",
) -> dict:
    """Decide how ``x`` is built for these graphs; returns the spec dict (see module docstring).

    ``degree_cap`` defaults to ``min(max degree seen, DEFAULT_DEGREE_CAP)``.
    """
    if kind not in FEATURE_KINDS:
        raise DataError(f"unknown node feature kind {kind!r}: choose one of {', '.join(FEATURE_KINDS)}")
    if len(data_list) == 0:
        raise DataError(f"{name}: no graphs to derive node features from")
    has_labels = [_has(d, "node_label") for d in data_list]
    has_attrs = [_has(d, "node_attr") for d in data_list]

    def consistent(flags: list[bool], what: str) -> bool:
        if all(flags):
            return True
        if any(flags):
            missing = flags.index(False)
            raise DataError(
                f"{_where(data_list[missing], missing)}: has no {what}, "
                f"but other graphs of {name} do; every graph needs the same node data"
            )
        return False

    labels_present = consistent(has_labels, "node labels")
    attrs_present = consistent(has_attrs, "node attributes")

    if kind == "auto":
        parts = [p for p, ok in (("attributes", attrs_present), ("labels", labels_present)) if ok]
        parts = parts or ["degree"]
    else:
        parts = [kind]
    if "labels" in parts and not labels_present:
        raise DataError(f"{name} has no node labels: use features='auto', 'degree' or 'constant'")
    if "attributes" in parts and not attrs_present:
        raise DataError(
            f"{name} has no node attributes: use features='auto', 'labels', 'degree' or 'constant'"
        )

    spec: dict = {
        "kind": kind,
        "parts": parts,
        "num_attributes": 0,
        "num_node_labels": 0,
        "node_label_values": [],
        "degree_cap": None,
        "num_features": 0,
        "version": SPEC_VERSION,
    }
    if "attributes" in parts:
        widths = {int(d.node_attr.size(1)) for d in data_list}
        if len(widths) > 1:
            raise DataError(f"{name}: graphs have different numbers of node attributes {sorted(widths)}")
        spec["num_attributes"] = widths.pop()
    if "labels" in parts:
        widths = {int(d.node_label.size(1)) for d in data_list}
        if len(widths) > 1:
            raise DataError(f"{name}: graphs have different numbers of node label columns {sorted(widths)}")
        labels = torch.cat([d.node_label for d in data_list], dim=0)
        values = [torch.unique(labels[:, j]).tolist() for j in range(labels.size(1))]
        spec["node_label_values"] = values
        spec["num_node_labels"] = sum(len(v) for v in values)
    if "degree" in parts:
        if degree_cap is None:
            max_degree = max(int(_degrees(d).max()) if int(d.num_nodes) > 0 else 0 for d in data_list)
            degree_cap = min(max_degree, DEFAULT_DEGREE_CAP)
        if int(degree_cap) < 0:
            raise DataError(f"degree_cap must be at least 0, got {degree_cap}")
        spec["degree_cap"] = int(degree_cap)
    spec["num_features"] = _num_features(spec)
    return spec


def _num_features(spec: dict) -> int:
    widths = _widths(spec)
    return int(sum(widths[p] for p in spec["parts"]))


def check_feature_spec(spec: dict) -> dict:
    """Raise :class:`DataError` unless ``spec`` is a well-formed feature spec; returns it."""
    if not isinstance(spec, dict):
        raise DataError(f"a feature spec is a dict, got {type(spec).__name__}")
    required = (
        "kind",
        "parts",
        "num_attributes",
        "num_node_labels",
        "node_label_values",
        "degree_cap",
        "num_features",
    )
    missing = [k for k in required if k not in spec]
    if missing:
        raise DataError(f"feature spec lacks {', '.join(missing)}: {spec!r}")
    parts = spec["parts"]
    if not parts or any(p not in _PARTS for p in parts):
        raise DataError(f"feature spec parts {parts!r} must be among {', '.join(_PARTS)}")
    if "degree" in parts and not isinstance(spec["degree_cap"], int):
        raise DataError("feature spec with degree features needs an integer degree_cap")
    if _num_features(spec) != spec["num_features"]:
        raise DataError(
            f"feature spec says {spec['num_features']} features but its parts add up to {_num_features(spec)}"
        )
    return spec


def _label_columns(labels: torch.Tensor, values: list[list[int]], where: str) -> torch.Tensor:
    """Per node and label column j, the position of its label among ``values[j]``, counted over all
    columns' values (the column of its 1 in the labels' one-hot blocks): long [n, len(values)]."""
    columns = []
    offset = 0
    for j, known in enumerate(values):
        known_arr = np.asarray(known, dtype=np.int64)
        column = labels[:, j].numpy()
        pos = np.searchsorted(known_arr, column)
        pos_clipped = np.minimum(pos, len(known_arr) - 1)
        bad = (pos >= len(known_arr)) | (known_arr[pos_clipped] != column)
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            column_note = f" (label column {j + 1})" if len(values) > 1 else ""
            raise DataError(
                f"{where}: node {node} has label {int(column[node])}{column_note}, which "
                f"the feature spec does not know (known labels: {known}); the model "
                f"was trained on data without it"
            )
        columns.append(torch.from_numpy(pos_clipped + offset))
        offset += len(known)
    return torch.stack(columns, dim=1)


def _widths(spec: dict) -> dict[str, int]:
    return {
        "attributes": spec["num_attributes"],
        "labels": spec["num_node_labels"],
        "degree": (spec["degree_cap"] or 0) + 1,
        "constant": 1,
    }


def _compact_of(data: Data, spec: dict, where: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``x`` of one graph compact: its attribute columns (float32 [n, d]) and the column of the 1 of
    each one-hot block (long [n, h]), None where the spec has none."""
    n = int(data.num_nodes)
    attributes = None
    hot = []
    offset = 0
    widths = _widths(spec)
    for part in spec["parts"]:
        if part == "attributes":
            want = spec["num_attributes"]
            if not _has(data, "node_attr"):
                raise DataError(f"{where}: has no node attributes, but the features expect {want} per node")
            attr = data.node_attr
            if attr.size(1) != want or attr.size(0) != n:
                raise DataError(
                    f"{where}: has {attr.size(1)} node attributes per node, but the features expect {want}"
                )
            if not torch.isfinite(attr).all():
                node = int((~torch.isfinite(attr)).any(dim=1).nonzero()[0])
                raise DataError(f"{where}: node {node} has a NaN or infinite attribute")
            attributes = attr.to(torch.float32)
        elif part == "labels":
            values = spec["node_label_values"]
            if not _has(data, "node_label"):
                raise DataError(
                    f"{where}: has no node labels, but the features expect one-hot node "
                    f"labels (known labels: {values})"
                )
            if data.node_label.size(1) != len(values):
                raise DataError(
                    f"{where}: has {data.node_label.size(1)} node label columns, but "
                    f"the features expect {len(values)}"
                )
            hot.append(_label_columns(data.node_label.long(), values, where) + offset)
        elif part == "degree":
            hot.append((_degrees(data).clamp(max=spec["degree_cap"]) + offset).view(n, 1))
        else:  # constant
            hot.append(torch.full((n, 1), offset, dtype=torch.long))
        offset += widths[part]
    return attributes, (torch.cat(hot, dim=1) if hot else None)


def _dense(attributes: torch.Tensor | None, hot: torch.Tensor | None, spec: dict, n: int) -> torch.Tensor:
    """``x`` (float32 [n, num_features]) from its compact parts."""
    x = torch.zeros(n, spec["num_features"], dtype=torch.float32)
    if attributes is not None:
        start = _attribute_offset(spec)
        x[:, start : start + attributes.size(1)] = attributes
    if hot is not None:
        x.scatter_(1, hot.long(), 1.0)
    return x


def _attribute_offset(spec: dict) -> int:
    parts = spec["parts"]
    widths = _widths(spec)
    return sum(widths[p] for p in parts[: parts.index("attributes")])


def hot_dtype(spec: dict) -> torch.dtype:
    """The type ``x_hot`` is stored in: int16 while every column number fits, else int32."""
    return torch.int16 if spec["num_features"] <= 2**15 else torch.int32


def apply_features(
    data_list: Iterable[Data], feature_spec: dict, *, keep_raw: bool = False, compact: bool = False
) -> list[Data]:
    """Return copies of the graphs with ``x`` built as ``feature_spec`` says.

    ``compact``: ``x_attr`` and ``x_hot`` (see the module docstring) instead of ``x``, each only
    where the spec has such columns. The raw fields ``node_label`` / ``node_attr`` are dropped from
    the copies unless ``keep_raw``. Raises :class:`DataError` naming the graph (its ``source`` file
    when known) if a graph does not fit the spec.
    """
    spec = check_feature_spec(feature_spec)
    out = []
    for index, data in enumerate(data_list):
        where = _where(data, index)
        attributes, hot = _compact_of(data, spec, where)
        new = copy.copy(data)
        if compact:
            if attributes is not None:
                new.x_attr = attributes
            if hot is not None:
                new.x_hot = hot.to(hot_dtype(spec))
        else:
            new.x = _dense(attributes, hot, spec, int(data.num_nodes))
        if not keep_raw:
            for key in ("node_label", "node_attr"):
                if key in new:
                    del new[key]
        out.append(new)
    return out


def expand_features(data: Data, feature_spec: dict | None) -> Data:
    """``data`` (changed in place) with its compact ``x_attr`` / ``x_hot`` replaced by ``x``: the
    same values, columns and type as ``apply_features`` without ``compact`` gives. A graph without
    them is returned as it is."""
    attributes = data.x_attr if "x_attr" in data else None
    hot = data.x_hot if "x_hot" in data else None
    stored = hot if hot is not None else attributes
    if stored is None:
        return data
    if not feature_spec:
        raise DataError("a graph with compact features (x_attr, x_hot) needs the feature spec to expand them")
    n = stored.size(0)
    for key in COMPACT_KEYS:
        if key in data:
            del data[key]
    data.x = _dense(attributes, hot, feature_spec, n)
    return data


def attribute_columns(spec: dict | None) -> int:
    """How many of the feature columns are continuous node attributes: the first ``num_attributes``
    (attributes come first in every spec); 0 without a spec or without attributes."""
    if not spec or "attributes" not in spec.get("parts", []):
        return 0
    if spec["parts"][0] != "attributes":
        raise DataError(f"feature spec {spec['parts']!r}: attributes must be the first columns")
    return int(spec["num_attributes"])


def describe_features(spec: dict | None) -> str:
    """One line saying what the feature columns are, e.g. ``21 = 18 attributes + 3 node-label one-hot``."""
    if not spec:
        return "unknown"
    names = {
        "attributes": lambda s: f"{s['num_attributes']} attribute{'s' if s['num_attributes'] != 1 else ''}",
        "labels": lambda s: f"{s['num_node_labels']} node-label one-hot",
        "degree": lambda s: f"{s['degree_cap'] + 1} degree one-hot (cap {s['degree_cap']})",
        "constant": lambda s: "1 constant",
    }
    return f"{spec['num_features']} = " + " + ".join(names[p](spec) for p in spec["parts"])
