"""Performance benchmarks: the epoch benchmark against PyG's ``dense_diff_pool``, the one-layer
scaling benchmark, and the report that turns their JSON into ``docs/PERFORMANCE.md``.

``add_bench_arguments(parser)`` / ``run_bench(args)`` make the ``diffpool bench`` command;
``python -m diffpool.bench`` runs the same without the main CLI.
"""
from .cli import add_bench_arguments, run_bench

__all__ = ["add_bench_arguments", "run_bench"]
