"""Webhooks (推送) and their persistent outbox: what to send where, and what has been sent.

* **Webhooks**: a receiver URL for one site or every site (``site_id`` None), the event types it
  wants, and its signing secret, sealed with the store's key (``SignatureCipher.seal_secret``) since
  delivery must read it back to sign.
* **Outbox**: one row per event and webhook, written in one transaction *before* anything is sent
  (:meth:`WebhookOutboxStore.enqueue`), so a restart never loses an undelivered webhook. A worker
  claims due rows for a lease (:meth:`~WebhookOutboxStore.claim_deliveries`: a conditional update, so
  two workers never hold the same row; a worker killed mid-send leaves the row to be claimed again
  when the lease ends) and records the outcome. The event id is the same for every attempt and every
  webhook of an event: receivers de-duplicate on it (delivery is at least once).

:class:`WebhookOutboxStore` is a mixin of :class:`keliu.store.Store`. It never sends anything and
knows no event catalogue or HTTP: ``keliu.service.webhooks`` validates event types, builds bodies,
signs and delivers.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from keliu.errors import InputError, NotFound
from keliu.store import schema as t
from keliu.store.crypto import SignatureCipher

__all__ = [
    "UNSET",
    "Delivery",
    "DeliveryStatus",
    "OutboxEvent",
    "Webhook",
    "WebhookNotFound",
    "WebhookOutboxStore",
]

DeliveryStatus = Literal["pending", "delivered", "dead"]
_SECRET_KIND = "webhook_secret"
_ERROR_LEN = 500


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()  # "leave unchanged" in update_webhook (None is a value there)


class WebhookNotFound(NotFound):
    """No webhook (or no delivery of it) with that id."""


@dataclass(frozen=True)
class Webhook:
    """A stored webhook (its secret is read separately, :meth:`WebhookOutboxStore.webhook_secret`)."""

    webhook_id: str
    site_id: str | None  # None: every site
    url: str
    event_types: tuple[str, ...]
    description: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OutboxEvent:
    """One event to push: ``payload`` is the complete JSON body, sent unchanged on every attempt."""

    event_id: str
    event_type: str
    site_id: str | None
    payload: Mapping[str, Any]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Delivery:
    """An outbox row: one event for one webhook, and how its delivery went."""

    event_id: str
    webhook_id: str
    event_type: str
    site_id: str | None
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    last_status: int | None
    last_error: str | None

    @property
    def status(self) -> DeliveryStatus:
        if self.delivered_at is not None:
            return "delivered"
        return "dead" if self.dead_at is not None else "pending"


def _webhook(row: Any) -> Webhook:
    return Webhook(
        webhook_id=row.id,
        site_id=row.site_id,
        url=row.url,
        event_types=tuple(row.event_types),
        description=row.description,
        active=bool(row.active),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        event_id=row.event_id,
        webhook_id=row.webhook_id,
        event_type=row.event_type,
        site_id=row.site_id,
        payload=dict(row.payload),
        created_at=row.created_at,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        dead_at=row.dead_at,
        last_status=row.last_status,
        last_error=row.last_error,
    )


def _status_filter(status: DeliveryStatus | None) -> list[Any]:
    c = t.webhook_outbox.c
    if status is None:
        return []
    if status == "delivered":
        return [c.delivered_at.is_not(None)]
    if status == "dead":
        return [c.delivered_at.is_(None), c.dead_at.is_not(None)]
    return [c.delivered_at.is_(None), c.dead_at.is_(None)]


def _key(event_id: str, webhook_id: str) -> tuple[Any, ...]:
    c = t.webhook_outbox.c
    return (c.event_id == event_id, c.webhook_id == webhook_id)


def _now(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"time must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class WebhookOutboxStore:
    """Webhook and outbox methods of :class:`keliu.store.Store` (see the module docstring)."""

    # provided by Store
    _cipher: SignatureCipher

    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------------- webhooks

    def create_webhook(
        self,
        url: str,
        secret: str,
        event_types: Sequence[str],
        *,
        site_id: str | None = None,
        description: str | None = None,
        active: bool = True,
    ) -> Webhook:
        """Add a webhook for ``site_id`` (None: every site). The caller validates the URL and the event
        types; an unknown site is :class:`keliu.errors.NotFound`."""
        if not secret:
            raise InputError("a webhook needs a signing secret")
        if not event_types:
            raise InputError("a webhook needs at least one event type")
        webhook_id = "wh_" + secrets.token_hex(8)
        now = datetime.now(UTC)
        with self._begin() as conn:
            if site_id is not None:
                self._site(conn, site_id)
            conn.execute(
                sa.insert(t.webhooks),
                {
                    "id": webhook_id,
                    "site_id": site_id,
                    "url": url,
                    "secret": self._seal(webhook_id, secret),
                    "event_types": list(dict.fromkeys(event_types)),
                    "description": description,
                    "active": active,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            return self._webhook(conn, webhook_id)

    def webhook(self, webhook_id: str) -> Webhook:
        """The webhook; :class:`WebhookNotFound` if there is none."""
        with self._connect() as conn:
            return self._webhook(conn, webhook_id)

    def webhooks(self, site_id: str | None = None, *, limit: int = 100, offset: int = 0) -> list[Webhook]:
        """Webhooks (those of ``site_id`` only when it is given), oldest first."""
        c = t.webhooks.c
        query = sa.select(t.webhooks).order_by(c.created_at, c.id).limit(limit).offset(offset)
        if site_id is not None:
            query = query.where(c.site_id == site_id)
        with self._connect() as conn:
            return [_webhook(r) for r in conn.execute(query)]

    def count_webhooks(self, site_id: str | None = None) -> int:
        c = t.webhooks.c
        query = sa.select(sa.func.count()).select_from(t.webhooks)
        if site_id is not None:
            query = query.where(c.site_id == site_id)
        with self._connect() as conn:
            return int(conn.execute(query).scalar_one())

    def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | _Unset = UNSET,
        secret: str | _Unset = UNSET,
        event_types: Sequence[str] | _Unset = UNSET,
        site_id: str | _Unset | None = UNSET,
        description: str | _Unset | None = UNSET,
        active: bool | _Unset = UNSET,
    ) -> Webhook:
        """Change the given fields (``UNSET`` leaves one as it is); :class:`WebhookNotFound` if none.
        Pending deliveries keep the body they were queued with and go to the new URL."""
        values: dict[str, Any] = {"updated_at": datetime.now(UTC)}
        if not isinstance(url, _Unset):
            values["url"] = url
        if not isinstance(secret, _Unset):
            if not secret:
                raise InputError("a webhook needs a signing secret")
            values["secret"] = self._seal(webhook_id, secret)
        if not isinstance(event_types, _Unset):
            if not event_types:
                raise InputError("a webhook needs at least one event type")
            values["event_types"] = list(dict.fromkeys(event_types))
        if not isinstance(site_id, _Unset):
            values["site_id"] = site_id
        if not isinstance(description, _Unset):
            values["description"] = description
        if not isinstance(active, _Unset):
            values["active"] = active
        with self._begin() as conn:
            self._webhook(conn, webhook_id)
            if isinstance(values.get("site_id"), str):
                self._site(conn, values["site_id"])
            conn.execute(sa.update(t.webhooks).where(t.webhooks.c.id == webhook_id).values(**values))
            return self._webhook(conn, webhook_id)

    def delete_webhook(self, webhook_id: str) -> bool:
        """Delete a webhook and its outbox rows; False if there was none."""
        with self._begin() as conn:
            conn.execute(sa.delete(t.webhook_outbox).where(t.webhook_outbox.c.webhook_id == webhook_id))
            return conn.execute(sa.delete(t.webhooks).where(t.webhooks.c.id == webhook_id)).rowcount > 0

    def webhook_secret(self, webhook_id: str) -> str:
        """The webhook's signing secret, decrypted."""
        with self._connect() as conn:
            blob = conn.execute(
                sa.select(t.webhooks.c.secret).where(t.webhooks.c.id == webhook_id)
            ).scalar_one_or_none()
        if blob is None:
            raise WebhookNotFound(f"unknown webhook {webhook_id!r}")
        return self._cipher.open_secret(blob, kind=_SECRET_KIND, site_id="", row=webhook_id).decode()

    def _seal(self, webhook_id: str, secret: str) -> bytes:
        return self._cipher.seal_secret(secret.encode(), kind=_SECRET_KIND, site_id="", row=webhook_id)

    def _webhook(self, conn: sa.Connection, webhook_id: str) -> Webhook:
        row = conn.execute(sa.select(t.webhooks).where(t.webhooks.c.id == webhook_id)).one_or_none()
        if row is None:
            raise WebhookNotFound(f"unknown webhook {webhook_id!r}")
        return _webhook(row)

    # --------------------------------------------------------------------------- outbox

    def enqueue(self, events: Sequence[OutboxEvent], *, webhook_id: str | None = None) -> int:
        """Write one outbox row per event and each active webhook that wants it (its site or every
        site, its event types), or for ``webhook_id`` alone (a test send, active or not), in one
        transaction. An event already queued for a webhook is not queued again. Returns the number
        of rows written; an unknown site is :class:`keliu.errors.NotFound` and nothing is written."""
        if not events:
            return 0
        with self._begin() as conn:
            for site in sorted({e.site_id for e in events if e.site_id is not None}):
                self._site(conn, site)
            if webhook_id is not None:
                targets = [self._webhook(conn, webhook_id)]
            else:
                rows = conn.execute(sa.select(t.webhooks).where(t.webhooks.c.active.is_(True)))
                targets = [_webhook(r) for r in rows]
            rows_out: list[dict[str, Any]] = []
            for event in events:
                created = _now(event.created_at)
                for hook in targets:
                    if webhook_id is None and (
                        event.event_type not in hook.event_types
                        or (hook.site_id is not None and hook.site_id != event.site_id)
                    ):
                        continue
                    rows_out.append(
                        {
                            "event_id": event.event_id,
                            "webhook_id": hook.webhook_id,
                            "event_type": event.event_type,
                            "site_id": event.site_id,
                            "payload": dict(event.payload),
                            "created_at": created,
                            "attempts": 0,
                            "next_attempt_at": created,
                            "delivered_at": None,
                            "dead_at": None,
                            "last_status": None,
                            "last_error": None,
                        }
                    )
            if not rows_out:
                return 0
            insert = (
                pg_dialect.insert(t.webhook_outbox)
                if conn.dialect.name == "postgresql"
                else sqlite_dialect.insert(t.webhook_outbox)
            )
            stmt = insert.on_conflict_do_nothing(index_elements=["event_id", "webhook_id"]).returning(
                t.webhook_outbox.c.event_id
            )
            written = 0
            for row in rows_out:  # rowcount is not reliable here (-1 on PostgreSQL): count what returns
                written += len(conn.execute(stmt, row).all())
            return written

    def claim_deliveries(
        self, *, limit: int = 50, lease_s: float = 60.0, now: datetime | None = None
    ) -> list[Delivery]:
        """Claim up to ``limit`` due deliveries of active webhooks, oldest due first, for ``lease_s``
        seconds: their next attempt moves to the end of the lease, so no other worker takes them and
        a worker that dies holding them hands them on when the lease ends."""
        now = _now(now)
        c = t.webhook_outbox.c
        due = (
            sa.select(t.webhook_outbox)
            .join(t.webhooks, t.webhooks.c.id == c.webhook_id)
            .where(
                t.webhooks.c.active.is_(True),
                c.delivered_at.is_(None),
                c.dead_at.is_(None),
                c.next_attempt_at <= now,
            )
            .order_by(c.next_attempt_at, c.created_at, c.event_id)
            .limit(limit)
        )
        until = now + timedelta(seconds=lease_s)
        claimed: list[Delivery] = []
        with self._begin() as conn:
            for row in conn.execute(due).all():
                got = conn.execute(
                    sa.update(t.webhook_outbox)
                    .where(
                        *_key(row.event_id, row.webhook_id),
                        c.next_attempt_at == row.next_attempt_at,
                        c.delivered_at.is_(None),
                        c.dead_at.is_(None),
                    )
                    .values(next_attempt_at=until)
                ).rowcount
                if got == 1:
                    claimed.append(_delivery(row))
        return claimed

    def record_delivered(
        self, event_id: str, webhook_id: str, *, status: int, at: datetime | None = None
    ) -> None:
        """The receiver accepted the delivery (a 2xx ``status``)."""
        c = t.webhook_outbox.c
        with self._begin() as conn:
            conn.execute(
                sa.update(t.webhook_outbox)
                .where(*_key(event_id, webhook_id))
                .values(
                    delivered_at=_now(at),
                    attempts=c.attempts + 1,
                    last_status=status,
                    last_error=None,
                )
            )

    def record_failed(
        self,
        event_id: str,
        webhook_id: str,
        *,
        error: str,
        status: int | None,
        next_attempt_at: datetime | None,
        at: datetime | None = None,
    ) -> None:
        """An attempt failed: try again at ``next_attempt_at``, or give up (dead letter) when it is
        None."""
        c = t.webhook_outbox.c
        now = _now(at)
        values: dict[str, Any] = {
            "attempts": c.attempts + 1,
            "last_status": status,
            "last_error": error[:_ERROR_LEN],
        }
        if next_attempt_at is None:
            values["dead_at"] = now
        else:
            values["next_attempt_at"] = _now(next_attempt_at)
        with self._begin() as conn:
            conn.execute(sa.update(t.webhook_outbox).where(*_key(event_id, webhook_id)).values(**values))

    def release_delivery(
        self, event_id: str, webhook_id: str, next_attempt_at: datetime, *, note: str | None = None
    ) -> None:
        """Hand back a claimed delivery that was not attempted, due at ``next_attempt_at``; ``note``
        (why it waits) replaces its last error."""
        values: dict[str, Any] = {"next_attempt_at": _now(next_attempt_at)}
        if note is not None:
            values["last_error"] = note[:_ERROR_LEN]
        with self._begin() as conn:
            conn.execute(
                sa.update(t.webhook_outbox)
                .where(*_key(event_id, webhook_id), t.webhook_outbox.c.delivered_at.is_(None))
                .values(**values)
            )

    def retry_delivery(self, event_id: str, webhook_id: str, *, now: datetime | None = None) -> Delivery:
        """Queue a delivery again now, whatever its state (a dead letter, or one to send again); its
        delivery window starts over. :class:`WebhookNotFound` if there is no such delivery."""
        now = _now(now)
        with self._begin() as conn:
            done = conn.execute(
                sa.update(t.webhook_outbox)
                .where(*_key(event_id, webhook_id))
                .values(delivered_at=None, dead_at=None, next_attempt_at=now, created_at=now)
            ).rowcount
            if done != 1:
                raise WebhookNotFound(f"webhook {webhook_id!r} has no delivery of event {event_id!r}")
            row = conn.execute(sa.select(t.webhook_outbox).where(*_key(event_id, webhook_id))).one()
            return _delivery(row)

    def expire_deliveries(self, queued_before: datetime, *, now: datetime | None = None) -> int:
        """Dead-letter every pending delivery queued before ``queued_before`` (the maximum age has
        passed, e.g. its webhook was paused all that time). Returns how many."""
        c = t.webhook_outbox.c
        with self._begin() as conn:
            return conn.execute(
                sa.update(t.webhook_outbox)
                .where(c.delivered_at.is_(None), c.dead_at.is_(None), c.created_at < _now(queued_before))
                .values(
                    dead_at=_now(now),
                    last_error=sa.func.coalesce(c.last_error, "expired before a delivery attempt"),
                )
            ).rowcount

    def purge_deliveries(self, before: datetime) -> int:
        """Delete deliveries delivered or dead-lettered before ``before`` (bounded history)."""
        c = t.webhook_outbox.c
        cut = _now(before)
        with self._begin() as conn:
            return conn.execute(
                sa.delete(t.webhook_outbox).where(
                    sa.or_(c.delivered_at < cut, sa.and_(c.delivered_at.is_(None), c.dead_at < cut))
                )
            ).rowcount

    def delivery(self, event_id: str, webhook_id: str) -> Delivery:
        with self._connect() as conn:
            row = conn.execute(sa.select(t.webhook_outbox).where(*_key(event_id, webhook_id))).one_or_none()
        if row is None:
            raise WebhookNotFound(f"webhook {webhook_id!r} has no delivery of event {event_id!r}")
        return _delivery(row)

    def deliveries(
        self,
        webhook_id: str | None = None,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Delivery]:
        """Outbox rows (of one webhook when given, in one state when given), newest first."""
        c = t.webhook_outbox.c
        query = sa.select(t.webhook_outbox).where(*_status_filter(status))
        if webhook_id is not None:
            query = query.where(c.webhook_id == webhook_id)
        query = query.order_by(c.created_at.desc(), c.event_id).limit(limit).offset(offset)
        with self._connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def count_deliveries(self, webhook_id: str | None = None, *, status: DeliveryStatus | None = None) -> int:
        c = t.webhook_outbox.c
        query = sa.select(sa.func.count()).select_from(t.webhook_outbox).where(*_status_filter(status))
        if webhook_id is not None:
            query = query.where(c.webhook_id == webhook_id)
        with self._connect() as conn:
            return int(conn.execute(query).scalar_one())
