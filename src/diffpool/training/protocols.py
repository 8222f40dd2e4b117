"""Evaluation protocols: one split (``train``) and cross-validation (``fair`` and ``paper``).

``fair`` (Errica et al., 2020): stratified outer folds; inside each, an inner validation split
chooses the epoch (best validation accuracy, early stopping with patience); the outer test fold is
evaluated once, with that epoch's weights. Reported: mean ± std of the test accuracies. With
``repeats`` R > 1 each fold trains R models (seeds differ) and scores their mean, as Errica et al.
do with R = 3.

``paper`` (the authors' protocol): each fold trains for a fixed number of epochs on all of its
training data and evaluates the held-out fold after every epoch; reported is the maximum over
epochs of the mean over folds. Choosing the epoch on the test folds makes it optimistic, and
the output says so.

Every run folder holds ``splits.json``, ``config.json``, per-fold ``fold_K/`` (logs, checkpoints,
``result.json``; with repeats, each model's in ``fold_K/run_R/``) and ``results.json``.
Re-running the same command resumes: finished folds are read back, an unfinished fold continues
from its last checkpoint.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, ProgressBar

from ..atomic import remove_stale_temporaries
from ..data.features import attribute_columns
from ..models import ConfigError, ModelConfig, attach_det_clusters
from ..provenance import git_commit
from .checkpoints import AtomicCheckpointIO, previous_path, read_checkpoint
from .config import RunConfig
from .evaluation import community_nmi, evaluate_accuracy
from .loaders import FoldData, make_loader
from .locks import FoldLock
from .loggers import check_loggers, finish_loggers, make_loggers
from .module import GraphClassifier
from .predict import load_trained_model, model_from_checkpoint
from .progress import progress_callback, quiet_lightning
from .results import ResultsError, atomic_write_json, read_json, versions

__all__ = [
    "load_dataset",
    "load_graphs",
    "model_config_for",
    "train",
    "cross_validate",
    "report",
    "PROTOCOLS",
    "fit_fold",
    "fit_fold_repeats",
]

PROTOCOLS = ("fair", "paper")
log = logging.getLogger(__name__)
FOLD_RESULT_KEYS = ("fold", "protocol", "test_acc", "history")


# --------------------------------------------------------------------------- data


def _warn_waiting(lock: Any, fold: int, holder: Any) -> None:
    log.warning(
        "waiting for %s to finish fold %d (Ctrl-C stops waiting; if that run is gone, delete the lock)",
        lock.describe(holder),
        fold,
    )


def load_graphs(config: RunConfig):
    """The graphs a run configuration names (``synthetic`` or a TU set), with its features and filter."""
    from ..data import load_dataset as load_by_name

    return load_by_name(config.dataset, config.data_dir, features=config.features, max_nodes=config.max_nodes)


def load_dataset(config: RunConfig):
    """The data set a run configuration names, ready for its variant; raises ``ConfigError`` before any
    training if the model cannot be built for it (e.g. ``--input-norm`` on data without attributes)."""
    from ..data import GraphDataset

    dataset = load_graphs(config)
    model_config = model_config_for(config, dataset)
    if config.variant != "det":
        return dataset
    # DiffPool-DET's clusters are computed once per graph here, not in every epoch.
    return GraphDataset(
        attach_det_clusters(list(dataset), model_config),
        name=dataset.name,
        label_mapping=dataset.label_mapping,
        feature_spec=dataset.feature_spec,
        filtered=dataset.filtered,
        info=dataset.info,
    )


def model_config_for(config: RunConfig, dataset) -> ModelConfig:
    """The model ``config`` trains on ``dataset``: its feature width, classes, largest graph and
    attribute columns (for ``--input-norm``)."""
    return config.model_config(
        dataset.num_features,
        dataset.num_classes,
        max_graph_size(dataset),
        attribute_columns(getattr(dataset, "feature_spec", None)),
    )


def graph_labels(dataset) -> list[int]:
    return dataset.y.view(-1).tolist()


def max_graph_size(dataset) -> int:
    from ..data import node_counts

    return int(node_counts(dataset).max())


def _open_run(run_dir: Path, config: RunConfig, protocol: str, folds: int, split_folds: int):
    """``(dataset, splits)`` of the run in ``run_dir``: its saved splits, or for a new run folder
    ``split_folds`` stratified folds, made once. A new folder is claimed for ``config`` only when
    nothing is left that could refuse the command (settings, hardware options, data, splits), so a
    refused command leaves no ``config.json`` behind; ``config.json`` is written before the splits,
    so a ``splits.json`` left without one is never taken for a new run's."""
    from ..data import load_splits, save_splits, stratified_folds

    new_run = _check_same_config(run_dir, config, protocol, folds) is not None
    _check_hardware(config)
    dataset = load_dataset(config)
    if not new_run:
        _check_same_features(run_dir, dataset)
    path = run_dir / "splits.json"
    if not new_run and path.exists():
        splits = load_splits(path, num_graphs=len(dataset))
        if len(splits) != split_folds:
            raise ResultsError(
                f"{path}: holds {len(splits)} folds but {split_folds} were asked for; "
                "use another --out folder or the same --folds"
            )
        return dataset, splits
    names = dict(enumerate(dataset.class_names)) if hasattr(dataset, "class_names") else None
    splits = stratified_folds(graph_labels(dataset), k=split_folds, seed=config.seed, class_names=names)
    if is_rank_zero():
        # Checked again: another job (a fold of the same array) may have claimed the folder meanwhile.
        meta = _check_same_config(run_dir, config, protocol, folds)
        if meta is not None:
            # the features as built, so that a resume on other data files is refused (see below)
            meta["feature_spec"] = getattr(dataset, "feature_spec", None)
            atomic_write_json(run_dir / "config.json", meta)
        save_splits(splits, path)
    return dataset, splits


def _check_same_features(run_dir: Path, dataset) -> None:
    """A run resumes only on node features built as before: the same settings can build others when
    the data files changed (a node-labels file gone: degrees instead), and the checkpoints would
    then be continued, or their results mixed, on other inputs. Runs saved before the features
    were recorded are not checked."""
    from ..data import describe_features, feature_sources

    path = run_dir / "config.json"
    saved = read_json(path).get("feature_spec")
    built = getattr(dataset, "feature_spec", None)
    if saved is None or built is None or saved == built:
        return
    raise ResultsError(
        f"{path}: the run was trained on node features {describe_features(saved)}, but the "
        f"data now gives {feature_sources(dataset)}; restore the data files it was trained "
        "on, or use a new --out folder"
    )


def is_rank_zero() -> bool:
    """Only the first process writes run files; under DDP the others compute the same things."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


# --------------------------------------------------------------------------- one fold
def _read_result(path: Path, protocol: str) -> dict[str, Any]:
    """A fold's or model's ``result.json``.

    ResultsError if a key is missing or a score is not a finite number.
    """
    return read_json(
        path, required=FOLD_RESULT_KEYS, finite=("test_acc", "val_acc") if protocol == "fair" else ()
    )


def _finished(folder: Path, protocol: str) -> bool:
    """Whether ``folder/result.json`` holds a sound result (read back without a lock)."""
    try:
        _read_result(folder / "result.json", protocol)
    except ResultsError:
        return False
    return True


def _locking(config: RunConfig) -> bool:
    """Fold locks for single-process runs. Under DDP every process must train the same fold at the
    same time, and the ranks' different ids would each find the others' lock."""
    return config.devices * config.num_nodes == 1


def _read_back(folder: Path, protocol: str, what: str) -> dict[str, Any] | None:
    """``folder/result.json`` if a finished run wrote it, else ``None`` (it is then computed again):
    missing, or damaged (unreadable, a key missing, a score not a finite number), said in a warning.
    Also removes the temporary files a write killed midway left in ``folder``."""
    path = folder / "result.json"
    if path.exists():
        try:
            return _read_result(path, protocol)
        except ResultsError as err:
            log.warning("%s; recomputing %s", err, what)
    if is_rank_zero():
        for tmp in remove_stale_temporaries(folder):
            log.info("removed %s, left by an interrupted write", tmp)
    return None


def _check_hardware(config: RunConfig) -> None:
    if config.sync_batchnorm and (config.device == "cpu" or not torch.cuda.is_available()):
        raise ConfigError(
            "--sync-batchnorm needs GPUs (torch's SyncBatchNorm does not run on the CPU); "
            "on the CPU train with --no-batch-norm or without --sync-batchnorm"
        )


def _accelerator(config: RunConfig) -> str:
    """The Lightning accelerator for ``--device`` (the CPU, with a warning, for a device not here)."""
    _check_hardware(config)
    if config.device in ("cuda", "gpu") and not torch.cuda.is_available():
        warnings.warn(
            "--device cuda was asked for but no CUDA GPU is available here: running on the CPU", stacklevel=2
        )
        return "cpu"
    if config.device == "mps" and not torch.backends.mps.is_available():
        warnings.warn(
            "--device mps was asked for but Apple's MPS is not available here: running on the CPU",
            stacklevel=2,
        )
        return "cpu"
    return {"auto": "auto", "cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "mps": "mps"}[config.device]


def _trainer(
    config: RunConfig, fold_dir: Path, *, select_epoch: bool, progress: bool, run_dir: Path | None = None
) -> L.Trainer:
    """The Trainer of the model in ``fold_dir``; its trackers write under ``run_dir`` (the run folder
    ``fold_dir`` lies in; ``fold_dir`` itself if not given)."""
    accelerator = _accelerator(config)

    # best.ckpt when validation accuracy improves; then last.ckpt after every epoch, for resuming
    # (Lightning's save_last only writes when the monitored checkpoint does). The order matters:
    # last.ckpt stores the best-checkpoint callback's state, so that callback must have seen the
    # epoch first, or a run killed between the two writes would forget the epoch as a best
    # candidate. Lightning runs checkpoint callbacks last, in the order given.
    callbacks: list[Any] = []
    if select_epoch:
        callbacks.append(
            ModelCheckpoint(
                dirpath=fold_dir / "checkpoints",
                filename="best",
                monitor="val_acc",
                mode="max",
                save_top_k=1,
                enable_version_counter=False,
            )
        )
        if config.patience > 0:
            callbacks.append(EarlyStopping(monitor="val_acc", mode="max", patience=config.patience))
    callbacks.append(
        ModelCheckpoint(
            dirpath=fold_dir / "checkpoints",
            filename="last",
            monitor=None,
            save_top_k=1,
            enable_version_counter=False,
        )
    )
    # On standard error: a bar on a terminal, else plain lines (standard output is for results).
    bar = progress_callback(_progress_label(fold_dir)) if progress else None
    if bar is not None:
        callbacks.append(bar)
    return L.Trainer(
        max_epochs=config.epochs,
        accelerator=accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision=cast(Any, config.precision),
        sync_batchnorm=config.sync_batchnorm,
        gradient_clip_val=config.grad_clip or None,
        callbacks=callbacks,
        logger=make_loggers(config, fold_dir if run_dir is None else run_dir, fold_dir),
        enable_progress_bar=isinstance(bar, ProgressBar),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        deterministic=True,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,
    )  # FoldData shards the data itself, without duplicate graphs


def _progress_label(fold_dir: Path) -> str:
    """``fold 3, `` or ``fold 3 run_1, `` before a progress line of cross-validation; nothing for train."""
    parts = [p.name for p in (fold_dir.parent, fold_dir) if p.name.startswith(("fold_", "run_"))]
    return " ".join(parts).replace("fold_", "fold ") + ", " if parts else ""


def fit_fold(
    dataset,
    split: dict[str, list[int]],
    config: RunConfig,
    fold_dir: Path,
    *,
    fold: int,
    protocol: str = "fair",
    progress: bool = True,
    seed: int | None = None,
    run_dir: Path | None = None,
) -> dict[str, Any]:
    """Train and evaluate one model on one fold; returns (and writes) its ``result.json``. Resumes if
    interrupted; ``wall_time_s`` then includes the earlier sessions' fitting up to their last checkpoint.
    ``seed`` (initialisation and batch order) defaults to ``config.seed + fold``. ``run_dir``: the
    run folder ``fold_dir`` lies in, where the experiment trackers write (default ``fold_dir``)."""
    finished = _read_back(fold_dir, protocol, f"fold {fold}" if seed is None else f"fold {fold}'s model")
    if finished is not None:
        return finished
    started = time.time()
    torch.set_num_threads(config.threads)
    seed = config.seed + fold if seed is None else seed
    L.seed_everything(seed, workers=True, verbose=False)
    model_config = model_config_for(config, dataset)
    fair = protocol == "fair"
    module = GraphClassifier(
        model_config.to_dict(),
        config.to_dict(),
        feature_spec=getattr(dataset, "feature_spec", None),
        label_mapping=getattr(dataset, "label_mapping", None),
        eval_prefixes=("val",) if fair else ("heldout",),
    )
    train_idx = split["train"] if fair else split["train"] + split["val"]
    eval_idx = split["val"] if fair else split["test"]
    data = FoldData(
        dataset,
        train_idx,
        eval_idx,
        config.batch_size,
        seed=seed,
        num_workers=config.num_workers,
        batching=config.batching,
    )
    last = fold_dir / "checkpoints" / "last.ckpt"
    # Only .prev is left after a resume set a corrupted last.ckpt aside and was killed before its
    # next save: resume from it (the checkpoint IO falls back to it) rather than start afresh.
    resumable = last.exists() or previous_path(last).exists()
    # Lightning's banners and tips only when logging asks for details (diffpool -v, or the caller's
    # logging at INFO): the Python API is as quiet as the command.
    with quiet_lightning(verbose=log.isEnabledFor(logging.INFO)):
        trainer = _trainer(config, fold_dir, select_epoch=fair, progress=progress, run_dir=run_dir)
        fitted = False
        try:
            trainer.fit(
                module,
                datamodule=data,
                ckpt_path=last if resumable else None,
                weights_only=True if resumable else None,
            )
            fitted = True
        finally:
            finish_loggers(trainer.loggers, failed=not fitted)
    # Wall time: the fitting before a resume (from its checkpoint), then this process's own time.
    clock_from = started
    if not module.fitted_in_this_process:
        # ddp_spawn gives this process the trained weights only; the history, and the time of all
        # the fitting, are in the workers' last checkpoint.
        clock_from = time.time()
        module.on_load_checkpoint(read_checkpoint(last))

    history = module.history
    result: dict[str, Any] = {
        "fold": fold,
        "protocol": protocol,
        "epochs_run": len(history),
        "history": history,
        "train_size": len(train_idx),
        "eval_size": len(eval_idx),
    }
    if fair:
        best = fold_dir / "checkpoints" / "best.ckpt"
        test_loader = make_loader(
            dataset, split["test"], config.batch_size, shuffle=False, batching=config.batching
        )
        checkpoint = read_checkpoint(best)
        best_model, _ = model_from_checkpoint(checkpoint, best)
        result["test_acc"] = evaluate_accuracy(best_model, test_loader)
        best_epoch = int(checkpoint["epoch"])
        val_by_epoch = {h["epoch"]: h.get("val_acc") for h in history}
        result.update(
            best_epoch=best_epoch,
            val_acc=val_by_epoch.get(best_epoch),
            test_size=len(split["test"]),
            checkpoint=str(best),
        )
    else:
        result["test_acc"] = history[-1].get("heldout_acc") if history else None
        result["checkpoint"] = str(last)
    result["wall_time_s"] = round(module.elapsed_before_resume_s + time.time() - clock_from, 2)
    result["seed"] = seed
    # Runs resumed across versions: each fold records the source it ran (read when the process started).
    result["commit"] = git_commit()
    if is_rank_zero():
        atomic_write_json(fold_dir / "result.json", result)
    return result


# Seeds of a fold's repeated models: config.seed + fold + REPEAT_SEED_STRIDE · r, so no two models of
# a run (fold seeds are config.seed + 0 … folds − 1) share one.
REPEAT_SEED_STRIDE = 1000


def fit_fold_repeats(
    dataset,
    split: dict[str, list[int]],
    config: RunConfig,
    fold_dir: Path,
    *,
    fold: int,
    progress: bool = True,
    run_dir: Path | None = None,
) -> dict[str, Any]:
    """Fair protocol with ``config.repeats`` models per fold (Errica et al.'s final runs): each trains
    in ``fold_dir/run_R`` with its own seed on the fold's saved splits, chooses its epoch on the inner
    validation split and is tested once; the fold scores the mean of their validation and test
    accuracies (``runs`` lists each). ``history`` and ``best_epoch`` are the first model's. ``run_dir``:
    the run folder, where the experiment trackers write (default ``fold_dir``)."""
    finished = _read_back(fold_dir, "fair", f"fold {fold} from its models")
    if finished is not None:
        return finished
    runs = []
    for r in range(config.repeats):
        seed = _model_seed(config, fold, r)
        run = fit_fold(
            dataset,
            split,
            config,
            fold_dir / f"run_{r}",
            fold=fold,
            protocol="fair",
            progress=progress,
            seed=seed,
            run_dir=fold_dir if run_dir is None else run_dir,
        )
        runs.append(_check_model_seed(run, seed, fold_dir / f"run_{r}"))
    return _merge_models(fold, runs, fold_dir)


def _model_seed(config: RunConfig, fold: int, r: int) -> int:
    return config.seed + fold + REPEAT_SEED_STRIDE * r


def _check_model_seed(run: dict[str, Any], seed: int, model_dir: Path) -> dict[str, Any]:
    # A model whose result names another seed (results before seeds were recorded name none) was
    # trained for another scheme: averaging it in would mix runs.
    if run.get("seed", seed) != seed:
        raise ResultsError(
            f"{model_dir / 'result.json'}: trained with seed {run.get('seed')!r}, "
            f"not {seed}; delete {model_dir} to train it again"
        )
    return run


def _finished_models(fold_dir: Path, fold: int, config: RunConfig) -> list[dict[str, Any]] | None:
    """The fold's model results when every one is finished and sound; None while any is not (``cv``
    trains or recomputes it; a damaged one is named in a warning). A model trained with another seed
    is an error here as in ``cv``: its folder must be deleted."""
    runs = []
    for r in range(config.repeats):
        model_dir = fold_dir / f"run_{r}"
        if not (model_dir / "result.json").exists():
            return None
        try:
            run = _read_result(model_dir / "result.json", "fair")
        except ResultsError as err:
            log.warning("%s; fold %d stays missing until cv recomputes that model", err, fold)
            return None
        runs.append(_check_model_seed(run, _model_seed(config, fold, r), model_dir))
    return runs


def _merge_models(fold: int, runs: list[dict[str, Any]], fold_dir: Path) -> dict[str, Any]:
    """The fold's result from its models' (scores: their means); written to ``fold_dir/result.json``."""
    keep = ("test_acc", "val_acc", "best_epoch", "epochs_run", "seed", "wall_time_s", "checkpoint", "commit")
    result: dict[str, Any] = {
        "fold": fold,
        "protocol": "fair",
        "test_acc": float(np.mean([r["test_acc"] for r in runs])),
        "val_acc": float(np.mean([r["val_acc"] for r in runs])),
        "epochs_run": max(r["epochs_run"] for r in runs),
        "history": runs[0]["history"],
        "best_epoch": runs[0]["best_epoch"],
        "train_size": runs[0]["train_size"],
        "eval_size": runs[0]["eval_size"],
        "test_size": runs[0]["test_size"],
        "runs": [{k: r.get(k) for k in keep} for r in runs],
        "wall_time_s": round(sum(r["wall_time_s"] for r in runs), 2),
        # the source the models ran, not the merging process's (cv report may run from another checkout)
        "commit": ", ".join(sorted({str(r["commit"]) for r in runs if r.get("commit")})) or None,
    }
    if is_rank_zero():
        atomic_write_json(fold_dir / "result.json", result)
    return result


# --------------------------------------------------------------------------- protocols
def _summary(
    config: RunConfig, protocol: str, fold_results: list[dict[str, Any]], folds: int, wall_time: float
) -> dict[str, Any]:
    accs = [r["test_acc"] for r in fold_results]
    summary: dict[str, Any] = {
        "dataset": config.dataset,
        "variant": config.variant,
        "protocol": protocol,
        "folds": folds,
        "completed_folds": len(fold_results),
    }
    if protocol == "fair":
        summary.update(
            mean=float(np.mean(accs)),
            std=float(np.std(accs)),
            per_fold=accs,
            per_fold_val=[r.get("val_acc") for r in fold_results],
            per_fold_models=per_fold_models(fold_results),
            label="fair protocol: stratified outer folds, epoch chosen on an inner validation split, "
            "each test fold evaluated once"
            + (
                f" by each of {config.repeats} models (seeds differ), scored by their mean"
                if config.repeats > 1
                else ""
            ),
        )
    else:
        curves = [[h.get("heldout_acc", math.nan) for h in r["history"]] for r in fold_results]
        length = min(len(c) for c in curves)
        mean_curve = np.nanmean(np.array([c[:length] for c in curves]), axis=0)
        best_epoch = int(np.nanargmax(mean_curve))
        per_fold = [c[best_epoch] for c in curves]
        summary.update(
            mean=float(mean_curve[best_epoch]),
            std=float(np.std(per_fold)),
            per_fold=per_fold,
            best_epoch=best_epoch,
            mean_curve=[float(v) for v in mean_curve],
            label="paper protocol (optimistic): maximum over epochs of the mean held-out accuracy, "
            "the epoch chosen on the test folds",
        )
    summary.update(
        epochs_run=[r["epochs_run"] for r in fold_results],
        wall_time_s=round(wall_time, 1),
        config=config.to_dict(),
        versions=versions(),
        fold_commits=[r.get("commit") for r in fold_results],
    )
    summary["markdown"] = markdown_row(summary)
    return summary


def per_fold_models(fold_results: list[dict[str, Any]]) -> list[list[float]]:
    """Each fold's models' test accuracies (``--repeats``; one model otherwise).

    Their means are ``per_fold``.
    """
    return [[m["test_acc"] for m in r.get("runs", [r])] for r in fold_results]


def markdown_row(summary: dict[str, Any]) -> str:
    repeats = summary.get("config", {}).get("repeats", 1)
    tag = (
        " (optimistic)"
        if summary["protocol"] == "paper"
        else f" ({repeats} models a fold)"
        if repeats > 1
        else ""
    )
    return (
        f"| {summary['dataset']} | {summary['variant']} | {summary['protocol']}{tag} "
        f"| {summary['completed_folds']} | "
        f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f} | {summary['wall_time_s'] / 60:.1f} min |"
    )


def cross_validate(
    config: RunConfig,
    run_dir: str | Path,
    *,
    folds: int = 10,
    protocol: str = "fair",
    only_fold: int | None = None,
    progress: bool = True,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
    on_data: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """k-fold cross-validation; resumes from ``run_dir``. With ``only_fold`` runs just that fold.
    ``on_data(dataset)`` is called once the data is loaded and accepted (the command prints its features)."""
    git_commit()  # the source this process runs, read before any fold finishes (see git_commit)
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if folds < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, got {folds}")
    if config.repeats > 1 and folds >= REPEAT_SEED_STRIDE:
        raise ConfigError(
            f"--repeats gives fold f's models the seeds seed + f + {REPEAT_SEED_STRIDE}·r, "
            f"distinct only below {REPEAT_SEED_STRIDE} folds, got --folds {folds}"
        )
    if config.repeats > 1 and protocol != "fair":
        raise ConfigError(
            f"--repeats {config.repeats} applies to the fair protocol (models per fold, each "
            "choosing its epoch on inner validation); the paper protocol trains one per fold"
        )
    if only_fold is not None and not 0 <= only_fold < folds:
        raise ConfigError(f"--fold must lie in 0..{folds - 1}, got {only_fold}")
    check_loggers(config.loggers)
    largest_seed = config.seed + folds - 1 + REPEAT_SEED_STRIDE * (config.repeats - 1)
    if largest_seed >= 2**32:
        raise ConfigError(
            f"--seed {config.seed}: fold and model seeds (seed + fold + {REPEAT_SEED_STRIDE}·model) "
            f"reach {largest_seed}, beyond 2**32 - 1"
        )
    run_dir = Path(run_dir)
    dataset, splits = _open_run(run_dir, config, protocol, folds, split_folds=folds)
    if on_data is not None:
        on_data(dataset)
    wanted = range(folds) if only_fold is None else [only_fold]

    def fit(fold: int) -> dict[str, Any]:
        if config.repeats > 1:
            return fit_fold_repeats(
                dataset,
                splits[fold],
                config,
                run_dir / f"fold_{fold}",
                fold=fold,
                progress=progress,
                run_dir=run_dir,
            )
        return fit_fold(
            dataset,
            splits[fold],
            config,
            run_dir / f"fold_{fold}",
            fold=fold,
            protocol=protocol,
            progress=progress,
            run_dir=run_dir,
        )

    # A fold another process is training (the same command twice, into one folder) waits until
    # the other folds are done, then for that process: its result is read back, not trained again.
    taken: list[tuple[int, FoldLock]] = []
    for fold in wanted:
        fold_dir = run_dir / f"fold_{fold}"
        if not _locking(config) or _finished(fold_dir, protocol):
            result = fit(fold)
        else:
            lock = FoldLock(fold_dir, f"fold {fold}")
            holder = lock.try_acquire()
            if holder is not None:
                if fold != wanted[-1]:  # else the wait below says so
                    log.warning(
                        "fold %d is being trained by %s; the other folds first", fold, lock.describe(holder)
                    )
                taken.append((fold, lock))
                continue
            with lock:
                result = fit(fold)
        if on_fold is not None:
            on_fold(result)
    for fold, lock in taken:
        with lock.acquire(on_wait=functools.partial(_warn_waiting, lock, fold)):
            result = fit(fold)
        if on_fold is not None:
            on_fold(result)
    if only_fold is not None:
        return read_json(run_dir / f"fold_{only_fold}" / "result.json", required=FOLD_RESULT_KEYS)
    return report(run_dir)


# Options that decide how a run executes or where it logs, not what it computes: a run may
# resume with others.
RUNTIME_OPTIONS = frozenset(
    {"device", "devices", "num_nodes", "strategy", "num_workers", "precision", "threads", "loggers"}
)

# Options added after runs were first saved, with the behaviour those runs had.
OPTIONS_ADDED_LATER = {
    "batching": "random",
    "min_clusters": 1,
    "input_norm": False,
    "repeats": 1,
    "lr_schedule": "constant",
    "pool": "diffpool",
}


def saved_run_config(saved: dict[str, Any], source: str) -> RunConfig:
    """The configuration a run folder's ``config.json`` holds, options it predates at their old behaviour.
    Runtime options (how it ran, not what it computed) are left at their defaults: a run saved with
    one this version refuses (an old Lightning's strategy name) still reads back."""
    kept = {k: v for k, v in saved.items() if k not in RUNTIME_OPTIONS}
    return RunConfig.from_dict({**OPTIONS_ADDED_LATER, **kept}, source=source)


def report(run_dir: str | Path) -> dict[str, Any]:
    """Merge the finished folds of ``run_dir`` into ``results.json``; says which folds are missing.
    A repeated fold whose models all finished is merged here if its process stopped before doing so.

    The wall time is the sum of the folds' own times, so a run resumed over several sessions (or
    folds run as separate jobs) reports the time its folds took, not the last invocation's.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        if (run_dir / "grid.json").exists() or (run_dir / "candidates").is_dir():
            raise ResultsError(
                f"{run_dir}: a grid's folder, not one cross-validation run: the same 'cv --grid' "
                "command merges and chooses; 'cv report' takes one of its candidates/ folders"
            )
        if (run_dir / "results.json").exists():
            raise ResultsError(
                f"{run_dir}: a per-fold selection ('cv select'), not a cross-validation run; its "
                "results.json is already merged"
            )
    meta = read_json(run_dir / "config.json", required=("config", "protocol", "folds"))
    if meta["protocol"] == "train":
        raise ResultsError(
            f"{run_dir}: a 'diffpool train' run (one split), not a cross-validation; its result "
            "is in result.json"
        )
    config = saved_run_config(meta["config"], str(run_dir / "config.json"))
    fold_results, missing = [], []
    for fold in range(meta["folds"]):
        path = run_dir / f"fold_{fold}" / "result.json"
        if path.exists():
            fold_results.append(read_json(path, required=FOLD_RESULT_KEYS))
            continue
        # every model finished, but the process stopped before the fold's merge
        models = _finished_models(path.parent, fold, config) if config.repeats > 1 else None
        if models is not None:
            fold_results.append(_merge_models(fold, models, path.parent))
        else:
            missing.append(fold)
    if not fold_results:
        raise ResultsError(f"{run_dir}: no finished folds yet (missing: {missing})")
    total_wall = sum(r.get("wall_time_s", 0.0) for r in fold_results)
    summary = _summary(config, meta["protocol"], fold_results, meta["folds"], total_wall)
    summary["missing_folds"] = missing
    if is_rank_zero():
        _write_report(run_dir / "results.json", summary)
    return summary


_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)


def _write_report(path: Path, summary: dict[str, Any]) -> None:
    """``results.json``, unless it already says the same (nothing to write: a finished run in a
    read-only folder reports without writing); a folder that cannot be written is said in a
    warning, and the report is still returned (printed by ``cv report``)."""
    try:
        # A kill while results.json was written left its temporary; fold jobs of an array only
        # write inside their own fold_K/, so the run folder's results.json is this process's.
        remove_stale_temporaries(path.parent, of=path.name)
        try:
            if path.is_file() and read_json(path) == json.loads(json.dumps(summary)):
                return
        except ResultsError:  # damaged: written again below
            pass
        atomic_write_json(path, summary)
    except OSError as error:
        if error.errno not in _READ_ONLY:
            raise
        log.warning("%s: not written (%s); the report is not saved", path, error.strerror or error)


def _real(folder: str | None) -> str | None:
    return None if folder is None else os.path.realpath(os.path.expanduser(folder))


def _saved_folder(saved: dict[str, Any]) -> str | None:
    """The data folder a saved run read: recorded (``data_path``); older runs only recorded what was
    typed, which a relative path resolves from the current directory."""
    return saved.get("data_path", _real(saved["config"].get("data_dir")))


def _same_folder(saved: dict[str, Any], data_dir: str | None) -> bool:
    """Whether ``data_dir`` names the saved run's data folder.

    However written: relative or absolute, or through a link.
    """
    typed = saved["config"].get("data_dir")
    if data_dir is None or typed is None:
        return data_dir == typed
    return _saved_folder(saved) == _real(data_dir)


def _check_same_config(run_dir: Path, config: RunConfig, protocol: str, folds: int) -> dict[str, Any] | None:
    """A run folder belongs to one configuration: resuming with other settings would mix results.

    Returns the ``config.json`` content a new run folder still needs (None if it has one), which
    :func:`_open_run` writes once the data and its splits are accepted."""
    path = run_dir / "config.json"
    meta: dict[str, Any] = {
        "config": config.to_dict(),
        "protocol": protocol,
        "folds": folds,
        "data_path": _real(config.data_dir),
    }
    if path.exists():
        saved = read_json(path, required=("config", "protocol"))
        # Runs saved before an option existed behaved as its value here; read back through RunConfig,
        # a saved run says what it computed as a new one does (e.g. no per-graph counts for GraphSAGE).
        try:
            old = saved_run_config(saved["config"], str(path)).to_dict()
        except ConfigError:  # settings this version rejects: compared as saved, and named below
            old = {**OPTIONS_ADDED_LATER, **saved["config"]}
        old = {k: v for k, v in old.items() if k not in RUNTIME_OPTIONS}
        new = {k: v for k, v in meta["config"].items() if k not in RUNTIME_OPTIONS}
        changed = sorted(k for k in set(old) | set(new) if k != "data_dir" and old.get(k) != new.get(k))
        changed += ["data_dir"] if not _same_folder(saved, config.data_dir) else []
        changed += [k for k in ("protocol", "folds") if saved.get(k) != meta[k]]
        if changed:

            def shown(k: str, settings: dict[str, Any], folder: str | None) -> str:
                # a data folder also as resolved: the same words may name two folders
                return f"{settings.get(k)!r}" + (f" ({folder})" if k == "data_dir" and folder else "")

            what = ", ".join(
                f"{k}: {shown(k, saved if k in meta else old, _saved_folder(saved))} → "
                f"{shown(k, meta if k in meta else new, meta['data_path'])}"
                for k in changed
            )
            raise ResultsError(
                f"{run_dir} holds a run with other settings ({what}); "
                "use a new --out folder or the same settings to resume"
            )
        return None
    return meta


def train(
    config: RunConfig,
    run_dir: str | Path,
    *,
    progress: bool = True,
    on_data: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """One stratified split (80% train, 10% validation, 10% test): train, select the epoch, test once.
    ``on_data(dataset)`` is called once the data is loaded and accepted (the command prints its features)."""
    git_commit()  # the source this process runs, read before training (see git_commit)
    if config.repeats > 1:
        raise ConfigError(
            f"--repeats {config.repeats} is for cross-validation (diffpool cv), where it trains "
            "that many models per fold; diffpool train trains one"
        )
    check_loggers(config.loggers)
    run_dir = Path(run_dir)
    # The folder's settings are checked: without it a re-run with other settings returned the old
    # result, or resumed its checkpoint under the new settings (an lr schedule, the epochs), silently.
    dataset, splits = _open_run(run_dir, config, "train", 1, split_folds=10)
    if on_data is not None:
        on_data(dataset)
    if _locking(config) and not _finished(run_dir, "fair"):
        # the same command twice into one folder: the second waits, then reads the result back
        lock = FoldLock(run_dir, "the run")
        with lock.acquire(
            on_wait=lambda holder: log.warning(
                "waiting for %s, which is training this run (Ctrl-C stops waiting; if that run is gone, "
                "delete the lock)",
                lock.describe(holder),
            )
        ):
            result = fit_fold(dataset, splits[0], config, run_dir, fold=0, protocol="fair", progress=progress)
    else:
        result = fit_fold(dataset, splits[0], config, run_dir, fold=0, protocol="fair", progress=progress)
    if (
        "community_nmi" not in result
        and config.variant in ("diffpool", "nolp")
        and hasattr(dataset[0], "community")
    ):
        model, _ = load_trained_model(result["checkpoint"])
        result["community_nmi"] = community_nmi(
            model, make_loader(dataset, splits[0]["test"], 64, shuffle=False)
        )
        if is_rank_zero():
            atomic_write_json(run_dir / "result.json", result)
    return result
