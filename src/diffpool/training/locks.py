"""One process at a time per fold: a lock file that names its owner.

Two identical ``cv`` commands into one run folder would otherwise train every fold twice (and
race to write the same files). A fold is trained only while its process holds ``fold_K/.lock``
(``RUN/.lock`` for ``train``), created with ``O_CREAT | O_EXCL`` so that exactly one process
succeeds, holding that process's id, host and start time as JSON. Another process finds the fold
taken: ``cv`` trains the other folds first and then waits for it (and reads its result back);
``train`` waits. A lock whose process is gone (killed: no such process, a zombie, or its id now
used by a process that started later) is taken over, under a short-lived ``.lock.break`` so that
two processes never both take over the same stale lock. A lock from another host cannot be
checked and is waited for; the message names the file to delete if that run is gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["FoldLock", "process_alive", "LOCK_NAME", "POLL_S"]

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
#: Seconds between two looks at a lock held by another process.
POLL_S = 2.0
#: A lock file without a readable owner (its process died between creating and filling it) or a
#: ``.lock.break`` this old is abandoned.
ABANDONED_S = 30.0


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """``(state, start time in clock ticks)`` of a process from ``/proc`` (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


def _start_time(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` runs (on this host); with ``started`` (its start time as recorded),
    also that it is the same process, not a later one that was given the same id."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    stat = _proc_stat(pid)
    if stat is not None:
        state, start = stat
        if state in ("Z", "X"):  # killed, not yet reaped by its parent
            return False
        if started is not None and start != started:
            return False
    return True


class FoldLock:
    """``with FoldLock(folder).acquire(): ...`` — ``folder/.lock`` held for this process while the
    block runs. :meth:`try_acquire` does not wait."""

    def __init__(self, folder: Path, what: str = "") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what or str(self.folder)
        self._token: str | None = None

    # -- the owner record --------------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        pid = os.getpid()
        return {
            "pid": pid,
            "host": socket.gethostname(),
            "started": _start_time(pid),
            "token": uuid.uuid4().hex,
            "since": time.time(),
        }

    def _read(self) -> dict[str, Any] | None:
        """The lock's owner record; None when there is no lock; ``{}`` while it cannot be read (its
        owner is writing it, or died doing so)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return {}
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            return {}
        return record if isinstance(record, dict) else {}

    def _stale(self, holder: dict[str, Any]) -> bool:
        if not holder.get("pid"):
            try:
                return time.time() - self.path.stat().st_mtime > ABANDONED_S
            except FileNotFoundError:
                return False
        if holder.get("host") not in (None, socket.gethostname()):
            return False  # another machine's process: cannot be checked here
        return not process_alive(holder["pid"], holder.get("started"))

    def describe(self, holder: dict[str, Any]) -> str:
        """Who holds the lock, for messages."""
        if not holder.get("pid"):
            return f"another process (its lock {self.path} is being written)"
        host = holder.get("host")
        where = f" on {host}" if host and host != socket.gethostname() else ""
        return f"process {holder['pid']}{where} (lock {self.path})"

    # -- taking and giving back ---------------------------------------------------------------
    def _take_over(self, holder: dict[str, Any]) -> None:
        """Remove the stale lock ``holder`` was read from, unless another process replaced it
        meanwhile: only one process at a time may break a lock (``.lock.break``)."""
        breaker = self.path.with_name(LOCK_NAME + ".break")
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - breaker.stat().st_mtime > ABANDONED_S:
                    breaker.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            return
        try:
            os.close(fd)
            if self._read() == holder:  # still the stale one
                self.path.unlink(missing_ok=True)
                log.warning(
                    "took over %s from %s, which is no longer running", self.what, self.describe(holder)
                )
        finally:
            breaker.unlink(missing_ok=True)

    def try_acquire(self) -> dict[str, Any] | None:
        """Take the lock if it is free or stale: returns None. Else the holder's record."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            record = self._record()
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._read()
                if holder is None:  # released just now
                    continue
                if self._stale(holder):
                    self._take_over(holder)
                    continue
                return holder
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            self._token = record["token"]
            return None
        return self._read() or {}

    def acquire(
        self, on_wait: Callable[[dict[str, Any]], None] | None = None, poll: float | None = None
    ) -> FoldLock:
        """Take the lock, waiting while another live process holds it; ``on_wait(holder)`` is
        called once, when the wait starts."""
        told = False
        while True:
            holder = self.try_acquire()
            if holder is None:
                return self
            if not told:
                told = True
                if on_wait is not None:
                    on_wait(holder)
            time.sleep(POLL_S if poll is None else poll)

    def release(self) -> None:
        """Give the lock back (only this process's own: never one taken over since)."""
        if self._token is not None and (self._read() or {}).get("token") == self._token:
            self.path.unlink(missing_ok=True)
        self._token = None

    def __enter__(self) -> FoldLock:
        if self._token is None:
            self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
