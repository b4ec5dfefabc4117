"""Where keliu keeps its data on disk (``KELIU_HOME``). Nothing is created at import time."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["keliu_home", "models_dir"]


def keliu_home() -> Path:
    """The data directory: ``$KELIU_HOME`` or ``~/.local/share/keliu``."""
    configured = os.environ.get("KELIU_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".local" / "share" / "keliu"


def models_dir() -> Path:
    """Provisioned, converted models live here (one sub-directory per model)."""
    return keliu_home() / "models"
