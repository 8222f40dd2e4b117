"""Saving a matplotlib figure in the format its file name asks for."""

from __future__ import annotations

from pathlib import Path

from ..models import ConfigError

__all__ = ["save_figure"]


def save_figure(fig, out_path: Path, dpi: int) -> Path:
    """``fig`` saved to ``out_path`` as its suffix says (``.png``, ``.pdf``, ``.svg``, ...; PNG without
    one); a suffix matplotlib cannot write is refused before anything is drawn to disk."""
    suffix = out_path.suffix.lower().lstrip(".")
    supported = fig.canvas.get_supported_filetypes()
    if suffix and suffix not in supported:
        raise ConfigError(
            f"{out_path}: cannot write a '.{suffix}' picture; name it "
            + ", ".join(f".{kind}" for kind in sorted(supported))
        )
    from ..atomic import atomic_open

    # Through a temporary file: a full disk leaves no half picture, and errors name out_path.
    with atomic_open(out_path, "wb") as handle:
        fig.savefig(handle, format=suffix or "png", dpi=dpi)
    return out_path
