"""Argument parsing and dispatch for the benchmarks and the report: each module's ``python -m
benchmarks.X`` uses its own parser from here, ``python -m benchmarks X`` all of them.

Sub-commands: ``epoch`` (training epoch + inference per implementation and data set), ``scaling``
(one DiffPool layer on synthetic graphs of growing size), ``headroom`` (the fixed-k speed-up over
PyG's model if level 1's pooling were free) and ``report`` (the tables of ``docs/PERFORMANCE.md`` and the
plot, from the JSON files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = [
    "add_bench_arguments",
    "run_bench",
    "add_epoch_arguments",
    "add_scaling_arguments",
    "add_report_arguments",
    "run_epoch",
    "run_scaling",
    "run_report",
]

DEFAULT_DATASETS = ["ENZYMES", "PROTEINS", "REDDIT-BINARY"]
DEFAULT_IMPLS = ["sparse", "default", "pooled", "pergraph-random", "pergraph", "dense", "pyg", "graphsage"]


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _per_set(text: str | None) -> dict:
    """``"REDDIT-BINARY=1800,PROTEINS=600"`` → ``{"REDDIT-BINARY": 1800.0, ...}``."""
    out = {}
    for item in _csv(text or ""):
        name, _, value = item.partition("=")
        if not value:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {item!r}")
        out[name] = float(value)
    return out


def _impl_sizes(text: str) -> dict[str, list[int]]:
    """``"sparse=1000:1000000;pyg=1000:4000"`` → ``{"sparse": [1000, 1000000], "pyg": [1000, 4000]}``."""
    out = {}
    for item in (t.strip() for t in text.split(";")):
        if not item:
            continue
        name, _, values = item.partition("=")
        try:
            sizes = [int(v) for v in values.split(":") if v.strip()]
        except ValueError:
            sizes = []
        if not name.strip() or not sizes or min(sizes) < 1:
            raise argparse.ArgumentTypeError(f"expected IMPL=N:N:…, got {item!r}")
        out[name.strip()] = sizes
    return out


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where the models, data and optimiser live: cuda times with synchronised clocks and "
        "reports the GPU allocator's peak memory, without an address-space cap (default: auto = "
        "cuda where torch sees a GPU, else cpu)",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="seconds for the whole run: no case's timeout reaches past it and the cases left when "
        "it is spent are recorded as skipped (default: none)",
    )


def _device(name: str) -> str:
    from .environment import resolve_device

    return resolve_device(name)


def add_epoch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--datasets",
        type=_csv,
        default=DEFAULT_DATASETS,
        help="comma-separated TU data sets (default: %(default)s)",
    )
    parser.add_argument(
        "--impls",
        type=_csv,
        default=DEFAULT_IMPLS,
        help="comma-separated implementations: sparse, default, pooled, pergraph, pergraph-random, "
        "dense, pyg, graphsage; the pooling family: mincut, dmon (ours, fixed K) and pyg-mincut, "
        "pyg-dmon (PyG's, compared with them) (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs", type=int, default=3, help="timed epochs; the median is reported (default: 3)"
    )
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        default=2,
        help="run each data set's cases this many times, the order reversed every other "
        "round, and report each case's median over all its timed epochs: with an even "
        "number every case has the same mean place in the order (default: 2)",
    )
    parser.add_argument("--warmup-epochs", type=int, default=1, help="untimed epochs first (default: 1)")
    parser.add_argument(
        "--warmup-batches",
        type=int,
        default=0,
        help="warm up with this many batches instead of whole epochs (default: 0 = epochs)",
    )
    parser.add_argument(
        "--slow-sets",
        type=_csv,
        default=["REDDIT-BINARY"],
        help="sets that warm up with --slow-warmup-batches and time --slow-epochs epochs",
    )
    parser.add_argument("--slow-warmup-batches", type=int, default=3)
    parser.add_argument("--slow-epochs", type=int, default=3)
    parser.add_argument("--predict-passes", type=int, default=1, help="timed inference passes (default: 1)")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per case (default: 1; see docs/PERFORMANCE.md on shared CPUs)",
    )
    parser.add_argument(
        "--memory-cap-gb",
        type=float,
        default=8.0,
        help="address-space cap per case; exceeding it is reported as out of memory (default: 8)",
    )
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per case (default: 1200)")
    parser.add_argument(
        "--timeouts", type=_per_set, default={}, help="per-set timeouts, e.g. REDDIT-BINARY=2400"
    )
    parser.add_argument(
        "--impl-epochs",
        type=_per_set,
        default={},
        help="per-implementation timed epochs, e.g. sparse=1 (long fixed-k runs)",
    )
    parser.add_argument(
        "--impl-timeouts",
        type=_per_set,
        default={},
        help="per-implementation timeouts in seconds, e.g. pyg=300,dense=300",
    )
    parser.add_argument(
        "--pyg-padding",
        choices=["dataset", "batch"],
        default="dataset",
        help="pad PyG's batches to the data set's largest graph (as its example's "
        "T.ToDense does; default) or to the batch's largest",
    )
    parser.add_argument("--data-root", default=None, help="folder holding the TU data sets")
    parser.add_argument("--cache", default=None, help="processed-data cache folder")
    parser.add_argument(
        "--max-graphs",
        type=_positive_int,
        default=None,
        help="a random subset of this many graphs per data set (smoke runs; default: all)",
    )
    parser.add_argument(
        "--no-counts",
        dest="counts",
        action="store_false",
        help="skip the untimed matmul and operation counts (the same on every device)",
    )
    add_device_argument(parser)
    parser.add_argument("--out", default=None, help="append the JSON lines to this file too")


def add_scaling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        type=lambda t: [int(v) for v in _csv(t)],
        default=[250, 500, 1000, 2000, 4000, 8000, 16000, 32000],
    )
    parser.add_argument("--impls", type=_csv, default=["sparse", "dense", "pyg"])
    parser.add_argument(
        "--methods",
        "--method",
        type=_csv,
        default=["diffpool"],
        help="comma-separated pooling methods, each measured with every implementation: diffpool, "
        "mincut, dmon (default: %(default)s)",
    )
    parser.add_argument(
        "--clusters",
        type=_csv,
        default=["ratio", "64"],
        help="'ratio' (K = 0.25·n capped at --max-clusters) and/or fixed K values",
    )
    parser.add_argument("--max-clusters", type=int, default=512)
    parser.add_argument("--degree", type=float, default=5.0)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed forward+backward passes (median)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--memory-cap-gb", type=float, default=8.0, help="address-space cap per case on the CPU (default: 8)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case (default: 600)")
    parser.add_argument(
        "--impl-sizes",
        type=_impl_sizes,
        default={},
        help="sizes per implementation instead of --sizes, e.g. 'sparse=1000:1000000;pyg=1000:8000'",
    )
    parser.add_argument(
        "--grow",
        type=_csv,
        default=[],
        help="implementations that go on past their sizes, n × --grow-factor, until one fails "
        "(out of memory, out of time) or n passes --grow-limit, e.g. pyg",
    )
    parser.add_argument("--grow-factor", type=float, default=2.0)
    parser.add_argument("--grow-limit", type=_positive_int, default=10**7)
    add_device_argument(parser)
    parser.add_argument("--out", default=None, help="append the JSON lines to this file too")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epoch-json", default="docs/perf/epoch.jsonl")
    parser.add_argument("--scaling-json", default="docs/perf/scaling.jsonl")
    parser.add_argument(
        "--headroom-json",
        default="docs/perf/headroom.jsonl",
        help="the headroom benchmark's records (optional: its table reads 'no results yet' without them)",
    )
    parser.add_argument(
        "--family-epoch-json",
        default="docs/perf/pool_family_epoch.jsonl",
        help="the pooling family's epoch records (MinCutPool and DMoN against PyG's): the "
        "pool-family-epoch block, where the document has its markers",
    )
    parser.add_argument(
        "--family-scaling-json",
        default="docs/perf/pool_family_scaling.jsonl",
        help="the pooling family's one-layer records: the pool-family-scaling block, where the "
        "document has its markers",
    )
    parser.add_argument(
        "--output",
        default="docs/PERFORMANCE.md",
        help="the Markdown document whose GENERATED blocks are rewritten; the prose around "
        "them is kept (a new document gets the blocks under their headings)",
    )
    parser.add_argument("--plot", default="docs/perf/scaling.png")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``epoch`` / ``scaling`` / ``headroom`` / ``report`` sub-commands to ``parser``."""
    from .headroom import add_headroom_arguments

    sub = parser.add_subparsers(dest="bench_command", metavar="{epoch,scaling,headroom,report}")
    sub.required = True
    add_epoch_arguments(sub.add_parser("epoch", help="training epoch and inference, per implementation"))
    add_scaling_arguments(sub.add_parser("scaling", help="one DiffPool layer on growing synthetic graphs"))
    add_headroom_arguments(
        sub.add_parser(
            "headroom",
            help="fixed-k speed-up over PyG's model with level 1's "
            "pooling free: the most any pooling optimisation can give",
        )
    )
    add_report_arguments(
        sub.add_parser("report", help="rewrite docs/PERFORMANCE.md's tables and the plot from the JSON")
    )


def run_epoch(args: argparse.Namespace) -> int:
    from .epoch import run_epoch_benchmark

    options = dict(
        epochs=args.epochs,
        warmup_epochs=args.warmup_epochs,
        warmup_batches=args.warmup_batches,
        predict_passes=args.predict_passes,
        batch_size=args.batch_size,
        seed=args.seed,
        threads=args.threads,
        data_root=args.data_root,
        cache=args.cache,
        pyg_padding=args.pyg_padding,
        device=_device(args.device),
        max_graphs=args.max_graphs,
        counts=args.counts,
    )
    case_options = {
        name: {"warmup_batches": args.slow_warmup_batches, "epochs": args.slow_epochs}
        for name in args.slow_sets
    }
    records = run_epoch_benchmark(
        args.datasets,
        args.impls,
        out_path=args.out,
        memory_cap_gb=args.memory_cap_gb,
        timeout=args.timeout,
        timeouts=args.timeouts,
        case_options=case_options,
        impl_epochs={k: int(v) for k, v in args.impl_epochs.items()},
        impl_timeouts=args.impl_timeouts,
        rounds=args.rounds,
        budget_s=args.budget_s,
        **options,
    )
    return 0 if all(r.get("status") in ("ok", "out of memory", "timeout", "skipped") for r in records) else 1


def run_scaling(args: argparse.Namespace) -> int:
    from .scaling import run_scaling_benchmark

    records = run_scaling_benchmark(
        args.sizes,
        args.impls,
        clusters=args.clusters,
        max_clusters=args.max_clusters,
        degree=args.degree,
        features=args.features,
        hidden=args.hidden,
        repeats=args.repeats,
        threads=args.threads,
        memory_cap_gb=args.memory_cap_gb,
        timeout=args.timeout,
        out_path=args.out,
        device=_device(args.device),
        impl_sizes=args.impl_sizes,
        grow=args.grow,
        grow_factor=args.grow_factor,
        grow_limit=args.grow_limit,
        budget_s=args.budget_s,
        methods=args.methods,
    )
    return 0 if all(r.get("status") in ("ok", "out of memory", "timeout", "skipped") for r in records) else 1


def run_report(args: argparse.Namespace) -> int:
    from .report import write_report

    missing = [str(p) for p in (args.epoch_json, args.scaling_json) if not Path(p).is_file()]
    if len(missing) == 2:
        print(
            f"benchmarks.report: error: no results to report: {' and '.join(missing)} not found",
            file=sys.stderr,
        )
        return 2
    for name in missing:
        print(
            f"benchmarks.report: warning: {name} not found; its section says 'no results yet'",
            file=sys.stderr,
        )
    path, plot = write_report(
        args.epoch_json,
        args.scaling_json,
        args.output,
        args.plot,
        args.headroom_json,
        args.family_epoch_json,
        args.family_scaling_json,
    )
    print(json.dumps({"kind": "report", "written": str(path), "plot": None if plot is None else str(plot)}))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """Run the sub-command chosen on the command line; returns the exit code."""
    command = getattr(args, "bench_command", None)
    if command == "epoch":
        return run_epoch(args)
    if command == "scaling":
        return run_scaling(args)
    if command == "headroom":
        from .headroom import run_headroom_command

        return run_headroom_command(args)
    if command == "report":
        return run_report(args)
    print("benchmarks: choose one of epoch, scaling, headroom, report", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="diffpool performance benchmarks"
    )
    add_bench_arguments(parser)
    return run_bench(parser.parse_args(argv))
