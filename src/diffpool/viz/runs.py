"""Learning curves of a finished (or partly finished) run folder.

:func:`run_curves` reads a run folder, either one written by ``train`` (``result.json``) or by
``cross_validate`` (``fold_K/result.json`` and, once finished, ``results.json``), into plain arrays:
the data behind the figure. :func:`draw_run` draws four panels:

1. total loss per epoch, training and validation (held-out for the paper protocol);
2. accuracy per epoch, training and validation;
3. the training loss split into its terms: cross-entropy and the pooling's (DiffPool: link prediction
   and entropy; MinCutPool: cut and orthogonality; DMoN: spectral, orthogonality and cluster size);
4. a summary: the selected epoch and test accuracy of every fold.

With several folds every fold is a thin line and their mean a thick one. The selected epoch is
marked: the epoch of the best validation accuracy of each fold (fair protocol, ``train``), or the
epoch that maximises the mean held-out accuracy (paper protocol).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_curves", "draw_run", "write_run_png", "RunError", "RUN_FIGURE_SIZE", "RUN_FIGURE_DPI"]

RUN_FIGURE_SIZE = (14.0, 9.0)
RUN_FIGURE_DPI = 100  # 1400 × 900 pixels

# The terms of the training loss and how the figure labels them; a run logs those of its pooling.
TRAIN_TERMS = (
    ("train_ce", "tab:green", "cross-entropy"),
    ("train_link", "tab:purple", "link prediction ‖A − SSᵀ‖"),
    ("train_entropy", "tab:brown", "assignment entropy"),
    ("train_cut", "tab:red", "cut −tr(SᵀAS)/tr(SᵀDS)"),
    ("train_ortho", "tab:olive", "orthogonality"),
    ("train_spectral", "tab:cyan", "spectral (−modularity)"),
    ("train_cluster", "tab:pink", "cluster size (collapse)"),
)
TRAIN_KEYS = ("train_loss", *(key for key, _, _ in TRAIN_TERMS), "train_acc")


class RunError(ValueError):
    """The folder is not a run folder, or its files cannot be read."""


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RunError(f"{path}: cannot read ({err})") from None
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object")
    return value


def _series(history: list[dict[str, Any]], key: str) -> np.ndarray:
    """Values of ``key`` indexed by epoch (NaN where an epoch lacks it)."""
    if not history:
        return np.zeros(0)
    length = max(int(h.get("epoch", i)) for i, h in enumerate(history)) + 1
    out = np.full(length, np.nan)
    for i, h in enumerate(history):
        value = h.get(key)
        if value is not None:
            out[int(h.get("epoch", i))] = float(value)
    return out


def run_curves(run_dir: str | Path) -> dict[str, Any]:
    """The data behind the run figure.

    Returns ``{"kind": "train"|"cv", "protocol", "eval": "val"|"heldout", "folds": [{"fold",
    "curves": {key: array}, "best_epoch", "test_acc"}], "mean": {key: array}, "selected_epoch",
    "summary": results.json or None, "run_dir"}``; ``selected_epoch`` is the epoch of the marked
    line (the train run's or the paper protocol's), ``None`` when each fold has its own.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such folder")
    fold_dirs = sorted(
        (p for p in run_dir.iterdir() if p.is_dir() and re.fullmatch(r"fold_\d+", p.name)),
        key=lambda p: int(p.name.split("_")[1]),
    )
    summary = _read(run_dir / "results.json") if (run_dir / "results.json").is_file() else None
    if fold_dirs:
        kind = "cv"
        results = [
            (int(p.name.split("_")[1]), _read(p / "result.json"))
            for p in fold_dirs
            if (p / "result.json").is_file()
        ]
        if not results:
            raise RunError(f"{run_dir}: no fold has finished yet (no fold_K/result.json)")
    elif (run_dir / "result.json").is_file():
        kind = "train"
        results = [(0, _read(run_dir / "result.json"))]
    else:
        raise RunError(
            f"{run_dir}: not a run folder: expected result.json (diffpool train) or "
            "fold_K/result.json (diffpool cv)"
        )
    protocol = (summary or {}).get("protocol") or results[0][1].get("protocol", "fair")
    eval_prefix = "heldout" if protocol == "paper" else "val"
    keys = TRAIN_KEYS + (f"{eval_prefix}_loss", f"{eval_prefix}_acc")
    folds: list[dict[str, Any]] = []
    for fold, result in results:
        history = result.get("history")
        if not isinstance(history, list):
            raise RunError(f"{run_dir}: fold {fold}'s result has no per-epoch history")
        entry = {
            "fold": fold,
            "curves": {k: _series(history, k) for k in keys},
            "best_epoch": result.get("best_epoch"),
            "test_acc": result.get("test_acc"),
            "val_acc": result.get("val_acc"),
        }
        models = result.get("runs")
        if isinstance(models, list) and models and isinstance(models[0], dict):
            # --repeats: the curves are the first model's, so are the marked epoch and its scores;
            # the fold's score is the mean over its models.
            entry.update(
                models=len(models),
                test_acc=models[0].get("test_acc"),
                val_acc=models[0].get("val_acc"),
                mean_test_acc=result.get("test_acc"),
                mean_val_acc=result.get("val_acc"),
            )
        folds.append(entry)
    length = max((len(f["curves"]["train_loss"]) for f in folds), default=0)
    mean = {}
    for key in keys:
        stacked = np.full((len(folds), length), np.nan)
        for row, f in enumerate(folds):
            values = f["curves"][key]
            stacked[row, : len(values)] = values
        with np.errstate(all="ignore"):
            counts = np.isfinite(stacked).sum(0)
            mean[key] = np.where(counts > 0, np.nansum(stacked, 0) / np.maximum(counts, 1), np.nan)
    selected: int | None = None
    if protocol == "paper":
        selected = (summary or {}).get("best_epoch")
        if selected is None and length:
            curve = mean[f"{eval_prefix}_acc"]
            selected = int(np.nanargmax(curve)) if np.isfinite(curve).any() else None
    elif kind == "train":
        selected = folds[0]["best_epoch"]
    return {
        "kind": kind,
        "protocol": protocol,
        "eval": eval_prefix,
        "folds": folds,
        "mean": mean,
        "selected_epoch": selected,
        "summary": summary,
        "run_dir": str(run_dir),
        "epochs": length,
    }


def _plot_metric(ax, curves: dict[str, Any], key: str, colour, label: str, style: str = "-") -> None:
    folds = curves["folds"]
    epochs = np.arange(curves["epochs"])
    many = len(folds) > 1
    for f in folds:
        values = f["curves"][key]
        if np.isfinite(values).any():
            ax.plot(
                np.arange(len(values)),
                values,
                style,
                color=colour,
                alpha=0.3 if many else 1.0,
                linewidth=0.9 if many else 1.8,
                label=None if many else label,
            )
    if many and np.isfinite(curves["mean"][key]).any():
        ax.plot(
            epochs, curves["mean"][key], style, color=colour, linewidth=2.2, label=f"{label} (mean of folds)"
        )


def _mark_selection(ax, curves: dict[str, Any], key: str | None) -> None:
    """A vertical line at the run's selected epoch, or a star on each fold's curve at its own."""
    selected = curves["selected_epoch"]
    if selected is not None:
        ax.axvline(
            selected, color="crimson", linestyle=":", linewidth=1.5, label=f"selected epoch {selected}"
        )
        return
    if key is None:
        return
    first = True
    for f in curves["folds"]:
        best = f["best_epoch"]
        values = f["curves"][key]
        if best is not None and 0 <= best < len(values) and np.isfinite(values[best]):
            ax.plot(
                [best],
                [values[best]],
                "*",
                color="crimson",
                markersize=11,
                markeredgecolor="k",
                markeredgewidth=0.5,
                zorder=5,
                label="selected epoch of each fold" if first else None,
            )
            first = False


def _summary_lines(curves: dict[str, Any]) -> list[str]:
    lines = []
    evaluated = "held-out" if curves["eval"] == "heldout" else "validation"
    for f in curves["folds"]:
        parts = [f"fold {f['fold']}" if curves["kind"] == "cv" else "train run"]
        if f.get("models"):
            parts[0] += f" (curves of model 1 of {f['models']})"
        if f["best_epoch"] is not None:
            parts.append(f"selected epoch {f['best_epoch']}")
        if f.get("val_acc") is not None:
            parts.append(f"val acc {f['val_acc']:.3f}")
        if f["test_acc"] is not None:
            parts.append(f"test acc {f['test_acc']:.3f}")
        parts.append(f"{int(np.isfinite(f['curves']['train_loss']).sum())} epochs")
        if f.get("models"):
            parts.append(
                f"mean of {f['models']} models: val acc {f['mean_val_acc']:.3f}, "
                f"test acc {f['mean_test_acc']:.3f}"
            )
        lines.append(", ".join(parts))
    summary = curves["summary"]
    if summary and summary.get("mean") is not None:
        lines.append("")
        lines.append(
            f"{summary.get('protocol', '')} protocol: test accuracy {100 * summary['mean']:.1f} ± "
            f"{100 * summary.get('std', 0.0):.1f} % over "
            f"{summary.get('completed_folds', len(curves['folds']))} fold(s)"
        )
        if summary.get("protocol") == "paper":
            lines.append(
                f"(epoch {summary.get('best_epoch')} maximises the mean {evaluated} accuracy: optimistic)"
            )
        if summary.get("missing_folds"):
            lines.append(f"missing folds: {summary['missing_folds']}")
    elif curves["kind"] == "cv":
        lines.append("")
        lines.append("no results.json yet: the run has not finished all folds")
    return lines


def draw_run(
    curves: dict[str, Any], *, figsize=RUN_FIGURE_SIZE, dpi: int = RUN_FIGURE_DPI, title: str | None = None
):
    """The run figure (a matplotlib ``Figure``) from :func:`run_curves`' data."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    axes = fig.subplots(2, 2)
    ev = curves["eval"]
    evaluated = "held-out" if ev == "heldout" else "validation"
    loss, acc, aux, text = axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]

    _plot_metric(loss, curves, "train_loss", "tab:blue", "training")
    _plot_metric(loss, curves, f"{ev}_loss", "tab:orange", evaluated, "--")
    _mark_selection(loss, curves, f"{ev}_loss")
    loss.set_title("total loss (cross-entropy + the pooling's weighted terms)", fontsize=10)
    loss.set_ylabel("loss")

    _plot_metric(acc, curves, "train_acc", "tab:blue", "training")
    _plot_metric(acc, curves, f"{ev}_acc", "tab:orange", evaluated, "--")
    _mark_selection(acc, curves, f"{ev}_acc")
    acc.set_title("accuracy", fontsize=10)
    acc.set_ylabel("accuracy")

    for key, colour, label in TRAIN_TERMS:  # the run's own terms: the others have no values
        _plot_metric(aux, curves, key, colour, label)
    _mark_selection(aux, curves, None)
    aux.set_title("training loss terms (unweighted, summed over levels)", fontsize=10)
    aux.set_ylabel("loss term")

    from matplotlib.lines import Line2D

    for ax in (loss, acc, aux):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        if len(curves["folds"]) > 1:
            handles.append(
                Line2D([], [], color="0.5", alpha=0.4, linewidth=0.9, label="thin lines: each fold")
            )
        if handles:
            ax.legend(handles=handles, fontsize=8, loc="best")

    text.axis("off")
    lines = _summary_lines(curves)
    text.text(
        0.0,
        1.0,
        "\n".join(lines[:30]),
        va="top",
        ha="left",
        fontsize=9,
        family="monospace",
        transform=text.transAxes,
    )
    text.set_title("selected epochs and test accuracy", fontsize=10)
    if title is None:
        config = (curves["summary"] or {}).get("config") or {}
        what = " · ".join(str(v) for v in (config.get("dataset"), config.get("variant")) if v)
        kind = (
            f"{len(curves['folds'])}-fold cross-validation, {curves['protocol']} protocol"
            if curves["kind"] == "cv"
            else "train run"
        )
        title = f"{Path(curves['run_dir']).name}: {kind}" + (f" · {what}" if what else "")
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def write_run_png(run_dir: str | Path, out_path: str | Path) -> dict[str, Any]:
    """Read ``run_dir`` and write its figure to ``out_path`` (PNG, RUN_FIGURE_SIZE × RUN_FIGURE_DPI, or
    as its suffix says: ``.pdf``, ``.svg``, ...)."""
    from .files import save_figure

    curves = run_curves(run_dir)
    out_path = Path(out_path)
    save_figure(draw_run(curves), out_path, RUN_FIGURE_DPI)
    best = [f["best_epoch"] for f in curves["folds"]]
    return {
        "path": str(out_path),
        "kind": curves["kind"],
        "protocol": curves["protocol"],
        "folds": len(curves["folds"]),
        "epochs": curves["epochs"],
        "selected_epoch": curves["selected_epoch"],
        "best_epochs": best,
    }
