"""Fixtures and helpers shared by the data-layer tests (import what a module needs from here).

Real data is read from the shared TU folder (``tu_root`` in conftest.py); processed tensors go to
one cache folder per test session, so each set is processed once however many tests use it.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from diffpool.data import load_tu

SHARED_SETS = (
    "ENZYMES",
    "PROTEINS",
    "PROTEINS_full",
    "MUTAG",
    "NCI1",
    "IMDB-BINARY",
    "IMDB-MULTI",
    "REDDIT-BINARY",
)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """The processed-data cache of this test session (never the user's ~/.cache)."""
    return tmp_path_factory.mktemp("diffpool-cache")


@pytest.fixture(scope="session")
def tu(tu_root, data_cache):
    """``tu(name)``: the shared set ``name`` with default settings, loaded once per session."""
    loaded = {}

    def get(name: str):
        if name not in loaded:
            loaded[name] = load_tu(name, tu_root, cache=data_cache)
        return loaded[name]

    return get


def copy_tu(tu_root: Path, name: str, destination: Path) -> Path:
    """A writable copy of ``tu_root/name`` at ``destination/name``; returns the copied folder."""
    target = destination / name
    shutil.copytree(tu_root / name, target)
    for path in [target, *target.iterdir()]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def snapshot(folder: Path) -> dict:
    """Name → (size, mtime_ns) of everything under ``folder``: to prove nothing was written there."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    } | {".": (0, folder.stat().st_mtime_ns)}


def dense_reference(data: Data, spec: dict) -> torch.Tensor:
    """``x`` as the feature kinds define it, one block after another: attributes as float32, a
    one-hot block per node-label column over its known values, one-hot degree capped, ones."""
    n = int(data.num_nodes)
    blocks = []
    for part in spec["parts"]:
        if part == "attributes":
            blocks.append(data.node_attr.to(torch.float32))
        elif part == "labels":
            for j, known in enumerate(spec["node_label_values"]):
                index = torch.tensor([known.index(int(v)) for v in data.node_label[:, j]], dtype=torch.long)
                blocks.append(F.one_hot(index, len(known)).to(torch.float32).view(n, len(known)))
        elif part == "degree":
            degree = torch.bincount(data.edge_index[0], minlength=n).clamp(max=spec["degree_cap"])
            blocks.append(
                F.one_hot(degree, spec["degree_cap"] + 1).to(torch.float32).view(n, spec["degree_cap"] + 1)
            )
        else:
            blocks.append(torch.ones(n, 1))
    return torch.cat(blocks, dim=1)
