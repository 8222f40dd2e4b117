"""Results on disk: atomic JSON writes, validated reads, versions, the markdown row."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

from ..atomic import atomic_open

__all__ = ["atomic_write_json", "atomic_write_text", "read_json", "versions", "ResultsError"]


class ResultsError(ValueError):
    """A results or splits file is missing, truncated or not what it should be."""


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` so that ``path`` holds either the old or the new content, never half of it."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(
    path: str | os.PathLike, *, required: tuple[str, ...] = (), finite: tuple[str, ...] = ()
) -> Any:
    """Read a JSON file we wrote, with a clear error if it is truncated, lacks ``required`` keys or
    holds anything but a finite number under a ``finite`` key (those are returned as floats)."""
    from ..data.errors import text_encoding_problem

    path = Path(path)
    if path.is_dir():
        raise ResultsError(f"{path}: is a folder, where a JSON file is expected")
    try:
        raw = path.read_bytes()
        problem = text_encoding_problem(raw)
        if problem is not None:  # named as what it is (gzip data, UTF-16), not as bad JSON
            raise ResultsError(
                f"{path}: is {problem[0]}, not the JSON diffpool writes; {problem[1]}, "
                "or delete it to recompute it"
            )
        obj = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: file not found") from None
    except OSError as err:  # no permission, an I/O error, ...
        raise ResultsError(f"{path}: cannot be read ({err.strerror or err})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsError(
            f"{path}: not valid JSON ({err}); the file is truncated or corrupted. Delete it to recompute it."
        ) from None
    missing = [key for key in required if not isinstance(obj, dict) or key not in obj]
    if missing:
        raise ResultsError(
            f"{path}: missing {', '.join(missing)}; the file is incomplete. Delete it to recompute it."
        )
    for key in finite:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ResultsError(
                f"{path}: {key} is {value!r}, not a finite number; the file is damaged. "
                "Delete it to recompute it."
            )
        obj[key] = float(value)
    return obj


def versions() -> dict[str, str]:
    import lightning
    import sklearn
    import torch
    import torch_geometric

    from .. import __version__
    from ..provenance import git_commit

    return {
        "diffpool": __version__,
        "commit": git_commit(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "lightning": lightning.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }
