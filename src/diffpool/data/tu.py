"""TU Dortmund graph-classification benchmarks: find, validate, load and cache them.

Layout (as the official ``NAME.zip`` unpacks, and as PyG's :class:`~torch_geometric.datasets.TUDataset`
downloads it): ``NAME/NAME_A.txt`` (one ``i, j`` edge per line, 1-based node ids),
``NAME_graph_indicator.txt`` (graph id of node i on line i), ``NAME_graph_labels.txt`` (label of graph
g on line g), optionally ``NAME_node_labels.txt`` and ``NAME_node_attributes.txt``.

Why not ``TUDataset`` itself: PyG's reader trusts its input (a wrong file gives a shape error deep in
torch, or silently wrong graphs), drops the last line of a file without a final newline, loses
graphs without edges at the end of a file (its edge slices stop early) and writes its processed
files into the data folder. So the files are validated first (:func:`read_tu_raw`, every problem
reported as ``path:LINE: what is wrong``), parsed with numpy's C reader, and the graphs are built
with PyG's own utilities (``to_undirected`` coalesces duplicate edge lines — IMDB lists every edge
four times — into one unweighted edge in each direction) and stored as an ``InMemoryDataset``.
The download URL is PyG's (``TUDataset.url``).

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
from .dataset import GraphDataset
from .errors import DataError, DownloadError, decode_text, file_error
from .features import apply_features, make_feature_spec

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
    edges: np.ndarray  # [E, 2] int64, 0-based node ids, as listed (duplicates, one direction or both)
    graph_of_node: np.ndarray  # [n] int64, 0-based, non-decreasing
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


def _read_table(path: Path, kind: str, columns: int | None) -> np.ndarray:
    """Parse a TU text file into a 2-D array, or raise a ``path:LINE:`` error.

    ``kind`` is ``"int"`` or ``"float"``; ``columns`` the required number of values per line, or
    ``None`` for "the same on every line".
    """
    text = _read_text(path)
    if text.strip() == "":
        raise file_error(path, 1, "file is empty")
    body = text.rstrip()  # trailing blank lines are harmless; blank lines inside are not
    num_lines = body.count("\n") + 1
    dtype = np.int64 if kind == "int" else np.float64
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=dtype, ndmin=2, comments=None)
    except ValueError:
        raise _scan_for_error(path, text, columns, kind) from None
    if table.shape[0] != num_lines or (columns is not None and table.shape[1] != columns):
        raise _scan_for_error(path, text, columns, kind)
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
    indicator = _read_table(path, "int", 1)[:, 0]
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
    graph_of_node = indicator - 1

    # edges: 1-based node ids within 1..n, both ends in the same graph
    path = files["A"]
    edges = _read_table(path, "int", 2)
    bad = np.flatnonzero(((edges < 1) | (edges > num_nodes)).any(axis=1))
    if bad.size:
        line = int(bad[0]) + 1
        raise file_error(
            path,
            line,
            f"node id out of range in edge {edges[bad[0]].tolist()}: "
            f"node ids run 1..{num_nodes} (the lines of "
            f"{files['graph_indicator'].name})",
        )
    edges = edges - 1
    crossing = np.flatnonzero(graph_of_node[edges[:, 0]] != graph_of_node[edges[:, 1]])
    if crossing.size:
        i = int(crossing[0])
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
def label_mapping_of(labels: np.ndarray) -> dict:
    """``{raw label: class index}``, raw labels sorted: 1/2 → 0/1, -1/1 → 0/1, 0..C-1 unchanged."""
    return {int(raw): index for index, raw in enumerate(np.unique(labels).tolist())}


def build_graphs(raw: TURaw) -> tuple[list[Data], dict]:
    """One PyG ``Data`` per graph (``edge_index``, ``y``, ``num_nodes``, raw node data), plus facts.

    Self-loops are dropped (as PyG's TUDataset does) and counted; every edge is stored once in each
    direction, without weights, however often the file lists it.
    """
    n, num_graphs = raw.num_nodes, raw.num_graphs
    edge_index = torch.from_numpy(np.ascontiguousarray(raw.edges.T))
    loops = edge_index[0] == edge_index[1]
    num_loops = int(loops.sum())
    edge_index = to_undirected(edge_index[:, ~loops], num_nodes=n)  # coalesced: unique, sorted

    batch = torch.from_numpy(raw.graph_of_node)
    node_ptr = torch.zeros(num_graphs + 1, dtype=torch.long)
    node_ptr[1:] = torch.bincount(batch, minlength=num_graphs).cumsum(0)
    edge_graph = batch[edge_index[0]]
    edge_ptr = torch.zeros(num_graphs + 1, dtype=torch.long)
    edge_ptr[1:] = torch.bincount(edge_graph, minlength=num_graphs).cumsum(0)
    local = edge_index - node_ptr[edge_graph]

    labels = [] if raw.graph_labels is None else raw.graph_labels.tolist()
    mapping = label_mapping_of(raw.graph_labels) if raw.graph_labels is not None else {}
    y = torch.tensor([mapping[int(v)] for v in labels], dtype=torch.long)
    node_labels = torch.from_numpy(raw.node_labels) if raw.node_labels is not None else None
    node_attr = (
        torch.from_numpy(raw.node_attributes).to(torch.float32) if raw.node_attributes is not None else None
    )

    graphs = []
    nodes, edges = node_ptr.tolist(), edge_ptr.tolist()
    for g in range(num_graphs):
        a, b = nodes[g], nodes[g + 1]
        data = Data(edge_index=local[:, edges[g] : edges[g + 1]].clone(), num_nodes=b - a)
        if labels:
            data.y = y[g : g + 1].clone()
        if node_labels is not None:
            data.node_label = node_labels[a:b].clone()
        if node_attr is not None:
            data.node_attr = node_attr[a:b].clone()
        graphs.append(data)
    facts = {"self_loops_removed": num_loops, "label_mapping": mapping}
    return graphs, facts


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
            if dataset.info.get("source_files") == stamps:
                dataset.from_cache = True
                _report_filtered(dataset)
                return dataset
            log.info(
                "%s: the files in %s changed since %s was written; processing them again",
                name,
                folder,
                processed,
            )

    raw = read_tu_raw(folder, name)
    graphs, facts = build_graphs(raw)
    spec = make_feature_spec(graphs, features, degree_cap=degree_cap, name=name)
    filtered = None
    if max_nodes is not None:
        keep = [i for i, g in enumerate(graphs) if int(g.num_nodes) <= max_nodes]
        removed = len(graphs) - len(keep)
        filtered = {
            "max_nodes": int(max_nodes),
            "removed": removed,
            "kept": len(keep),
            "removed_indices": [i for i, g in enumerate(graphs) if int(g.num_nodes) > max_nodes],
        }
        if not keep:
            raise DataError(
                f"{name}: max_nodes={max_nodes} removes all {len(graphs)} graphs "
                f"(the smallest has {min(int(g.num_nodes) for g in graphs)} nodes)"
            )
        graphs = [graphs[i] for i in keep]
    dataset = GraphDataset(
        apply_features(graphs, spec),
        name=name,
        label_mapping=facts["label_mapping"],
        feature_spec=spec,
        filtered=filtered,
        info={
            "source": str(folder),
            "source_files": stamps,
            "self_loops_removed": facts["self_loops_removed"],
            "node_label_values": (
                [] if raw.node_labels is None else [np.unique(col).tolist() for col in raw.node_labels.T]
            ),
            "num_node_attributes": 0 if raw.node_attributes is None else int(raw.node_attributes.shape[1]),
        },
    )
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
