"""Class probabilities for new graphs from a saved checkpoint.

The checkpoint carries the model configuration, the feature settings and the label mapping as
plain data, and is read with ``torch.load(weights_only=True)``: a crafted file cannot run code.
New graphs get their features built exactly as the training data's were; graphs that do not fit
(an unknown node label, missing attributes) are reported by name.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import check_output
from ..data import DataError, GraphDataset, apply_features, read_graph_folder
from ..data.errors import file_error
from ..models import ModelConfig, attach_det_clusters, build_model
from .checkpoints import CheckpointError, read_checkpoint
from .loaders import make_loader
from .results import atomic_write_text

__all__ = ["load_trained_model", "model_from_checkpoint", "read_graphs_for", "predict", "CheckpointError"]


def load_trained_model(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trained model (in eval mode) and the checkpoint's hyper-parameters (plain data)."""
    path = Path(path)
    return model_from_checkpoint(read_checkpoint(path), path)  # weights-only, checksum-verified


def model_from_checkpoint(
    checkpoint: dict[str, Any], path: str | Path
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model (in eval mode) and hyper-parameters of a checkpoint already read from ``path``."""
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, dict) or "model_config" not in hparams:
        raise CheckpointError(f"{path}: not a diffpool checkpoint (no model configuration inside)")
    model = build_model(ModelConfig(**hparams["model_config"]))
    state = {k[len("model.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: weights do not fit the model configuration saved with them: {str(err).splitlines()[0]}"
        ) from None
    model.eval()
    return model, hparams


def _tu_name(folder: Path) -> str | None:
    found = sorted(folder.glob("*_A.txt"))
    return found[0].name[: -len("_A.txt")] if found else None


def read_graphs_for(
    path: str | Path,
    hparams: dict[str, Any],
    *,
    suffixes: list[str] | None = None,
    skip_empty: bool = False,
) -> GraphDataset:
    """Graphs at ``path`` (a TU folder, or a folder of GraphML / edge-list files), featured as in training.

    ``suffixes``: the graph files of a folder (default ``.graphml`` and ``.edgelist``); ``skip_empty``
    leaves graphs without nodes out, listed in ``info["skipped"]``, instead of failing on them.
    """
    from ..data.tu import build_graphs, read_tu_raw

    path = Path(path)
    spec = hparams.get("feature_spec")
    mapping = hparams.get("label_mapping") or {}
    if spec is None:
        raise CheckpointError(
            "the checkpoint holds no feature settings, so new graphs cannot be featured alike"
        )
    if not path.is_dir():
        raise DataError(
            f"{path}: not a folder; give a TU data set folder or a folder of .graphml/.edgelist files"
        )
    name = _tu_name(path)
    if name is None:
        return read_graph_folder(
            path, feature_spec=spec, label_mapping=mapping or None, suffixes=suffixes, skip_empty=skip_empty
        )
    raw = read_tu_raw(path, name, labels_required=False)  # new graphs need no labels; with them, accuracy
    # The model's features need the files they were built from: name a missing one, rather than
    # every graph's "has no node labels".
    for part, file in (("labels", "node_labels"), ("attributes", "node_attributes")):
        if part in spec["parts"] and file not in raw.files:
            raise file_error(
                path / f"{name}_{file}.txt",
                0,
                f"missing: the model was trained on node {part} (its features need them), "
                "which this file holds",
            )
    graphs, _ = build_graphs(raw)
    raw_labels = [] if raw.graph_labels is None else raw.graph_labels.tolist()
    unknown = sorted({int(v) for v in raw_labels} - {int(k) for k in mapping})
    if mapping and unknown:
        raise DataError(
            f"{path / (name + '_graph_labels.txt')}: graph label(s) {unknown} were not among the "
            f"classes the model was trained on ({sorted(int(k) for k in mapping)})"
        )
    class_of = {int(k): int(v) for k, v in mapping.items()}
    for index, data in enumerate(graphs):
        data.source = f"{name} graph {index + 1}"
        if class_of and raw_labels:  # the model's class indices, not this folder's own label coding
            data.y = torch.tensor([class_of[int(raw_labels[index])]])
    return GraphDataset(
        apply_features(graphs, spec),
        name=name,
        label_mapping=mapping,
        feature_spec=spec,
        info={"source": str(path)},
    )


def _inputs(checkpoint: Path, graphs: Path) -> list[Path]:
    """Every file ``predict`` may read: the checkpoint (and the one kept before it) and the graphs'
    files (all of a folder's: which of them are graphs depends on options)."""
    from .checkpoints import previous_path

    files = [checkpoint, previous_path(checkpoint)]
    if graphs.is_dir():
        files += [p for p in graphs.iterdir() if p.is_file()]
    elif graphs.exists():
        files.append(graphs)
    return files


def predict(
    checkpoint: str | Path,
    graphs: str | Path,
    out_csv: str | Path | None = None,
    batch_size: int = 64,
    *,
    force: bool = False,
    suffixes: list[str] | None = None,
) -> dict[str, Any]:
    """Probabilities for every graph at ``graphs``; writes a CSV when ``out_csv`` is given.

    ``out_csv`` may not be the checkpoint or one of the graphs' files, nor a folder; an existing file
    is replaced only with ``force``. ``suffixes``: which files of a folder are graphs (default
    ``.graphml``, ``.edgelist``). Graphs without nodes are left out and listed.

    Returns ``{"rows": [...], "classes": [...], "accuracy": float | None, "csv": str, "skipped": [...],
    "ignored": [...], "features": str}``; each row has the graph, the predicted class (as the
    original label) and one probability per class; ``skipped`` lists the graphs left out (file and
    reason), ``ignored`` the files of the folder that are not graphs by their suffix.
    """
    from ..data import feature_sources

    if out_csv is not None:
        check_output(
            out_csv, inputs=_inputs(Path(checkpoint), Path(graphs)), force=force, example="predictions.csv"
        )
    model, hparams = load_trained_model(checkpoint)
    dataset = read_graphs_for(graphs, hparams, suffixes=suffixes, skip_empty=True)
    config = ModelConfig(**hparams["model_config"])
    if dataset.num_features != config.in_channels:
        raise DataError(
            f"{graphs}: the graphs have {dataset.num_features} node features but the model expects "
            f"{config.in_channels}; they were featured differently from the training data"
        )
    items = attach_det_clusters(list(dataset), config) if config.variant == "det" else dataset
    loader = make_loader(items, range(len(dataset)), batch_size, shuffle=False)
    with torch.no_grad():
        probs = torch.cat([torch.softmax(model(batch).logits, dim=-1) for batch in loader]).numpy()
    mapping = hparams.get("label_mapping") or {}
    classes = [raw for raw, _ in sorted(mapping.items(), key=lambda kv: kv[1])] or list(range(probs.shape[1]))
    rows = []
    for index in range(len(dataset)):
        data = dataset[index]
        source = getattr(data, "source", None) or f"graph {index + 1}"
        row = {"graph": source, "predicted": classes[int(np.argmax(probs[index]))]}
        row.update({f"p_{c}": float(p) for c, p in zip(classes, probs[index])})
        rows.append(row)
    has_labels = hasattr(dataset[0], "y") and dataset[0].y is not None and bool(mapping)
    accuracy = None
    if has_labels:
        truth = dataset.y.view(-1).numpy()
        accuracy = float((probs.argmax(1) == truth).mean())
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    if out_csv is not None:
        atomic_write_text(out_csv, buffer.getvalue())
    return {
        "rows": rows,
        "classes": classes,
        "accuracy": accuracy,
        "csv": buffer.getvalue(),
        "skipped": dataset.info.get("skipped", []),
        "ignored": dataset.info.get("ignored", []),
        "features": feature_sources(dataset),
    }
