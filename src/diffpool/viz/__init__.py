"""Pictures: the hierarchy a model learns for one graph, and the learning curves of a run.

Python::

    from diffpool.viz import assignment_view, assignment_figure, write_run_png
    view = assignment_view(model, data)          # the data behind the figure (no pixels)
    assignment_figure(model, data, "g.png")       # or fmt="html" for the interactive page
    write_run_png("runs/enzymes", "curves.png")

Command line (registered by :func:`add_plot_parser`)::

    diffpool plot assignments --checkpoint CKPT --dataset NAME [--data-dir DIR] --index I --out F.png
    diffpool plot assignments --checkpoint CKPT --graphs PATH [--index I] --out F.html --format html
    diffpool plot run RUN_DIR --out F.png

Everything is drawn with matplotlib's Agg canvas (``matplotlib.figure.Figure``), so no display
is needed and the global pyplot state is never touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..atomic import OutputError, check_output
from .assignments import (
    FIGURE_DPI,
    FIGURE_SIZE,
    AssignmentView,
    LevelView,
    assignment_view,
    cluster_colours,
    draw_assignments,
    graph_layout,
    write_assignment_png,
)
from .html import assignment_html, write_assignment_html
from .runs import RUN_FIGURE_DPI, RUN_FIGURE_SIZE, RunError, draw_run, run_curves, write_run_png

__all__ = [
    "AssignmentView",
    "LevelView",
    "assignment_view",
    "draw_assignments",
    "write_assignment_png",
    "assignment_html",
    "write_assignment_html",
    "assignment_figure",
    "cluster_colours",
    "graph_layout",
    "run_curves",
    "draw_run",
    "write_run_png",
    "RunError",
    "add_plot_parser",
    "load_plot_graph",
    "FIGURE_SIZE",
    "FIGURE_DPI",
    "RUN_FIGURE_SIZE",
    "RUN_FIGURE_DPI",
    "FORMATS",
]

FORMATS = ("png", "html")
EXIT_OK, EXIT_BAD_INPUT = 0, 2


def assignment_figure(
    model,
    data,
    out_path: str | Path,
    fmt: str = "png",
    *,
    node_names: list[str] | None = None,
    title: str | None = None,
    class_names: list[str] | None = None,
) -> dict[str, Any]:
    """Write the assignment picture of one graph (``fmt`` = ``png`` or ``html``) and describe it.

    ``data`` is a PyG ``Data`` featured as ``model`` was trained. Returns a plain dict: ``path``,
    ``format``, the nodes, edges, and clusters used and unused per level (``levels``), the mean
    confidence, and ``nmi`` against ``data.community`` when the graph has true communities.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    view = assignment_view(model, data, node_names=node_names, title=title, class_names=class_names)
    out_path = Path(out_path)
    if fmt == "png":
        write_assignment_png(view, out_path)
    else:
        write_assignment_html(view, out_path)
    return {"path": str(out_path), "format": fmt, **view.summary()}


# --------------------------------------------------------------------------- graphs to draw
def _class_names(hparams: dict[str, Any], dataset_name: str | None = None) -> list[str] | None:
    mapping = hparams.get("label_mapping") or {}
    if dataset_name == "synthetic":
        from ..data import ARRANGEMENTS

        return list(ARRANGEMENTS)
    if not mapping:
        return None
    return [str(raw) for raw, _ in sorted(mapping.items(), key=lambda kv: kv[1])]


def _node_names_of(graph) -> list[str]:
    return [str(node) for node in graph.nodes]


def _user_graph(path: Path, index: int, hparams: dict[str, Any]):
    """One graph of a user's file or folder, featured as in training, with its node names."""
    from ..data import DataError, from_networkx
    from ..data.errors import file_error
    from ..data.user import GRAPH_SUFFIXES, graph_files, read_graph_file
    from ..training.predict import _tu_name, read_graphs_for

    spec = hparams.get("feature_spec")
    if spec is None:
        raise DataError("the checkpoint holds no feature settings, so new graphs cannot be featured alike")
    if path.is_dir() and _tu_name(path) is not None:  # a TU folder: no node names
        dataset = read_graphs_for(path, hparams)
        _check_index(index, len(dataset), str(path))
        return dataset[index], None, getattr(dataset[index], "source", f"{path.name} graph {index + 1}")
    if path.is_dir():
        files, _ = graph_files(path)
        if not files:
            raise DataError(f"{path}: no graph files ({', '.join('*' + s for s in GRAPH_SUFFIXES)}) found")
        _check_index(index, len(files), str(path))
        file = files[index]
    elif path.is_file():
        _check_index(index, 1, str(path))
        file = path
    else:
        raise DataError(f"{path}: no such file or folder")
    graph = read_graph_file(file)  # a file named on its own is read whatever its suffix
    if graph.number_of_nodes() == 0:
        raise file_error(file, 0, "holds a graph without nodes: there is nothing to draw")
    graph.graph.pop("label", None)  # the picture does not need the class; an unknown one must not stop it
    dataset = from_networkx(
        [graph],
        feature_spec=spec,
        label_mapping=hparams.get("label_mapping") or {},
        sources=[str(file)],
        name=file.stem,
    )
    return dataset[0], _node_names_of(graph), file.name


def _check_index(index: int, count: int, where: str) -> None:
    from ..data import DataError

    if not 0 <= index < count:
        raise DataError(
            f"{where}: --index {index} is out of range; it holds {count} graph(s) (0..{count - 1})"
        )


def load_plot_graph(
    hparams: dict[str, Any],
    *,
    dataset: str | None = None,
    data_dir: str | None = None,
    graphs: str | None = None,
    index: int = 0,
):
    """``(data, node_names, title)``: graph ``index`` of a named data set or of a user's graphs,
    featured exactly as the checkpoint's training data was."""
    from ..data import load_dataset
    from ..training.predict import read_graphs_for

    if graphs is not None:
        return _user_graph(Path(graphs), index, hparams)
    run_config = hparams.get("run_config") or {}
    if dataset is None:
        raise ValueError("load_plot_graph needs a data set name or a folder of graphs")
    folder = Path(data_dir) / dataset if data_dir is not None else None
    if dataset != "synthetic" and folder is not None and folder.is_dir():
        items = read_graphs_for(folder, hparams)
    else:  # the synthetic set, or a TU set from an archive or the download cache
        features = run_config.get("features") if run_config.get("dataset") == dataset else None
        items = load_dataset(dataset, data_dir, features=features)
    _check_index(index, len(items), dataset)
    data = items[index]
    # Graphs are numbered from 1, as in the data files' graph ids and in predict's output.
    return data, None, f"{dataset} graph {index + 1}"


# --------------------------------------------------------------------------- command line
def add_plot_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``plot`` with its sub-commands ``assignments`` and ``run`` (each sets ``run=``)."""
    parser = subparsers.add_parser(
        "plot",
        help="draw learned assignments or a run's learning curves",
        description="Pictures: the clusters a trained model forms on one graph (assignments), or the "
        "learning curves of a train/cv run folder (run).",
    )
    commands = parser.add_subparsers(dest="plot_command", metavar="WHAT")
    commands.required = True

    assign = commands.add_parser(
        "assignments",
        help="the hierarchy a model learns for one graph",
        description="One figure: the input graph coloured by level-1 cluster (argmax of S, opacity = "
        "confidence), the coarsened graph of every level (node area = mass, edge width = "
        "A' weight, unused clusters left out and counted), and a heat map of S. With "
        "--format html: a self-contained page where hovering a node shows its cluster "
        "probabilities.",
    )
    assign.add_argument(
        "--checkpoint",
        required=True,
        metavar="CKPT",
        help="a checkpoint written by diffpool train/cv (e.g. RUN/checkpoints/best.ckpt)",
    )
    source = assign.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="NAME", help="TU data set name, or 'synthetic'")
    source.add_argument(
        "--graphs",
        metavar="PATH",
        help="a graph file (GraphML, or an edge list), a folder of .graphml / .edgelist "
        "files (sorted by name; --index picks one), or a TU folder",
    )
    assign.add_argument("--data-dir", metavar="DIR", default=None, help="folder holding NAME/ (TU layout)")
    assign.add_argument("--index", type=int, default=0, metavar="I", help="which graph, from 0 (default 0)")
    assign.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="where to write the picture (never an input; an existing file only with --force)",
    )
    assign.add_argument("--force", action="store_true", help="replace an existing --out file")
    assign.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="png or html (default: from the --out suffix, else png)",
    )
    assign.add_argument("--json", action="store_true", help="print the figure's summary as JSON")
    assign.set_defaults(run=run_plot_assignments)

    run = commands.add_parser(
        "run",
        help="learning curves of a train or cv run folder",
        description="Training and validation loss and accuracy per epoch (each fold and their mean for a "
        "cv run), the auxiliary loss terms, and the selected epoch marked.",
    )
    run.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by diffpool train or diffpool cv")
    run.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="where to write the PNG (never one of the run's files; an existing file only with --force)",
    )
    run.add_argument("--force", action="store_true", help="replace an existing --out file")
    run.set_defaults(run=run_plot_run)
    return parser


def _files_read(checkpoint: str, graphs: str | None, data_dir: str | None, dataset: str | None) -> list[Path]:
    """The files ``plot assignments`` reads, which its ``--out`` may not replace."""
    files = [Path(checkpoint)]
    folders = [Path(graphs)] if graphs else []
    if data_dir and dataset:
        folders += [Path(data_dir), Path(data_dir) / dataset]
    for folder in folders:
        files += [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else [folder]
    return files


def _fail(command: str, error: Exception) -> int:
    print(f"diffpool plot {command}: error: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_plot_assignments(args: argparse.Namespace) -> int:
    from ..data import DataError
    from ..training.predict import CheckpointError, load_trained_model

    fmt = args.format or ("html" if str(args.out).lower().endswith((".html", ".htm")) else "png")
    try:
        check_output(
            args.out,
            inputs=_files_read(args.checkpoint, args.graphs, args.data_dir, args.dataset),
            force=args.force,
            example=f"picture.{fmt}",
        )
        model, hparams = load_trained_model(args.checkpoint)
        data, names, title = load_plot_graph(
            hparams, dataset=args.dataset, data_dir=args.data_dir, graphs=args.graphs, index=args.index
        )
        summary = assignment_figure(
            model,
            data,
            args.out,
            fmt,
            node_names=names,
            title=title,
            class_names=_class_names(hparams, args.dataset),
        )
    except (CheckpointError, DataError, ValueError) as error:  # OutputError is a ValueError
        return _fail("assignments", error)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        levels = "; ".join(
            f"level {lv['level']}: {lv['used']} of {lv['clusters']} clusters used" for lv in summary["levels"]
        )
        nmi = f"; NMI vs true communities {summary['nmi']:.3f}" if "nmi" in summary else ""
        print(f"wrote {summary['path']} ({summary['num_nodes']} nodes; {levels}{nmi})")
    return EXIT_OK


def run_plot_run(args: argparse.Namespace) -> int:
    from ..models import ConfigError

    try:
        run_dir = Path(args.run_dir)
        run_files = [p for p in run_dir.rglob("*") if p.is_file()] if run_dir.is_dir() else []
        check_output(args.out, inputs=run_files, force=args.force, example="curves.png")
        summary = write_run_png(args.run_dir, args.out)
    except (RunError, ConfigError, OutputError) as error:  # ConfigError: a format matplotlib cannot write
        return _fail("run", error)
    kind = f"{summary['folds']} fold(s)" if summary["kind"] == "cv" else "train run"
    print(f"wrote {summary['path']} ({kind}, {summary['epochs']} epochs)")
    return EXIT_OK
