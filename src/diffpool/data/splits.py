"""Stratified cross-validation splits as plain index lists, saved to and loaded from JSON.

Every run and every implementation can then use the very same folds: ``stratified_folds`` makes
them (scikit-learn's ``StratifiedKFold`` for the outer folds, a stratified ``train_test_split`` of
each training part for validation), ``save_splits`` writes them atomically, ``load_splits`` reads
them back and checks that each fold's parts are disjoint, cover ``0..N-1`` and hold only valid
indices. A split is ``{"train": [...], "val": [...], "test": [...]}`` of sorted ints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from ..atomic import atomic_open
from .errors import DataError, text_encoding_problem

__all__ = ["stratified_folds", "save_splits", "load_splits", "check_splits", "labels_of"]

PARTS = ("train", "val", "test")
SPLITS_FORMAT = "diffpool-splits"


def labels_of(dataset_or_labels) -> np.ndarray:
    """Class index of every graph, from a PyG dataset / list of graphs or from labels directly."""
    if isinstance(dataset_or_labels, np.ndarray):
        return dataset_or_labels.reshape(-1).astype(np.int64)
    slices = getattr(dataset_or_labels, "slices", None)
    if slices is not None and "y" in slices and hasattr(dataset_or_labels, "indices"):
        y = dataset_or_labels._data.y.view(-1).numpy()
        return y[np.asarray(list(dataset_or_labels.indices()), dtype=np.int64)].astype(np.int64)
    items = list(dataset_or_labels)
    if items and hasattr(items[0], "y"):
        return np.array([int(g.y.view(-1)[0]) for g in items], dtype=np.int64)
    return np.asarray([int(v) for v in items], dtype=np.int64)


def stratified_folds(
    dataset_or_labels,
    k: int = 10,
    seed: int = 0,
    inner_val: float = 0.1,
    *,
    class_names: dict | None = None,
) -> list[dict]:
    """``k`` stratified folds; each fold's training part keeps a stratified ``inner_val`` share aside
    for validation (``inner_val=0``: no validation part). Same input and seed → same folds.
    ``class_names`` ({class index: label as in the data files}) names classes in errors."""
    labels = labels_of(dataset_or_labels)
    if k < 2:
        raise DataError(f"k must be at least 2 folds, got {k}")
    if not 0 <= inner_val < 1:
        raise DataError(f"inner_val is a fraction in [0, 1), got {inner_val}")
    values, counts = np.unique(labels, return_counts=True)

    def named(index) -> str:
        return (
            f"class {class_names[int(index)]!r} (index {int(index)})"
            if class_names and int(index) in class_names
            else f"class {int(index)}"
        )

    if values.size == 1:
        raise DataError(
            f"all {len(labels)} graphs are of one {named(values[0])}: a classifier needs at least two"
        )
    if counts.size and counts.min() < k:
        fewest = int(counts.min())
        possible = f"; at most {fewest} folds are possible" if fewest >= 2 else ""
        raise DataError(
            f"{named(values[np.argmin(counts)])} has only {fewest} graph{'s' if fewest != 1 else ''}, "
            f"too few for {k} stratified folds (each needs at least one graph of every class{possible})"
        )
    outer = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = []
    for train, test in outer.split(np.zeros(len(labels)), labels):
        val = np.zeros(0, dtype=np.int64)
        if inner_val > 0:
            left, left_counts = np.unique(labels[train], return_counts=True)
            if left_counts.min() < 2:
                rare = left[np.argmin(left_counts)]
                raise DataError(
                    f"{named(rare)} has only {int(counts[values == rare][0])} graphs: with its "
                    f"share in a test fold, one is left for training and none to set aside for "
                    f"stratified validation" + ("; use fewer folds" if k > 2 else "")
                )
            held_out = int(np.ceil(inner_val * len(train)))
            if min(held_out, len(train) - held_out) < values.size:
                raise DataError(
                    f"a fold's training part ({len(train)} graphs) is too small to set aside a "
                    f"{inner_val:.0%} validation part holding each of the {values.size} classes"
                )
            train, val = train_test_split(
                train, test_size=inner_val, stratify=labels[train], random_state=seed
            )
        splits.append(
            {
                "train": sorted(int(i) for i in train),
                "val": sorted(int(i) for i in val),
                "test": sorted(int(i) for i in test),
            }
        )
    return splits


def check_splits(splits: Sequence[dict], num_graphs: int | None = None, *, where: str = "splits") -> int:
    """Raise :class:`DataError` unless every fold's parts are int lists, disjoint, and cover
    ``0..N-1``; returns N (inferred from the largest index when not given)."""
    if not isinstance(splits, (list, tuple)) or not splits:
        raise DataError(f"{where}: expected a non-empty list of folds")
    indices: list[int] = []
    for f, fold in enumerate(splits):
        if not isinstance(fold, dict) or any(p not in fold for p in ("train", "test")):
            raise DataError(f"{where}: fold {f} must be a dict with 'train', 'val' and 'test' lists")
        for part in PARTS:
            values = fold.get(part, [])
            if not isinstance(values, (list, tuple)) or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values
            ):
                raise DataError(f"{where}: fold {f} '{part}' must be a list of integers")
            indices.extend(int(v) for v in values)
    if indices and min(indices) < 0:
        raise DataError(f"{where}: negative index {min(indices)}")
    inferred = max(indices) + 1 if indices else 0
    if num_graphs is None:
        num_graphs = inferred
    elif inferred > num_graphs:
        raise DataError(f"{where}: index {inferred - 1} out of range for {num_graphs} graphs")
    for f, fold in enumerate(splits):
        seen = np.zeros(num_graphs, dtype=np.int64)
        for part in PARTS:
            values = np.asarray(fold.get(part, []), dtype=np.int64)
            dup = np.flatnonzero(np.bincount(values, minlength=num_graphs) > 1)
            if dup.size:
                raise DataError(f"{where}: fold {f} '{part}' lists graph {dup[0]} twice")
            seen[values] += 1
        overlap = np.flatnonzero(seen > 1)
        if overlap.size:
            holders = [p for p in PARTS if int(overlap[0]) in set(fold.get(p, []))]
            raise DataError(
                f"{where}: fold {f}: graph {overlap[0]} is in both {holders[0]!r} and "
                f"{holders[1]!r} (parts must be disjoint)"
            )
        missing = np.flatnonzero(seen == 0)
        if missing.size:
            raise DataError(
                f"{where}: fold {f} leaves out {missing.size} of {num_graphs} graphs "
                f"(first: {missing[0]}); train, val and test must cover all graphs"
            )
    return num_graphs


def save_splits(splits: Sequence[dict], path: str | os.PathLike) -> None:
    """Write ``splits`` as JSON, atomically (temp file, fsync, rename): a crash never leaves half a file."""
    num_graphs = check_splits(splits)
    document = {
        "format": SPLITS_FORMAT,
        "version": 1,
        "num_graphs": num_graphs,
        "folds": [{p: [int(i) for i in fold.get(p, [])] for p in PARTS} for fold in splits],
    }
    with atomic_open(path, "w") as handle:
        json.dump(document, handle)
        handle.write("\n")


def load_splits(path: str | os.PathLike, num_graphs: int | None = None) -> list[dict]:
    """Read splits written by :func:`save_splits` (or a bare JSON list of fold dicts) and validate
    them; ``num_graphs`` (e.g. ``len(dataset)``) must match the file's when given."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}:0: is a folder, where a splits file (JSON) is expected")
    try:
        raw = path.read_bytes()
        problem = text_encoding_problem(raw)
        if problem is not None:  # named as what it is (gzip data, UTF-16), not as bad JSON
            raise DataError(
                f"{path}:1: is {problem[0]}, not the JSON splits file diffpool writes; "
                "delete it to make the splits again"
            )
        document = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such splits file") from None
    except OSError as error:
        raise DataError(f"{path}:0: cannot be read ({error.strerror or error})") from None
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}:0: not text (corrupted bytes); delete it to make the splits again") from None
    if isinstance(document, dict):
        folds = document.get("folds")
        stored = document.get("num_graphs")
        if stored is not None and num_graphs is not None and stored != num_graphs:
            raise DataError(f"{path}: splits are for {stored} graphs, but the data set has {num_graphs}")
        num_graphs = num_graphs if num_graphs is not None else stored
    else:
        folds = document
    if folds is None:
        raise DataError(f"{path}: has no 'folds' list")
    check_splits(folds, num_graphs, where=str(path))
    return [{p: [int(i) for i in fold.get(p, [])] for p in PARTS} for fold in folds]
