"""--logger: the CSV log always, and Lightning's experiment trackers on request, under the run folder."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from diffpool.cli import main
from diffpool.models import ConfigError
from diffpool.training.config import LOGGERS, RunConfig, load_config_file
from diffpool.training.loggers import check_loggers, make_loggers

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# The synthetic set with a small model: a couple of seconds an epoch on a CPU.
TINY = ["--hidden", "8", "--mlp-hidden", "8"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFPOOL_DATA", str(tmp_path_factory.getbasetemp() / "diffpool-cache"))


def _scalars(folder) -> dict[str, list[float]]:
    """Every scalar series of the TensorBoard run in ``folder``, by tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def _csv_rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------- configuration
def test_csv_is_always_first_and_names_are_checked():
    assert RunConfig().loggers == ("csv",)
    assert RunConfig(loggers=["tensorboard"]).loggers == ("csv", "tensorboard")
    assert RunConfig(loggers=("mlflow", "csv", "mlflow")).loggers == ("csv", "mlflow")
    assert RunConfig(loggers="wandb").loggers == ("csv", "wandb")  # a config file's single name
    assert RunConfig(loggers=["tensorboard"]).to_dict()["loggers"] == ["csv", "tensorboard"]
    with pytest.raises(ConfigError, match="loggers must be among csv, tensorboard, wandb, mlflow, got 'tb'"):
        RunConfig(loggers=["tb"])
    with pytest.raises(ConfigError, match="loggers must be a list of names"):
        RunConfig(loggers=[1])


def test_a_config_file_may_name_the_loggers(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("loggers: [csv, tensorboard]\n")
    assert RunConfig.from_dict(load_config_file(path)).loggers == ("csv", "tensorboard")


def test_loggers_are_no_grid_dimension():
    from diffpool.training.selection import _grid_candidates

    points = [{"loggers": ["tensorboard"]}, {"levels": 2}]
    with pytest.raises(ConfigError, match="may not set loggers"):
        _grid_candidates(RunConfig(), points)


def test_unknown_logger_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--logger", "tb"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'tb'" in err
    assert all(f"'{name}'" in err for name in LOGGERS)


# --------------------------------------------------------------------------- missing packages
@pytest.mark.parametrize(
    "name, modules",
    [("mlflow", ["mlflow"]), ("wandb", ["wandb"]), ("tensorboard", ["tensorboard", "tensorboardX"])],
)
@pytest.mark.parametrize("command", ["train", "cv"])
def test_a_missing_package_is_one_line_naming_the_extra(
    monkeypatch, capsys, tmp_path, name, modules, command
):
    for module in modules:  # None in sys.modules: its import fails as if it were not installed
        monkeypatch.setitem(sys.modules, module, None)
    out = tmp_path / "run"
    assert main([command, "--logger", name, "--epochs", "1", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"diffpool {command}: error: --logger {name} needs the {modules[0]} package: "
        f"pip install 'diffpool[{name}]'\n"
    )
    assert "Traceback" not in captured.err and captured.out == ""
    assert not out.exists()  # refused before the run folder is made


def test_a_package_that_does_not_import_is_said_so(monkeypatch):
    def broken(module):
        raise ModuleNotFoundError("No module named 'sqlalchemy'", name="sqlalchemy")

    monkeypatch.setattr("diffpool.training.loggers.importlib.import_module", broken)
    with pytest.raises(
        ConfigError, match=r"the mlflow package does not import \(No module named 'sqlalchemy'\)"
    ):
        check_loggers(("csv", "mlflow"))
    check_loggers(("csv",))  # the CSV log needs nothing more


def test_api_calls_are_refused_before_training_too(monkeypatch, tmp_path):
    from diffpool.training import cross_validate, train

    monkeypatch.setitem(sys.modules, "mlflow", None)
    config = RunConfig(epochs=1, loggers=["mlflow"])
    for run in (
        lambda: train(config, tmp_path / "t"),
        lambda: cross_validate(config, tmp_path / "c", folds=2),
    ):
        with pytest.raises(ConfigError, match=r"pip install 'diffpool\[mlflow\]'"):
            run()
    assert not (tmp_path / "t").exists() and not (tmp_path / "c").exists()


# --------------------------------------------------------------------------- where trackers write
def test_trackers_are_named_by_the_models_folder(tmp_path):
    pytest.importorskip("tensorboard")
    run_dir = tmp_path / "cv-run"
    loggers = make_loggers(RunConfig(loggers=["tensorboard"]), run_dir, run_dir / "fold_3" / "run_1")
    assert [type(logger).__name__ for logger in loggers] == ["ResumableCSVLogger", "TensorBoardLogger"]
    assert Path(loggers[0].log_dir) == run_dir / "fold_3" / "run_1" / "logs"
    assert Path(loggers[1].log_dir) == run_dir / "tensorboard" / "fold_3" / "run_1"


def test_mlflow_stores_in_the_run_folder_unless_told_otherwise(tmp_path, monkeypatch):
    from diffpool.training.loggers import _mlflow_store

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri, artifacts = _mlflow_store(tmp_path / "run")
    assert uri == f"sqlite:///{(tmp_path / 'run' / 'mlflow.db').as_posix()}"
    assert artifacts == (tmp_path / "run" / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert _mlflow_store(tmp_path / "run") == ("http://tracking.example:5000", None)


# --------------------------------------------------------------------------- end to end
def test_train_with_tensorboard_logs_the_csv_metrics_per_epoch(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    argv = ["train", "--epochs", "2", "--out", str(out), *TINY, "--no-picture", "--json"]
    assert main([*argv, "--logger", "tensorboard"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trackers"] == {"tensorboard": str(out / "tensorboard")}
    rows = _csv_rows(out / "logs" / "metrics.csv")  # the CSV log is written as well
    assert [row["epoch"] for row in rows] == ["0", "1"]
    scalars = _scalars(out / "tensorboard")
    # every column of the CSV log (but Lightning's step, TensorBoard's x axis) is a TensorBoard
    # scalar of one value per epoch, the same values
    columns = set(rows[0]) - {"step"}
    assert {"train_loss", "train_ce", "train_link", "train_entropy", "train_acc", "val_acc"} <= columns
    assert set(scalars) == columns
    for name in columns:
        assert scalars[name] == pytest.approx([float(row[name]) for row in rows]), name
    assert json.loads((out / "config.json").read_text())["config"]["loggers"] == ["csv", "tensorboard"]
    # loggers do not change results: the same run without the tracker reads back, not refused
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["test_acc"] == summary["test_acc"]


def test_cv_with_tensorboard_writes_one_run_per_fold(tmp_path, capsys):
    pytest.importorskip("tensorboard")
    out = tmp_path / "cv"
    argv = ["cv", "--folds", "2", "--epochs", "1", "--out", str(out), "--logger", "tensorboard"]
    assert main([*argv, *TINY]) == 0
    assert f"tensorboard: {out / 'tensorboard'}" in capsys.readouterr().out
    runs = sorted(p.name for p in (out / "tensorboard").iterdir() if p.is_dir())
    assert runs == ["fold_0", "fold_1"]
    for fold in runs:
        scalars = _scalars(out / "tensorboard" / fold)
        rows = _csv_rows(out / fold / "logs" / "metrics.csv")
        assert scalars["val_acc"] == pytest.approx([float(rows[0]["val_acc"])])
        assert len(scalars["train_loss"]) == 1


# Not in the test extra: these run where the package is installed.
def test_train_with_mlflow_records_a_run_in_the_run_folder(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "run"
    argv = [
        "train",
        "--epochs",
        "2",
        "--out",
        str(out),
        *TINY,
        "--no-picture",
        "--json",
        "--logger",
        "mlflow",
    ]
    assert main(argv) == 0
    store = f"sqlite:///{(out / 'mlflow.db').as_posix()}"
    assert json.loads(capsys.readouterr().out)["trackers"] == {"mlflow": store}
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("run")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val_acc")
    rows = _csv_rows(out / "logs" / "metrics.csv")
    assert [m.value for m in history] == pytest.approx([float(row["val_acc"]) for row in rows])


def test_cv_with_wandb_keeps_one_offline_run_per_fold(tmp_path, capsys, monkeypatch):
    pytest.importorskip("wandb")
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "cv"
    argv = ["cv", "--folds", "2", "--epochs", "1", "--out", str(out), *TINY, "--logger", "wandb"]
    assert main(argv) == 0
    assert len(list((out / "wandb").glob("offline-run-*"))) == 2
