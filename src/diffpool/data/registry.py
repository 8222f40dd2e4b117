"""One entry point for "a data set by name", as the command line and training code refer to them.

``synthetic`` (lower case) is the built-in :class:`SyntheticHierarchy`; any other name is a TU
benchmark (names are case-sensitive, so the TU set ``SYNTHETIC`` stays reachable).
"""
from __future__ import annotations

import os
import warnings
from typing import Optional, Union

from .dataset import GraphDataset
from .synthetic import SyntheticHierarchy
from .tu import load_tu

__all__ = ["load_dataset", "SYNTHETIC_NAME"]

SYNTHETIC_NAME = "synthetic"


def load_dataset(
    name: str,
    data_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    *,
    features: Optional[str] = None,
    max_nodes: Optional[int] = None,
    seed: int = 0,
    num_graphs: int = 1000,
    cache: Optional[Union[str, "os.PathLike[str]"]] = None,
) -> GraphDataset:
    """Load ``name``: the synthetic set (``num_graphs``, ``seed``) or a TU set (from ``data_dir``,
    else the download cache). ``features=None`` means ``auto``: node labels and attributes where
    the set has them (the synthetic set's community colours), else one-hot degree."""
    if name == SYNTHETIC_NAME:
        dataset = SyntheticHierarchy(num_graphs=num_graphs, seed=seed, features=features or "auto")
        if max_nodes is not None:
            keep = [i for i in range(len(dataset)) if int(dataset[i].num_nodes) <= max_nodes]
            removed = len(dataset) - len(keep)
            subset = dataset[keep]
            subset.filtered = {"max_nodes": int(max_nodes), "removed": removed, "kept": len(keep),
                               "removed_indices": sorted(set(range(len(dataset))) - set(keep))}
            if removed:
                warnings.warn(f"synthetic: removed {removed} of {len(dataset)} graphs with more than "
                              f"{max_nodes} nodes (max_nodes={max_nodes})", stacklevel=2)
            return subset
        return dataset
    return load_tu(name, data_dir, features=features or "auto", max_nodes=max_nodes, cache=cache)
