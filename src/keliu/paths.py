"""Where keliu keeps its data on disk (``KELIU_HOME``) and finds its signature key. Nothing is created
at import time."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "SIGNATURE_KEY_FILE_ENV",
    "SIGNATURE_KEY_FILE_NAME",
    "keliu_home",
    "models_dir",
    "signature_key_file",
]

SIGNATURE_KEY_FILE_ENV = "KELIU_SIGNATURE_KEY_FILE"
SIGNATURE_KEY_FILE_NAME = "signature.key"


def keliu_home() -> Path:
    """The data directory: ``$KELIU_HOME`` or ``~/.local/share/keliu``."""
    configured = os.environ.get("KELIU_HOME")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".local" / "share" / "keliu"


def models_dir() -> Path:
    """Provisioned, converted models live here (one sub-directory per model)."""
    return keliu_home() / "models"


def signature_key_file() -> tuple[Path, bool]:
    """The signature key file and whether it was configured: ``($KELIU_SIGNATURE_KEY_FILE, True)`` when
    that is set (production: outside the data directory, docs/setup.md), else
    ``(KELIU_HOME/signature.key, False)``."""
    configured = os.environ.get(SIGNATURE_KEY_FILE_ENV)
    if configured:
        return Path(configured).expanduser(), True
    return keliu_home() / SIGNATURE_KEY_FILE_NAME, False
