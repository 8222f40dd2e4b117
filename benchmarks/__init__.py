"""Performance benchmarks and the generators of the documents that report them; not part of the package.

Each benchmark is a module run from the repository root, printing one JSON object a line:
``python -m benchmarks.epoch`` (training epoch and inference per implementation and data set),
``python -m benchmarks.scaling`` (one DiffPool layer on growing synthetic graphs),
``python -m benchmarks.headroom`` (the fixed-k speed-up over PyG's model if level 1's pooling were
free) and ``python -m benchmarks.layer_20k``. ``python -m benchmarks.report`` and
``python -m benchmarks.results_table`` rewrite the generated tables of ``docs/PERFORMANCE.md`` and
``docs/RESULTS.md``. ``python -m benchmarks {epoch,scaling,headroom,report}`` runs the same in one command.
``python -m benchmarks.gpu_check`` is the Python half of ``scripts/gpu_check``, the check run once on
a GPU machine.
"""
