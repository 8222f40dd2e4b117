"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Write to a temporary file in the same folder, flush and fsync it, then ``os.replace`` it over the
target (atomic on POSIX and Windows); on any error the temporary file is removed and the target
is untouched, and the error names the target (what the user asked for), not the temporary file.

:func:`check_output` is the rule for a file the user names (``predict --out``, ``plot --out``):
never one of the command's inputs, never a folder, and an existing file only with ``--force``.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = [
    "atomic_open",
    "new_temporary",
    "remove_stale_temporaries",
    "write_error",
    "check_output",
    "OutputError",
    "make_folder",
]


class OutputError(ValueError):
    """An output path a command refuses to write: one of its inputs, a folder, or (without
    ``--force``) an existing file."""


# Why a write failed, in words a user can act on (the bare strerror of ENOSPC says "No space left
# on device" but not which path; the path is added by write_error).
_WRITE_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied (the folder is not writable)",
    errno.EPERM: "operation not permitted (the folder is not writable)",
    errno.EROFS: "the file system is read-only",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def write_error(error: OSError, path: str | os.PathLike, temporary: str | None = None) -> OSError:
    """``error`` (raised while writing ``path`` through ``temporary``) as an ``OSError`` of the same
    kind that names ``path``. An error about another path the user gave (a parent folder that could
    not be made) is kept as it is."""
    path = Path(path)
    if error.filename is not None and str(error.filename) not in (str(path), str(temporary)):
        return error
    reason = _WRITE_REASONS.get(error.errno or 0, error.strerror or str(error))
    return OSError(error.errno or errno.EIO, f"cannot be written: {reason}", str(path))


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


def make_folder(folder: str | os.PathLike) -> Path:
    """``folder`` and its parents, made if missing; an error names the part of the path that is a
    file (mkdir says only "File exists")."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise NotADirectoryError(
            errno.ENOTDIR, "is a file, where a folder is needed for the output", str(blocking)
        ) from None
    return folder


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", *, suffix: str = ".tmp") -> Iterator[IO]:
    """``with atomic_open(path, "wb") as handle: ...`` — ``path`` appears only if the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if path.is_dir():  # os.replace would name the temporary file, or on some systems replace the folder
        raise IsADirectoryError(errno.EISDIR, "cannot be written: it is a folder, not a file", str(path))
    make_folder(path.parent)
    try:
        fd, tmp = new_temporary(path, suffix)
    except OSError as error:
        raise write_error(error, path, temporary=error.filename) from None
    try:
        with os.fdopen(fd, mode, encoding="utf-8" if mode == "w" else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(error, path, tmp) from None
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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # also a hard link or a symbolic link to the same file
    except OSError:  # one of them does not exist (yet): compare where the names lead
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(
    path: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    force: bool = False,
    option: str = "--out",
    example: str = "out",
) -> Path:
    """``path`` if a command may write it, else :class:`OutputError` saying why: it is one of the
    command's ``inputs`` (files; a folder's files must be listed, not the folder), a folder, or a
    file that exists (allowed with ``force``). Checked before any work, so a refused command
    leaves nothing behind."""
    path = Path(path)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise OutputError(
                f"{option} {path}: is an input of this command ({source}); write the output to another file"
            )
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a folder; name a file, for example {path / example}")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputError(f"{option} {path}: exists; give --force to replace it, or name another file")
    return path
