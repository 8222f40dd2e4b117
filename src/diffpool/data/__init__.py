"""Data layer: TU benchmarks, the synthetic hierarchy set, user graphs, node features and splits.

Every loader returns a :class:`GraphDataset` (a PyG ``InMemoryDataset``) whose graphs have ``x``
(float32 [n, F]), ``edge_index`` (both directions, no duplicates, no weights) and ``y`` (long [1]),
and which carries ``name``, ``label_mapping``, ``feature_spec`` and ``filtered``. TU sets store ``x``
compact (one-hot columns as column numbers, :mod:`.features`) and expand it as each graph is read.
Bad input raises :class:`DataError` (a ``ValueError``), naming the file and line where there is one.
"""

from .dataset import GraphDataset
from .errors import DataError, DownloadError
from .features import (
    COMPACT_KEYS,
    DEFAULT_DEGREE_CAP,
    FEATURE_KINDS,
    apply_features,
    attribute_columns,
    check_feature_spec,
    describe_features,
    expand_features,
    make_feature_spec,
)
from .registry import SYNTHETIC_NAME, load_dataset
from .splits import check_splits, load_splits, save_splits, stratified_folds
from .stats import dataset_stats, feature_sources, format_stats, graph_sizes, node_counts
from .synthetic import ARRANGEMENTS, SyntheticHierarchy
from .tu import TU_URL, cache_dir, load_tu, read_tu_raw
from .user import from_networkx, read_edge_list, read_graph_folder

__all__ = [
    "GraphDataset",
    "DataError",
    "DownloadError",
    "FEATURE_KINDS",
    "DEFAULT_DEGREE_CAP",
    "COMPACT_KEYS",
    "make_feature_spec",
    "apply_features",
    "expand_features",
    "check_feature_spec",
    "describe_features",
    "attribute_columns",
    "load_dataset",
    "SYNTHETIC_NAME",
    "load_tu",
    "read_tu_raw",
    "cache_dir",
    "TU_URL",
    "SyntheticHierarchy",
    "ARRANGEMENTS",
    "from_networkx",
    "read_graph_folder",
    "read_edge_list",
    "stratified_folds",
    "save_splits",
    "load_splits",
    "check_splits",
    "dataset_stats",
    "format_stats",
    "feature_sources",
    "graph_sizes",
    "node_counts",
]
