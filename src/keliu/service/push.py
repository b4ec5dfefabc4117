"""What the service pushes (实时推送), to live streams and to webhooks alike: the event types and
the ``data`` of each, built from domain types so the live stream and a webhook say the same thing.

    arrival     a new customer visit (到店): time, visit, batch and its size, clothing colours,
                camera, entrance; gender and age only when known (never guessed: null today)
    batch       a batch (批次) was created or changed (its size, its visits)
    reception   a reception update (接待: classification 看车/订单/售后/非客/店员, advisor);
                the data is given by the caller
    device      a camera went online or offline (设备在线/离线), or an outage ended
    alert       something needs a person's attention (free text with a kind and a severity)

Must not decide what counts as an arrival: the runtime does; this module only shapes the payload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from keliu.domain.visits import Visit
from keliu.store.reception import Reception

__all__ = [
    "EVENT_TYPES",
    "EventType",
    "alert_data",
    "arrival_data",
    "batch_data",
    "check_event_type",
    "device_data",
    "dumps",
    "iso",
    "reception_data",
]

EventType = Literal["arrival", "batch", "reception", "device", "alert"]
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)


def check_event_type(event_type: str) -> EventType:
    """``event_type`` if it is one of :data:`EVENT_TYPES`, else ValueError naming them."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; expected one of: {', '.join(EVENT_TYPES)}")
    return event_type  # type: ignore[return-value]


def iso(at: datetime) -> str:
    """A UTC instant as ISO 8601 with a ``Z`` (what JavaScript and most DMS parse)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()} given where a UTC instant is needed")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII kept as is (Chinese names stay readable), datetimes as :func:`iso`."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def arrival_data(
    visit: Visit,
    *,
    batch_size: int | None = None,
    entrance: str | None = None,
    entrance_group: str | None = None,
) -> dict[str, Any]:
    """The ``data`` of an arrival: the visit's first entry. ``entrance``: the entrance name (出入口)
    of that door line when the site names it."""
    first = min(visit.entries, key=lambda e: e.at) if visit.entries else None
    return {
        "visit_id": visit.visit_id,
        "at": iso(visit.first_entry),
        "category": str(visit.category),
        "returning": visit.returning,
        "batch_id": visit.batch_id,
        "batch_size": batch_size,
        "upper_colour": visit.upper_colour,
        "lower_colour": visit.lower_colour,
        "gender": None,  # not known: no model tells it reliably at CCTV distance
        "age": None,
        "camera_id": first.camera_id if first else None,
        "line_id": first.line_id if first else None,
        "entrance": entrance,
        "entrance_group": entrance_group,
    }


def batch_data(
    batch_id: str, *, started_at: datetime, size: int, visit_ids: tuple[str, ...] | list[str] = ()
) -> dict[str, Any]:
    """The ``data`` of a batch event (批次: people who arrived together)."""
    return {"batch_id": batch_id, "started_at": iso(started_at), "size": size, "visit_ids": list(visit_ids)}


def reception_data(reception: Reception) -> dict[str, Any]:
    """The ``data`` of a reception event (接待): the batch's classification and advisor as decided."""
    return {
        "batch_id": reception.batch_id,
        "category": reception.category,
        "advisor": reception.advisor,
        "note": reception.note,
        "updated_by": reception.updated_by,
        "updated_at": iso(reception.updated_at),
    }


def device_data(
    camera_id: str,
    status: Literal["online", "offline"],
    *,
    since: datetime,
    reason: str | None = None,
    attempts: int | None = None,
) -> dict[str, Any]:
    """The ``data`` of a device event: ``camera_id`` is ``status`` since ``since``; an offline camera's
    ``reason`` is its last error (credentials masked by the caller)."""
    return {
        "camera_id": camera_id,
        "status": status,
        "since": iso(since),
        "reason": reason,
        "attempts": attempts,
    }


def alert_data(
    kind: str,
    message: str,
    *,
    severity: Literal["info", "warning", "critical"] = "warning",
    camera_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``data`` of an alert."""
    return {
        "kind": kind,
        "severity": severity,
        "message": message,
        "camera_id": camera_id,
        "details": dict(details or {}),
    }
