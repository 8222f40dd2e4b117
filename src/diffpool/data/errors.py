"""The one exception the data layer raises for bad input, and a helper to phrase it.

Messages about a file start with ``path:LINE:`` (as compilers do) so that editors and terminals can
jump to the spot; line 0 means the file as a whole (for example when it is missing).
"""
from __future__ import annotations

import os
from typing import Union

__all__ = ["DataError", "DownloadError", "file_error"]

PathLike = Union[str, "os.PathLike[str]"]


class DataError(ValueError):
    """Input data that cannot be used as given: malformed files, mismatched features, bad splits."""


class DownloadError(DataError):
    """A data set is neither available locally nor downloadable (offline, or the URL failed)."""


def file_error(path: PathLike, line: int, message: str) -> DataError:
    """A :class:`DataError` whose message reads ``path:line: message``."""
    return DataError(f"{os.fspath(path)}:{line}: {message}")
