"""One entry point for "a data set by name", as the command line and training code refer to them.

``synthetic`` (lower case) is the built-in :class:`SyntheticHierarchy` and ``synthetic-large`` its
large setting (:func:`~.synthetic.synthetic_large`: 200 graphs of 10⁴–5·10⁴ nodes); any other name is
a TU benchmark (names are case-sensitive, so the TU set ``SYNTHETIC`` stays reachable).
"""

from __future__ import annotations

import os
import warnings

from .dataset import GraphDataset
from .synthetic import LARGE_NUM_GRAPHS, SyntheticHierarchy, synthetic_large
from .tu import load_tu

__all__ = ["load_dataset", "SYNTHETIC_NAME", "SYNTHETIC_LARGE_NAME", "SYNTHETIC_NAMES"]

SYNTHETIC_NAME = "synthetic"
SYNTHETIC_LARGE_NAME = "synthetic-large"
SYNTHETIC_NAMES = (SYNTHETIC_NAME, SYNTHETIC_LARGE_NAME)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    features: str | None = None,
    max_nodes: int | None = None,
    seed: int = 0,
    num_graphs: int | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> GraphDataset:
    """Load ``name``: a synthetic set (``num_graphs``, by default 1000 for ``synthetic`` and 200 for
    ``synthetic-large``; ``seed``) or a TU set (from ``data_dir``, else the download cache).
    ``features=None`` means ``auto``: node labels and attributes where the set has them (the
    synthetic sets' community colours), else one-hot degree."""
    if name in SYNTHETIC_NAMES:
        if name == SYNTHETIC_LARGE_NAME:
            count = LARGE_NUM_GRAPHS if num_graphs is None else num_graphs
            dataset = synthetic_large(num_graphs=count, seed=seed, features=features or "auto")
        else:
            count = 1000 if num_graphs is None else num_graphs
            dataset = SyntheticHierarchy(num_graphs=count, seed=seed, features=features or "auto")
        if max_nodes is not None:
            keep = [i for i in range(len(dataset)) if int(dataset[i].num_nodes) <= max_nodes]
            removed = len(dataset) - len(keep)
            subset = dataset[keep]
            subset.filtered = {
                "max_nodes": int(max_nodes),
                "removed": removed,
                "kept": len(keep),
                "removed_indices": sorted(set(range(len(dataset))) - set(keep)),
            }
            if removed:
                warnings.warn(
                    f"{name}: removed {removed} of {len(dataset)} graphs with more than "
                    f"{max_nodes} nodes (max_nodes={max_nodes})",
                    stacklevel=2,
                )
            return subset
        return dataset
    return load_tu(name, data_dir, features=features or "auto", max_nodes=max_nodes, cache=cache)
