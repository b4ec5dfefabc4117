"""消息规则 message rules and the 消息 messages they fired (REQUIREMENTS O4): a site's thresholds on
its live figures, kept with the period each last fired in, and what fired (metadata only: figures,
never a person).

Kinds (``RuleKind``):

* ``occupancy`` — customers present now (实时驻留人数: distinct customer visits with an open zone
  stay) above ``threshold``; at most once per local hour.
* ``hourly_entries`` — entries (总客流) of the current local hour above ``threshold``; at most once
  per local hour.
* ``traffic_change`` — today's entries so far against the same elapsed part of the previous day,
  the same weekday last week or the same date last month (``compare``), moved by more than
  ``threshold`` per cent up, down or either way (``direction``), judged only once that previous
  period counted at least ``min_count`` entries; at most once per local day.

What a rule measures is computed in the service (``keliu.service.messages``); the store checks
rules, keeps them and records a firing atomically: :meth:`MessageStore.fire_message` writes the
message only if the rule has not fired in that period yet (a conditional update of
``last_period``), so two evaluations of the same period never fire twice.

:class:`MessageStore` is a mixin of :class:`keliu.store.Store`.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import EllipsisType
from typing import Any, Literal, get_args

import sqlalchemy as sa

from keliu.errors import InputError, NotFound
from keliu.store import schema as t

__all__ = [
    "COMPARES",
    "DIRECTIONS",
    "MAX_RULES",
    "RULE_KINDS",
    "SEVERITIES",
    "Compare",
    "Direction",
    "Message",
    "MessageRule",
    "MessageStore",
    "RuleKind",
    "Severity",
    "check_rule",
]

RuleKind = Literal["occupancy", "hourly_entries", "traffic_change"]
Compare = Literal["day", "week", "month"]
Direction = Literal["up", "down", "both"]
Severity = Literal["info", "warning", "critical"]
RULE_KINDS: tuple[RuleKind, ...] = get_args(RuleKind)
COMPARES: tuple[Compare, ...] = get_args(Compare)
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

MAX_RULES = 50  # per site: every enabled rule is evaluated every minute
MAX_COUNT = 1_000_000  # the largest threshold of a count (people), and of min_count
MAX_PERCENT = 10_000.0  # the largest threshold of a change (per cent)
DEFAULT_MIN_COUNT = 20
MAX_NAME = 200
MAX_TEXT = 1000


@dataclass(frozen=True)
class MessageRule:
    """A stored rule (module docstring). ``compare``, ``direction`` and ``min_count`` are set for
    ``traffic_change`` only; ``last_period`` is the local hour (``2026-12-02T14``) or day
    (``2026-12-02``) it last fired in."""

    site_id: str
    rule_id: str
    kind: RuleKind
    threshold: float
    enabled: bool = True
    compare: Compare | None = None
    direction: Direction | None = None
    min_count: int | None = None
    severity: Severity = "warning"
    name: str | None = None
    created_by: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_period: str | None = None
    last_fired_at: datetime | None = None


@dataclass(frozen=True)
class Message:
    """A fired message: when, which rule (None once the rule is removed: kept as it is), its kind,
    severity, one line of text and the figures in ``details``."""

    site_id: str
    message_id: str
    rule_id: str | None
    kind: str
    at: datetime
    severity: Severity
    text: str
    details: dict[str, Any]


def _rule(row: Any) -> MessageRule:
    return MessageRule(
        site_id=row.site_id,
        rule_id=row.rule_id,
        kind=row.kind,
        threshold=float(row.threshold),
        enabled=bool(row.enabled),
        compare=row.compare,
        direction=row.direction,
        min_count=row.min_count,
        severity=row.severity,
        name=row.name,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_period=row.last_period,
        last_fired_at=row.last_fired_at,
    )


def _message(row: Any) -> Message:
    return Message(
        row.site_id,
        row.message_id,
        row.rule_id,
        row.kind,
        row.at,
        row.severity,
        row.text,
        dict(row.details or {}),
    )


def _name(value: str | None) -> str | None:
    if value is None:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError("name: no control characters")
    text = value.strip()
    if len(text) > MAX_NAME:
        raise InputError(f"name: at most {MAX_NAME} characters")
    return text or None


def check_rule(
    kind: str,
    threshold: float,
    *,
    compare: str | None = None,
    direction: str | None = None,
    min_count: int | None = None,
    severity: str = "warning",
) -> tuple[Compare | None, Direction | None, int | None]:
    """Check a rule's condition; returns ``compare``, ``direction`` and ``min_count`` with the
    defaults of ``traffic_change`` filled in (day, both, 20). :class:`InputError` with one sentence
    for an unknown kind, compare, direction or severity, a threshold out of range, or a
    ``traffic_change`` field on a threshold rule."""
    if kind not in RULE_KINDS:
        raise InputError(f"kind must be one of {', '.join(RULE_KINDS)}, not {kind!r}")
    if severity not in SEVERITIES:
        raise InputError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise InputError("threshold must be a number")
    if kind != "traffic_change":
        given = [
            n
            for n, v in (("compare", compare), ("direction", direction), ("min_count", min_count))
            if v is not None
        ]
        if given:
            raise InputError(f"{', '.join(given)}: only a traffic_change rule takes them")
        if not 1 <= threshold <= MAX_COUNT:
            raise InputError(f"threshold: a number of people from 1 to {MAX_COUNT} ({kind})")
        return None, None, None
    if not 0 < threshold <= MAX_PERCENT:
        raise InputError(f"threshold: a change in per cent above 0 and at most {MAX_PERCENT:g}")
    compare = compare or "day"
    if compare not in COMPARES:
        raise InputError(f"compare must be one of {', '.join(COMPARES)}, not {compare!r}")
    direction = direction or "both"
    if direction not in DIRECTIONS:
        raise InputError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    min_count = DEFAULT_MIN_COUNT if min_count is None else min_count
    if isinstance(min_count, bool) or not isinstance(min_count, int) or not 1 <= min_count <= MAX_COUNT:
        raise InputError(f"min_count: a whole number from 1 to {MAX_COUNT}")
    return compare, direction, min_count


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class MessageStore:
    """Message-rule and message methods of :class:`keliu.store.Store` (module docstring)."""

    # provided by Store
    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------------------- rules

    def add_message_rule(
        self,
        site_id: str,
        kind: str,
        threshold: float,
        *,
        enabled: bool = True,
        compare: str | None = None,
        direction: str | None = None,
        min_count: int | None = None,
        severity: str = "warning",
        name: str | None = None,
        created_by: str | None = None,
        now: datetime | None = None,
    ) -> MessageRule:
        """Add a rule to the site (it gets a new id); InputError for a bad rule (:func:`check_rule`)
        or a site with :data:`MAX_RULES` rules already, NotFound for an unknown site."""
        compare, direction, min_count = check_rule(
            kind, threshold, compare=compare, direction=direction, min_count=min_count, severity=severity
        )
        at = _aware(now or datetime.now(UTC), "now")
        rule_id = "r" + secrets.token_hex(6)
        row = {
            "site_id": site_id,
            "rule_id": rule_id,
            "kind": kind,
            "threshold": float(threshold),
            "compare": compare,
            "direction": direction,
            "min_count": min_count,
            "severity": severity,
            "name": _name(name),
            "enabled": bool(enabled),
            "created_by": created_by,
            "created_at": at,
            "updated_at": at,
            "last_period": None,
            "last_fired_at": None,
        }
        r = t.message_rules.c
        with self._begin() as conn:
            self._site(conn, site_id)
            count = conn.execute(sa.select(sa.func.count()).where(r.site_id == site_id)).scalar_one()
            if count >= MAX_RULES:
                raise InputError(f"a site has at most {MAX_RULES} message rules; remove one first")
            conn.execute(sa.insert(t.message_rules).values(row))
            return self._one_rule(conn, site_id, rule_id)

    def message_rules(self, site_id: str) -> list[MessageRule]:
        """The site's rules, oldest first."""
        r = t.message_rules.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(t.message_rules).where(r.site_id == site_id).order_by(r.created_at, r.rule_id)
            ).all()
        return [_rule(row) for row in rows]

    def message_rule(self, site_id: str, rule_id: str) -> MessageRule:
        """One rule; NotFound if the site has none of that id."""
        with self._connect() as conn:
            self._site(conn, site_id)
            return self._one_rule(conn, site_id, rule_id)

    def _one_rule(self, conn: sa.Connection, site_id: str, rule_id: str) -> MessageRule:
        r = t.message_rules.c
        row = conn.execute(
            sa.select(t.message_rules).where(r.site_id == site_id, r.rule_id == rule_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no message rule {rule_id!r} at this site")
        return _rule(row)

    def enabled_message_rules(self) -> list[MessageRule]:
        """Every enabled rule of every site, by site (what the evaluation reads each minute)."""
        r = t.message_rules.c
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(t.message_rules)
                .where(r.enabled.is_(True))
                .order_by(r.site_id, r.created_at, r.rule_id)
            ).all()
        return [_rule(row) for row in rows]

    def update_message_rule(
        self,
        site_id: str,
        rule_id: str,
        *,
        threshold: float | EllipsisType = ...,
        enabled: bool | EllipsisType = ...,
        compare: str | EllipsisType | None = ...,
        direction: str | EllipsisType | None = ...,
        min_count: int | EllipsisType | None = ...,
        severity: str | EllipsisType = ...,
        name: str | EllipsisType | None = ...,
        now: datetime | None = None,
    ) -> MessageRule:
        """Change what is given (``...``: left as it is; None for ``compare``, ``direction`` or
        ``min_count`` of a ``traffic_change`` rule: back to the default). A changed condition
        (threshold, compare, direction, min_count) forgets the last firing, so the new condition may
        fire in the current period. NotFound, or InputError as :meth:`add_message_rule`."""
        at = _aware(now or datetime.now(UTC), "now")
        r = t.message_rules.c
        with self._begin() as conn:
            self._site(conn, site_id)
            old = self._one_rule(conn, site_id, rule_id)
            new_threshold = old.threshold if isinstance(threshold, EllipsisType) else threshold
            new_compare = old.compare if isinstance(compare, EllipsisType) else compare
            new_direction = old.direction if isinstance(direction, EllipsisType) else direction
            new_min = old.min_count if isinstance(min_count, EllipsisType) else min_count
            new_severity = old.severity if isinstance(severity, EllipsisType) else severity
            checked = check_rule(
                old.kind,
                new_threshold,
                compare=new_compare,
                direction=new_direction,
                min_count=new_min,
                severity=new_severity,
            )
            values: dict[str, Any] = {
                "threshold": float(new_threshold),
                "compare": checked[0],
                "direction": checked[1],
                "min_count": checked[2],
                "severity": new_severity,
                "updated_at": at,
            }
            if not isinstance(enabled, EllipsisType):
                values["enabled"] = bool(enabled)
            if not isinstance(name, EllipsisType):
                values["name"] = _name(name)
            if (float(new_threshold), *checked) != (old.threshold, old.compare, old.direction, old.min_count):
                values["last_period"] = None
            conn.execute(
                sa.update(t.message_rules).where(r.site_id == site_id, r.rule_id == rule_id).values(values)
            )
            return self._one_rule(conn, site_id, rule_id)

    def remove_message_rule(self, site_id: str, rule_id: str) -> bool:
        """Remove a rule (its messages stay); False if the site has none of that id."""
        r = t.message_rules.c
        with self._begin() as conn:
            self._site(conn, site_id)
            result = conn.execute(
                sa.delete(t.message_rules).where(r.site_id == site_id, r.rule_id == rule_id)
            )
        return bool(result.rowcount)

    # ----------------------------------------------------------------------------- messages

    def fire_message(
        self,
        rule: MessageRule,
        period: str,
        text: str,
        details: Mapping[str, Any],
        *,
        at: datetime,
    ) -> Message | None:
        """Record that ``rule`` fired in ``period`` with this message, in one transaction, unless it
        fired in that period already, was switched off or removed meanwhile (then None: nothing is
        written)."""
        at = _aware(at, "at")
        r = t.message_rules.c
        message = Message(
            rule.site_id,
            str(uuid.uuid4()),
            rule.rule_id,
            rule.kind,
            at,
            rule.severity,
            text[:MAX_TEXT],
            dict(details),
        )
        with self._begin() as conn:
            claimed = conn.execute(
                sa.update(t.message_rules)
                .where(
                    r.site_id == rule.site_id,
                    r.rule_id == rule.rule_id,
                    r.enabled.is_(True),
                    sa.or_(r.last_period.is_(None), r.last_period != period),
                )
                .values(last_period=period, last_fired_at=at)
            )
            if not claimed.rowcount:
                return None
            conn.execute(
                sa.insert(t.messages).values(
                    site_id=message.site_id,
                    message_id=message.message_id,
                    rule_id=message.rule_id,
                    kind=message.kind,
                    at=message.at,
                    severity=message.severity,
                    text=message.text,
                    details=message.details,
                )
            )
        return message

    def messages(self, site_id: str, *, limit: int = 100, offset: int = 0) -> tuple[list[Message], int]:
        """The site's messages, newest first, a page of ``limit`` from ``offset``, and how many there
        are in all."""
        m = t.messages.c
        with self._connect() as conn:
            self._site(conn, site_id)
            total = int(conn.execute(sa.select(sa.func.count()).where(m.site_id == site_id)).scalar_one())
            rows = conn.execute(
                sa.select(t.messages)
                .where(m.site_id == site_id)
                .order_by(m.at.desc(), m.message_id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return [_message(row) for row in rows], total

    def purge_messages(self, before: datetime) -> int:
        """Delete every message older than ``before``; returns how many."""
        before = _aware(before, "before")
        with self._begin() as conn:
            result = conn.execute(sa.delete(t.messages).where(t.messages.c.at < before))
        return int(result.rowcount or 0)
