"""Stratified folds: disjoint, covering, stratified, stable, and safe to save and load."""

from __future__ import annotations

import json

import numpy as np
import pytest

import diffpool.data.splits as splits_module
from data_fixtures import data_cache, tu  # noqa: F401
from diffpool.data import DataError, check_splits, load_splits, save_splits, stratified_folds

# imbalanced labels: 3 classes of 120, 60 and 20 graphs, in a shuffled order
LABELS = np.random.default_rng(1).permutation(np.repeat([0, 1, 2], [120, 60, 20]))


def test_folds_are_disjoint_cover_everything_and_tests_partition_the_data():
    folds = stratified_folds(LABELS, k=10, seed=0, inner_val=0.1)
    assert len(folds) == 10
    all_tests = []
    for fold in folds:
        train, val, test = (set(fold[p]) for p in ("train", "val", "test"))
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == set(range(len(LABELS)))
        assert all(type(i) is int for part in fold.values() for i in part)
        assert all(fold[p] == sorted(fold[p]) for p in fold)
        assert len(val) == pytest.approx(0.1 * (len(LABELS) - len(test)), abs=1)
        all_tests += fold["test"]
    assert sorted(all_tests) == list(range(len(LABELS)))


def test_folds_are_stratified():
    folds = stratified_folds(LABELS, k=10, seed=3)
    overall = np.bincount(LABELS) / len(LABELS)
    for fold in folds:
        for part in ("train", "val", "test"):
            counts = np.bincount(LABELS[fold[part]], minlength=3)
            expected = overall * len(fold[part])
            assert np.all(np.abs(counts - expected) <= 1.0), (part, counts, expected)


def test_folds_are_stable_across_runs_and_depend_on_the_seed():
    assert stratified_folds(LABELS, seed=5) == stratified_folds(LABELS.copy(), seed=5)
    assert stratified_folds(LABELS, seed=5) != stratified_folds(LABELS, seed=6)
    assert stratified_folds(list(LABELS), seed=5) == stratified_folds(LABELS, seed=5)


def test_no_validation_part():
    folds = stratified_folds(LABELS, k=5, inner_val=0)
    assert all(fold["val"] == [] for fold in folds)
    assert all(len(fold["train"]) + len(fold["test"]) == 200 for fold in folds)


def test_from_a_dataset_and_a_subset(tu):
    dataset = tu("MUTAG")
    labels = dataset._data.y.numpy()
    folds = stratified_folds(dataset, k=10, seed=0)
    assert folds == stratified_folds(labels, k=10, seed=0)
    subset = dataset[list(range(100, 188))]
    assert stratified_folds(subset, k=3) == stratified_folds(labels[100:], k=3)


def test_too_few_graphs_of_a_class():
    with pytest.raises(DataError, match="class 2 has only 3 graphs, too few for 5 stratified folds"):
        stratified_folds([0] * 10 + [1] * 10 + [2] * 3, k=5)
    with pytest.raises(DataError, match=r"class 'seven' \(index 2\) has only 1 graph, too few for 10"):
        stratified_folds([0] * 20 + [1] * 20 + [2], k=10, class_names={0: "a", 1: "b", 2: "seven"})
    # enough for the test folds, not for an inner validation part as well
    with pytest.raises(
        DataError, match="class 1 has only 2 graphs: with its share in a test fold, one is left"
    ):
        stratified_folds([0] * 10 + [1] * 2, k=2)
    assert len(stratified_folds([0] * 10 + [1] * 2, k=2, inner_val=0)) == 2
    # a validation part too small to hold every class (sklearn's own check, as a DataError)
    with pytest.raises(
        DataError, match="too small to set aside a 10% validation part holding each of the 4 classes"
    ):
        stratified_folds([0] * 5 + [1] * 5 + [2] * 5 + [3] * 5, k=5)
    with pytest.raises(
        DataError, match=r"all 5 graphs are of one class -1 \(index 0\): a classifier needs at least two"
    ):
        stratified_folds([0] * 5, k=2, class_names={0: -1})
    with pytest.raises(DataError, match="at least 2 folds"):
        stratified_folds(LABELS, k=1)
    with pytest.raises(DataError, match="inner_val"):
        stratified_folds(LABELS, inner_val=1.0)


def test_json_round_trip(tmp_path):
    folds = stratified_folds(LABELS, k=4, seed=2)
    path = tmp_path / "deep" / "splits.json"
    save_splits(folds, path)
    assert load_splits(path) == folds
    assert load_splits(path, num_graphs=200) == folds
    document = json.loads(path.read_text())
    assert document["num_graphs"] == 200 and document["format"] == "diffpool-splits"
    assert not [p for p in path.parent.iterdir() if p.name != "splits.json"]  # no temp files left


def test_a_bare_list_of_folds_from_elsewhere_loads(tmp_path):
    path = tmp_path / "theirs.json"
    path.write_text(
        json.dumps([{"train": [0, 2], "val": [], "test": [1, 3]}, {"train": [1, 3], "test": [0, 2]}])
    )
    assert load_splits(path)[1] == {"train": [1, 3], "val": [], "test": [0, 2]}


def test_failed_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "splits.json"
    folds = stratified_folds(LABELS, k=4)
    save_splits(folds, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(splits_module.json, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        save_splits(stratified_folds(LABELS, k=5), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["splits.json"]


@pytest.mark.parametrize(
    "folds, message",
    [
        ([{"train": [0, 1], "val": [1], "test": [2, 3]}], "graph 1 is in both 'train' and 'val'"),
        ([{"train": [0, 1], "val": [], "test": [3]}], "fold 0 leaves out 1 of 4 graphs"),
        ([{"train": [0, 0, 1], "val": [], "test": [2]}], "'train' lists graph 0 twice"),
        ([{"train": [0, "1"], "test": [2]}], "'train' must be a list of integers"),
        ([{"train": [0, 1.0], "test": [2]}], "'train' must be a list of integers"),
        ([{"train": [-1, 0], "test": [1]}], "negative index -1"),
        ([{"train": [0]}], "must be a dict with 'train', 'val' and 'test'"),
        ([], "non-empty list of folds"),
    ],
)
def test_invalid_splits_are_rejected(tmp_path, folds, message):
    with pytest.raises(DataError, match=message):
        check_splits(folds)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(folds))
    with pytest.raises(DataError, match=message):
        load_splits(path)
    with pytest.raises(DataError):
        save_splits(folds, tmp_path / "never.json")
    assert not (tmp_path / "never.json").exists()


def test_splits_for_another_data_set_size(tmp_path):
    path = tmp_path / "splits.json"
    save_splits(stratified_folds(LABELS, k=4), path)
    with pytest.raises(DataError, match="splits are for 200 graphs, but the data set has 150"):
        load_splits(path, num_graphs=150)
    path.write_text(json.dumps([{"train": [0, 1], "val": [], "test": [2, 9]}]))
    with pytest.raises(DataError, match="index 9 out of range for 5 graphs"):
        load_splits(path, num_graphs=5)


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="no such splits file"):
        load_splits(tmp_path / "missing.json")
    path = tmp_path / "broken.json"
    path.write_text('{"folds": [\n  {"train": [0,]\n')
    with pytest.raises(DataError, match=r"broken.json:2: not valid JSON"):
        load_splits(path)
