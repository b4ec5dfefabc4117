"""The one exception hierarchy of keliu.

    KeliuError                 anything keliu raises on purpose; its message is shown to the user
    ├── ConfigError            a site config file or a command-line value is wrong
    ├── InputError             a video file or stream cannot be opened or decoded; input data is wrong
    │   ├── StreamUnavailable  a network/USB source cannot be reached (retry may help)
    │   ├── NotFound           what was asked for (a site, a user, a visit) does not exist
    │   └── Conflict           it exists already, or another writer holds it
    ├── ModelError             a model is missing, corrupt, or fails its checksum
    ├── Unauthenticated        no valid session or API token (or wrong password)
    │   └── TooManyAttempts    too many failed logins: wait before trying again
    └── Forbidden              the user's role or sites do not allow it

Domain errors know nothing of HTTP or of the terminal: the CLI prints ``str(error)`` on one line
and exits non-zero; the API (``keliu.service.errors``) maps them to one JSON error envelope. Every
class has a stable ``code`` (snake case) that API clients can rely on; messages may change.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "Conflict",
    "Forbidden",
    "InputError",
    "KeliuError",
    "ModelError",
    "NotFound",
    "StreamUnavailable",
    "TooManyAttempts",
    "Unauthenticated",
]


class KeliuError(Exception):
    """Base class: the message is a complete, user-facing sentence."""

    code = "keliu_error"


class ConfigError(KeliuError):
    """A config file or argument is invalid; with a file, messages read ``file:line: key: message``."""

    code = "invalid_argument"


class InputError(KeliuError):
    """A video source cannot be opened or read, or input data (a file, a site id, a row) is wrong."""

    code = "invalid_input"


class StreamUnavailable(InputError):
    """A network or device source is unreachable right now; callers may retry with back-off."""

    code = "stream_unavailable"


class ModelError(KeliuError):
    """A model is not installed, fails its checksum, or cannot be converted/loaded."""

    code = "model_unavailable"


class NotFound(InputError):
    """What was asked for does not exist (or is not visible to the user: the API never tells which)."""

    code = "not_found"


class Conflict(InputError):
    """It exists already (a user name, an id), or the state does not allow the change."""

    code = "conflict"


class Unauthenticated(KeliuError):
    """No valid session or API token, or a wrong user name or password."""

    code = "unauthenticated"


class Forbidden(KeliuError):
    """The user's role does not allow the action."""

    code = "forbidden"


class TooManyAttempts(Unauthenticated):
    """Too many failed logins for this user from this address: wait before trying again."""

    code = "too_many_attempts"
