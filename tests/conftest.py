"""Shared fixtures. Real TU data is read from ``../shared/datasets/tu`` beside the checkout.

Tests that need it skip with a reason when it is absent, except when ``DIFFPOOL_REQUIRE_DATA=1``
(set by ``.ci/run``): CI has the data, so a missing folder there is a failure, not a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
TU_ROOT = Path(os.environ.get("DIFFPOOL_TU_ROOT", REPO_ROOT.parent / "shared" / "datasets" / "tu"))


@pytest.fixture(scope="session")
def tu_root() -> Path:
    if not TU_ROOT.is_dir():
        message = f"TU benchmark data not found at {TU_ROOT}"
        if os.environ.get("DIFFPOOL_REQUIRE_DATA") == "1":
            pytest.fail(message + " (DIFFPOOL_REQUIRE_DATA=1: CI must have it)")
        pytest.skip(message)
    return TU_ROOT


@pytest.fixture(
    params=[
        "cpu",
        pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
    ]
)
def device(request) -> torch.device:
    """Every device the tests can run on here: the CPU, and a CUDA GPU where there is one."""
    return torch.device(request.param)
