"""Checkpoint files written atomically, with the previous good one kept beside the new one.

Writing ``NAME.ckpt``:

1. the new checkpoint goes to a temporary file in the same folder, which is fsynced;
2. the current ``NAME.ckpt`` (if any) is hard-linked to ``NAME.ckpt.prev`` (via a temporary name
   and a rename, so ``.prev`` is always a whole file);
3. the temporary file is renamed over ``NAME.ckpt``.

At every moment ``NAME.ckpt`` is a complete file (old or new) and, from the second save on,
``NAME.ckpt.prev`` is the checkpoint before it. If ``NAME.ckpt`` is later found corrupted (a disk
fault, a copy cut short, bytes flipped), :func:`load_resumable_checkpoint` falls back to
``.prev``; :class:`AtomicCheckpointIO` does so itself when Lightning resumes from ``last.ckpt``, and
moves the corrupted file aside to ``NAME.ckpt.corrupt`` so that the next save cannot keep it as
``.prev`` in place of the good one.

Every load here uses ``torch.load(weights_only=True)``: a crafted file cannot run code. Every
checkpoint carries a SHA-256 of its content (:data:`CHECKSUM_KEY`), checked on every load here:
``torch.load`` itself does not notice most flipped bytes inside tensor data.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..atomic import new_temporary, write_error

__all__ = [
    "AtomicCheckpointIO",
    "load_resumable_checkpoint",
    "read_checkpoint",
    "previous_path",
    "content_digest",
    "PREVIOUS_SUFFIX",
    "CHECKSUM_KEY",
]

log = logging.getLogger(__name__)

PREVIOUS_SUFFIX = ".prev"
#: Top-level key holding the SHA-256 of the rest of the checkpoint's content (see :func:`content_digest`).
CHECKSUM_KEY = "diffpool_checksum"
PathLike = Union[str, "os.PathLike[str]"]


def _feed(digest, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        digest.update(f"D{len(obj)}".encode())
        for key, value in obj.items():
            _feed(digest, key)
            _feed(digest, value)
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}".encode())
        for value in obj:
            _feed(digest, value)
    else:
        digest.update(f"{type(obj).__name__}:{obj!r};".encode())


def content_digest(checkpoint: dict[str, Any]) -> str:
    """SHA-256 over everything in ``checkpoint`` but :data:`CHECKSUM_KEY`: tensors by dtype, shape
    and bytes, containers in order, other values by type and ``repr``.

    ``torch.load`` does not notice most flipped bytes inside tensor data (the zip records are not
    CRC-checked on read), so the checkpoint carries this digest and every load here compares it.
    """
    import hashlib

    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in checkpoint.items() if k != CHECKSUM_KEY})
    return digest.hexdigest()


def previous_path(path: PathLike) -> Path:
    """Where the checkpoint before ``path`` is kept: ``last.ckpt`` → ``last.ckpt.prev``."""
    path = Path(path)
    return path.with_name(path.name + PREVIOUS_SUFFIX)


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupted, or not one of ours."""


def read_checkpoint(path: PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)``, checked to be a dict with a ``state_dict`` whose
    content matches its checksum (checkpoints without one, e.g. written by other tools, are not
    checked).

    Raises :class:`CheckpointError` naming the file if it is missing,
    unreadable (truncated, bytes flipped, not a torch file, holds objects that are not plain data)
    or not a Lightning checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"{path}: is a folder, where a checkpoint file is expected "
            f"(for example {path / 'checkpoints' / 'best.ckpt'})"
        )
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(err).__name__}: {str(err)[:200]}); "
            "it is truncated or corrupted, or was not written by diffpool"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a training checkpoint (no state_dict inside)")
    stored = checkpoint.get(CHECKSUM_KEY)
    if stored is not None and stored != content_digest(checkpoint):
        raise CheckpointError(
            f"{path}: corrupted (its content does not match the checksum written with it; "
            "bytes were changed after it was saved)"
        )
    return checkpoint


def _first_readable(path: Path, map_location: Any = "cpu") -> tuple[Path, dict[str, Any]] | None:
    for candidate in (path, previous_path(path)):
        if not candidate.exists():
            continue
        try:
            checkpoint = read_checkpoint(candidate, map_location)
        except CheckpointError as err:
            log.warning(
                "%s; %s",
                err,
                "trying the previous checkpoint" if candidate == path else "no earlier checkpoint is kept",
            )
            continue
        if candidate != path:
            log.warning("resuming from %s, the checkpoint before the corrupted %s", candidate, path.name)
        return candidate, checkpoint
    return None


def load_resumable_checkpoint(path: PathLike) -> Path | None:
    """The newest readable checkpoint among ``path`` (e.g. ``last.ckpt``) and ``path.prev``.

    Readable means ``torch.load(weights_only=True)`` succeeds and gives a dict with a
    ``state_dict``. A corrupted file is reported with a warning naming it and left in place
    (resuming through :class:`AtomicCheckpointIO` moves it aside). Returns ``None`` when neither file
    exists or neither is readable (then training must start afresh).
    """
    found = _first_readable(Path(path))
    return None if found is None else found[0]


def _own_state_dict(path: Path, map_location: Any) -> dict[str, Any] | None:
    """The bare state dict in ``path`` if this IO wrote one (a dict of tensors whose checksum
    matches), without the checksum; otherwise None.

    Lightning's ``ddp_spawn`` hands the trained weights from the worker back to the main process
    as such a file, saved and loaded through the trainer's checkpoint IO; it is not a training
    checkpoint, so :func:`read_checkpoint` would refuse it.
    """
    if not path.is_file():
        return None
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # not readable: the training-checkpoint path reports it
        return None
    if (
        not isinstance(content, dict)
        or "state_dict" in content
        or content.get(CHECKSUM_KEY) != content_digest(content)
    ):
        return None
    weights = {key: value for key, value in content.items() if key != CHECKSUM_KEY}
    return weights if all(isinstance(value, torch.Tensor) for value in weights.values()) else None


def _fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (best effort: not every OS / file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _keep_previous(path: Path) -> None:
    """Make ``path.prev`` the current content of ``path`` without ever leaving either half-written."""
    if not path.is_file():
        return
    prev = previous_path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{prev.name}.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)
    try:
        try:
            os.link(path, tmp)  # same inode: no copy, and the rename below replaces only the name
        except OSError:  # file systems without hard links: copy (still atomic through the rename)
            import shutil

            shutil.copyfile(path, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, prev)
        # A run killed between keeping .prev and replacing path leaves both names on one file, and
        # rename() between two links of one file does nothing: the temporary link would stay behind.
        Path(tmp).unlink(missing_ok=True)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _set_aside(corrupted: Path) -> None:
    """Rename a corrupted checkpoint to ``NAME.corrupt`` (kept for inspection): left in place, the next
    save would keep it as ``.prev`` over the good checkpoint that the run resumed from."""
    aside = corrupted.with_name(corrupted.name + ".corrupt")
    try:
        os.replace(corrupted, aside)
    except FileNotFoundError:  # another DDP process moved it first
        return
    log.warning("moved the corrupted %s to %s", corrupted, aside.name)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Atomic checkpoint writes that keep the previous checkpoint; weights-only loads with fallback."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save({**checkpoint, CHECKSUM_KEY: content_digest(checkpoint)}, buffer)
        try:
            fd, tmp = new_temporary(path)
        except OSError as error:
            raise write_error(error, path, error.filename) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(buffer.getbuffer())
                handle.flush()
                os.fsync(handle.fileno())
            _keep_previous(path)
            os.replace(tmp, path)
        except OSError as error:  # named as the checkpoint, not the temporary file (a full disk, ...)
            Path(tmp).unlink(missing_ok=True)
            raise write_error(error, path, error.filename) from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def load_checkpoint(
        self,
        path,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Load ``path`` with ``weights_only=True`` (always); if it is corrupted, ``path.prev``.

        Raises :class:`CheckpointError` when neither is readable.
        """
        path = Path(path)
        weights = _own_state_dict(path, map_location)
        if weights is not None:
            return weights
        found = _first_readable(path, map_location)
        if found is None:
            if not path.exists() and not previous_path(path).exists():
                raise FileNotFoundError(f"Checkpoint file not found: {path}")
            raise CheckpointError(
                f"{path}: corrupted, and no readable earlier checkpoint "
                f"({previous_path(path).name}) is kept; delete the folder {path.parent} "
                "to train this run afresh"
            )
        if found[0] != path:
            _set_aside(path)
        return found[1]

    def remove_checkpoint(self, path) -> None:
        # .prev first: a kill between the two must not leave a .prev that a resume would take up.
        previous_path(path).unlink(missing_ok=True)
        super().remove_checkpoint(path)
