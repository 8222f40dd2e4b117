"""Training and evaluation protocols on real data: files, schema, resume, determinism, variants."""

from __future__ import annotations

import csv
import json
import math
import os
import time

import pytest
import torch

from diffpool.models import ConfigError
from diffpool.provenance import git_commit
from diffpool.training import NonFiniteLossError, RunConfig, cross_validate, report, train
from diffpool.training.results import ResultsError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / "diffpool-cache"))


def mutag(tu_root, **changes) -> RunConfig:
    return RunConfig(
        **{
            **dict(dataset="MUTAG", data_dir=str(tu_root), epochs=3, patience=2, hidden=16, mlp_hidden=16),
            **changes,
        }
    )


def test_cv_fair_writes_results_splits_and_checkpoints(tu_root, tmp_path):
    summary = cross_validate(mutag(tu_root), tmp_path, folds=3, protocol="fair", progress=False)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results == summary
    for key in (
        "dataset",
        "variant",
        "protocol",
        "folds",
        "mean",
        "std",
        "per_fold",
        "config",
        "versions",
        "wall_time_s",
        "markdown",
        "label",
        "missing_folds",
    ):
        assert key in results, key
    assert results["protocol"] == "fair" and results["missing_folds"] == []
    assert len(results["per_fold"]) == 3 and all(0 <= a <= 1 for a in results["per_fold"])
    assert results["mean"] == pytest.approx(sum(results["per_fold"]) / 3)
    assert results["markdown"].startswith("| MUTAG | diffpool | fair | 3 |")
    assert results["versions"]["torch"] == torch.__version__
    splits = json.loads((tmp_path / "splits.json").read_text())
    tests = [set(fold["test"]) for fold in (splits["folds"] if isinstance(splits, dict) else splits)]
    assert set().union(*tests) == set(range(188)) and sum(len(t) for t in tests) == 188
    for fold in range(3):
        fold_result = json.loads((tmp_path / f"fold_{fold}" / "result.json").read_text())
        assert (tmp_path / f"fold_{fold}" / "checkpoints" / "best.ckpt").exists()
        assert (tmp_path / f"fold_{fold}" / "logs" / "metrics.csv").exists()
        assert [h["epoch"] for h in fold_result["history"]] == list(range(fold_result["epochs_run"]))
        assert 0 <= fold_result["best_epoch"] < fold_result["epochs_run"]
        best_val = max(h["val_acc"] for h in fold_result["history"])
        assert fold_result["val_acc"] == pytest.approx(best_val)
        assert results["per_fold_val"][fold] == fold_result["val_acc"]
        assert fold_result["commit"] == git_commit() and results["fold_commits"][fold] == git_commit()


def test_cv_resume_skips_finished_folds_and_recomputes_the_rest_identically(tu_root, tmp_path):
    config = mutag(tu_root)
    first = cross_validate(config, tmp_path, folds=2, protocol="fair", progress=False)
    fold0 = tmp_path / "fold_0" / "result.json"
    stamp = os.stat(fold0).st_mtime_ns
    # an interruption after fold 0: fold 1 never finished
    (tmp_path / "fold_1" / "result.json").unlink()
    (tmp_path / "results.json").unlink()
    again = cross_validate(config, tmp_path, folds=2, protocol="fair", progress=False)
    assert os.stat(fold0).st_mtime_ns == stamp, "a finished fold was recomputed"
    assert again["per_fold"] == first["per_fold"]


def test_resume_from_a_mid_training_checkpoint_gives_the_same_result(tu_root, tmp_path):
    config = mutag(tu_root, epochs=4, patience=10)
    whole = train(config, tmp_path / "whole", progress=False)
    # stop after 2 epochs, then run the 4-epoch command again in the same folder
    train(mutag(tu_root, epochs=2, patience=10), tmp_path / "split", progress=False)
    (tmp_path / "split" / "result.json").unlink()
    (tmp_path / "split" / "config.json").unlink(missing_ok=True)
    resumed = train(config, tmp_path / "split", progress=False)
    assert [h["epoch"] for h in resumed["history"]] == [0, 1, 2, 3]
    for a, b in zip(whole["history"], resumed["history"]):
        assert a == pytest.approx(b, rel=1e-5)
    assert resumed["test_acc"] == whole["test_acc"]


def test_the_cosine_schedule_anneals_the_rate_over_the_epochs(tu_root, tmp_path):
    config = mutag(tu_root, epochs=4, patience=10, lr=0.01, lr_schedule="cosine")
    whole = train(config, tmp_path / "whole", progress=False)
    expected = [0.005 * (1 + math.cos(math.pi * epoch / 4)) for epoch in range(4)]
    assert [h["lr"] for h in whole["history"]] == pytest.approx(expected)
    constant = train(mutag(tu_root, epochs=2, lr=0.01), tmp_path / "constant", progress=False)
    assert [h["lr"] for h in constant["history"]] == [0.01, 0.01]


def test_a_run_stopped_mid_schedule_resumes_on_it(tu_root, tmp_path, monkeypatch):
    from diffpool.training.module import GraphClassifier

    config = mutag(tu_root, epochs=4, patience=10, lr=0.01, lr_schedule="cosine")
    whole = train(config, tmp_path / "whole", progress=False)
    start = GraphClassifier.on_train_epoch_start

    def stop_at_epoch_2(self):
        if self.current_epoch == 2:
            raise RuntimeError("stopped")
        start(self)

    monkeypatch.setattr(GraphClassifier, "on_train_epoch_start", stop_at_epoch_2)
    with pytest.raises(RuntimeError, match="stopped"):
        train(config, tmp_path / "split", progress=False)
    monkeypatch.setattr(GraphClassifier, "on_train_epoch_start", start)
    resumed = train(config, tmp_path / "split", progress=False)
    assert [h["lr"] for h in resumed["history"]] == pytest.approx([h["lr"] for h in whole["history"]])
    assert resumed["test_acc"] == whole["test_acc"]
    # the CSV log continues across the resume (Lightning's CSVLogger deleted the earlier epochs' rows)
    with open(tmp_path / "split" / "logs" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert [float(r["val_acc"]) for r in rows] == pytest.approx([h["val_acc"] for h in resumed["history"]])


def test_a_resumed_run_reports_the_time_of_all_its_epochs(tu_root, tmp_path, monkeypatch):
    from diffpool.training.module import GraphClassifier

    config = mutag(tu_root, epochs=4, patience=10)
    start = GraphClassifier.on_train_epoch_start

    def slow_then_stopped_at_epoch_2(self):
        if self.current_epoch == 2:
            raise RuntimeError("stopped")
        time.sleep(1.0)
        start(self)

    monkeypatch.setattr(GraphClassifier, "on_train_epoch_start", slow_then_stopped_at_epoch_2)
    with pytest.raises(RuntimeError, match="stopped"):
        train(config, tmp_path, progress=False)
    monkeypatch.setattr(GraphClassifier, "on_train_epoch_start", start)
    began = time.perf_counter()
    resumed = train(config, tmp_path, progress=False)
    second_call = time.perf_counter() - began
    # The first call's two slow epochs (2 s) count, though this call took only its own time.
    assert resumed["wall_time_s"] - second_call > 1.5


def test_paper_protocol_reports_max_over_epochs_of_fold_mean(tu_root, tmp_path):
    summary = cross_validate(mutag(tu_root, epochs=4), tmp_path, folds=2, protocol="paper", progress=False)
    curve = summary["mean_curve"]
    assert len(curve) == 4
    assert summary["mean"] == pytest.approx(max(curve))
    assert summary["best_epoch"] == curve.index(max(curve))
    assert "optimistic" in summary["label"] and "(optimistic)" in summary["markdown"]
    fold = json.loads((tmp_path / "fold_0" / "result.json").read_text())
    assert all("heldout_acc" in h and "val_acc" not in h for h in fold["history"])
    assert fold["train_size"] + fold["eval_size"] == 188


def test_same_seed_same_result(tu_root, tmp_path):
    a = train(mutag(tu_root, seed=3), tmp_path / "a", progress=False)
    b = train(mutag(tu_root, seed=3), tmp_path / "b", progress=False)
    assert a["history"] == b["history"] and a["test_acc"] == b["test_acc"]


def test_train_refuses_other_settings_in_its_folder_and_resumes_the_same(tu_root, tmp_path):
    first = train(mutag(tu_root, epochs=2), tmp_path, progress=False)
    for other in (dict(epochs=3), dict(lr_schedule="cosine"), dict(seed=1)):
        with pytest.raises(ResultsError, match=f"{next(iter(other))}: "):
            train(mutag(tu_root, **{"epochs": 2, **other}), tmp_path, progress=False)
    assert train(mutag(tu_root, epochs=2, threads=2), tmp_path, progress=False) == first  # a runtime option
    with pytest.raises(ResultsError, match="a 'diffpool train' run"):
        report(tmp_path)


def test_other_settings_in_the_same_folder_are_refused(tu_root, tmp_path):
    cross_validate(mutag(tu_root, epochs=1), tmp_path, folds=2, progress=False)
    with pytest.raises(ResultsError, match="other settings.*lr"):
        cross_validate(mutag(tu_root, epochs=1, lr=0.1), tmp_path, folds=2, progress=False)
    with pytest.raises(ResultsError, match="folds"):
        cross_validate(mutag(tu_root, epochs=1), tmp_path, folds=3, progress=False)


def test_the_same_data_folder_named_another_way_resumes_and_another_folder_is_refused(
    tu_root, tmp_path, monkeypatch
):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    for cwd, target in ((here, tu_root), (elsewhere, tmp_path / "copy")):
        cwd.mkdir()
        (cwd / "tu").symlink_to(target, target_is_directory=True)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "MUTAG").symlink_to(tu_root / "MUTAG", target_is_directory=True)
    run = tmp_path / "run"
    monkeypatch.chdir(here)
    first = cross_validate(mutag("tu", epochs=1), run, folds=2, only_fold=0, progress=False)
    assert json.loads((run / "config.json").read_text())["data_path"] == os.path.realpath(tu_root)
    # Relative, absolute, through a link: one folder, so the finished fold is read back, not retrained.
    again = cross_validate(mutag(str(tu_root), epochs=1), run, folds=2, only_fold=0, progress=False)
    assert again == first
    # The same words from another directory, or another folder holding the same files: other data,
    # and the message says which folders the words name.
    monkeypatch.chdir(elsewhere)
    copy = os.path.realpath(tmp_path / "copy")
    for data_dir in ("tu", copy):
        expected = f"other settings (data_dir: 'tu' ({os.path.realpath(tu_root)}) → '{data_dir}' ({copy}))"
        with pytest.raises(ResultsError) as refused:
            cross_validate(mutag(data_dir, epochs=1), run, folds=2, only_fold=0, progress=False)
        assert expected in str(refused.value)
    # A run saved before runs recorded their folder: its words resolve from the current directory.
    saved = json.loads((run / "config.json").read_text())
    del saved["data_path"]
    (run / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ResultsError, match="data_dir: 'tu'"):  # here 'tu' names the copy
        cross_validate(mutag(str(tu_root), epochs=1), run, folds=2, only_fold=0, progress=False)
    monkeypatch.chdir(here)
    assert cross_validate(mutag(str(tu_root), epochs=1), run, folds=2, only_fold=0, progress=False) == first


@pytest.mark.parametrize(
    "option, old, other",
    [
        ("batching", "random", "size"),
        ("min_clusters", 1, 8),
        ("input_norm", False, True),
        ("repeats", 1, 2),
        ("lr_schedule", "constant", "cosine"),
    ],
)
def test_a_run_saved_before_an_option_existed_resumes_with_its_old_behaviour(
    tu_root, tmp_path, option, old, other
):
    config = mutag(tu_root, epochs=1, per_graph_clusters=True, min_clusters=1)
    cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["config"][option]  # as written before the option existed
    (tmp_path / "config.json").write_text(json.dumps(saved))
    # The missing fold trains under the old behaviour, and the report says which that was.
    assert cross_validate(config, tmp_path, folds=2, progress=False)["completed_folds"] == 2
    assert report(tmp_path)["config"][option] == old
    with pytest.raises(ResultsError, match=f"{option}: {old!r} → {other!r}"):
        cross_validate(
            mutag(tu_root, epochs=1, per_graph_clusters=True, **{"min_clusters": 1, option: other}),
            tmp_path,
            folds=2,
            progress=False,
        )


def test_an_old_run_of_a_variant_without_pooling_resumes_whatever_its_cluster_options(tu_root, tmp_path):
    config = mutag(tu_root, epochs=1, variant="graphsage")
    cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    # as versions before the per-graph default saved
    # `--variant graphsage --per-graph-clusters --min-clusters 4`
    saved["config"].update(per_graph_clusters=True, min_clusters=4)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert cross_validate(config, tmp_path, folds=2, progress=False)["completed_folds"] == 2
    with pytest.raises(ResultsError, match="hidden: 16 → 8"):
        cross_validate(
            mutag(tu_root, epochs=1, variant="graphsage", hidden=8), tmp_path, folds=2, progress=False
        )


def test_repeats_train_that_many_models_per_fold_and_score_their_mean(tu_root, tmp_path):
    config = mutag(tu_root, epochs=2, repeats=3)
    summary = cross_validate(config, tmp_path, folds=2, progress=False)
    for fold in range(2):
        fold_dir = tmp_path / f"fold_{fold}"
        result = json.loads((fold_dir / "result.json").read_text())
        runs = [json.loads((fold_dir / f"run_{r}" / "result.json").read_text()) for r in range(3)]
        assert [r["test_acc"] for r in result["runs"]] == [r["test_acc"] for r in runs]
        assert result["test_acc"] == pytest.approx(sum(r["test_acc"] for r in runs) / 3)
        assert result["val_acc"] == pytest.approx(sum(r["val_acc"] for r in runs) / 3)
        assert summary["per_fold"][fold] == result["test_acc"]
        assert summary["per_fold_models"][fold] == [r["test_acc"] for r in runs]
        assert [r["seed"] for r in runs] == [fold, fold + 1000, fold + 2000]
        assert all((fold_dir / f"run_{r}" / "checkpoints" / "best.ckpt").exists() for r in range(3))
        # the models differ in their seeds, so in their training
        assert len({json.dumps(r["history"][0]["train_loss"]) for r in runs}) == 3
    assert summary["markdown"].startswith("| MUTAG | diffpool | fair (3 models a fold) | 2 |")
    # the first model of a fold is the fold's single model of an unrepeated run (same seed)
    single = cross_validate(mutag(tu_root, epochs=2), tmp_path / "single", folds=2, progress=False)
    first_models = [
        json.loads((tmp_path / f"fold_{f}" / "run_0" / "result.json").read_text()) for f in range(2)
    ]
    assert [m["test_acc"] for m in first_models] == single["per_fold"]
    # resuming reads the finished folds back
    stamp = os.stat(tmp_path / "fold_0" / "result.json").st_mtime_ns
    assert cross_validate(config, tmp_path, folds=2, progress=False)["per_fold"] == summary["per_fold"]
    assert os.stat(tmp_path / "fold_0" / "result.json").st_mtime_ns == stamp


def test_an_interrupted_repeated_fold_keeps_its_finished_models(tu_root, tmp_path):
    import shutil

    config = mutag(tu_root, epochs=2, repeats=2)
    first = cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)
    fold_dir = tmp_path / "fold_0"
    stamp = os.stat(fold_dir / "run_0" / "result.json").st_mtime_ns
    # killed during its second model, before that model's first checkpoint, and while writing the
    # fold's result (its temporary file left behind)
    (fold_dir / "result.json").unlink()
    shutil.rmtree(fold_dir / "run_1")
    (fold_dir / ".result.json.123.tmp").write_text("{")
    again = cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)
    assert os.stat(fold_dir / "run_0" / "result.json").st_mtime_ns == stamp, "a finished model was retrained"
    assert (fold_dir / "run_1" / "checkpoints" / "best.ckpt").exists(), "the lost model was not retrained"
    models = [json.loads((fold_dir / f"run_{r}" / "result.json").read_text()) for r in range(2)]
    assert again["test_acc"] == pytest.approx((models[0]["test_acc"] + models[1]["test_acc"]) / 2)
    assert again["test_acc"] == first["test_acc"] and again["runs"] == [
        {**m, "wall_time_s": a["wall_time_s"]} for m, a in zip(first["runs"], again["runs"])
    ]
    assert [m["seed"] for m in again["runs"]] == [0, 1000]
    assert not list(fold_dir.glob("*.tmp"))


def test_the_report_merges_a_fold_whose_models_finished_before_its_result_was_written(tu_root, tmp_path):
    config = mutag(tu_root, epochs=1, repeats=2)
    first = cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)
    (tmp_path / "fold_0" / "result.json").unlink()  # killed between the last model and the fold's merge
    summary = report(tmp_path)
    assert summary["fold_commits"] == [first["runs"][0]["commit"]]  # the models' source, not the report's
    assert summary["missing_folds"] == [1] and summary["per_fold"] == [first["test_acc"]]
    assert summary["per_fold_models"] == [[m["test_acc"] for m in first["runs"]]]
    assert json.loads((tmp_path / "fold_0" / "result.json").read_text())["test_acc"] == first["test_acc"]


@pytest.mark.parametrize("damage", ["val_acc missing", "test_acc null", "test_acc NaN"])
def test_a_damaged_model_result_is_recomputed_not_averaged(tu_root, tmp_path, damage):
    config = mutag(tu_root, epochs=2, repeats=2)
    first = cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)
    path = tmp_path / "fold_0" / "run_1" / "result.json"
    result = json.loads(path.read_text())
    if damage == "val_acc missing":
        del result["val_acc"]
    else:
        result["test_acc"] = None if damage == "test_acc null" else float("nan")
    path.write_text(json.dumps(result))
    (tmp_path / "fold_0" / "result.json").unlink()
    with pytest.raises(ResultsError, match="no finished folds"):  # the report neither averages it in
        report(tmp_path)
    again = cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)
    assert again["test_acc"] == first["test_acc"]
    assert json.loads(path.read_text())["test_acc"] == first["runs"][1]["test_acc"]


def test_a_model_trained_with_another_seed_is_not_averaged_in(tu_root, tmp_path):
    config = mutag(tu_root, epochs=1, repeats=2)
    cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)
    path = tmp_path / "fold_0" / "run_1" / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "seed": 7}))
    (tmp_path / "fold_0" / "result.json").unlink()
    with pytest.raises(ResultsError, match=r"run_1/result.json: trained with seed 7, not 1000; delete"):
        cross_validate(config, tmp_path, folds=2, only_fold=0, progress=False)


def test_repeats_are_refused_where_there_is_one_model(tu_root, tmp_path):
    with pytest.raises(ValueError, match="--repeats 3 applies to the fair protocol"):
        cross_validate(mutag(tu_root, repeats=3), tmp_path / "cv", folds=2, protocol="paper", progress=False)
    with pytest.raises(ValueError, match="--repeats 3 is for cross-validation"):
        train(mutag(tu_root, repeats=3), tmp_path / "train", progress=False)
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        mutag(tu_root, repeats=0)
    with pytest.raises(ValueError, match="distinct only below 1000 folds"):
        cross_validate(mutag(tu_root, repeats=2), tmp_path / "cv", folds=1000, progress=False)
    assert not (tmp_path / "cv").exists() and not (tmp_path / "train").exists()


def test_single_fold_runs_and_report_names_missing_folds(tu_root, tmp_path):
    config = mutag(tu_root, epochs=1)
    one = cross_validate(config, tmp_path, folds=3, only_fold=1, progress=False)
    assert one["fold"] == 1
    merged = report(tmp_path)
    assert merged["missing_folds"] == [0, 2] and merged["completed_folds"] == 1
    cross_validate(config, tmp_path, folds=3, only_fold=2, progress=False)
    # The run's time is its folds' time, however many invocations they took.
    folds = [json.loads((tmp_path / f"fold_{i}" / "result.json").read_text()) for i in (1, 2)]
    assert report(tmp_path)["wall_time_s"] == pytest.approx(sum(f["wall_time_s"] for f in folds), abs=0.1)
    with pytest.raises(ValueError, match="--fold must lie in 0..2"):
        cross_validate(config, tmp_path, folds=3, only_fold=5, progress=False)


@pytest.mark.parametrize("variant", ["nolp", "det", "graphsage", "baseline"])
def test_every_variant_trains(tu_root, tmp_path, variant):
    result = train(mutag(tu_root, variant=variant, epochs=1), tmp_path, progress=False)
    assert 0 <= result["test_acc"] <= 1
    assert result["history"][0]["train_loss"] > 0


def test_non_finite_loss_stops_with_epoch_and_batch(tu_root, tmp_path, monkeypatch):
    from diffpool.training import module

    real = module.classification_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        losses = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            losses["loss"] = losses["loss"] * float("nan")
        return losses

    monkeypatch.setattr(module, "classification_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"epoch 0, batch 2.*--lr"):
        train(mutag(tu_root), tmp_path, progress=False)


def test_a_floor_on_cluster_counts_without_per_graph_counts_is_rejected():
    with pytest.raises(ValueError, match="min_clusters .8. only applies with per-graph cluster counts"):
        RunConfig(dataset="MUTAG", min_clusters=8, per_graph_clusters=False)
    assert RunConfig(dataset="MUTAG", min_clusters=5).to_dict()["min_clusters"] == 5


def test_the_default_is_per_graph_counts_with_a_floor_of_8_and_the_paper_preset_fixed_k():
    from diffpool.training.config import paper_preset

    default = RunConfig(dataset="MUTAG")
    assert default.per_graph_clusters and default.to_dict()["min_clusters"] == 8
    assert default.model_config(7, 2, 28).min_clusters == 8
    # fixed K has no floor, also when a grid point or a saved run turns per-graph counts off
    fixed = RunConfig.from_dict({**default.to_dict(), "per_graph_clusters": False, "min_clusters": None})
    assert fixed.to_dict()["min_clusters"] == 1
    paper = RunConfig.from_dict(paper_preset("PROTEINS"))
    assert not paper.per_graph_clusters and paper.to_dict()["min_clusters"] == 1
    # variants that learn no assignment save no per-graph counts, so their runs resume as before
    for variant in ("det", "graphsage", "baseline"):
        assert RunConfig(dataset="MUTAG", variant=variant).to_dict()["per_graph_clusters"] is False
    # the paper's ceil(ratio · n_g) when per-graph counts are asked for on top of the preset
    assert (
        RunConfig.from_dict({**paper_preset("PROTEINS"), "per_graph_clusters": True}).to_dict()[
            "min_clusters"
        ]
        == 1
    )


def test_invalid_run_config_is_rejected():
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        RunConfig(epochs=0)
    with pytest.raises(ValueError, match="lr_schedule must be one of constant, cosine, got 'step'"):
        RunConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="unknown option"):
        RunConfig.from_dict({"epochz": 3})


def test_out_of_memory_batch_is_reported_with_sizes_and_a_batch_size(tu_root, tmp_path, monkeypatch):
    from diffpool.training import BatchTooLargeError, module

    def exhausted(*args, **kwargs):
        raise RuntimeError(
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 99999999999 bytes."
        )

    monkeypatch.setattr(module, "classification_loss", exhausted)
    with pytest.raises(
        BatchTooLargeError,
        match=r"batch of 20 graphs.*largest \d+, total \d+; fixed cluster counts "
        r"cost B·K² per level, K = \[\d+, \d+\]\)\. Try --batch-size 5, "
        r"--per-graph-clusters, or --max-nodes",
    ):
        train(mutag(tu_root, per_graph_clusters=False), tmp_path / "fixed", progress=False)
    # with per-graph counts on (the default), the advice is what else lowers the padded cost
    with pytest.raises(
        BatchTooLargeError, match=r"per-graph cluster counts.*--batch-size 5, --batching size"
    ):
        train(mutag(tu_root), tmp_path / "per-graph", progress=False)
    # a model without clusters gets no advice about them
    with pytest.raises(BatchTooLargeError, match=r"total \d+\)\. Try --batch-size 5, or --max-nodes"):
        train(mutag(tu_root, variant="graphsage"), tmp_path / "graphsage", progress=False)


def test_last_checkpoint_carries_the_best_checkpoint_state_of_its_own_epoch(tu_root, tmp_path):
    """A resume from last.ckpt must know every epoch's best candidate, including the last one."""
    result = train(mutag(tu_root, epochs=3, patience=10), tmp_path, progress=False)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2
    states = [
        state for key, state in last["callbacks"].items() if "ModelCheckpoint" in key and "val_acc" in key
    ]
    assert len(states) == 1
    best_score = float(states[0]["best_model_score"])
    assert best_score == pytest.approx(max(h["val_acc"] for h in result["history"]))


def test_a_resumed_fold_removes_temporary_files_left_by_a_killed_write(tu_root, tmp_path):
    stale = tmp_path / "checkpoints" / ".last.ckpt.k1ll3d.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a checkpoint")
    keep = tmp_path / "checkpoints" / "notes.tmp"  # not one of ours: left alone
    keep.write_text("mine")
    train(mutag(tu_root, epochs=1), tmp_path, progress=False)
    assert not stale.exists() and keep.exists()
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_the_training_optimiser_is_fused_adam_with_the_default_update():
    from diffpool.optim import adam

    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    copies = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    fused, plain = (
        adam(weights, lr=1e-2, weight_decay=1e-3),
        torch.optim.Adam(copies, lr=1e-2, weight_decay=1e-3),
    )
    assert fused.defaults["fused"] is True and not plain.defaults["fused"]
    for _ in range(5):
        for w, c in zip(weights, copies):
            w.grad = torch.randn_like(w)
            c.grad = w.grad.clone()
        fused.step()
        plain.step()
    for w, c in zip(weights, copies):
        torch.testing.assert_close(w, c)
    assert adam([torch.nn.Parameter(torch.ones(2, dtype=torch.float64))], lr=1e-3).defaults["fused"] is True
    # Lightning clips gradients after unscaling them, which a fused step would do itself.
    assert not adam([torch.nn.Parameter(torch.ones(2))], lr=1e-3, mixed_precision=True).defaults["fused"]


def test_the_commit_is_read_once_when_the_process_starts(monkeypatch):
    import subprocess

    git_commit.cache_clear()
    first = git_commit()

    def no_git(*args, **kwargs):
        raise AssertionError("git was asked again: a commit made during a run would be credited with it")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert git_commit() == first


def test_a_run_saved_with_runtime_options_this_version_refuses_still_reports(tu_root, tmp_path):
    first = cross_validate(mutag(tu_root, epochs=1), tmp_path, folds=2, protocol="fair", progress=False)
    path = tmp_path / "config.json"
    meta = json.loads(path.read_text())
    # a config file's `precision: 32`, and a strategy name an older Lightning took
    meta["config"].update(precision=32, strategy="ddp_cpu")
    path.write_text(json.dumps(meta))
    assert report(tmp_path)["per_fold"] == first["per_fold"]
    assert RunConfig(precision=32).precision == "32"


def test_splits_left_without_a_config_are_not_taken_for_a_new_run(tu_root, tmp_path):
    from diffpool.data import load_splits, save_splits, stratified_folds
    from diffpool.training.protocols import graph_labels, load_dataset

    labels = graph_labels(load_dataset(mutag(tu_root)))
    # a process that died after writing another seed's splits and before its config.json
    save_splits(stratified_folds(labels, k=2, seed=1), tmp_path / "splits.json")
    cross_validate(mutag(tu_root, epochs=1), tmp_path, folds=2, protocol="fair", progress=False)
    assert load_splits(tmp_path / "splits.json") == stratified_folds(labels, k=2, seed=0)


def test_seeds_a_cross_validation_would_derive_beyond_the_range_are_refused(tu_root, tmp_path):
    with pytest.raises(ConfigError, match="reach 4294967296, beyond 2\\*\\*32 - 1"):
        cross_validate(
            mutag(tu_root, seed=2**32 - 1), tmp_path / "cv", folds=2, protocol="fair", progress=False
        )
    assert not (tmp_path / "cv").exists()


def test_a_damaged_metrics_log_starts_again_with_a_warning(tmp_path):
    from diffpool.training.metrics_log import ResumableCSVLogger

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "metrics.csv").write_bytes(b"epoch,val_acc\n0,0.5\n\xff\xfe\x00garbage,1,2\n")
    with pytest.warns(UserWarning, match="unreadable"):
        logger = ResumableCSVLogger(tmp_path, name="logs", version="")
        logger.log_metrics({"epoch": 3, "val_acc": 0.75}, step=0)
    with open(logs / "metrics.csv", newline="") as handle:
        assert [dict(r) for r in csv.DictReader(handle)] == [{"epoch": "3", "step": "0", "val_acc": "0.75"}]
    # a row longer than its header keeps its named values, and the next epoch is added
    (logs / "metrics.csv").write_text("epoch,val_acc\n0,0.5,extra\n")
    logger = ResumableCSVLogger(tmp_path, name="logs", version="")
    logger.log_metrics({"epoch": 1, "val_acc": 0.6}, step=1)
    with open(logs / "metrics.csv", newline="") as handle:
        assert [r["epoch"] for r in csv.DictReader(handle)] == ["0", "1"]
