"""The Lightning loggers a run writes its per-epoch metrics to (``RunConfig.loggers``, ``--logger``).

The CSV log, ``logs/metrics.csv`` in each model's folder, is always written: it is the run folder's
own record of every epoch, continued across resumed runs and readable without any other package.
The experiment trackers come on top of it, each under the run folder (``RUN_DIR``, the folder given
to ``train`` or ``cv``), one tracker run per trained model, named by its place in the run folder
(``fold_3``, or ``fold_3/run_1`` with ``--repeats``):

``tensorboard``
    Event files in ``RUN_DIR/tensorboard/`` (``train``) or ``RUN_DIR/tensorboard/fold_K/`` (``cv``):
    ``tensorboard --logdir RUN_DIR/tensorboard``.
``wandb``
    Weights & Biases, files in ``RUN_DIR/wandb/``; project ``$WANDB_PROJECT`` (default ``diffpool``),
    runs grouped by run folder. Offline unless ``WANDB_MODE`` or ``WANDB_API_KEY`` is set in the
    environment: nothing is uploaded, and nothing waits for a login prompt, unless the user set W&B
    up for it; ``wandb sync RUN_DIR/wandb/offline-run-*`` uploads offline runs later.
``mlflow``
    The tracking server or store ``$MLFLOW_TRACKING_URI`` names, else a local SQLite store
    ``RUN_DIR/mlflow.db`` (artifacts in ``RUN_DIR/mlartifacts/``; MLflow refuses the older
    ``file:`` stores unless told otherwise): ``mlflow ui --backend-store-uri sqlite:///RUN_DIR/mlflow.db``.
    Experiment ``$MLFLOW_EXPERIMENT_NAME``, else the run folder's name.

A resumed model continues its CSV log and its TensorBoard folder; W&B and MLflow get a new run of the
same name.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..models import ConfigError
from .config import RunConfig

__all__ = ["check_loggers", "finish_loggers", "make_loggers", "tracker_locations"]

# The modules each tracker needs, any one of them (Lightning's TensorBoardLogger also writes with
# tensorboardX); the extra that installs them is named as the tracker.
_MODULES = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",)}


def _install(name: str) -> str:
    return f"pip install 'diffpool[{name}]'"


def check_loggers(loggers: Sequence[str]) -> None:
    """Raises ConfigError, before any training, for a tracker whose package does not import."""
    for name in loggers:
        if name == "csv":
            continue
        errors: list[ImportError] = []
        for module in _MODULES[name]:
            try:
                importlib.import_module(module)
                break
            except ImportError as error:
                errors.append(error)
        else:
            first = errors[0]
            missing = isinstance(first, ModuleNotFoundError) and first.name in (None, _MODULES[name][0])
            if missing:
                raise ConfigError(f"--logger {name} needs the {_MODULES[name][0]} package: {_install(name)}")
            # installed, but it fails to import (a dependency missing or broken)
            raise ConfigError(
                f"--logger {name}: the {_MODULES[name][0]} package does not import ({first}); "
                f"reinstall it: {_install(name)}"
            )


def _labels(run_dir: Path, fold_dir: Path) -> tuple[str, str]:
    """``(run folder name, model label)``: the label is the model's folder within the run folder
    (``fold_3``, ``fold_3/run_1``), empty for ``train``'s single model."""
    try:
        label = fold_dir.relative_to(run_dir).as_posix()
    except ValueError:  # a model folder outside the run folder: its own name
        label = fold_dir.name
    return Path(os.path.abspath(run_dir)).name, "" if label == "." else label


def _mlflow_store(run_dir: Path) -> tuple[str, str | None]:
    """``(tracking URI, artifact location)``: the user's ``$MLFLOW_TRACKING_URI`` (its own artifact
    location), else a SQLite store in the run folder."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri, None
    folder = Path(os.path.abspath(run_dir))
    # sqlite:/// and an absolute path (sqlite:////abs/mlflow.db on POSIX)
    return "sqlite:///" + (folder / "mlflow.db").as_posix(), (folder / "mlartifacts").as_uri()


def _wandb_configured() -> bool:
    """Whether the user set W&B up in the environment; else runs are kept offline."""
    return "WANDB_MODE" in os.environ or "WANDB_API_KEY" in os.environ


def make_loggers(config: RunConfig, run_dir: Path, fold_dir: Path) -> list[Any]:
    """The Lightning loggers of the model trained in ``fold_dir`` (``run_dir`` itself or a folder in
    it): the resumable CSV log, then each tracker of ``config.loggers``."""
    from .metrics_log import ResumableCSVLogger

    check_loggers(config.loggers)
    run_name, label = _labels(run_dir, fold_dir)
    title = f"{run_name}/{label}" if label else run_name
    loggers: list[Any] = [ResumableCSVLogger(fold_dir, name="logs", version="")]
    for name in config.loggers:
        try:
            if name == "tensorboard":
                from lightning.pytorch.loggers import TensorBoardLogger

                # no hp_metric: a placeholder scalar (-1) Lightning adds for TensorBoard's hparams tab
                loggers.append(
                    TensorBoardLogger(run_dir, name="tensorboard", version=label, default_hp_metric=False)
                )
            elif name == "wandb":
                from lightning.pytorch.loggers import WandbLogger

                mode: dict[str, Any] = {} if _wandb_configured() else {"mode": "offline"}
                loggers.append(
                    WandbLogger(
                        name=title,
                        save_dir=str(run_dir),
                        project=os.environ.get("WANDB_PROJECT") or "diffpool",
                        group=run_name,
                        **mode,
                    )
                )
            elif name == "mlflow":
                from lightning.pytorch.loggers import MLFlowLogger

                uri, artifacts = _mlflow_store(run_dir)
                loggers.append(
                    MLFlowLogger(
                        experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME") or run_name,
                        run_name=title,
                        tracking_uri=uri,
                        artifact_location=artifacts,
                        tags={"diffpool.run_dir": os.path.abspath(run_dir)},
                    )
                )
        except ModuleNotFoundError as error:  # Lightning's own check: a version it does not support
            raise ConfigError(f"--logger {name}: {error}; {_install(name)}") from None
    return loggers


def finish_loggers(loggers: Sequence[Any], *, failed: bool = False) -> None:
    """Ends the tracker runs Lightning leaves open: a W&B run lasts until ``wandb.finish``, and the
    next model's logger would otherwise log into it."""
    from lightning.pytorch.loggers import WandbLogger

    wandb = sys.modules.get("wandb")  # imported only if a WandbLogger started a run
    if wandb is None or getattr(wandb, "run", None) is None:
        return
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        wandb.finish(exit_code=1 if failed else 0)


def tracker_locations(config: RunConfig, run_dir: str | Path) -> dict[str, str]:
    """Where each tracker of ``config`` writes for a run in ``run_dir``, as the command prints it."""
    run_dir = Path(run_dir)
    where: dict[str, str] = {}
    for name in config.loggers:
        if name == "tensorboard":
            where[name] = str(run_dir / "tensorboard")
        elif name == "wandb":
            mode = "" if _wandb_configured() else " (offline: wandb sync uploads it)"
            where[name] = f"{run_dir / 'wandb'}{mode}"
        elif name == "mlflow":
            where[name] = _mlflow_store(run_dir)[0]
    return where
