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
        raise ConfigError(f"{out_path}: cannot write a '.{suffix}' picture; name it "
                          + ", ".join(f".{kind}" for kind in sorted(supported)))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, format=suffix or "png", dpi=dpi)
    return out_path
