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
from typing import Callable, Optional, Sequence

from . import __version__

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every subcommand that loads a data set by name."""
    parser.add_argument("name", help="TU data set name (case-sensitive, e.g. ENZYMES, PROTEINS) or "
                                     "'synthetic' for the built-in hierarchy set")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="folder holding NAME/ (official TU layout) or NAME.zip; without it the "
                             "official archive is downloaded once into $DIFFPOOL_DATA "
                             "(default ~/.cache/diffpool)")
    parser.add_argument("--features", default=None,
                        choices=("auto", "labels", "attributes", "degree", "constant"),
                        help="node features (default: auto for TU sets, degree for synthetic)")
    parser.add_argument("--max-nodes", type=int, default=None, metavar="N",
                        help="drop graphs with more than N nodes (reported); default keeps all")


# -- info ------------------------------------------------------------------------------------------
def add_info_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "info", help="print a data set's statistics",
        description="Statistics of a data set: graphs, classes and their balance, average and "
                    "largest graph, average number of (undirected) edges, node feature dimensions.")
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


#: Registration functions of all subcommands, in the order ``--help`` lists them.
SUBCOMMANDS: list[Callable] = [add_info_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffpool",
        description="Hierarchical graph classification with differentiable pooling (DiffPool).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (the console script passes it to ``sys.exit``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    from .data import DataError

    # warnings (e.g. "removed 67 graphs with more than 100 nodes") as one plain line, no source line
    original_format = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    try:
        return int(args.run(args) or EXIT_OK)
    except DataError as error:
        print(f"diffpool {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = original_format


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
