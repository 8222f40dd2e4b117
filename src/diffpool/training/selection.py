"""Model selection inside each outer fold: a small grid of runs, chosen on inner validation.

Errica et al. (2020) choose hyperparameters separately in every outer fold, on that fold's inner
validation split, and evaluate only the chosen model on the test fold. Here each grid point is an
ordinary fair-protocol ``diffpool cv`` run; all of them must share the same saved splits (same
data set, seed and number of folds). For every fold, :func:`select_across_runs` takes the
candidate whose chosen epoch scored best on the fold's validation split, and reports that
candidate's test accuracy. Test accuracies play no part in the choice; ties go to the candidate
listed first. The chosen run's own models are reported: Errica et al. choose with one model per
setting and then train the chosen setting three times; with ``--repeats 3`` every candidate trains
three models per fold, and both the choice and the test score use their means. The wall time is
the sum over all candidates' folds, what the selection cost, including the time the candidates'
own rows report.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import make_folder
from ..data import DataError, load_splits, save_splits
from ..models import ConfigError
from .config import RunConfig, check_assignment_options
from .loggers import check_loggers
from .protocols import (
    FOLD_RESULT_KEYS,
    RUNTIME_OPTIONS,
    cross_validate,
    is_rank_zero,
    load_graphs,
    model_config_for,
    per_fold_models,
    saved_run_config,
)
from .results import ResultsError, atomic_write_json, read_json, versions

__all__ = ["select_across_runs", "cross_validate_grid"]

# Options that change where or how a run executes, not what it computes: never a grid dimension.
NOT_COMPARED = RUNTIME_OPTIONS | {"data_dir"}


def _candidate(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise ResultsError(f"{run_dir}: not a run folder" + ("" if run_dir.exists() else " (does not exist)"))
    meta = read_json(run_dir / "config.json", required=("config", "protocol", "folds"))
    if meta["protocol"] != "fair":
        raise ResultsError(
            f"{run_dir}: a {meta['protocol']}-protocol run has no inner validation split to "
            "choose on; selection needs fair-protocol runs"
        )
    config = saved_run_config(meta["config"], str(run_dir / "config.json"))
    try:
        splits = load_splits(run_dir / "splits.json")
    except DataError as err:
        raise ResultsError(str(err)) from None
    if not isinstance(meta["folds"], int) or len(splits) != meta["folds"]:
        raise ResultsError(
            f"{run_dir}: config.json names {meta['folds']!r} folds but splits.json holds {len(splits)}"
        )
    folds = {}
    for fold in range(meta["folds"]):
        path = run_dir / f"fold_{fold}" / "result.json"
        if path.exists():
            result = read_json(
                path, required=FOLD_RESULT_KEYS + ("val_acc", "epochs_run"), finite=("val_acc", "test_acc")
            )
            if result["fold"] != fold:
                raise ResultsError(f"{path}: holds fold {result['fold']!r}, not fold {fold}")
            folds[fold] = result
    return {
        "dir": run_dir,
        "name": run_dir.name,
        "config": config.to_dict(),
        "folds": meta["folds"],
        "splits": splits,
        "results": folds,
    }


def _grid(configs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The options in which the candidates differ, with each candidate's value."""
    keys = sorted({k for c in configs for k in c} - NOT_COMPARED)
    return {k: [c.get(k) for c in configs] for k in keys if len({repr(c.get(k)) for c in configs}) > 1}


def _check_selection_out(out: Path, dirs: list[Path], force: bool) -> None:
    """``out`` may hold an earlier selection of the same runs (written again, with the folds finished
    since); another selection there is replaced only with ``force``."""
    previous = out / "results.json"
    if force or not (previous.exists() or previous.is_symlink()):
        return
    try:
        old = read_json(previous)
        listed = [c.get("run_dir") for c in old.get("selection", {}).get("candidates", [])]
    except (ResultsError, AttributeError):
        listed = None
    if listed is None or [os.path.realpath(str(d)) for d in listed] != [os.path.realpath(d) for d in dirs]:
        what = f"the selection of {', '.join(map(str, listed))}" if listed else "another results.json"
        raise ResultsError(f"--out {out} holds {what}; give --force to replace it, or use a new folder")


def select_across_runs(
    run_dirs: Sequence[str | Path], out: str | Path, *, force: bool = False
) -> dict[str, Any]:
    """Per outer fold, the run with the best inner-validation accuracy; writes ``out/results.json``.
    An ``out`` holding the selection of other runs is replaced only with ``force``."""
    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise ResultsError(f"selection needs at least two runs to choose between, got {len(dirs)}")
    if len({d.resolve() for d in dirs}) < len(dirs):
        raise ResultsError("the same run folder is listed twice: " + ", ".join(map(str, dirs)))
    out = Path(out)
    if any(out.resolve() == d.resolve() for d in dirs) or (out / "config.json").exists():
        raise ResultsError(
            f"--out {out} is a cross-validation run folder; write the selection to a new folder"
        )
    candidates = [_candidate(d) for d in dirs]
    first = candidates[0]
    for other in candidates[1:]:
        if other["config"]["dataset"] != first["config"]["dataset"]:
            raise ResultsError(
                f"{other['dir']} is a run on {other['config']['dataset']}, "
                f"{first['dir']} on {first['config']['dataset']}: select among runs on one data set"
            )
        if other["splits"] != first["splits"]:
            raise ResultsError(
                f"{other['dir']}/splits.json differs from {first['dir']}/splits.json: the "
                "candidates must share their folds (same data set, --seed and --folds)"
            )
    grid = _grid([c["config"] for c in candidates])
    if "repeats" in grid:  # a mean of three models' validation scores is steadier than one model's
        raise ResultsError(
            "the runs train different numbers of models per fold (--repeats "
            + ", ".join(f"{c['config']['repeats']} in {c['dir']}" for c in candidates)
            + "): choose among runs made alike"
        )
    if not grid:
        raise ResultsError("the runs have the same settings: there is nothing to choose between")

    chosen, missing = [], []
    for fold in range(first["folds"]):
        results = [c["results"].get(fold) for c in candidates]
        if any(r is None for r in results):
            missing.append(fold)
            continue
        # max() keeps the first of equal scores: ties go to the candidate listed first.
        best = max(range(len(candidates)), key=lambda i: results[i]["val_acc"])
        chosen.append((fold, best, results[best]))
    if not chosen:
        raise ResultsError(
            "no fold is finished in every run yet (missing: " + ", ".join(map(str, missing)) + ")"
        )

    accs = [r["test_acc"] for _, _, r in chosen]
    variants = {c["config"]["variant"] for c in candidates}
    summary: dict[str, Any] = {
        "dataset": first["config"]["dataset"],
        "variant": variants.pop() if len(variants) == 1 else "selected",
        "protocol": "fair",
        "folds": first["folds"],
        "completed_folds": len(chosen),
        "mean": float(np.mean(accs)),
        "std": float(np.std(accs)),
        "per_fold": accs,
        "per_fold_val": [r["val_acc"] for _, _, r in chosen],
        "per_fold_models": per_fold_models([r for _, _, r in chosen]),
        "chosen": [candidates[i]["name"] for _, i, _ in chosen],
        "selection": {
            "grid": grid,
            "candidates": [
                {
                    "name": c["name"],
                    "run_dir": str(c["dir"]),
                    "config": c["config"],
                    "folds_chosen": sum(1 for _, i, _ in chosen if i == index),
                    "mean_on_these_folds": float(
                        np.mean([c["results"][f]["test_acc"] for f, _, _ in chosen])
                    ),
                }
                for index, c in enumerate(candidates)
            ],
        },
        "label": "fair protocol with model selection: in each outer fold, the candidate with the best "
        "inner-validation accuracy; each test fold evaluated once",
        "epochs_run": [r["epochs_run"] for _, _, r in chosen],
        "wall_time_s": round(
            sum(r.get("wall_time_s", 0.0) for c in candidates for r in c["results"].values()), 1
        ),
        # Only what all candidates share: the grid's options differ from fold to fold.
        "config": {k: v for k, v in first["config"].items() if k not in grid},
        "versions": versions(),
        "fold_commits": [r.get("commit") for _, _, r in chosen],
        "missing_folds": missing,
    }
    summary["markdown"] = (
        f"| {summary['dataset']} | {summary['variant']}, chosen per fold from {len(candidates)} runs | "
        f"fair | {len(chosen)} | "
        f"{100 * summary['mean']:.1f} ± {100 * summary['std']:.1f} | "
        f"{summary['wall_time_s'] / 60:.1f} min |"
    )
    _check_selection_out(out, dirs, force)
    make_folder(out)
    save_splits(first["splits"], out / "splits.json")
    atomic_write_json(out / "results.json", summary)
    return summary


# What a grid may not vary: the options that make the folds, which every candidate must share, and
# the runtime options (under DDP, the process count must be the same for every candidate).
NOT_IN_A_GRID = {"dataset", "seed", "max_nodes", "repeats"} | NOT_COMPARED


def _point_name(point: dict[str, Any]) -> str:
    text = ",".join(f"{k}={v}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", text)


def _grid_candidates(
    config: RunConfig, points: Sequence[dict[str, Any]], recorded: Sequence[str] = ()
) -> list[tuple[str, RunConfig]]:
    """Every point checked before any training: its options, its model, and that it differs from the
    others. Points ``recorded`` in the grid's folder already ran as they are and are not refused
    for options checked since (:func:`check_assignment_options`)."""
    if len(points) < 2:
        raise ConfigError(f"a grid needs at least two points to choose between, got {len(points)}")
    candidates: list[tuple[str, RunConfig]] = []
    seen: dict[str, str] = {}
    names: set[str] = set()
    for point in points:
        name = _point_name(point)
        fixed = sorted(k for k in point if k in NOT_IN_A_GRID)
        if fixed:
            raise ConfigError(
                f"grid point {name}: may not set {', '.join(fixed)}; every candidate runs on the "
                "same folds, in the same way"
                + (", with as many models per fold (--repeats)" if "repeats" in fixed else "")
            )
        try:
            # The options as given (asdict, not to_dict): a default cluster floor resolves per point.
            candidate = RunConfig.from_dict({**asdict(config), **point}, source=f"grid point {name}")
            if name not in recorded:
                check_assignment_options(candidate.variant, point)
            # the model for this point's data (ratio, levels, conv, --input-norm's attributes, ...)
            model_config_for(candidate, load_graphs(candidate))
        except (ConfigError, DataError) as err:
            raise ConfigError(f"grid point {name}: {err}") from None
        settings = repr(sorted((k, v) for k, v in candidate.to_dict().items() if k not in NOT_COMPARED))
        if settings in seen:
            raise ConfigError(f"grid points {seen[settings]} and {name} give the same settings")
        if name in names:  # distinct values that only differ in characters a folder name cannot hold
            raise ConfigError(f"two grid points share the folder name {name}; write their values differently")
        seen[settings] = name
        names.add(name)
        candidates.append((name, candidate))
    return candidates


def cross_validate_grid(
    config: RunConfig,
    points: Sequence[dict[str, Any]],
    out: str | Path,
    *,
    folds: int = 10,
    only_fold: int | None = None,
    progress: bool = True,
    on_fold: Callable[[str, dict[str, Any]], None] | None = None,
    on_data: Callable[[str, Any], None] | None = None,
) -> dict[str, Any]:
    """Fair cross-validation of ``config`` changed by each grid point, then a per-fold choice.

    Each point (e.g. ``{"levels": 1, "ratio": 0.1}``) runs as its own resumable fair-protocol run in
    ``out/candidates/NAME`` on the same splits; :func:`select_across_runs` then writes
    ``out/results.json``. ``out/grid.json`` records the points, so a later call with another grid
    is refused rather than choosing among a different set of candidates. With ``only_fold`` only
    that fold runs, in every candidate, and nothing is chosen (returns each candidate's fold
    result): the same call without it reads the finished folds back and chooses.
    """
    check_loggers(config.loggers)  # before grid.json claims the folder
    out = Path(out)
    saved = (
        read_json(out / "grid.json", required=("points", "folds")) if (out / "grid.json").exists() else None
    )
    candidates = _grid_candidates(config, points, recorded=saved["points"] if saved else ())
    if only_fold is not None and not 0 <= only_fold < folds:
        raise ConfigError(f"--fold must lie in 0..{folds - 1}, got {only_fold}")
    if (out / "config.json").exists():
        raise ConfigError(f"--out {out} holds a cross-validation run without a grid; use a new folder")
    grid = {"points": [name for name, _ in candidates], "folds": folds}
    if saved is not None:
        if saved != grid:
            raise ConfigError(
                f"{out} holds a grid of {saved['points']} over {saved['folds']} folds, not "
                f"{grid['points']} over {folds}; use a new --out folder or the same grid"
            )
    elif is_rank_zero():
        atomic_write_json(out / "grid.json", grid)
    dirs = [out / "candidates" / name for name, _ in candidates]
    fold_results = {}
    for (name, candidate), run_dir in zip(candidates, dirs):
        fold_results[name] = cross_validate(
            candidate,
            run_dir,
            folds=folds,
            protocol="fair",
            only_fold=only_fold,
            progress=progress,
            on_fold=None if on_fold is None else functools.partial(on_fold, name),
            on_data=None if on_data is None else functools.partial(on_data, name),
        )
    if only_fold is not None:
        return {
            "fold": only_fold,
            "candidates": {
                name: {k: v for k, v in result.items() if k != "history"}
                for name, result in fold_results.items()
            },
        }
    if not is_rank_zero():  # DDP worker processes: the first process writes the results
        return {}
    return select_across_runs(dirs, out)
