"""diffpool: hierarchical graph classification with differentiable pooling (Ying et al., 2018).

Sparse-first: the first pooling level runs on PyG's sparse mini-batch, so memory grows with edges
and nodes, never with n².

The public names, importable from here (each loaded on first use, so ``import diffpool`` is cheap):

* the math: :func:`dense_diff_pool`, :func:`sparse_diff_pool`, :class:`PoolOutput`; MinCutPool's
  :func:`dense_mincut_pool`, :func:`sparse_mincut_pool`, :class:`MinCutOutput`; DMoN's
  :func:`dense_dmon_pool`, :func:`sparse_dmon_pool`, :class:`DMoNOutput`; and the batch in parts
  that layers pass on, :class:`Partition` and :class:`PaddedBatch` (``diffpool.functional``);
* the layers: :class:`DiffPool` (sparse, first level), :class:`DenseDiffPool`, and the same for
  MinCutPool and DMoN, :class:`MinCutPool`, :class:`DenseMinCutPool`, :class:`DMoNPool`,
  :class:`DenseDMoNPool` (``diffpool.nn``);
* the classifier: :class:`DiffPoolNet` built from a :class:`ModelConfig` (``diffpool.models``);
* data: :func:`load_tu` (``diffpool.data``);
* runs: :class:`RunConfig`, :func:`train`, :func:`cross_validate`, :func:`predict` (``diffpool.training``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Public name → the module that defines it.
_EXPORTS = {
    "DMoNOutput": "diffpool.functional",
    "MinCutOutput": "diffpool.functional",
    "PaddedBatch": "diffpool.functional",
    "Partition": "diffpool.functional",
    "PoolOutput": "diffpool.functional",
    "dense_diff_pool": "diffpool.functional",
    "dense_dmon_pool": "diffpool.functional",
    "dense_mincut_pool": "diffpool.functional",
    "sparse_diff_pool": "diffpool.functional",
    "sparse_dmon_pool": "diffpool.functional",
    "sparse_mincut_pool": "diffpool.functional",
    "DMoNPool": "diffpool.nn",
    "DenseDMoNPool": "diffpool.nn",
    "DenseDiffPool": "diffpool.nn",
    "DenseMinCutPool": "diffpool.nn",
    "DiffPool": "diffpool.nn",
    "MinCutPool": "diffpool.nn",
    "DiffPoolNet": "diffpool.models",
    "ModelConfig": "diffpool.models",
    "load_tu": "diffpool.data",
    "RunConfig": "diffpool.training",
    "cross_validate": "diffpool.training",
    "train": "diffpool.training",
    "predict": "diffpool.training.predict",
}

__all__ = [
    "DMoNOutput",
    "DMoNPool",
    "DenseDMoNPool",
    "DenseDiffPool",
    "DenseMinCutPool",
    "DiffPool",
    "DiffPoolNet",
    "MinCutOutput",
    "MinCutPool",
    "ModelConfig",
    "PaddedBatch",
    "Partition",
    "PoolOutput",
    "RunConfig",
    "__version__",
    "cross_validate",
    "dense_diff_pool",
    "dense_dmon_pool",
    "dense_mincut_pool",
    "load_tu",
    "predict",
    "sparse_diff_pool",
    "sparse_dmon_pool",
    "sparse_mincut_pool",
    "train",
]

if TYPE_CHECKING:
    from .data import load_tu
    from .functional import (
        DMoNOutput,
        MinCutOutput,
        PaddedBatch,
        Partition,
        PoolOutput,
        dense_diff_pool,
        dense_dmon_pool,
        dense_mincut_pool,
        sparse_diff_pool,
        sparse_dmon_pool,
        sparse_mincut_pool,
    )
    from .models import DiffPoolNet, ModelConfig
    from .nn import DenseDiffPool, DenseDMoNPool, DenseMinCutPool, DiffPool, DMoNPool, MinCutPool
    from .training import RunConfig, cross_validate, train
    from .training.predict import predict


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'diffpool' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
