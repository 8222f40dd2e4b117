"""Metrics computed from a trained model: accuracy, and how well level-1 clusters recover communities."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score

__all__ = ["evaluate_accuracy", "community_nmi", "predict_proba"]


@torch.no_grad()
def evaluate_accuracy(model: torch.nn.Module, loader) -> float:
    model.eval()
    correct = total = 0
    for batch in loader:
        correct += int((model(batch).logits.argmax(-1) == batch.y).sum())
        total += batch.num_graphs
    return correct / max(total, 1)


@torch.no_grad()
def predict_proba(model: torch.nn.Module, loader) -> torch.Tensor:
    model.eval()
    return torch.cat([torch.softmax(model(batch).logits, dim=-1) for batch in loader])


@torch.no_grad()
def community_nmi(model: torch.nn.Module, loader) -> float:
    """Mean over graphs of the NMI between level-1 clusters (argmax of S) and true communities."""
    model.eval()
    scores = []
    for batch in loader:
        clusters = model(batch).assignments[0].argmax(-1)
        for g in range(batch.num_graphs):
            in_graph = batch.batch == g
            scores.append(
                normalized_mutual_info_score(batch.community[in_graph].numpy(), clusters[in_graph].numpy())
            )
    return float(np.mean(scores)) if scores else float("nan")
