"""``logs/metrics.csv`` that survives a resumed run.

Lightning's :class:`~lightning.pytorch.loggers.CSVLogger` deletes an existing ``metrics.csv`` when
a new trainer opens the folder, so a run interrupted and resumed kept only the epochs after the
resume, and it buffers rows for 100 steps, so a killed run lost its last ones. This logger keeps
the earlier rows, writes the file (atomically) every time it logs, and keeps one row per epoch: an
epoch logged before the interruption but run again after the resume (it was after the last
checkpoint) is replaced by its new row, as the run's history is.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from typing import Any, cast

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from ..atomic import atomic_open

__all__ = ["ResumableCSVLogger"]


class _ResumableWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        # Called by the writer's constructor: read the rows to continue from instead of deleting them.
        self._rows: list[dict[str, Any]] = []
        if os.path.isfile(self.metrics_file_path):
            try:
                with open(self.metrics_file_path, newline="", encoding="utf-8") as handle:
                    # a row longer than the header puts its extra values under None: not a column
                    self._rows = [
                        {k: v for k, v in row.items() if k is not None and v not in ("", None)}
                        for row in csv.DictReader(handle)
                    ]
            except (OSError, UnicodeDecodeError, csv.Error) as error:
                # The log is a by-product (the history is in the checkpoint): start it afresh.
                warnings.warn(
                    f"{self.metrics_file_path}: unreadable ({error}); it starts again from this epoch",
                    stacklevel=2,
                )
                self._rows = []

    def save(self) -> None:
        if not self.metrics:
            return
        by_epoch: dict[str, dict[str, Any]] = {}
        for position, row in enumerate(self._rows + self.metrics):
            # Rows without an epoch (none are logged so, but keep them) stay as they are.
            key = str(row["epoch"]) if "epoch" in row else f"row {position}"
            by_epoch.pop(key, None)  # a re-run epoch goes where it now happened: last
            by_epoch[key] = row
        self._rows = list(by_epoch.values())
        keys = sorted(set().union(*self._rows))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self._rows)
        with atomic_open(self.metrics_file_path, "w") as handle:
            handle.write(text.getvalue())
        self.metrics = []


class ResumableCSVLogger(CSVLogger):
    """:class:`CSVLogger` (same arguments) whose ``metrics.csv`` continues across resumed runs and
    is complete after every logged step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "flush_logs_every_n_steps": 1})

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumableWriter(log_dir=self.log_dir)
        return cast(ExperimentWriter, self._experiment)
