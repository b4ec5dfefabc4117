"""Plain JSON values from analytics results (the frozen dataclasses of ``keliu.analytics.metrics`` and
``keliu.analytics.queries``), for ``keliu dashboard --json``, ``keliu analytics … --json`` and an API.

Rules: a dataclass becomes an object of its fields (in field order, nested ones too); dates and
datetimes are ISO 8601 strings (datetimes keep their UTC offset); enums are their value; tuples,
lists, sets and frozensets are arrays (sets sorted); mapping keys become strings (dates as ISO);
NaN and ±infinity are ``null`` (JSON has no such numbers). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any

__all__ = ["dumps", "to_jsonable"]


def _key(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def to_jsonable(value: Any) -> Any:
    """``value`` as ``None``, bool, int, float, str, list or dict (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime | date | time):  # datetime is a date: one branch for all three
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [to_jsonable(v) for v in sorted(value, key=repr)]
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot represent {type(value).__name__} as JSON")


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """One JSON document of ``value`` (UTF-8 text, Chinese names kept as they are)."""
    return json.dumps(to_jsonable(value), ensure_ascii=False, allow_nan=False, indent=indent)
