"""The one exception hierarchy of keliu.

    KeliuError                 anything keliu raises on purpose; its message is shown to the user
    ├── ConfigError            a site config file or a command-line value is wrong
    ├── InputError             a video file or stream cannot be opened or decoded
    │   └── StreamUnavailable  a network/USB source cannot be reached (retry may help)
    └── ModelError             a model is missing, corrupt, or fails its checksum

Domain errors know nothing of HTTP or of the terminal: the CLI prints ``str(error)`` on one line
and exits non-zero; a future API maps them to one JSON error envelope.
"""

from __future__ import annotations

__all__ = ["ConfigError", "InputError", "KeliuError", "ModelError", "StreamUnavailable"]


class KeliuError(Exception):
    """Base class: the message is a complete, user-facing sentence."""


class ConfigError(KeliuError):
    """A config file or argument is invalid; with a file, messages read ``file:line: key: message``."""


class InputError(KeliuError):
    """A video source cannot be opened or read."""


class StreamUnavailable(InputError):
    """A network or device source is unreachable right now; callers may retry with back-off."""


class ModelError(KeliuError):
    """A model is not installed, fails its checksum, or cannot be converted/loaded."""
