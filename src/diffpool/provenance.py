"""Which source a result came from: the git commit of the checkout the package runs from."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

__all__ = ["git_commit"]


@functools.cache
def git_commit() -> str | None:
    """Short commit of the source tree, ``-dirty`` when it has uncommitted changes; None outside git.

    Read once per process, at the first call, which ``train`` and ``cv`` make before any training:
    a process runs the code it imported by then (nearly all of it), so a commit made while a long
    run trains is not credited with that run's folds.
    """
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=7"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None
