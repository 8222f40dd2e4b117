"""The Lightning module: the model plus its loss, metrics and optimiser — not the loop.

Checkpoints hold only plain data besides tensors (model and run configuration, feature settings,
label mapping, the per-epoch history, the seconds of fitting so far), so they load with
``torch.load(weights_only=True)``.

The per-epoch history is recorded here, at the end of each validation epoch (where Lightning saves
checkpoints), and travels inside every checkpoint: a resumed run continues the exact same record.
"""

from __future__ import annotations

import math
import time
from typing import Any, cast

import lightning as L
import torch
from torchmetrics import MeanMetric, Metric
from torchmetrics.classification import MulticlassAccuracy

from ..models import ModelConfig, build_model, classification_loss, loss_terms
from ..optim import adam

__all__ = ["GraphClassifier", "NonFiniteLossError", "BatchTooLargeError"]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class BatchTooLargeError(RuntimeError):
    """A mini-batch did not fit in memory."""


_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "not enough memory", "failed to allocate")


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or any(s in str(error).lower() for s in _OUT_OF_MEMORY)


class GraphClassifier(L.LightningModule):
    """Trains any model of :mod:`diffpool.models` with cross-entropy plus its pooling's auxiliary losses.

    Validation data loader ``i`` is logged under ``eval_prefixes[i]``: by default loader 0 is the
    validation split (``val_*``) and an optional loader 1 a held-out split (``heldout_*``); the
    paper's protocol passes only the held-out fold, as ``("heldout",)``.
    """

    def __init__(
        self,
        model_config: dict[str, Any],
        run_config: dict[str, Any],
        feature_spec: dict[str, Any] | None = None,
        label_mapping: dict[str, Any] | None = None,
        eval_prefixes: tuple[str, ...] = ("val", "heldout"),
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        config = ModelConfig(**model_config)
        self.model = build_model(config)
        num_classes = model_config["num_classes"]
        # NOLP drops the link loss by definition; DET's S is fixed, so the term carries no gradient.
        link_weight = 0.0 if model_config.get("variant") in ("nolp", "det") else run_config["link_weight"]
        self.loss_weights = dict(
            link_weight=link_weight,
            entropy_weight=run_config["entropy_weight"],
            link_normalization=run_config["link_normalization"],
        )
        # torchmetrics accumulates counts and reduces them across processes: the accuracy of the
        # whole split, not a mean of per-process means.
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.eval_acc = torch.nn.ModuleList(
            MulticlassAccuracy(num_classes, average="micro") for _ in eval_prefixes
        )
        self.eval_loss = torch.nn.ModuleList(MeanMetric() for _ in eval_prefixes)
        # The terms classification_loss returns for this model, each logged as train_<name>.
        terms = ("loss", "ce", *loss_terms(config))
        self.train_terms = torch.nn.ModuleDict({name: MeanMetric() for name in terms})
        self.history: list[dict[str, float]] = []
        self._epoch_lr: float | None = None
        #: Seconds of fitting recorded by the checkpoint this run resumed from (0 for a fresh run),
        #: so a fold interrupted and resumed reports the time of all its epochs, not the last part's.
        self.elapsed_before_resume_s = 0.0
        self._fit_started: float | None = None

    def _train_terms(self) -> list[tuple[str, Metric]]:
        return [(name, cast(Metric, metric)) for name, metric in self.train_terms.items()]

    def _eval_metrics(self) -> tuple[list[Metric], list[Metric]]:
        """Per evaluation loader: its accuracy and its mean loss."""
        return [cast(Metric, m) for m in self.eval_acc], [cast(Metric, m) for m in self.eval_loss]

    def forward(self, batch):
        return self.model(batch)

    def _losses(self, batch):
        try:
            output = self.model(batch)
            return output, classification_loss(output, batch.y, **self.loss_weights)
        except RuntimeError as error:
            if not _is_out_of_memory(error):
                raise
            sizes = torch.bincount(batch.batch, minlength=batch.num_graphs)
            suggested = max(1, batch.num_graphs // 4)
            counts = getattr(self.model, "cluster_counts", None)  # DiffPool variants only
            per_graph = getattr(getattr(self.model, "config", None), "per_graph_clusters", False)
            if counts is None:
                cost, remedies = "", ""
            elif per_graph:
                cost, remedies = (
                    f"; per-graph cluster counts, at most K = {counts} per level",
                    " --batching size (graphs of similar size together),",
                )
            else:
                cost, remedies = (
                    f"; fixed cluster counts cost B·K² per level, K = {counts}",
                    " --per-graph-clusters,",
                )
            raise BatchTooLargeError(
                f"a batch of {batch.num_graphs} graphs did not fit in memory (nodes per graph: largest "
                f"{int(sizes.max())}, total {int(sizes.sum())}{cost}). "
                f"Try --batch-size {suggested},{remedies} "
                "or --max-nodes to leave out the largest graphs "
                f"({str(error).splitlines()[0][:120]})"
            ) from None

    def training_step(self, batch, batch_idx: int):
        output, losses = self._losses(batch)
        if not math.isfinite(float(losses["loss"].detach())):
            terms = "".join(
                f", {name} {float(value):.4g}" for name, value in losses.items() if name not in ("loss", "ce")
            )
            link = ", a lower --link-weight," if "link" in losses else ""
            raise NonFiniteLossError(
                f"the training loss became {float(losses['loss'].detach())} at epoch {self.current_epoch}, "
                f"batch {batch_idx} "
                f"(cross-entropy {float(losses['ce']):.4g}{terms}). Try a lower --lr{link} or --grad-clip; "
                "the last good checkpoint is kept."
            )
        # Metrics accumulate here and are logged once per epoch (on_validation_epoch_end): a
        # Lightning self.log call per metric and step cost ~1.5 ms each, more than a whole step of
        # the structure-agnostic baseline.
        size = batch.num_graphs
        self.train_acc.update(output.logits.argmax(-1), batch.y)
        for name, metric in self._train_terms():
            metric.update(losses[name].detach(), weight=size)
        return losses["loss"]

    def validation_step(self, batch, batch_idx: int, dataloader_idx: int = 0):
        output, losses = self._losses(batch)
        accuracies, losses_ = self._eval_metrics()
        accuracies[dataloader_idx].update(output.logits.argmax(-1), batch.y)
        losses_[dataloader_idx].update(losses["loss"], weight=batch.num_graphs)

    def on_fit_start(self) -> None:
        self._fit_started = time.perf_counter()

    @property
    def fitted_in_this_process(self) -> bool:
        """False after a fit under ``ddp_spawn``: worker processes trained, and this module got
        back their weights but none of its other state (``history``)."""
        return self._fit_started is not None

    def on_train_epoch_start(self) -> None:
        # The rate this epoch trains with: an epoch schedule has stepped by the time it is recorded.
        self._epoch_lr = (
            float(self.trainer.optimizers[0].param_groups[0]["lr"]) if self.trainer.optimizers else None
        )
        self.train_acc.reset()
        for _, metric in self._train_terms():
            metric.reset()

    def on_validation_epoch_start(self) -> None:
        for group in self._eval_metrics():
            for metric in group:
                metric.reset()

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        # compute() reduces across processes, so every rank records the same numbers.
        record: dict[str, float] = {"epoch": int(self.current_epoch)}
        if self._epoch_lr is not None:
            record["lr"] = self._epoch_lr
        if self.train_acc.update_count:
            record["train_acc"] = float(self.train_acc.compute())
            record.update({f"train_{name}": float(m.compute()) for name, m in self._train_terms()})
        for prefix, acc, loss in zip(self.hparams["eval_prefixes"], *self._eval_metrics()):
            if acc.update_count:
                record[f"{prefix}_acc"] = float(acc.compute())
                record[f"{prefix}_loss"] = float(loss.compute())
        self.history = [h for h in self.history if h["epoch"] < record["epoch"]] + [record]
        # For the CSV log, the progress bar and the callbacks that monitor val_acc. The values are
        # already the same on every rank: the max over ranks keeps them exactly (a mean could move
        # the last bit) and keeps Lightning from warning that epoch-level logs are not synced.
        self.log_dict(
            {k: v for k, v in record.items() if k != "epoch"}, prog_bar=False, sync_dist=True, reduce_fx="max"
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["history"] = list(self.history)
        fitting = time.perf_counter() - self._fit_started if self._fit_started is not None else 0.0
        checkpoint["elapsed_s"] = self.elapsed_before_resume_s + fitting

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("history", []))
        self.elapsed_before_resume_s = float(checkpoint.get("elapsed_s", 0.0))  # 0: saved before it was kept

    def predict_step(self, batch, batch_idx: int):
        return torch.softmax(self.model(batch).logits, dim=-1)

    def configure_optimizers(self):
        run = self.hparams["run_config"]
        optimizer = adam(
            self.parameters(),
            lr=run["lr"],
            weight_decay=run["weight_decay"],
            mixed_precision="mixed" in str(self.trainer.precision),
        )
        if run.get("lr_schedule", "constant") == "constant":  # checkpoints saved before the option: constant
            return optimizer
        # Lightning steps it after each training epoch and keeps its state in the checkpoint.
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=run["epochs"])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "epoch"}}
