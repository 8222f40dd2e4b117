"""The public surface: what ``import diffpool`` and each public module offer users. Changing it is
a deliberate act: update these lists (and the changelog) with it."""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import fields

import pytest

TOP_LEVEL = [
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

MODULES = {
    "diffpool.functional": [
        "DMoNOutput",
        "MinCutOutput",
        "PaddedBatch",
        "Partition",
        "PoolOutput",
        "dense_diff_pool",
        "dense_dmon_pool",
        "dense_mincut_pool",
        "sparse_diff_pool",
        "sparse_dmon_pool",
        "sparse_mincut_pool",
    ],
    "diffpool.nn": [
        "AttributeNorm",
        "DMoNPool",
        "DMoNPoolOutput",
        "DenseDMoNPool",
        "DenseDiffPool",
        "DenseMinCutPool",
        "DiffPool",
        "DiffPoolOutput",
        "GNNBlock",
        "MinCutPool",
        "MinCutPoolOutput",
        "dense_readout",
        "make_conv",
        "sparse_readout",
    ],
    "diffpool.models": [
        "ConfigError",
        "DETDiffPoolNet",
        "DiffPoolNet",
        "GraphSAGENet",
        "ModelConfig",
        "ModelOutput",
        "POOL_LOSS_TERMS",
        "POOL_METHODS",
        "SumMLP",
        "VARIANTS",
        "attach_det_clusters",
        "build_model",
        "classification_loss",
        "loss_terms",
    ],
}


def test_top_level_names():
    import diffpool

    assert sorted(diffpool.__all__) == sorted(TOP_LEVEL)
    for name in TOP_LEVEL:
        assert getattr(diffpool, name) is not None, name


def test_import_diffpool_is_light():
    """The heavy packages (torch, Lightning) load only when a name that needs them is used."""
    code = "import sys, diffpool; print('lightning' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False"]


def test_unknown_top_level_name_is_an_attribute_error():
    import diffpool

    with pytest.raises(AttributeError, match="no attribute 'DiffPooll'"):
        diffpool.DiffPooll  # noqa: B018


@pytest.mark.parametrize("module", list(MODULES))
def test_module_surface(module):
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(MODULES[module])
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_top_level_names_are_the_modules_objects():
    import diffpool
    from diffpool.functional import sparse_diff_pool
    from diffpool.models import DiffPoolNet
    from diffpool.nn import DiffPool

    assert diffpool.sparse_diff_pool is sparse_diff_pool
    assert diffpool.DiffPoolNet is DiffPoolNet
    assert diffpool.DiffPool is DiffPool


def test_run_defaults_are_the_models_but_where_stated():
    """One source of defaults: every model option of a run has ModelConfig's default, except the ones
    RUN_DEFAULTS_OVER_MODEL names."""
    from diffpool.models import ModelConfig
    from diffpool.training.config import RUN_DEFAULTS_OVER_MODEL, RunConfig

    run = {f.name: f.default for f in fields(RunConfig)}
    shared = [f for f in fields(ModelConfig) if f.name in run and f.name not in ("max_nodes", "min_clusters")]
    assert len(shared) >= 12
    for f in shared:
        expected = RUN_DEFAULTS_OVER_MODEL.get(f.name, f.default)
        assert run[f.name] == expected, f.name
    assert set(RUN_DEFAULTS_OVER_MODEL) <= {f.name for f in shared}
