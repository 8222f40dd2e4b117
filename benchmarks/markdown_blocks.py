"""Generated tables inside hand-written Markdown.

A document such as ``docs/PERFORMANCE.md`` is prose written by hand around blocks that a generator
owns; each block lies between two marker lines::

    <!-- BEGIN GENERATED: epoch-tables -->
    ...
    <!-- END GENERATED: epoch-tables -->

:func:`update_document` rewrites what lies between each pair and leaves every other line as it
was, so the prose is edited in Markdown and regenerating twice changes nothing. A generator that
meets a document without one of its blocks, with a block it does not know, or with unpaired
markers stops with :class:`MarkerError` rather than drop or misplace a table.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["MarkerError", "begin_marker", "end_marker", "block", "fill_blocks", "update_document"]

_MARKER = re.compile(r"^<!-- (BEGIN|END) GENERATED: (\S+) -->[ \t]*$", re.MULTILINE)


class MarkerError(ValueError):
    """The document's markers do not match the blocks its generator writes."""


def begin_marker(name: str) -> str:
    return f"<!-- BEGIN GENERATED: {name} -->"


def end_marker(name: str) -> str:
    return f"<!-- END GENERATED: {name} -->"


def block(name: str, content: str) -> str:
    """The block with its markers; blank lines around the content keep Markdown from running a
    table into the END marker."""
    content = content.strip("\n")
    inner = f"\n\n{content}\n\n" if content else "\n"
    return begin_marker(name) + inner + end_marker(name)


def fill_blocks(text: str, blocks: dict[str, str], source: str = "the document") -> str:
    """``text`` with the content of every block named in ``blocks`` replaced; nothing else changes.

    Every name in ``blocks`` must have exactly one BEGIN/END pair in ``text``, and ``text`` no pair
    of another name (``source`` names the document in the error)."""
    out, position, seen = [], 0, set()
    open_name: str | None = None
    for match in _MARKER.finditer(text):
        kind, name = match.groups()
        if kind == "BEGIN":
            if open_name is not None:
                raise MarkerError(
                    f"{source}: {begin_marker(name)} inside block {open_name!r}, "
                    f"before {end_marker(open_name)}"
                )
            if name not in blocks:
                raise MarkerError(
                    f"{source}: unknown generated block {name!r}; this generator writes {', '.join(blocks)}"
                )
            if name in seen:
                raise MarkerError(f"{source}: block {name!r} appears twice")
            out.append(text[position : match.start()])
            open_name = name
        else:
            if name != open_name:
                raise MarkerError(f"{source}: {end_marker(name)} without its {begin_marker(name)}")
            out.append(block(name, blocks[name]))
            position = match.end()
            seen.add(name)
            open_name = None
    if open_name is not None:
        raise MarkerError(f"{source}: {begin_marker(open_name)} has no {end_marker(open_name)}")
    missing = [name for name in blocks if name not in seen]
    if missing:
        raise MarkerError(
            f"{source}: no markers for {', '.join(missing)}; add "
            + " and ".join(f"{begin_marker(n)} … {end_marker(n)}" for n in missing)
            + " where the generated text belongs"
        )
    out.append(text[position:])
    return "".join(out)


def update_document(path: str | Path, blocks: dict[str, str], skeleton: str) -> Path:
    """Rewrite the generated blocks of the Markdown file ``path`` (written from ``skeleton``, a
    document with the markers and little else, if it does not exist yet). The file is left
    untouched when nothing in it changes."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    new = fill_blocks(skeleton if old is None else old, blocks, str(path))
    if new != old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new, encoding="utf-8")
    return path
