"""TU Dortmund graph-classification benchmarks: find, validate, load and cache them.

Layout (as the official ``NAME.zip`` unpacks, and as PyG's :class:`~torch_geometric.datasets.TUDataset`
downloads it): ``NAME/NAME_A.txt`` (one ``i, j`` edge per line, 1-based node ids),
``NAME_graph_indicator.txt`` (graph id of node i on line i), ``NAME_graph_labels.txt`` (label of graph
g on line g), optionally ``NAME_node_labels.txt`` and ``NAME_node_attributes.txt``.

Why not ``TUDataset`` itself: PyG's reader trusts its input (a wrong file gives a shape error deep in
torch, or silently wrong graphs), drops the last line of a file without a final newline, loses
graphs without edges at the end of a file (its edge slices stop early) and writes its processed
files into the data folder. So the files are validated first (:func:`read_tu_raw`, every problem
reported as ``path:LINE: what is wrong``), and the graphs are built as PyG's utilities would
(``to_undirected`` coalesces duplicate edge lines — IMDB lists every edge four times — into one
unweighted edge in each direction) and stored as an ``InMemoryDataset``. The download URL is PyG's
(``TUDataset.url``).

Large folders (10⁷ edge lines and more) load in a small multiple of their size: a plainly written
file is parsed in blocks straight into one array (int32 ids), anything else goes to ``np.loadtxt``
and a line-by-line scan that names the bad line; the edges are coalesced by sorting one int64 key
per edge in place, and the graphs built collated, without a ``Data`` object per graph. The node
features are stored compact (``x_attr``, ``x_hot``: a one-hot block as the number of its column, see
:mod:`.features`) and expanded to ``x`` graph by graph as they are read.

Processed tensors are cached under the cache folder (``$DIFFPOOL_DATA``, default
``~/.cache/diffpool``), one file per source (folder or zip) and load settings; the source files'
sizes and times are checked inside it, so a changed source is processed again and replaces its
file. Nothing is ever written into the source folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.datasets import TUDataset
from torch_geometric.utils import to_undirected

from ..atomic import atomic_open
from .dataset import FORMAT_VERSION, GraphDataset
from .errors import DataError, DownloadError, decode_text, file_error, text_encoding_problem
from .features import apply_features, hot_dtype, make_feature_spec

__all__ = [
    "load_tu",
    "read_tu_raw",
    "TURaw",
    "cache_dir",
    "TU_URL",
    "find_tu_folder",
    "check_feature_files",
    "OFFICIAL_NODE_DATA",
]

log = logging.getLogger(__name__)

#: Where the official archives live (the address PyG's TUDataset downloads from).
TU_URL: str = TUDataset.url
REQUIRED_FILES = ("A", "graph_indicator", "graph_labels")
OPTIONAL_FILES = ("node_labels", "node_attributes")
#: The node data the official archives of these sets hold. A copy without it is incomplete: with
#: ``auto`` features a model would quietly train on other inputs (degrees instead of labels).
OFFICIAL_NODE_DATA = {
    "MUTAG": ("labels",),
    "ENZYMES": ("labels", "attributes"),
    "PROTEINS": ("labels", "attributes"),
    "PROTEINS_full": ("labels", "attributes"),
    "NCI1": ("labels",),
    "NCI109": ("labels",),
    "DD": ("labels",),
    "PTC_MR": ("labels",),
}
_PART_FILES = {"labels": "node_labels", "attributes": "node_attributes"}

PathLike = Union[str, "os.PathLike[str]"]


def cache_dir(path: PathLike | None = None) -> Path:
    """The cache folder: ``path`` if given, else ``$DIFFPOOL_DATA``, else ``~/.cache/diffpool``
    (``$XDG_CACHE_HOME/diffpool`` when that is set)."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("DIFFPOOL_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "diffpool"


# ----------------------------------------------------------------------------------------------
# Reading and validating the raw files
# ----------------------------------------------------------------------------------------------
@dataclass
class TURaw:
    """The validated content of one TU folder, as numpy arrays (ids already 0-based)."""

    name: str
    folder: Path
    edges: np.ndarray  # [E, 2], 0-based node ids, as listed (duplicates, one direction or both)
    graph_of_node: np.ndarray  # [n], 0-based, non-decreasing
    # edges and graph_of_node are int32 (int64 only for ids past 2^31 - 1): 8 bytes an edge, not 16
    graph_labels: np.ndarray | None  # [G] int64, raw coding; None for unlabelled graphs (predict)
    node_labels: np.ndarray | None = None  # [n, k] int64
    node_attributes: np.ndarray | None = None  # [n, d] float64
    files: dict = field(default_factory=dict)  # part -> Path

    @property
    def num_nodes(self) -> int:
        return int(self.graph_of_node.shape[0])

    @property
    def num_graphs(self) -> int:
        return int(self.graph_of_node[-1]) + 1 if self.graph_of_node.size else 0


def _read_text(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:  # unreadable (permissions, I/O error): our error, naming the file
        raise file_error(path, 0, f"cannot be read ({error.strerror or error})") from None
    # Compressed files, UTF-16 and byte-order marks are named as such, not as a bad first value.
    return decode_text(path, raw)


def _scan_for_error(path: Path, text: str, columns: int | None, kind: str) -> DataError:
    """Slow path, run only once a file is known to be bad: find its first bad line."""
    lines = text.split("\n")
    if lines and lines[-1].strip() == "":
        lines.pop()
    expected = columns
    what = "an integer" if kind == "int" else "a number"
    convert = int if kind == "int" else float
    for number, line in enumerate(lines, start=1):
        if line.strip() == "":
            if all(rest.strip() == "" for rest in lines[number:]):
                break  # trailing blank lines are harmless
            return file_error(path, number, "blank line (every line must hold one record)")
        fields = line.split(",")
        if expected is None:
            expected = len(fields)
        if len(fields) != expected:
            return file_error(
                path,
                number,
                f"expected {expected} comma-separated value"
                f"{'s' if expected != 1 else ''}, found {len(fields)}: "
                f"{line.strip()!r}",
            )
        for position, value in enumerate(fields, start=1):
            try:
                number_value = convert(value)
            except ValueError:
                return file_error(path, number, f"value {position} is not {what}: {value.strip()!r}")
            if kind == "int" and not -(2**63) <= number_value < 2**63:
                return file_error(path, number, f"value {position} is too large: {value.strip()!r}")
    return file_error(path, 0, "could not be parsed")


def _read_table_slowly(path: Path, kind: str, columns: int | None) -> np.ndarray:
    """:func:`_read_table` for any file: the whole text at once through ``np.loadtxt``, and on a
    failure a line-by-line scan that names the first bad line. Costs several times the file's size."""
    text = _read_text(path)
    if text.strip() == "":
        raise file_error(path, 1, "file is empty")
    body = text.rstrip()  # trailing blank lines are harmless; blank lines inside are not
    num_lines = body.count("\n") + 1
    dtype = np.int64 if kind == "int" else np.float64
    if max(body) > "\uffff":
        # np.loadtxt can crash (a segmentation fault) on some characters past U+FFFF; none of them is a
        # digit or a space, so the file is bad either way: name the line without it.
        raise _scan_for_error(path, text, columns, kind)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=dtype, ndmin=2, comments=None)
    except ValueError:
        raise _scan_for_error(path, text, columns, kind) from None
    if table.shape[0] != num_lines or (columns is not None and table.shape[1] != columns):
        raise _scan_for_error(path, text, columns, kind)
    return table


# The fast reader takes files of ASCII numbers, commas, spaces and tabs, with LF or CRLF line ends: what
# TU files hold. It reads them in blocks of this many bytes (large enough for numpy to run at full
# speed, small beside a large file), straight into the table.
_BLOCK = 1 << 18
_TOKEN, _SPACE, _COMMA, _NEWLINE, _RETURN = 1, 2, 3, 4, 5


def _byte_classes(token: bytes) -> bytes:
    """A ``bytes.translate`` table from each byte to its class; 0 for a byte the fast reader leaves to
    the slow one (translate runs at memory speed, twice numpy's table lookup)."""
    table = bytearray(256)
    for byte in token:
        table[byte] = _TOKEN
    table[ord(" ")] = table[ord("\t")] = _SPACE
    table[ord(",")], table[ord("\n")], table[ord("\r")] = _COMMA, _NEWLINE, _RETURN
    return bytes(table)


_BYTE_CLASSES = {"int": _byte_classes(b"0123456789+-"), "float": _byte_classes(b"0123456789+-.eE")}
_INT64 = np.iinfo(np.int64)
_INT32 = np.iinfo(np.int32)
_DTYPES = {"int": np.int64, "float": np.float64}


def _parse_block(block: bytes, kind: str, width: int) -> np.ndarray | None:
    """The values of ``block`` (whole lines, the last one ending in a newline) as [lines, width], or
    None unless every line is ``width`` numbers between commas, with only spaces and tabs around them.

    ``np.fromstring`` converts; the byte checks around it make sure it accepts only what ``np.loadtxt``
    reads as the same numbers: it would read an empty field as 0 or skip a space inside one.
    """
    named = block.translate(_BYTE_CLASSES[kind])
    if b"\0" in named:
        return None
    classes = np.frombuffer(named, np.uint8)
    ends = np.flatnonzero(classes == _NEWLINE)
    lines = len(ends)
    if bytes([_RETURN]) in named:
        returns = np.flatnonzero(classes == _RETURN)
        if not (classes[returns + 1] == _NEWLINE).all():
            return None  # a CR that does not end a line (CRLF is fine)
    commas = np.flatnonzero(classes == _COMMA)
    if commas.size != lines * (width - 1):
        return None
    if width > 1:  # each line's commas lie between its end and the previous line's
        per_line = commas.reshape(lines, width - 1)
        if (per_line[:, -1] > ends).any() or (per_line[1:, 0] < ends[:-1]).any():
            return None
    if b"-" in block or b"+" in block:  # fromstring reads a lone sign as 0: a sign must start a number
        raw = np.frombuffer(block, np.uint8)
        after = raw[np.flatnonzero((raw == ord("-")) | (raw == ord("+"))) + 1]
        if not (((after >= ord("0")) & (after <= ord("9"))) | (after == ord("."))).all():
            return None
    token = classes == _TOKEN
    # One run of number characters per field: with the commas placed as above, no field is empty
    # and none holds two numbers (fromstring fails on the latter but reads an empty field as 0).
    if int(token[0]) + np.count_nonzero(token[1:] > token[:-1]) != lines * width:
        return None
    try:
        values = np.fromstring(block.replace(b"\n", b","), dtype=_DTYPES[kind], sep=",")
    except ValueError:  # a run that is not one whole number ("1-2", "1.5" as an integer, "1e")
        return None
    if values.size != lines * width:
        return None
    if kind == "int" and ((values == _INT64.max) | (values == _INT64.min)).any():
        return None  # fromstring clips what overflows; the slow reader says "too large"
    return values.reshape(lines, width)


def _survey(handle) -> tuple[int, int, int] | None:
    """For the fast reader: (bytes before the trailing blank ones, lines in them, values on the first
    line), or None for a blank file, one that is not plain text, or a first line longer than a block."""
    first = handle.read(_BLOCK)
    if text_encoding_problem(first) is not None:
        return None
    newline = first.find(b"\n")
    if newline < 0 and len(first) == _BLOCK:
        return None
    width = first[: newline if newline >= 0 else len(first)].count(b",") + 1
    end = lines = offset = newlines = 0
    chunk = first
    while chunk:
        kept = len(chunk.rstrip())
        if kept:
            end, lines = offset + kept, newlines + chunk.count(b"\n", 0, kept) + 1
        newlines += chunk.count(b"\n")
        offset += len(chunk)
        chunk = handle.read(_BLOCK)
    return (end, lines, width) if end else None


def _read_table_fast(path: Path, kind: str, columns: int | None, narrow: bool) -> np.ndarray | None:
    """:func:`_read_table` for a plainly written file, or None for any other (or an unreadable) one.

    Two passes over the file in blocks: the first counts its lines, the second parses each block into
    a table allocated once, so the peak is the table plus a few blocks, not several copies of the text.
    """
    try:
        with open(path, "rb") as handle:
            survey = _survey(handle)
            if survey is None:
                return None
            end, lines, width = survey
            if (columns is not None and width != columns) or lines * 2 * width > end + 1:
                return None  # or more lines than could hold numbers (blank ones): no table that long
            handle.seek(0)
            table = np.empty((lines, width), np.int32 if narrow else _DTYPES[kind])
            row, carry, left = 0, b"", end
            while left:
                chunk = handle.read(min(_BLOCK, left))
                if not chunk:
                    return None  # the file shrank while being read
                left -= len(chunk)
                data = carry + chunk
                cut = data.rfind(b"\n") + 1 if left else len(data)
                block, carry = data[:cut], data[cut:]
                if not block:
                    continue  # a line longer than a block: read on
                values = _parse_block(block if left else block + b"\n", kind, width)
                if values is None or row + len(values) > lines:
                    return None
                if narrow and len(values) and (values.min() < _INT32.min or values.max() > _INT32.max):
                    return None
                table[row : row + len(values)] = values
                row += len(values)
    except OSError:
        return None  # the slow reader says why
    return table if row == lines else None


def _read_table(path: Path, kind: str, columns: int | None, *, narrow: bool = False) -> np.ndarray:
    """Parse a TU text file into a 2-D array, or raise a ``path:LINE:`` error.

    ``kind`` is ``"int"`` (int64) or ``"float"`` (float64); ``columns`` the required number of values
    per line, or ``None`` for "the same on every line". ``narrow``: int32 if every value fits (for ids,
    which do whenever the file is valid). A plainly written file is read in blocks
    (:func:`_read_table_fast`); any other, or one with a bad line, the old way, which names the line.
    """
    narrow = narrow and kind == "int"
    table = _read_table_fast(path, kind, columns, narrow)
    if table is None:
        table = _read_table_slowly(path, kind, columns)
        if narrow and table.size and _INT32.min <= table.min() and table.max() <= _INT32.max:
            table = table.astype(np.int32)  # the same type whichever reader ran
    return table


def _count_error(path: Path, found: int, expected: int, what: str, reference: str) -> DataError:
    if found < expected:
        return file_error(
            path, found + 1, f"file ends after {found} lines, but {reference} needs {expected} ({what})"
        )
    return file_error(
        path,
        expected + 1,
        f"{found} lines, but {reference} needs exactly {expected} ({what}); this line and the rest are extra",
    )


def _check_entries(folder: Path, name: str) -> None:
    """Something named as a TU file that is not a readable file is an error, never taken for "no
    such data" (a node-labels folder or broken link would otherwise give other features, silently)."""
    for path in sorted(folder.glob(f"{name}_*.txt")):
        if path.is_dir():
            raise file_error(path, 0, "is a folder, where a text file of the TU format is expected")
        if path.is_symlink() and not path.exists():
            raise file_error(path, 0, f"is a broken symbolic link (to {os.readlink(path)})")


def _first_row(table: np.ndarray, test) -> int:
    """The first row of ``table`` for which ``test`` (of a block of rows) is true, or -1; a block at a
    time, so that the temporaries stay small however long the table is."""
    for start in range(0, len(table), _ROWS):
        hits = np.flatnonzero(test(table[start : start + _ROWS]))
        if hits.size:
            return start + int(hits[0])
    return -1


def read_tu_raw(folder: PathLike, name: str, *, labels_required: bool = True) -> TURaw:
    """Read and validate the TU files of data set ``name`` in ``folder``; with
    ``labels_required=False`` (graphs to predict) the graph labels file may be absent.

    Checks, each failing with a :class:`DataError` that starts ``path:LINE:``: required files present,
    no empty file, every line integer (attributes: numbers) with the right number of values, graph
    ids contiguous ``1..G`` in node order, node ids within ``1..n`` and edges inside one graph,
    one label per graph and one node label / attribute row per node, attributes finite.
    """
    folder = Path(folder)
    files = {part: folder / f"{name}_{part}.txt" for part in REQUIRED_FILES + OPTIONAL_FILES}
    _check_entries(folder, name)
    for part in REQUIRED_FILES:
        if not files[part].is_file() and (labels_required or part != "graph_labels"):
            present = sorted(p.name for p in folder.glob(f"{name}_*.txt")) if folder.is_dir() else []
            raise file_error(
                files[part],
                0,
                f"required file is missing (a TU data set needs "
                f"{', '.join(f'{name}_{p}.txt' for p in REQUIRED_FILES)}; "
                f"found {', '.join(present) or 'none'})",
            )

    # graph indicator: graph id of every node, 1..G, contiguous and in node order
    path = files["graph_indicator"]
    indicator = _read_table(path, "int", 1, narrow=True)[:, 0]
    if indicator[0] != 1:
        raise file_error(path, 1, f"graph ids must start at 1, found {indicator[0]}")
    steps = np.diff(indicator)
    bad = np.flatnonzero((steps != 0) & (steps != 1))
    if bad.size:
        line = int(bad[0]) + 2
        before, after = int(indicator[line - 2]), int(indicator[line - 1])
        problem = "skips graph ids" if after > before else "goes back"
        raise file_error(
            path,
            line,
            f"graph id {after} follows {before}: the indicator {problem}; "
            f"graph ids must run 1..G without gaps, each graph's nodes on "
            f"consecutive lines",
        )
    num_nodes = int(indicator.shape[0])
    num_graphs = int(indicator[-1])
    graph_of_node = indicator
    graph_of_node -= 1  # in place: the file's ids are not needed any more

    # edges: 1-based node ids within 1..n, both ends in the same graph
    path = files["A"]
    edges = _read_table(path, "int", 2, narrow=True)
    outside = _first_row(edges, lambda rows: ((rows < 1) | (rows > num_nodes)).any(axis=1))
    if outside >= 0:
        raise file_error(
            path,
            outside + 1,
            f"node id out of range in edge {edges[outside].tolist()}: "
            f"node ids run 1..{num_nodes} (the lines of "
            f"{files['graph_indicator'].name})",
        )
    edges -= 1
    i = _first_row(edges, lambda rows: graph_of_node[rows[:, 0]] != graph_of_node[rows[:, 1]])
    if i >= 0:
        u, v = edges[i] + 1
        raise file_error(
            path,
            i + 1,
            f"edge ({u}, {v}) joins graph {graph_of_node[u - 1] + 1} and graph {graph_of_node[v - 1] + 1}",
        )

    path = files["graph_labels"]
    graph_labels = _read_table(path, "int", 1)[:, 0] if path.is_file() else None
    if graph_labels is not None and graph_labels.shape[0] != num_graphs:
        raise _count_error(
            path, graph_labels.shape[0], num_graphs, "one label per graph", files["graph_indicator"].name
        )

    raw = TURaw(
        name=name,
        folder=folder,
        edges=edges,
        graph_of_node=graph_of_node,
        graph_labels=graph_labels,
        files={k: v for k, v in files.items() if v.is_file()},
    )

    path = files["node_labels"]
    if path.is_file():
        node_labels = _read_table(path, "int", None)
        if node_labels.shape[0] != num_nodes:
            raise _count_error(
                path, node_labels.shape[0], num_nodes, "one line per node", files["graph_indicator"].name
            )
        raw.node_labels = node_labels

    path = files["node_attributes"]
    if path.is_file():
        attributes = _read_table(path, "float", None)
        if attributes.shape[0] != num_nodes:
            raise _count_error(
                path, attributes.shape[0], num_nodes, "one line per node", files["graph_indicator"].name
            )
        finite = np.isfinite(attributes)
        if not finite.all():
            row, col = (int(i) for i in np.argwhere(~finite)[0])
            raise file_error(
                path,
                row + 1,
                f"attribute {col + 1} is {attributes[row, col]} (attributes must be finite numbers)",
            )
        raw.node_attributes = attributes
    return raw


# ----------------------------------------------------------------------------------------------
# From raw arrays to PyG graphs
# ----------------------------------------------------------------------------------------------
_ROWS = 1 << 16  # rows per step of the passes over whole tables: bounds their temporaries
_MAX_KEYED_NODES = 3_037_000_499  # n·n must fit in an int64 key
_FEATURE_BYTES = 1 << 24  # of temporaries per group of graphs featured at once (see _features)


def label_mapping_of(labels: np.ndarray) -> dict:
    """``{raw label: class index}``, raw labels sorted: 1/2 → 0/1, -1/1 → 0/1, 0..C-1 unchanged."""
    return {int(raw): index for index, raw in enumerate(np.unique(labels).tolist())}


def _graph_classes(raw: TURaw) -> tuple[dict, torch.Tensor | None]:
    """The label mapping and every graph's class index (None for unlabelled graphs)."""
    if raw.graph_labels is None:
        return {}, None
    values = np.unique(raw.graph_labels)
    mapping = {int(value): index for index, value in enumerate(values.tolist())}
    return mapping, torch.from_numpy(np.searchsorted(values, raw.graph_labels).astype(np.int64))


def _edge_keys(edges: np.ndarray, n: int, *, in_place: bool) -> tuple[np.ndarray, int]:
    """One int64 key per listed edge that is not a self-loop, smaller end · n + larger end, and the
    number of self-loops. (A function of its own: no view of ``edges`` outlives it.)

    ``in_place``: the keys overwrite ``edges`` (no longer needed), key i in the bytes of row i or
    before it, which the loop has read by then: an int32 row is exactly one key.
    """
    if in_place and edges.flags.c_contiguous:
        keys = edges.reshape(-1).view(np.int64)
    else:
        keys = np.empty(len(edges), np.int64)
    count = 0
    for start in range(0, len(edges), _ROWS):
        rows = edges[start : start + _ROWS]
        u, v = rows[:, 0], rows[:, 1]
        keep = u != v
        key = np.minimum(u, v)[keep].astype(np.int64)
        key *= n
        key += np.maximum(u, v)[keep]
        keys[count : count + len(key)] = key
        count += len(key)
    return keys[:count], len(edges) - count


def _undirected_edges(raw: TURaw, *, release: bool = False) -> tuple[np.ndarray, int]:
    """``raw.edges`` as an int64 [2, E'] edge index that holds every edge once in each direction,
    sorted by (row, col), without self-loops; and the number of self-loops dropped.

    The same as ``to_undirected`` (PyG's coalesce) in a fraction of its memory: each listed edge
    becomes one int64 key (smaller end · n + larger end), sorted in place and deduplicated into the
    result's second row; the keys of the other direction are appended there, sorted and merged in,
    and the row split into (row, col). ``release``: the keys take the place of ``raw.edges``, which
    is left empty.
    """
    edges, n = raw.edges, raw.num_nodes
    if release:
        raw.edges = np.empty((0, 2), edges.dtype)
    if n > _MAX_KEYED_NODES:
        listed = torch.from_numpy(np.ascontiguousarray(edges.T)).long()
        is_loop = listed[0] == listed[1]
        return to_undirected(listed[:, ~is_loop], num_nodes=n).numpy(), int(is_loop.sum())
    keys, loops = _edge_keys(edges, n, in_place=release)
    del edges
    keys.sort()
    first = np.empty(len(keys), bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    unique = int(np.count_nonzero(first))
    edge_index = np.empty((2, 2 * unique), np.int64)
    keyed = edge_index[1]  # the keys of both directions, then the column of each edge
    np.compress(first, keys, out=keyed[:unique])
    del keys, first
    for start in range(0, unique, _ROWS):
        larger, smaller = np.divmod(keyed[start : min(start + _ROWS, unique)], n)
        smaller *= n
        smaller += larger
        keyed[unique + start : unique + start + len(smaller)] = smaller
    keyed[unique:].sort()
    keyed.sort(kind="stable")  # two sorted runs: a merge (timsort), half the work of a full sort
    for start in range(0, 2 * unique, _ROWS):
        key, row = keyed[start : start + _ROWS], edge_index[0, start : start + _ROWS]
        np.floor_divide(key, n, out=row)
        key -= row * n
    return edge_index, loops


def _pointers(raw: TURaw, edge_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each graph's nodes and edges start (and the last ones end): [G + 1] each, int64."""
    graph_of_node = raw.graph_of_node
    node_ptr = np.searchsorted(graph_of_node, np.arange(raw.num_graphs + 1, dtype=graph_of_node.dtype))
    return node_ptr, np.searchsorted(edge_index[0], node_ptr)  # rows are sorted, graphs contiguous


def _localize(edge_index: np.ndarray, graph_of_node: np.ndarray, node_ptr: np.ndarray) -> None:
    """In place: node ids counted from each graph's first node (as every ``Data`` holds them)."""
    for start in range(0, edge_index.shape[1], _ROWS):
        block = edge_index[:, start : start + _ROWS]
        block -= node_ptr[graph_of_node[block[0]]]


def build_graphs(raw: TURaw) -> tuple[list[Data], dict]:
    """One PyG ``Data`` per graph (``edge_index``, ``y``, ``num_nodes``, raw node data), plus facts.

    Self-loops are dropped (as PyG's TUDataset does) and counted; every edge is stored once in each
    direction, without weights, however often the file lists it. (:func:`load_tu` builds the same
    graphs collated, without a ``Data`` per graph: :func:`_collated_dataset`.)
    """
    edge_index, num_loops = _undirected_edges(raw)
    node_ptr, edge_ptr = _pointers(raw, edge_index)
    _localize(edge_index, raw.graph_of_node, node_ptr)
    local = torch.from_numpy(edge_index)
    mapping, y = _graph_classes(raw)
    node_labels = torch.from_numpy(raw.node_labels) if raw.node_labels is not None else None
    node_attr = (
        torch.from_numpy(raw.node_attributes).to(torch.float32) if raw.node_attributes is not None else None
    )

    graphs = []
    nodes, edges = node_ptr.tolist(), edge_ptr.tolist()
    for g in range(raw.num_graphs):
        a, b = nodes[g], nodes[g + 1]
        data = Data(edge_index=local[:, edges[g] : edges[g + 1]].clone(), num_nodes=b - a)
        if y is not None:
            data.y = y[g : g + 1].clone()
        if node_labels is not None:
            data.node_label = node_labels[a:b].clone()
        if node_attr is not None:
            data.node_attr = node_attr[a:b].clone()
        graphs.append(data)
    facts = {"self_loops_removed": num_loops, "label_mapping": mapping}
    return graphs, facts


def _features(
    spec: dict,
    edge_index: np.ndarray,
    node_ptr: np.ndarray,
    edge_ptr: np.ndarray,
    node_label: torch.Tensor | None,
    node_attr: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """``x`` of every node, compact (``x_attr`` and/or ``x_hot``, see :mod:`.features`), made by
    ``apply_features`` a group of graphs at a time into one tensor each.

    Stored compact, one-hot degrees cost 2 bytes a node instead of 260 (65 float32 columns).
    Groups with about ``_FEATURE_BYTES`` of temporaries (int64 positions, indices and degrees, and
    a float32 copy of the attributes) keep the extra small, and each operation large enough that
    its per-call cost does not add up.
    """
    num_graphs = len(node_ptr) - 1
    nodes = int(node_ptr[-1])
    out = {}
    if "attributes" in spec["parts"]:
        out["x_attr"] = torch.empty(nodes, spec["num_attributes"], dtype=torch.float32)
    hot_columns = len(spec["node_label_values"]) * ("labels" in spec["parts"])
    hot_columns += sum(part in spec["parts"] for part in ("degree", "constant"))
    if hot_columns:
        out["x_hot"] = torch.empty(nodes, hot_columns, dtype=hot_dtype(spec))
    per_node = 8 * (spec["num_attributes"] + 2 * hot_columns) + 48
    group_nodes = max(1, min(_FEATURE_BYTES // per_node, -(-nodes // 8)))
    first = 0
    while first < num_graphs:
        stop = int(np.searchsorted(node_ptr, node_ptr[first] + group_nodes, side="right")) - 1
        stop = min(max(stop, first + 1), num_graphs)
        a, b = int(node_ptr[first]), int(node_ptr[stop])
        group = Data(num_nodes=b - a)
        if "degree" in spec["parts"]:  # the only features that need the edges (the group's, made local)
            group.edge_index = torch.from_numpy(edge_index[:, edge_ptr[first] : edge_ptr[stop]] - a)
        if node_label is not None:
            group.node_label = node_label[a:b]
        if node_attr is not None:
            group.node_attr = node_attr[a:b]
        featured = apply_features([group], spec, compact=True)[0]
        for key, values in out.items():
            values[a:b] = featured[key]
        first = stop
    return out


def _collated_dataset(
    raw: TURaw, features: str, max_nodes: int | None, degree_cap: int | None, info: dict
) -> GraphDataset:
    """What :func:`load_tu` returns, built from ``raw`` (which it empties as it goes).

    The same tensors, slices and metadata as :func:`build_graphs`, ``apply_features`` on each graph
    and ``InMemoryDataset.collate``, without a Python object per graph or a second copy of the edges:
    the feature spec is made from all graphs as one graph of all nodes (a node's features depend on
    its own labels, attributes and degree only), the features a group of graphs at a time, and the
    edges are made local in place.
    """
    name = raw.name
    node_label = torch.from_numpy(raw.node_labels) if raw.node_labels is not None else None
    node_attr = (
        torch.from_numpy(raw.node_attributes).to(torch.float32) if raw.node_attributes is not None else None
    )
    raw.node_labels = raw.node_attributes = None
    whole = Data(num_nodes=raw.num_nodes)
    for key, value in (("node_label", node_label), ("node_attr", node_attr)):
        if value is not None:
            whole[key] = value
    # The spec before the edges exist, so that its temporaries (sorted copies of the node labels) do
    # not add to theirs; only degree features need the edges, and then the spec is made again.
    spec = make_feature_spec([whole], features, degree_cap=degree_cap, name=name)
    edge_index, info["self_loops_removed"] = _undirected_edges(raw, release=True)
    node_ptr, edge_ptr = _pointers(raw, edge_index)
    mapping, y = _graph_classes(raw)
    if "degree" in spec["parts"]:
        whole.edge_index = torch.from_numpy(edge_index)
        spec = make_feature_spec([whole], features, degree_cap=degree_cap, name=name)
    del whole
    compact = _features(spec, edge_index, node_ptr, edge_ptr, node_label, node_attr)
    del node_label, node_attr
    _localize(edge_index, raw.graph_of_node, node_ptr)

    sizes, edge_counts = np.diff(node_ptr), np.diff(edge_ptr)
    filtered = None
    if max_nodes is not None:
        keep = sizes <= max_nodes
        removed = np.flatnonzero(~keep).tolist()
        filtered = {
            "max_nodes": int(max_nodes),
            "removed": len(removed),
            "kept": int(keep.sum()),
            "removed_indices": removed,
        }
        if not keep.any():
            raise DataError(
                f"{name}: max_nodes={max_nodes} removes all {len(sizes)} graphs "
                f"(the smallest has {int(sizes.min())} nodes)"
            )
        if removed:
            node_keep = torch.from_numpy(np.repeat(keep, sizes))
            compact = {key: values[node_keep] for key, values in compact.items()}
            edge_keep = np.repeat(keep, edge_counts)
            kept = np.empty((2, int(edge_keep.sum())), np.int64)  # contiguous, as a collated tensor is
            for row in range(2):
                np.compress(edge_keep, edge_index[row], out=kept[row])
            edge_index = kept
            y = y[torch.from_numpy(keep)] if y is not None else None
            sizes, edge_counts = sizes[keep], edge_counts[keep]
            node_ptr = np.concatenate(([0], np.cumsum(sizes)))
            edge_ptr = np.concatenate(([0], np.cumsum(edge_counts)))

    # The attributes in collate's order, and its slices; a single graph it keeps as it is.
    data = Data()
    data.edge_index = torch.from_numpy(edge_index)
    data.num_nodes = int(node_ptr[-1])
    if y is not None:
        data.y = y
    for key, values in compact.items():
        data[key] = values
    slices = None
    if len(sizes) > 1:
        data._num_nodes = sizes.tolist()
        slices = {"edge_index": torch.from_numpy(edge_ptr)}
        if y is not None:
            slices["y"] = torch.arange(len(sizes) + 1)
        for key in compact:
            slices[key] = torch.from_numpy(node_ptr)
    dataset = GraphDataset(
        None, name=name, label_mapping=mapping, feature_spec=spec, filtered=filtered, info=info
    )
    dataset.data = data
    dataset.slices = slices
    return dataset


# ----------------------------------------------------------------------------------------------
# Finding the files: a local folder, a zip, or the download cache
# ----------------------------------------------------------------------------------------------
def _is_tu_folder(folder: Path, name: str) -> bool:
    return (folder / f"{name}_A.txt").is_file()


def _stamp(path: Path) -> list:
    stat = path.stat()
    return [path.name, stat.st_size, stat.st_mtime_ns]


def _unpacked(target: Path, name: str, stamp: str | None) -> bool:
    """Whether ``target`` holds the data set, unpacked from the archive with this ``stamp`` (None: any)."""
    marker = target / ".archive"
    return _is_tu_folder(target, name) and (
        stamp is None or (marker.is_file() and marker.read_text() == stamp)
    )


def _extract_zip(archive: Path, name: str, target: Path, *, stamp: str | None = None) -> Path:
    """Unpack the ``NAME_*.txt`` files of ``archive`` (flattened) into ``target``, atomically.

    With ``stamp`` (the archive's size and time), ``target/.archive`` records it, and an archive that
    changed is unpacked again over the old copy rather than beside it.
    """
    if _unpacked(target, name, stamp):
        return target
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [
                m
                for m in zf.infolist()
                if not m.is_dir()
                and Path(m.filename).name.startswith(f"{name}_")
                and Path(m.filename).name.endswith(".txt")
            ]
            if not any(Path(m.filename).name == f"{name}_A.txt" for m in members):
                listed = ", ".join(sorted(Path(m.filename).name for m in zf.infolist())[:8])
                raise file_error(
                    archive,
                    0,
                    f"zip holds no {name}/{name}_A.txt (found: {listed or 'nothing'}); "
                    f"is it the archive of another data set?",
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
            try:
                for member in members:
                    with zf.open(member) as src, open(staging / Path(member.filename).name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                if stamp is not None:
                    (staging / ".archive").write_text(stamp)
                try:
                    os.replace(staging, target)
                except OSError:  # target exists: another process got there first, or an older copy
                    if not _unpacked(target, name, stamp):
                        stale = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.stale."))
                        os.replace(target, stale / "old")
                        os.replace(staging, target)
                        shutil.rmtree(stale, ignore_errors=True)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except zipfile.BadZipFile as error:
        raise file_error(archive, 0, f"not a valid zip archive ({error})") from None
    return target


def _offline_message(name: str, url: str, cache: Path, reason: str) -> str:
    return (
        f"Could not download the TU data set {name!r} from {url} ({reason}), and no copy is cached "
        f"under {cache / 'raw' / name}. Download {name}.zip from that address (the TU Dortmund "
        f"collection, https://chrsmrrs.github.io/datasets/) on a machine with internet access, then "
        f"point diffpool at it: --data-dir DIR on the command line (root=DIR in "
        f"diffpool.data.load_tu), where DIR holds {name}.zip or the unpacked folder {name}/ with "
        f"{name}_A.txt and the other files. Alternatively unpack it into {cache / 'raw'}/ (set "
        f"DIFFPOOL_DATA to use another cache folder)."
    )


def _fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` with a tqdm progress bar (atomic: temp file + rename)."""
    from tqdm.auto import tqdm

    with (
        urllib.request.urlopen(url, timeout=60) as response,
        atomic_open(destination, "wb", suffix=".part") as out,
    ):
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {destination.name}") as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def _download(name: str, cache: Path) -> Path:
    target = cache / "raw" / name
    if _is_tu_folder(target, name):
        return target
    url = f"{TU_URL}/{name}.zip"
    archive = cache / "downloads" / f"{name}.zip"
    if not archive.is_file():
        try:
            _fetch(url, archive)
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            reason = getattr(error, "reason", None) or error
            raise DownloadError(_offline_message(name, url, cache, str(reason))) from None
    return _extract_zip(archive, name, target)


def find_tu_folder(name: str, root: PathLike | None, cache: Path) -> Path:
    """The folder holding ``NAME_A.txt`` etc., given ``root`` as :func:`load_tu` accepts it.

    Downloads (into ``cache``) only when ``root`` is None.
    """
    if root is None:
        return _download(name, cache)
    root = Path(root).expanduser()
    if root.is_file():
        if root.suffix.lower() != ".zip":
            raise DataError(f"{root}: expected a folder or a {name}.zip archive")
        # One unpacked copy per archive path, replaced when the archive changes (see _extract_zip).
        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
        return _extract_zip(root, name, cache / "extracted" / f"{name}-{key}", stamp=json.dumps(_stamp(root)))
    candidates = [root / name, root, root / name / "raw", root / "raw"]
    for folder in candidates:
        if _is_tu_folder(folder, name):
            return folder
    if (root / f"{name}.zip").is_file():
        return find_tu_folder(name, root / f"{name}.zip", cache)
    if not root.exists():
        raise DataError(f"{root}: no such folder (expected a folder holding {name}/ or {name}.zip)")
    for folder in (root, root / name):  # the data set's folder, but incomplete: say what is missing
        if folder.name == name and folder.is_dir():
            read_tu_raw(folder, name)
    raise DataError(
        f"{root}: found neither {name}/{name}_A.txt, {name}_A.txt nor {name}.zip there "
        f"(data set names are case-sensitive)"
    )


def check_feature_files(folder: Path, name: str, features: str) -> None:
    """The node-data files that ``features`` needs must be in ``folder``: the one asked for
    (``labels``, ``attributes``), or with ``auto`` those the official set has
    (:data:`OFFICIAL_NODE_DATA`). A missing one is a :class:`DataError` naming it, never a quiet
    fall-back to other features; ``degree`` or ``constant`` features need neither."""
    if features in _PART_FILES:
        wanted = [features]
        why = (
            "{name} has no node {part}: this file is missing, and --features {part} builds the features "
            "from it"
        )
    elif features == "auto":
        wanted = list(OFFICIAL_NODE_DATA.get(name, ()))
        why = (
            "missing: the official {name} set has node {part} in this file, and without them the "
            "automatic node features would be built from other data"
        )
    else:
        return
    # Something there counts as present: read_tu_raw says what is wrong with a folder or broken link.
    present = [
        p for p in ("attributes", "labels") if os.path.lexists(folder / f"{name}_{_PART_FILES[p]}.txt")
    ]
    for part in wanted:
        path = folder / f"{name}_{_PART_FILES[part]}.txt"
        if part not in present:
            others = [p for p in present if p != part] + ["degree"]
            choices = " or ".join(f"--features {p}" for p in others)
            alone = " (from the graph structure alone)" if others == ["degree"] else ""
            raise file_error(
                path,
                0,
                f"{why.format(name=name, part=part)}. Restore the file, or choose the "
                f"features explicitly: {choices}{alone}",
            )


# ----------------------------------------------------------------------------------------------
# The public loader
# ----------------------------------------------------------------------------------------------
def _cache_key(folder: Path, settings: dict) -> str:
    """The processed file's name: one per source folder and settings. The source files' stamps are
    checked inside it (:func:`_source_stamps`), so a changed source or a new format replaces the file
    rather than leaving the old one behind (a key over the stamps left one stale copy per change)."""
    material = {"source": str(folder.resolve()), "settings": settings}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]


def _source_stamps(folder: Path, name: str) -> list:
    return [_stamp(f) for f in sorted(folder.glob(f"{name}_*.txt"))]


def _report_filtered(dataset: GraphDataset) -> None:
    info = dataset.filtered
    if info and info["removed"]:
        message = (
            f"{dataset.name}: removed {info['removed']} of {info['removed'] + info['kept']} "
            f"graphs with more than {info['max_nodes']} nodes (max_nodes={info['max_nodes']})"
        )
        log.info(message)
        warnings.warn(message, stacklevel=3)


def load_tu(
    name: str,
    root: PathLike | None = None,
    *,
    features: str = "auto",
    max_nodes: int | None = None,
    degree_cap: int | None = None,
    cache: PathLike | None = None,
) -> GraphDataset:
    """Load the TU benchmark ``name`` as a :class:`GraphDataset` with ``x``, ``edge_index``, ``y``.

    ``root``: a folder holding ``NAME/`` (official layout), the ``NAME/`` folder itself, a
    ``NAME.zip``, or a folder holding ``NAME.zip``; ``None`` downloads the official archive into the
    cache once. ``features``: see :mod:`diffpool.data.features`. ``max_nodes``: drop larger graphs
    (reported as a warning and in ``dataset.filtered``). ``cache``: cache folder (default
    ``$DIFFPOOL_DATA`` or ``~/.cache/diffpool``). Processed tensors are reused on the next call.
    """
    if not name or any(sep in name for sep in ("/", "\\")) or name in (".", ".."):
        raise DataError(f"{name!r} is not a data set name (e.g. 'ENZYMES', 'PROTEINS')")
    if max_nodes is not None and max_nodes < 1:
        raise DataError(f"max_nodes must be at least 1, got {max_nodes}")
    cache_root = cache_dir(cache)
    folder = find_tu_folder(name, root, cache_root)
    _check_entries(folder, name)
    check_feature_files(folder, name, features)
    settings = {"features": features, "max_nodes": max_nodes, "degree_cap": degree_cap}
    processed = cache_root / "processed" / f"{name}-{_cache_key(folder, settings)}.pt"
    stamps = _source_stamps(folder, name)

    if processed.is_file():
        try:
            dataset = GraphDataset.load_from(processed)
        except DataError as error:  # written by another version: a routine upgrade
            log.info("processing %s again: %s", name, error)
        except Exception as error:  # corrupt: rebuild it
            log.warning("ignoring unreadable cache file %s (%s)", processed, error)
        else:
            if dataset.format_version != FORMAT_VERSION:  # readable, but not laid out as now
                log.info("processing %s again: %s was written by another version", name, processed)
            elif dataset.info.get("source_files") == stamps:
                dataset.from_cache = True
                _report_filtered(dataset)
                return dataset
            else:
                log.info(
                    "%s: the files in %s changed since %s was written; processing them again",
                    name,
                    folder,
                    processed,
                )

    raw = read_tu_raw(folder, name)
    info = {
        "source": str(folder),
        "source_files": stamps,
        "self_loops_removed": 0,  # counted as the edges are built
        "node_label_values": (
            [] if raw.node_labels is None else [np.unique(col).tolist() for col in raw.node_labels.T]
        ),
        "num_node_attributes": 0 if raw.node_attributes is None else int(raw.node_attributes.shape[1]),
    }
    dataset = _collated_dataset(raw, features, max_nodes, degree_cap, info)
    del raw
    try:
        dataset.save_to(processed)
    except OSError as error:
        log.warning(
            "could not cache processed %s in %s (%s); it will be processed again next time",
            name,
            processed.parent,
            error,
        )
    _report_filtered(dataset)
    return dataset
