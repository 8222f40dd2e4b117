"""Model selection per outer fold across runs of a small grid (``diffpool cv select``)."""

from __future__ import annotations

import json
import shutil

import pytest

from diffpool.cli import main
from diffpool.models import ConfigError
from diffpool.training import RunConfig, cross_validate, report
from diffpool.training.results import ResultsError
from diffpool.training.selection import select_across_runs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
FOLDS = 3


@pytest.fixture(scope="module")
def grid_runs(tu_root, tmp_path_factory):
    """Two fair runs on MUTAG's same splits, one or two pooling levels, and one on other splits."""
    root = tmp_path_factory.mktemp("grid")
    cache = tmp_path_factory.getbasetemp() / "diffpool-cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIFFPOOL_DATA", str(cache))
        common = dict(dataset="MUTAG", data_dir=str(tu_root), epochs=3, patience=2, hidden=16, mlp_hidden=16)
        for name, changes in (
            ("two", dict(levels=2)),
            ("one", dict(levels=1, ratio=0.1)),
            ("other-seed", dict(levels=1, ratio=0.1, seed=7)),
        ):
            cross_validate(RunConfig(**common, **changes), root / name, folds=FOLDS, progress=False)
    return root


def snapshot(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def fold_result(run, fold):
    return json.loads((run / f"fold_{fold}" / "result.json").read_text())


def test_each_fold_takes_the_run_with_the_best_validation_accuracy(grid_runs, tmp_path):
    runs = [grid_runs / "two", grid_runs / "one"]
    summary = select_across_runs(runs, tmp_path / "selected")
    assert json.loads((tmp_path / "selected" / "results.json").read_text()) == summary
    assert (tmp_path / "selected" / "splits.json").read_text() == (runs[0] / "splits.json").read_text()
    for fold in range(FOLDS):
        two, one = fold_result(runs[0], fold), fold_result(runs[1], fold)
        winner = one if one["val_acc"] > two["val_acc"] else two  # ties: the first listed
        assert summary["chosen"][fold] == ("one" if winner is one else "two")
        assert summary["per_fold"][fold] == winner["test_acc"]
        assert summary["per_fold_val"][fold] == winner["val_acc"]
    assert summary["mean"] == pytest.approx(sum(summary["per_fold"]) / FOLDS)
    assert summary["selection"]["grid"] == {"levels": [2, 1], "ratio": [0.25, 0.1]}
    assert sum(c["folds_chosen"] for c in summary["selection"]["candidates"]) == FOLDS
    assert summary["completed_folds"] == FOLDS and summary["missing_folds"] == []
    both = sum(fold_result(run, f)["wall_time_s"] for run in runs for f in range(FOLDS))
    assert summary["wall_time_s"] == pytest.approx(both, abs=0.1)


def test_test_accuracy_never_decides_and_ties_go_to_the_first_run(grid_runs, tmp_path):
    runs = [tmp_path / "two", tmp_path / "one"]
    for run, source in zip(runs, ("two", "one")):
        shutil.copytree(grid_runs / source, run)
    for fold in range(FOLDS):  # equal validation scores, the second run far better on the test fold
        for run, test_acc in zip(runs, (0.0, 1.0)):
            path = run / f"fold_{fold}" / "result.json"
            result = json.loads(path.read_text())
            path.write_text(json.dumps({**result, "val_acc": 0.5, "test_acc": test_acc}))
    summary = select_across_runs(runs, tmp_path / "selected")
    assert summary["chosen"] == ["two"] * FOLDS and summary["mean"] == 0.0
    # one better validation score in fold 1 moves that fold, and only it
    path = runs[1] / "fold_1" / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "val_acc": 0.6}))
    summary = select_across_runs(runs, tmp_path / "selected")
    assert summary["chosen"] == ["two", "one", "two"] and summary["per_fold"] == [0.0, 1.0, 0.0]


def test_a_fold_missing_from_any_run_is_reported_missing(grid_runs, tmp_path):
    runs = [tmp_path / "two", grid_runs / "one"]
    shutil.copytree(grid_runs / "two", runs[0])
    (runs[0] / "fold_2" / "result.json").unlink()
    summary = select_across_runs(runs, tmp_path / "selected")
    assert summary["missing_folds"] == [2] and summary["completed_folds"] == 2 and len(summary["chosen"]) == 2
    for fold in (0, 1):
        (runs[0] / f"fold_{fold}" / "result.json").unlink()
    with pytest.raises(ResultsError, match="no fold is finished in every run"):
        select_across_runs(runs, tmp_path / "selected")


@pytest.mark.parametrize(
    "case, message",
    [
        ("other splits", "splits.json differs"),
        ("one run", "at least two runs"),
        ("same run twice", "listed twice"),
        ("same settings", "nothing to choose between"),
        ("paper protocol", "paper-protocol run has no inner validation split"),
        ("no config", "config.json: file not found"),
        ("other repeats", "different numbers of models per fold"),
    ],
)
def test_bad_candidates_are_refused_with_the_reason(grid_runs, tmp_path, case, message):
    two, one = grid_runs / "two", grid_runs / "one"
    if case == "other splits":
        runs = [one, grid_runs / "other-seed"]
        message = f"{grid_runs / 'other-seed'}/splits.json differs"
    elif case == "one run":
        runs = [two]
    elif case == "same run twice":
        runs = [two, two]
    elif case == "same settings":
        runs = [two, tmp_path / "copy"]
        shutil.copytree(two, runs[1])
    elif case == "paper protocol":
        runs = [two, tmp_path / "paper"]
        shutil.copytree(one, runs[1])
        config = json.loads((runs[1] / "config.json").read_text())
        (runs[1] / "config.json").write_text(json.dumps({**config, "protocol": "paper"}))
    elif case == "other repeats":  # as if one run had trained three models per fold
        runs = [two, tmp_path / "repeated"]
        shutil.copytree(one, runs[1])
        config = json.loads((runs[1] / "config.json").read_text())
        config["config"]["repeats"] = 3
        (runs[1] / "config.json").write_text(json.dumps(config))
    else:
        runs = [two, tmp_path / "empty"]
        runs[1].mkdir()
    before = snapshot(grid_runs)
    with pytest.raises(ResultsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        select_across_runs(runs, tmp_path / "selected")
    assert not (tmp_path / "selected" / "results.json").exists()
    assert snapshot(grid_runs) == before, "a refused selection changed a candidate's files"


def test_cli_select_prints_the_choice_and_writes_results(grid_runs, tmp_path, capsys):
    out = tmp_path / "selected"
    assert main(["cv", "select", str(grid_runs / "two"), str(grid_runs / "one"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "two: chosen in" in text and "one: chosen in" in text and str(out / "results.json") in text
    code = main(["cv", "select", str(grid_runs / "one"), str(grid_runs / "other-seed"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "splits.json differs" in err and "Traceback" not in err


def test_results_table_shows_the_candidates_and_how_often_each_won(grid_runs, tmp_path):
    from benchmarks import results_table as table

    summary = select_across_runs([grid_runs / "two", grid_runs / "one"], tmp_path / "rows" / "MUTAG-selected")
    wins = {c["name"]: c["folds_chosen"] for c in summary["selection"]["candidates"]}
    (row,) = table.rows(tmp_path / "rows")
    # The runs have the default cluster counts: per graph, at least 8.
    assert row["setting"] == (
        f"chosen per fold on inner validation: 2 × 25%, per-graph k ≥ 8 ({wins['two']} folds) / "
        f"1 × 10%, per-graph k ≥ 8 ({wins['one']} folds)"
    )
    assert row["folds"] == f"{FOLDS}/{FOLDS}" and row["version"].startswith("diffpool ")


@pytest.mark.parametrize(
    "damage, message",
    [
        ({"val_acc": "high"}, "val_acc is 'high', not a finite number"),
        ({"val_acc": float("nan")}, "val_acc is nan, not a finite number"),
        ({"test_acc": None}, "test_acc is None, not a finite number"),
        ({"fold": 2}, "holds fold 2, not fold 1"),
    ],
)
def test_a_damaged_fold_result_is_named_not_used(grid_runs, tmp_path, damage, message):
    run = tmp_path / "one"
    shutil.copytree(grid_runs / "one", run)
    path = run / "fold_1" / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **damage}))
    with pytest.raises(ResultsError, match=f"{path}: {message}"):
        select_across_runs([grid_runs / "two", run], tmp_path / "selected")
    assert not (tmp_path / "selected").exists()


def test_a_file_or_missing_folder_is_not_a_run_and_out_must_be_new(grid_runs, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultsError, match="file: not a run folder"):
        select_across_runs([grid_runs / "two", tmp_path / "file"], tmp_path / "selected")
    with pytest.raises(ResultsError, match="nope: not a run folder \\(does not exist\\)"):
        select_across_runs([grid_runs / "two", tmp_path / "nope"], tmp_path / "selected")
    before = snapshot(grid_runs)
    for out in (grid_runs / "one", grid_runs / "other-seed"):  # a candidate, another run
        with pytest.raises(ResultsError, match="is a cross-validation run folder"):
            select_across_runs([grid_runs / "two", grid_runs / "one"], out)
    assert snapshot(grid_runs) == before


def test_a_different_data_folder_is_not_a_grid_dimension(grid_runs, tmp_path):
    run = tmp_path / "moved"
    shutil.copytree(grid_runs / "two", run)
    meta = json.loads((run / "config.json").read_text())
    meta["config"]["data_dir"] = "/elsewhere/tu"
    (run / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ResultsError, match="nothing to choose between"):
        select_across_runs([grid_runs / "two", run], tmp_path / "selected")


def test_selection_summary_keeps_only_the_shared_settings(grid_runs, tmp_path):
    summary = select_across_runs([grid_runs / "two", grid_runs / "one"], tmp_path / "selected")
    with pytest.raises(ResultsError, match="a per-fold selection"):
        report(tmp_path / "selected")
    assert "levels" not in summary["config"] and "ratio" not in summary["config"]
    assert summary["config"]["dataset"] == "MUTAG" and summary["config"]["hidden"] == 16


def test_cli_takes_run_folders_after_the_options_too(grid_runs, tmp_path, capsys):
    out = tmp_path / "selected"
    code = main(["cv", "select", "--out", str(out), "--json", str(grid_runs / "two"), str(grid_runs / "one")])
    assert code == 0 and json.loads(capsys.readouterr().out)["completed_folds"] == FOLDS
    with pytest.raises(SystemExit):
        main(["cv", "select", "--out", str(out), str(grid_runs / "two"), "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_grid_points_are_typed_and_checked_like_the_options():
    from diffpool.models import ConfigError
    from diffpool.training.options import parse_settings

    assert parse_settings("levels=1,ratio=0.1") == {"levels": 1, "ratio": 0.1}
    assert parse_settings("per-graph-clusters=true, batch_size=8") == {
        "per_graph_clusters": True,
        "batch_size": 8,
    }
    assert parse_settings("normalize=off") == {"normalize": False}
    # "none" unsets an option whose default is unset, and only such an option
    assert parse_settings("per_graph_clusters=false,min_clusters=None") == {
        "per_graph_clusters": False,
        "min_clusters": None,
    }
    for text, message in (
        ("levels=none", "invalid int value: 'none'"),
        ("levels=x", "invalid int value: 'x'"),
        ("nosuch=1", "unknown option 'nosuch'"),
        ("preset=paper", "unknown option 'preset'"),
        ("levels", "expected NAME=VALUE"),
        ("variant=bogus", "invalid choice: 'bogus'"),
        ("normalize=maybe", "give true or false"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_settings(text)


def test_a_grid_point_can_unset_a_cluster_floor_the_base_run_sets(tu_root, tmp_path, monkeypatch):
    from diffpool.models import ConfigError
    from diffpool.training.config import RunConfig
    from diffpool.training.options import parse_settings
    from diffpool.training.selection import _grid_candidates

    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path / "cache"))
    base = RunConfig(dataset="MUTAG", data_dir=str(tu_root), per_graph_clusters=True, min_clusters=5)
    levels = parse_settings("levels=1")
    with pytest.raises(ConfigError, match=r"min_clusters \(5\) only applies with per-graph cluster counts"):
        _grid_candidates(base, [levels, parse_settings("per_graph_clusters=false")])
    (_, floored), (name, fixed) = _grid_candidates(
        base, [levels, parse_settings("per_graph_clusters=false,min_clusters=none")]
    )
    assert floored.min_clusters == 5 and floored.per_graph_clusters
    assert fixed.min_clusters is None and not fixed.per_graph_clusters
    assert name == "per_graph_clusters=False,min_clusters=None"


def grid_command(tu_root, tmp_path):
    out = tmp_path / "grid"
    return out, [
        "cv",
        "--dataset",
        "MUTAG",
        "--data-dir",
        str(tu_root),
        "--folds",
        "2",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--grid",
        "levels=1,ratio=0.1",
        "--grid",
        "levels=2",
        "--out",
        str(out),
        "--json",
    ]


def test_cv_grid_runs_each_point_then_selects_and_resumes(tu_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path / "cache"))
    out, argv = grid_command(tu_root, tmp_path)
    capsys.readouterr()
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    candidates = [out / "candidates" / "levels=1,ratio=0.1", out / "candidates" / "levels=2"]
    for run, levels in zip(candidates, (1, 2)):
        assert json.loads((run / "config.json").read_text())["config"]["levels"] == levels
    for fold in range(2):
        one, two = fold_result(candidates[0], fold), fold_result(candidates[1], fold)
        winner = two if two["val_acc"] > one["val_acc"] else one  # ties: the first point
        assert summary["chosen"][fold] == ("levels=2" if winner is two else "levels=1,ratio=0.1")
        assert summary["per_fold"][fold] == winner["test_acc"]
    assert json.loads((out / "grid.json").read_text())["points"] == ["levels=1,ratio=0.1", "levels=2"]
    stamp = (candidates[0] / "fold_0" / "result.json").stat().st_mtime_ns
    assert main(argv) == 0  # the same command again: read back, nothing retrained
    assert (candidates[0] / "fold_0" / "result.json").stat().st_mtime_ns == stamp
    # another grid in the same folder is refused, not chosen among a different set of candidates
    other = [a if a != "levels=2" else "levels=3" for a in argv]
    assert main(other) == 2 and "holds a grid of" in capsys.readouterr().err
    assert not (out / "candidates" / "levels=3").exists()
    # 'cv report' names what the folder is rather than a missing config.json
    assert main(["cv", "report", str(out)]) == 2 and "a grid's folder" in capsys.readouterr().err


def test_cv_grid_fold_by_fold_then_the_same_command_chooses(tu_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path / "cache"))
    out, argv = grid_command(tu_root, tmp_path)
    capsys.readouterr()
    assert main([*argv, "--fold", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["fold"] == 1 and set(printed["candidates"]) == {"levels=1,ratio=0.1", "levels=2"}
    assert not (out / "results.json").exists(), "nothing is chosen from a single fold job"
    assert not (out / "candidates" / "levels=2" / "fold_0").exists()
    stamp = (out / "candidates" / "levels=2" / "fold_1" / "result.json").stat().st_mtime_ns
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["completed_folds"] == 2 and summary["missing_folds"] == []
    assert (out / "candidates" / "levels=2" / "fold_1" / "result.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "grid, extra, message",
    [
        (["levels=1"], [], "at least two points"),
        (["levels=1", "seed=3"], [], "grid point seed=3: may not set seed"),
        (["levels=1", "dataset=ENZYMES"], [], "may not set dataset"),
        (["levels=1", "max_nodes=20"], [], "may not set max_nodes"),
        (["levels=1", "threads=2"], [], "may not set threads"),
        (["levels=1", "repeats=3"], [], "may not set repeats"),
        (["levels=1", "levels=1"], [], "give the same settings"),
        (["levels=2", "ratio=0.25"], [], "grid points levels=2 and ratio=0.25 give the same settings"),
        (["levels=1", "ratio=2"], [], "grid point ratio=2.0: invalid model configuration"),
        # Only this point's data can say it: MUTAG has no node attributes to normalise.
        (
            ["input_norm=false", "input_norm=true"],
            [],
            "grid point input_norm=True: --input-norm normalises continuous",
        ),
        (["features=auto", "features=attributes"], [], "grid point features=attributes: "),
        (["levels=1,levels=2", "levels=3"], [], "levels is given twice"),
        (["levels=1", "levels=2"], ["--protocol", "paper"], "the paper protocol has none"),
        (["levels=1", "levels=2"], ["--fold", "10"], "--fold must lie in 0..9"),
        (["levels=1", "levels=two"], [], "invalid int value: 'two'"),
        (
            ["variant=diffpool", "variant=graphsage,min_clusters=4"],
            [],
            "grid point variant=graphsage,min_clusters=4: --min-clusters only shapes a learned assignment",
        ),
    ],
)
def test_bad_grids_are_refused_before_training(tu_root, tmp_path, capsys, grid, extra, message):
    argv = ["cv", "--dataset", "MUTAG", "--data-dir", str(tu_root), "--out", str(tmp_path / "g"), *extra]
    for point in grid:
        argv += ["--grid", point]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "g").exists(), "a refused grid wrote or trained something"


def test_a_recorded_grid_point_resumes_though_a_later_check_refuses_it_in_a_new_grid(tu_root):
    from diffpool.training.selection import _grid_candidates

    config = RunConfig.for_dataset("MUTAG", data_dir=str(tu_root), epochs=1)
    points = [{"variant": "diffpool"}, {"variant": "graphsage", "min_clusters": 4}]
    with pytest.raises(ConfigError, match="--min-clusters only shapes a learned assignment"):
        _grid_candidates(config, points)
    names = [
        name for name, _ in _grid_candidates(config, points, recorded=["variant=graphsage,min_clusters=4"])
    ]
    assert names == ["variant=diffpool", "variant=graphsage,min_clusters=4"]


def test_grid_is_refused_with_select_and_report(grid_runs, tmp_path, capsys):
    argv = [
        "cv",
        "select",
        str(grid_runs / "two"),
        str(grid_runs / "one"),
        "--out",
        str(tmp_path / "s"),
        "--grid",
        "levels=1",
        "--grid",
        "levels=2",
    ]
    assert main(argv) == 2 and "only reads finished runs" in capsys.readouterr().err


def test_grid_out_may_not_be_a_plain_run(grid_runs, tu_root, capsys):
    argv = [
        "cv",
        "--dataset",
        "MUTAG",
        "--data-dir",
        str(tu_root),
        "--grid",
        "levels=1",
        "--grid",
        "levels=2",
        "--out",
        str(grid_runs / "two"),
    ]
    assert main(argv) == 2 and "holds a cross-validation run without a grid" in capsys.readouterr().err
    assert not (grid_runs / "two" / "candidates").exists()
