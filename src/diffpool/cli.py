"""The ``diffpool`` command.

Each subcommand is a pair of functions: ``add_<name>_parser(subparsers)`` registers its options
and sets ``run=<function>``; ``run_<name>(args) -> int`` does the work and returns the exit code.
To add one, write the pair and append the ``add_`` function to :data:`SUBCOMMANDS`.

Exit codes: 0 success, 1 unexpected failure, 2 bad input (usage errors, unusable data).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
EXIT_SIGTERM = 128 + 15  # the shell's status for a process ended by SIGTERM
EXIT_INTERRUPTED = 128 + 2  # the shell's status for Ctrl-C (SIGINT)


class UsageError(ValueError):
    """The command line's words are off (beyond what argparse checks)."""


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every subcommand that loads a data set by name."""
    parser.add_argument(
        "name",
        help="TU data set name (case-sensitive, e.g. ENZYMES, PROTEINS) or "
        "'synthetic' for the built-in hierarchy set",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="folder holding NAME/ (official TU layout) or NAME.zip; without it the "
        "official archive is downloaded once into $DIFFPOOL_DATA "
        "(default ~/.cache/diffpool)",
    )
    parser.add_argument(
        "--features",
        default=None,
        choices=("auto", "labels", "attributes", "degree", "constant"),
        help="node features (default: auto: node attributes and one-hot node labels where the "
        "set has them, else one-hot degrees; the synthetic set's are its node colours)",
    )
    parser.add_argument(
        "--max-nodes",
        type=int,
        default=None,
        metavar="N",
        help="drop graphs with more than N nodes (reported); default keeps all",
    )


# -- info ------------------------------------------------------------------------------------------
def add_info_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info",
        help="print a data set's statistics",
        description="Statistics of a data set: graphs, classes and their balance, average and "
        "largest graph, average number of (undirected) edges, node feature dimensions.",
    )
    _add_data_options(parser)
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    parser.set_defaults(run=run_info)
    return parser


def run_info(args: argparse.Namespace) -> int:
    from .data import dataset_stats, format_stats, load_dataset

    dataset = load_dataset(args.name, args.data_dir, features=args.features, max_nodes=args.max_nodes)
    stats = dataset_stats(dataset)
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(format_stats(stats))
    return EXIT_OK


# -- shared by train / cv ----------------------------------------------------------------------
def _quiet_lightning(verbose: bool) -> None:
    """Lightning's banners (GPU available, tips) and data-loader hints are noise at the prompt."""
    import warnings

    if not verbose:
        for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")


def _print(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


# -- train -----------------------------------------------------------------------------------------
def add_train_parser(subparsers) -> argparse.ArgumentParser:
    from .training.options import add_run_options

    parser = subparsers.add_parser(
        "train",
        help="train DiffPool on one split (default: the built-in synthetic set, offline)",
        description="Train on one stratified split (80% train, 10% validation, 10% test), keep the epoch "
        "with the best validation accuracy, and test it once. With no options: DiffPool on the "
        "built-in synthetic hierarchy set. Re-running the same command resumes.",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="run folder for checkpoints, logs and result.json (default: runs/train-DATASET)",
    )
    parser.add_argument(
        "--picture",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write the learned hierarchy of one test graph as a PNG (DiffPool variants)",
    )
    parser.add_argument("--json", action="store_true", help="print only a JSON summary, no progress bars")
    add_run_options(parser)
    parser.set_defaults(run=run_train)
    return parser


def run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data import feature_sources
    from .training import train
    from .training.loggers import check_loggers, tracker_locations
    from .training.options import run_config_from_args
    from .training.protocols import is_rank_zero

    config = run_config_from_args(args)
    check_loggers(config.loggers)
    _quiet_lightning(args.verbose)
    out = Path(args.out or Path("runs") / f"train-{config.dataset}")
    pooling = f" with {config.pool} pooling" if config.pool != "diffpool" else ""
    _print(args, f"training {config.variant}{pooling} on {config.dataset} → {out}")
    features = []

    def on_data(dataset) -> None:
        features.append(feature_sources(dataset))
        _print(args, f"features: {features[0]}")

    result = train(config, out, progress=not args.json, on_data=on_data)
    if not is_rank_zero():  # DDP worker processes: the first process reports
        return EXIT_OK
    summary = {
        "dataset": config.dataset,
        "variant": config.variant,
        "pool": config.pool,
        "test_acc": result["test_acc"],
        "val_acc": result.get("val_acc"),
        "best_epoch": result.get("best_epoch"),
        "epochs_run": result["epochs_run"],
        "community_nmi": result.get("community_nmi"),
        "checkpoint": result["checkpoint"],
        "logs": str(out / "logs" / "metrics.csv"),
        "trackers": tracker_locations(config, out),
        "result": str(out / "result.json"),
        "wall_time_s": result["wall_time_s"],
        "features": features[0] if features else None,
    }
    if args.picture and config.variant in ("diffpool", "nolp"):
        summary["picture"] = _assignment_picture(config, result, out)
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(
        f"test accuracy      {_percent(result['test_acc'])}  (epoch {result.get('best_epoch')} of "
        f"{result['epochs_run']}, chosen on validation accuracy {_percent(result.get('val_acc'))})"
    )
    if result.get("community_nmi") is not None:
        print(
            f"community recovery NMI {result['community_nmi']:.3f}  "
            "(level-1 clusters vs true communities, test graphs)"
        )
    print(f"checkpoint         {summary['checkpoint']}")
    print(f"logs               {summary['logs']}")
    for name, where in summary["trackers"].items():
        print(f"{name:<18} {where}")
    if summary.get("picture"):
        print(f"picture            {summary['picture']}")
    return EXIT_OK


# The picture's layout holds n×n arrays: beyond this many nodes it would take gigabytes.
PICTURE_MAX_NODES = 5000


def _assignment_picture(config, result, out) -> str | None:
    """The learned hierarchy of the first test graph, if the pictures module is available."""
    try:
        from .viz import assignment_figure
    except ImportError:
        return None
    from .training.predict import load_trained_model
    from .training.protocols import load_dataset

    model, _ = load_trained_model(result["checkpoint"])
    with (
        warnings.catch_warnings()
    ):  # what loading the data reports (graphs filtered out) the run said already
        warnings.simplefilter("ignore")
        dataset = load_dataset(config)
    splits = json.loads((out / "splits.json").read_text())
    folds = splits["folds"] if isinstance(splits, dict) else splits
    index = folds[0]["test"][0]
    graph = dataset[index]
    if int(graph.num_nodes) > PICTURE_MAX_NODES:
        print(
            f"no picture: test graph {index + 1} has {int(graph.num_nodes):,} nodes, and the layout draws "
            f"graphs of at most {PICTURE_MAX_NODES:,}",
            file=sys.stderr,
        )
        return None
    path = out / f"assignments-graph{index + 1}.png"  # numbered from 1, as the data files' graph ids
    class_names = dataset.info.get("class_names") or getattr(dataset, "class_names", None)
    assignment_figure(
        model,
        graph,
        path,
        title=f"{config.dataset} test graph {index + 1}",
        class_names=[str(c) for c in class_names] if class_names else None,
    )
    return str(path)


# -- cv ----------------------------------------------------------------------------------------------
def add_cv_parser(subparsers) -> argparse.ArgumentParser:
    from .training.options import add_run_options

    parser = subparsers.add_parser(
        "cv",
        help="k-fold cross-validation (fair or paper protocol), resumable; 'cv report RUN_DIR' merges folds; "
        "'cv select RUN_DIR... --out DIR' chooses among runs per fold on inner validation",
        description="k-fold cross-validation. fair: stratified outer folds, the epoch chosen on an inner "
        "validation split, each test fold evaluated once (mean ± std). paper: the authors' "
        "protocol, maximum over epochs of the mean held-out accuracy (optimistic). Writes "
        "RUN_DIR/splits.json, per-fold logs, checkpoints and results, and RUN_DIR/results.json. "
        "Re-running the same command resumes. 'diffpool cv report RUN_DIR' merges the finished "
        "folds of a run whose folds ran as separate jobs (--fold). 'diffpool cv select RUN_DIR "
        "RUN_DIR... --out DIR' is model selection over a small grid: each RUN_DIR is a fair-protocol "
        "run of one setting on the same splits, and in every fold the setting with the best "
        "inner-validation accuracy is chosen (ties: the first listed) and its test accuracy "
        "reported; --grid runs the settings and the choice in one command.",
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("report", "select"),
        help="'report': merge the finished folds of RUN_DIR; 'select': choose among the RUN_DIRs "
        "per fold on inner validation, results in --out",
    )
    parser.add_argument(
        "run_dirs",
        nargs="*",
        metavar="RUN_DIR",
        help="with 'report': the run folder; with "
        "'select': two or more fair-protocol run folders on the same splits",
    )
    parser.add_argument("--folds", type=int, default=10, help="number of outer folds (default: 10)")
    parser.add_argument(
        "--protocol", choices=("fair", "paper"), default="fair", help="evaluation protocol (default: fair)"
    )
    parser.add_argument(
        "--out",
        metavar="RUN_DIR",
        help="run folder (default: runs/cv-DATASET-VARIANT-PROTOCOL, "
        "or runs/cv-DATASET-VARIANT-grid with --grid); with 'select': a new folder for the "
        "selection's results (required)",
    )
    parser.add_argument(
        "--fold",
        type=int,
        default=None,
        metavar="I",
        help="run only fold I (0-based), e.g. as one job of an array",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with 'select': replace a selection of other runs in --out (a selection of the "
        "same runs is updated without it)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print only the results as JSON, no progress bars"
    )
    parser.add_argument(
        "--grid",
        action="append",
        metavar="NAME=VALUE,...",
        help="a grid point, e.g. levels=1,ratio=0.1 (give two or more): each point runs as its own "
        "fair cross-validation on the same splits, in RUN_DIR/candidates/, and every fold "
        "takes the point with the best inner-validation accuracy (as 'cv select'); with "
        "--fold I only that fold runs, and the same command without --fold then chooses; "
        "min_clusters=none gives a point the default cluster floor back",
    )
    add_run_options(parser)
    parser.set_defaults(run=run_cv)
    return parser


def run_cv(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data import feature_sources
    from .training import cross_validate, report
    from .training.loggers import check_loggers, tracker_locations
    from .training.options import run_config_from_args
    from .training.protocols import is_rank_zero

    if args.action and args.grid:
        raise UsageError(f"--grid runs a grid; 'cv {args.action}' only reads finished runs")
    if args.action == "report":
        if len(args.run_dirs) != 1:
            raise UsageError("'cv report' needs one run folder: diffpool cv report RUN_DIR")
        summary = report(args.run_dirs[0])
        _print_cv(args, summary, Path(args.run_dirs[0]))
        return EXIT_OK
    if args.action == "select":
        from .training.selection import select_across_runs

        if len(args.run_dirs) < 2 or not args.out:
            raise UsageError(
                "'cv select' needs two or more run folders and --out: "
                "diffpool cv select RUN_DIR RUN_DIR... --out DIR"
            )
        summary = select_across_runs(args.run_dirs, args.out, force=args.force)
        _print_cv(args, summary, Path(args.out))
        return EXIT_OK
    if args.run_dirs:
        raise UsageError(f"unexpected argument {args.run_dirs[0]!r}; use --out RUN_DIR for the run folder")
    if args.force:
        raise UsageError(
            "--force replaces the results of 'cv select'; a cv run folder is resumed, never replaced"
        )
    config = run_config_from_args(args)
    check_loggers(config.loggers)
    _quiet_lightning(args.verbose)
    out = Path(args.out or Path("runs") / f"cv-{config.dataset}-{config.variant}-{args.protocol}")

    def progress(result):
        _print(args, _fold_line(f"fold {result['fold']}", result))

    if args.grid:
        return _run_cv_grid(args, config)
    _print(
        args,
        f"{args.folds}-fold cross-validation ({args.protocol} protocol) of {config.variant} on "
        f"{config.dataset} → {out}",
    )
    summary = cross_validate(
        config,
        out,
        folds=args.folds,
        protocol=args.protocol,
        only_fold=args.fold,
        progress=not args.json,
        on_fold=progress,
        on_data=lambda dataset: _print(args, f"features: {feature_sources(dataset)}"),
    )
    if not is_rank_zero():  # DDP worker processes: the first process reports
        return EXIT_OK
    if args.fold is not None:
        if args.json:
            print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))
        return EXIT_OK
    _print_cv(args, summary, out)
    for name, where in tracker_locations(config, out).items():
        _print(args, f"{name}: {where}")
    return EXIT_OK


def _fold_line(what: str, result: dict) -> str:
    """One finished fold, as the progress of ``cv`` and ``cv --grid`` prints it."""
    models = f" (mean of {len(result['runs'])} models)" if "runs" in result else ""
    validation = f"validation {_percent(result['val_acc'])}, " if result.get("val_acc") is not None else ""
    return (
        f"{what}: {validation}test accuracy {_percent(result['test_acc'])}{models} "
        f"({result['epochs_run']} epochs, {result.get('wall_time_s', 0):.0f} s)"
    )


def _run_cv_grid(args: argparse.Namespace, config) -> int:
    from pathlib import Path

    from .data import feature_sources
    from .training.options import parse_settings
    from .training.protocols import is_rank_zero
    from .training.selection import cross_validate_grid

    if args.protocol != "fair":
        raise UsageError(
            "--grid chooses on the inner validation splits of the fair protocol; the paper protocol has none"
        )
    points = [parse_settings(text) for text in args.grid]
    out = Path(args.out or Path("runs") / f"cv-{config.dataset}-{config.variant}-grid")

    def progress(name, result):
        _print(args, _fold_line(f"{name}, fold {result['fold']}", result))

    _print(
        args, f"{args.folds}-fold cross-validation of {len(points)} grid points on {config.dataset} → {out}"
    )
    summary = cross_validate_grid(
        config,
        points,
        out,
        folds=args.folds,
        only_fold=args.fold,
        progress=not args.json,
        on_fold=progress,
        on_data=lambda name, dataset: _print(args, f"{name}, features: {feature_sources(dataset)}"),
    )
    if not is_rank_zero():
        return EXIT_OK
    if args.fold is not None:
        if args.json:
            print(json.dumps(summary, indent=2))
        _print(
            args,
            f"fold {args.fold} of every grid point is done; the same command without --fold chooses "
            "once all folds are (finished folds are read back)",
        )
        return EXIT_OK
    _print_cv(args, summary, out)
    return EXIT_OK


def _print_cv(args, summary, out) -> None:
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"{summary['protocol']} protocol: {100 * summary['mean']:.1f} ± {100 * summary['std']:.1f} "
        f"over {summary['completed_folds']} of {summary['folds']} folds"
    )
    print(f"  {summary['label']}")
    for candidate in summary.get("selection", {}).get("candidates", []):
        print(f"  {candidate['name']}: chosen in {candidate['folds_chosen']} folds")
    if summary.get("missing_folds"):
        print(f"  missing folds: {', '.join(map(str, summary['missing_folds']))}")
    print(summary["markdown"])
    print(f"results: {out / 'results.json'}")


# -- predict -----------------------------------------------------------------------------------------
def add_predict_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="class probabilities for new graphs from a checkpoint, as CSV",
        description="Class probabilities for every graph of a TU data set folder or a folder of GraphML / "
        "edge-list files, with node features built as for the training data.",
    )
    parser.add_argument(
        "--checkpoint", required=True, metavar="CKPT", help="a checkpoint written by train or cv"
    )
    parser.add_argument(
        "--graphs",
        required=True,
        metavar="PATH",
        help="TU folder, or a folder of graph files: *.graphml and *.edgelist (other files "
        "are listed as ignored; --suffix reads others); graphs without nodes are "
        "skipped and listed",
    )
    parser.add_argument(
        "--suffix",
        action="append",
        metavar="EXT",
        help="read the folder's files ending in EXT as graphs (.graphml: GraphML, any other: "
        "an edge list); repeat for several, e.g. --suffix .edgelist --suffix .txt "
        "(default: .graphml and .edgelist)",
    )
    parser.add_argument(
        "--out",
        metavar="CSV",
        help="write the CSV here instead of printing it; never the "
        "checkpoint or a graph file, and an existing file only with --force",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    parser.set_defaults(run=run_predict)
    return parser


def run_predict(args: argparse.Namespace) -> int:
    from .training.predict import predict

    result = predict(args.checkpoint, args.graphs, args.out, force=args.force, suffixes=args.suffix)
    # stdout may be the CSV itself: what was read, skipped and ignored goes to stderr
    print(f"features: {result['features']}", file=sys.stderr)
    for item in result["skipped"]:
        print(f"skipped {item['graph']}: {item['reason']}", file=sys.stderr)
    if result["ignored"]:
        ignored = result["ignored"]
        names = ", ".join(Path(p).name for p in ignored[:10]) + (", ..." if len(ignored) > 10 else "")
        print(
            f"ignored {len(ignored)} file(s) not named as graphs ({names}); --suffix reads them",
            file=sys.stderr,
        )
    if args.json:
        keys = ("rows", "classes", "accuracy", "skipped", "ignored")
        print(json.dumps({k: result[k] for k in keys}, indent=2))
    elif args.out:
        accuracy = (
            ""
            if result["accuracy"] is None
            else f"; accuracy against the folder's labels {_percent(result['accuracy'])}"
        )
        skipped = f" ({len(result['skipped'])} skipped)" if result["skipped"] else ""
        print(f"{len(result['rows'])} graphs{skipped} → {args.out}{accuracy}")
    else:
        sys.stdout.write(result["csv"])
    return EXIT_OK


#: Registration functions of all subcommands, in the order ``--help`` lists them.
def add_plot_parser(subparsers) -> argparse.ArgumentParser:
    from .viz import add_plot_parser as add_viz_parser

    return add_viz_parser(subparsers)


SUBCOMMANDS: list[Callable] = [
    add_train_parser,
    add_cv_parser,
    add_predict_parser,
    add_plot_parser,
    add_info_parser,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffpool",
        description="Hierarchical graph classification with differentiable pooling (DiffPool).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to ``sys.exit``)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse hands 'cv select --out D a b' the run folders after the option as leftovers (an
    # optional positional followed by a list): they are the action's run folders, not errors.
    if extra and getattr(args, "action", None) and not any(e.startswith("-") for e in extra):
        args.run_dirs = [*args.run_dirs, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join([e for e in extra if e.startswith('-')] or extra)}")
    for level in (logging.INFO, logging.WARNING, logging.ERROR):  # as the "warning: ..." lines of warnings
        logging.addLevelName(level, logging.getLevelName(level).lower())
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s"
    )
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from .atomic import OutputError
    from .data import DataError
    from .models import ConfigError
    from .training import BatchTooLargeError, NonFiniteLossError
    from .training.predict import CheckpointError
    from .training.results import ResultsError

    # warnings (e.g. "removed 67 graphs with more than 100 nodes") as one plain line, no source line
    original_format = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    try:
        return int(args.run(args) or EXIT_OK)
    except (DataError, ConfigError, ResultsError, CheckpointError, UsageError, OutputError) as error:
        print(f"diffpool {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (NonFiniteLossError, BatchTooLargeError) as error:
        print(f"diffpool {args.command}: training stopped: {error}", file=sys.stderr)
        return EXIT_FAILURE

    except OSError as error:  # an output path that is a folder, not writable, on a full disk, ...
        where = f"{error.filename}: " if error.filename else ""
        print(f"diffpool {args.command}: error: {where}{error.strerror or error}", file=sys.stderr)
        # a named path is usually one the command was given; otherwise the machine failed (disk full)
        return EXIT_BAD_INPUT if error.filename else EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"diffpool {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SIGTERMException:
        # Lightning ends training on SIGTERM (a scheduler's time limit, `kill`) by raising this
        # SystemExit with code None, i.e. exit status 0: a caller would take the unfinished run for
        # a finished one.
        print(
            f"diffpool {args.command}: stopped by SIGTERM; the last checkpoint is kept and the same "
            "command resumes the run",
            file=sys.stderr,
        )
        return EXIT_SIGTERM
    except SystemExit as stop:
        # Lightning turns Ctrl-C during training into sys.exit(1), raised while it handles the
        # KeyboardInterrupt: say what happened, with the interrupted status.
        if isinstance(stop.__context__, KeyboardInterrupt):
            print(
                f"diffpool {args.command}: interrupted; the checkpoints written so far are kept and the same "
                "command resumes the run",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        raise
    finally:
        warnings.formatwarning = original_format


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
