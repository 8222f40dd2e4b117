"""Training progress that suits a terminal and a log file alike, and a quiet Lightning.

Standard output is for results: ``diffpool train > log`` must give a short readable log. So the
progress goes to standard error, as Lightning's own progress bar (:class:`StderrProgressBar`)
when that is a terminal, and otherwise as one plain line per epoch, at most one every
:data:`PLAIN_INTERVAL_S` seconds plus the last epoch's (:class:`EpochLines`): a bar's carriage
returns make a log file of hundreds of KB that no editor shows well.

:func:`quiet_lightning` silences Lightning's chatter (accelerator banners, tips, data-loader
hints) for the command line and the Python API alike, unless ``verbose``.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from lightning.pytorch.callbacks import Callback, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

__all__ = ["StderrProgressBar", "EpochLines", "progress_callback", "quiet_lightning", "PLAIN_INTERVAL_S"]

#: Shortest time between two plain progress lines (the last epoch's is always written).
PLAIN_INTERVAL_S = 10.0

_LIGHTNING_LOGGERS = (
    "lightning",
    "lightning.pytorch",
    "lightning.fabric",
    "lightning_fabric",
    "pytorch_lightning",
)
# Lightning's hints about set-ups that are deliberate here, and a deprecation inside Lightning.
_CHATTER = (
    ".*does not have many workers.*",
    ".*isinstance\\(treespec, LeafSpec\\).*",
    ".*exists and is not empty.*",
    ".*is smaller than the logging interval.*",
)


class StderrProgressBar(TQDMProgressBar):
    """Lightning's progress bar, drawn on standard error instead of standard output."""

    def init_sanity_tqdm(self) -> Tqdm:
        return Tqdm(
            desc=self.sanity_check_description,
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=False,
            dynamic_ncols=True,
            file=sys.stderr,
            bar_format=self.BAR_FORMAT,
        )

    def init_train_tqdm(self) -> Tqdm:
        return Tqdm(
            desc=self.train_description,
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stderr,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

    def init_validation_tqdm(self) -> Tqdm:
        has_main_bar = self.trainer.state.fn != "validate"
        return Tqdm(
            desc=self.validation_description,
            position=2 * self.process_position + has_main_bar,
            disable=self.is_disabled,
            leave=not has_main_bar,
            dynamic_ncols=True,
            file=sys.stderr,
            bar_format=self.BAR_FORMAT,
        )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


class EpochLines(Callback):
    """One plain line per finished epoch on ``stream`` (standard error), at most one every
    ``interval`` seconds; the last epoch's line is always written."""

    def __init__(
        self,
        label: str = "",
        interval: float = PLAIN_INTERVAL_S,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.interval, self.clock = label, interval, clock
        self._stream = stream
        self._last_written: float | None = None
        self._pending: str | None = None
        self._epoch_started = 0.0

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr  # as it is now (tests swap it)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_started = self.clock()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not getattr(pl_module, "history", None):
            return
        record: dict[str, Any] = pl_module.history[-1]
        evaluated = next((p for p in ("val", "heldout") if f"{p}_acc" in record), None)
        line = (
            f"{self.label}epoch {record['epoch']}/{trainer.max_epochs - 1}: "
            f"train loss {record.get('train_loss', float('nan')):.4f}, "
            f"accuracy {_percent(record.get('train_acc'))}"
            + (f"; {evaluated} accuracy {_percent(record[f'{evaluated}_acc'])}" if evaluated else "")
            + f" ({self.clock() - self._epoch_started:.1f} s)"
        )
        now = self.clock()
        last_epoch = record["epoch"] >= trainer.max_epochs - 1
        if self._last_written is None or now - self._last_written >= self.interval or last_epoch:
            self._write(line)
            self._last_written = now
        else:
            self._pending = line

    def on_train_end(self, trainer, pl_module) -> None:
        if self._pending is not None:  # stopped early: the epoch it ended with
            self._write(self._pending)

    def _write(self, line: str) -> None:
        self._pending = None
        print(line, file=self.stream, flush=True)


def progress_callback(label: str = "") -> Callback:
    """A bar on a terminal's standard error, else plain lines (a log file, a pipe, a batch job)."""
    stream = sys.stderr
    interactive = bool(getattr(stream, "isatty", None)) and stream.isatty()
    return StderrProgressBar(leave=False) if interactive else EpochLines(label)


@contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Lightning's banners ("GPU available: ..."), tips and set-up hints silenced while the block
    runs, unless ``verbose``; its warnings and errors still come through."""
    if verbose:
        yield
        return
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=PossibleUserWarning)
            for pattern in _CHATTER:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
