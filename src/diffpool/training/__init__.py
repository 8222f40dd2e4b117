"""Training and evaluation: the Lightning module, protocols (train, cv fair/paper), results on disk."""

from .config import DATASET_DEFAULTS, RunConfig, defaults_for, paper_preset
from .module import BatchTooLargeError, GraphClassifier, NonFiniteLossError
from .protocols import PROTOCOLS, cross_validate, load_dataset, report, train

__all__ = [
    "RunConfig",
    "paper_preset",
    "defaults_for",
    "DATASET_DEFAULTS",
    "GraphClassifier",
    "NonFiniteLossError",
    "BatchTooLargeError",
    "train",
    "cross_validate",
    "report",
    "load_dataset",
    "PROTOCOLS",
]
