"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Write to a temporary file in the same folder, flush and fsync it, then ``os.replace`` it over the
target (atomic on POSIX and Windows); on any error the temporary file is removed and the target
is untouched.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_open", "new_temporary", "remove_stale_temporaries"]


def _new_file_mode() -> int:
    """What open() would give a new file now (0666 less the umask). mkstemp makes its files 0600,
    which on shared storage would hide results and checkpoints from the rest of a group."""
    try:  # Linux: the umask without changing it (the fallback changes it for an instant)
        with open("/proc/self/status", encoding="ascii") as status:
            mask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0)
        os.umask(mask)
    return 0o666 & ~mask


def new_temporary(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A temporary file beside ``path`` (``.NAME.XXXX.tmp``) with the permissions of a new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, _new_file_mode())
    return fd, tmp


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", *, suffix: str = ".tmp") -> Iterator[IO]:
    """``with atomic_open(path, "wb") as handle: ...`` — ``path`` appears only if the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = new_temporary(path, suffix)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike, of: str | None = None) -> list[Path]:
    """Delete the temporary files :func:`atomic_open` left under ``folder`` when its process was
    killed mid-write (``.NAME.XXXX.tmp``); returns them. Only for a folder no other process writes.
    With ``of`` (a file name), only that file's temporaries directly in ``folder``: for a folder that
    other jobs share, whose own files are theirs to write."""
    found = Path(folder).rglob(".*.tmp") if of is None else Path(folder).glob(f".{of}.*.tmp")
    removed = []
    for tmp in found:
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
