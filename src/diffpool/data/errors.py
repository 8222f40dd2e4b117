"""The one exception the data layer raises for bad input, and a helper to phrase it.

Messages about a file start with ``path:LINE:`` (as compilers do) so that editors and terminals can
jump to the spot; line 0 means the file as a whole (for example when it is missing).
"""

from __future__ import annotations

import os
from typing import Union

__all__ = [
    "DataError",
    "DownloadError",
    "file_error",
    "text_encoding_problem",
    "decode_text",
    "read_text_file",
]

PathLike = Union[str, "os.PathLike[str]"]


class DataError(ValueError):
    """Input data that cannot be used as given: malformed files, mismatched features, bad splits."""


class DownloadError(DataError):
    """A data set is neither available locally nor downloadable (offline, or the URL failed)."""


def file_error(path: PathLike, line: int, message: str) -> DataError:
    """A :class:`DataError` whose message reads ``path:line: message``."""
    return DataError(f"{os.fspath(path)}:{line}: {message}")


# Leading bytes of files that are not plain text, and what to tell the user about them.
_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed data", "decompress it first (gunzip)"),
    (b"PK\x03\x04", "a zip archive", "unpack it first"),
    (b"BZh", "bzip2-compressed data", "decompress it first (bunzip2)"),
    (b"\xfd7zXZ\x00", "xz-compressed data", "decompress it first (unxz)"),
    (b"\x00\x00\xfe\xff", "UTF-32 text", "save it as UTF-8"),
    (b"\xff\xfe\x00\x00", "UTF-32 text", "save it as UTF-8"),
    (b"\xff\xfe", "UTF-16 text", "save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text", "save it as UTF-8"),
    (b"\xef\xbb\xbf", "UTF-8 text with a byte-order mark (BOM)", "save it as UTF-8 without a BOM"),
)


def text_encoding_problem(raw: bytes) -> tuple[str, str] | None:
    """``(what the bytes are, what to do)`` when ``raw`` is not plain UTF-8 text in a way worth naming
    (compressed, UTF-16/32, a byte-order mark), else None."""
    for magic, what, fix in _MAGIC:
        if raw.startswith(magic):
            return what, fix
    head = raw[:512]
    # UTF-16 without a BOM: ASCII text with a NUL beside every character.
    odd, even = head[1::2], head[0::2]
    if len(head) >= 8 and (odd.count(0) > 0.8 * len(odd) or even.count(0) > 0.8 * len(even)):
        return "UTF-16 text (no byte-order mark)", "save it as UTF-8"
    return None


def decode_text(path: PathLike, raw: bytes, *, allow_bom: bool = False) -> str:
    """``raw`` (the content of ``path``) as text; a :class:`DataError` naming the encoding when it
    is compressed, UTF-16/32 or (unless ``allow_bom``) starts with a byte-order mark. Other bytes
    that are not UTF-8 become U+FFFD, which the parsers report with the line."""
    problem = text_encoding_problem(raw)
    if problem is not None and not (allow_bom and raw.startswith(b"\xef\xbb\xbf")):
        what, fix = problem
        raise file_error(path, 1, f"is {what}, not plain text; {fix}")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw.decode("utf-8", errors="replace")


def read_text_file(path: PathLike, *, what: str = "file") -> str:
    """The text of ``path`` (see :func:`decode_text`); a :class:`DataError` naming it when it is a
    folder, missing or unreadable."""
    if os.path.isdir(path):
        raise file_error(path, 0, f"is a folder, where a {what} is expected")
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:  # missing, permissions, an I/O error: our error, naming the file
        raise file_error(path, 0, f"cannot be read ({error.strerror or error})") from None
    return decode_text(path, raw)
