"""Webhooks (推送): signed HTTP POSTs of arrivals, batches, receptions, device and alert events to a
dealer system (DMS), delivered from the persistent outbox (``keliu.store.webhooks``).

    hooks = Webhooks(store)                  # one per process
    hooks.start()                            # the delivery worker (a thread)
    hooks.publish("arrival", "showroom-1", arrival_data(visit, batch_size=2))
    ...
    hooks.stop()

:meth:`Webhooks.publish` writes one outbox row per subscribed webhook before it returns (so an event
that was published is never lost by a restart) and wakes the worker. The worker claims due rows, signs
each body and POSTs it; a 2xx answer marks it delivered, anything else (an error status, a refused
connection, a timeout) schedules the next attempt with exponential back-off (``first_retry_s``
doubling up to ``max_retry_s``, ±``jitter``), until ``max_age_s`` after the event: then it is
dead-lettered, listed with its last error, and can be queued again by hand. Delivery is at least
once: the ``X-Keliu-Event-Id`` (the body's ``id``) is the same on every attempt, receivers
de-duplicate on it. Order is not guaranteed across retries: use ``occurred_at``. Publishing an event
id that is queued already writes nothing (the push bridge gives arrivals ids derived from the visit,
so :meth:`Webhooks.queue_missed` can queue again, after a crash, whatever may have been lost).

Signature (docs/api.md "Webhooks"): ``X-Keliu-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256 with the webhook's secret over ``"<t>." + body``; :func:`verify_signature` is the
receiver's check. Must not decide what an arrival is (the runtime does) or who may configure a
webhook (``keliu.service.routers.webhooks`` asks the caller's authorize hook).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from keliu import __version__
from keliu.errors import InputError
from keliu.service.push import EVENT_TYPES, check_event_type, dumps, iso
from keliu.store import Store
from keliu.store.webhooks import Delivery, OutboxEvent, Webhook, WebhookNotFound

__all__ = [
    "EVENT_TYPES",
    "PING_EVENT",
    "DeliverySettings",
    "PastEvent",
    "SendResult",
    "WebhookSender",
    "Webhooks",
    "event_body",
    "sign",
    "signature_header",
    "verify_signature",
]

log = logging.getLogger(__name__)

PING_EVENT = "ping"  # the test send's event type (never queued, never subscribed to)
# queue_missed: a webhook gets a past event that occurred at most this long before it was created or
# last changed. A past event's time (an arrival's first entry) comes before the moment it would have
# been published (when the track ended and the visit was committed: seconds, or minutes for someone
# standing in view), and a webhook created in between would have got it live.
MISSED_GRACE = timedelta(minutes=10)
SIGNATURE_TOLERANCE_S = 300  # receivers refuse a signature older (or newer) than this


# ------------------------------------------------------------------------------------- signing


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>." + body`` with ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True if ``header`` (``X-Keliu-Signature``) signs ``body`` (the raw bytes received) with
    ``secret`` at a time within ``tolerance_s`` of ``now`` (replays of old deliveries fail)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


def event_body(
    event_type: str,
    event_id: str,
    occurred_at: datetime,
    site: tuple[str, str] | None,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON body of a webhook (docs/api.md): ``event``, ``id``, ``occurred_at``, ``site`` {id,
    name} (null for an organisation-wide event) and ``data``."""
    return {
        "event": event_type,
        "id": event_id,
        "occurred_at": iso(occurred_at),
        "site": None if site is None else {"id": site[0], "name": site[1]},
        "data": dict(data),
    }


# ------------------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class DeliverySettings:
    """How webhooks are delivered (defaults suit a DMS on the same network)."""

    timeout_s: float = 10.0  # per attempt: connect, send and the receiver's answer
    first_retry_s: float = 5.0  # wait after the first failure; doubles per failure …
    max_retry_s: float = 900.0  # … up to this
    jitter: float = 0.2  # each wait × a random factor in [1 - jitter, 1 + jitter]
    max_age_s: float = 86_400.0  # an event not delivered this long after it was queued is dead-lettered
    batch_size: int = 20  # deliveries claimed at once
    lease_s: float = 300.0  # a claimed delivery is not retried by another worker for this long
    poll_s: float = 1.0  # the worker looks for due deliveries this often (publish wakes it at once)
    parallel: int = 4  # webhooks (endpoints) delivered to at the same time
    retention_s: float = 7 * 86_400.0  # delivered and dead rows are purged after this
    maintenance_s: float = 60.0  # how often expired rows are dead-lettered and old ones purged

    def __post_init__(self) -> None:
        positive = ("timeout_s", "first_retry_s", "max_retry_s", "max_age_s", "lease_s", "poll_s")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"DeliverySettings.{name} must be > 0")
        if not 0 <= self.jitter < 1:
            raise ValueError("DeliverySettings.jitter must be in [0, 1)")
        if self.batch_size < 1 or self.parallel < 1:
            raise ValueError("DeliverySettings.batch_size and parallel must be >= 1")

    def retry_delay_s(self, failures: int) -> float:
        """The wait after the ``failures``-th failure in a row (1, 2, …), jitter included."""
        base = min(self.max_retry_s, self.first_retry_s * 2.0 ** max(0, failures - 1))
        return float(base * random.uniform(1 - self.jitter, 1 + self.jitter))


@dataclass(frozen=True)
class SendResult:
    """One attempt: ``ok`` for a 2xx answer; ``status`` the HTTP status if one came back."""

    ok: bool
    status: int | None
    error: str | None
    duration_ms: float


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


class WebhookSender:
    """Signs and POSTs one body. Never raises: every failure is a :class:`SendResult`. One HTTP
    client (connection pool) per thread that uses it."""

    def __init__(self, settings: DeliverySettings | None = None) -> None:
        self.settings = settings or DeliverySettings()
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(
                timeout=httpx.Timeout(self.settings.timeout_s),
                follow_redirects=False,
                headers={"User-Agent": f"keliu-webhooks/{__version__}"},
                trust_env=False,  # on-premise: never a proxy from the environment
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def send(
        self, url: str, secret: str, event_type: str, event_id: str, body: bytes, *, attempt: int = 1
    ) -> SendResult:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Keliu-Event": event_type,
            "X-Keliu-Event-Id": event_id,
            "X-Keliu-Timestamp": str(timestamp),
            "X-Keliu-Signature": signature_header(secret, timestamp, body),
            "X-Keliu-Attempt": str(attempt),
        }
        started = time.perf_counter()

        def done(ok: bool, status: int | None, error: str | None) -> SendResult:
            return SendResult(ok, status, error, (time.perf_counter() - started) * 1000.0)

        try:
            response = self._client().post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return done(False, None, f"no answer within {self.settings.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return done(False, None, f"{type(exc).__name__}: {_one_line(str(exc)) or 'request failed'}")
        except Exception as exc:  # a receiver must never take the worker down
            return done(False, None, f"{type(exc).__name__}: {_one_line(str(exc))}")
        if 200 <= response.status_code < 300:
            return done(True, response.status_code, None)
        if response.is_redirect:
            where = response.headers.get("location", "?")
            return done(
                False, response.status_code, f"HTTP {response.status_code}: redirect to {where} not followed"
            )
        text = _one_line(response.text)
        return done(
            False, response.status_code, f"HTTP {response.status_code}" + (f": {text}" if text else "")
        )

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
            self._local = threading.local()
        for client in clients:
            client.close()


# ------------------------------------------------------------------------------- the webhooks


@dataclass(frozen=True)
class PastEvent:
    """An event that happened earlier and may not have been queued (see :meth:`Webhooks.queue_missed`);
    ``event_id`` must be the id it had (or would have had) when first published."""

    event_type: str
    site_id: str | None
    event_id: str
    occurred_at: datetime
    data: Mapping[str, Any]


class Webhooks:
    """Publishing into the outbox and the delivery worker, for one store (see the module docstring).

    Thread-safe: ``publish`` may be called from any thread (the event bus, a request).
    """

    def __init__(self, store: Store, settings: DeliverySettings | None = None) -> None:
        self.store = store
        self.settings = settings or DeliverySettings()
        self.sender = WebhookSender(self.settings)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._last_maintenance = 0.0
        self._counters = {
            "published": 0,
            "caught_up": 0,
            "delivered": 0,
            "failed": 0,
            "dead": 0,
            "worker_errors": 0,
        }
        self._counters_lock = threading.Lock()

    # -------------------------------------------------------------------------- publishing

    def publish(
        self,
        event_type: str,
        site_id: str | None,
        data: Mapping[str, Any],
        *,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
    ) -> str:
        """Queue the event for every active webhook that wants it and return its id. It is in the
        outbox when this returns. An unknown event type or site is an :class:`InputError`."""
        try:
            check_event_type(event_type)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        event_id = event_id or str(uuid.uuid4())
        occurred_at = occurred_at or datetime.now(UTC)
        site = None if site_id is None else (site_id, self.store.site(site_id).name)
        body = event_body(event_type, event_id, occurred_at, site, data)
        written = self.store.enqueue([OutboxEvent(event_id, event_type, site_id, body)])
        self._count("published")
        if written:
            self._wake.set()
        return event_id

    def subscribed(self, *event_types: str) -> bool:
        """Whether some active webhook wants one of ``event_types``."""
        return any(hook.active and set(hook.event_types) & set(event_types) for hook in self._all_webhooks())

    def queue_missed(self, events: Sequence[PastEvent], *, chunk: int = 500) -> int:
        """Queue past events that may never have been queued (a crash between what they report being
        committed and their publish). Each goes to the active webhooks that want it and that existed,
        unchanged, when it occurred (give or take :data:`MISSED_GRACE`: one created, changed or
        resumed later does not get the past; a paused webhook gets nothing); where its id is queued
        already for a webhook, delivered or not, nothing is written. Returns the outbox rows written."""
        if not events:
            return 0
        for event in events:
            check_event_type(event.event_type)
        names: dict[str, str] = {}
        written = 0
        for hook in self._all_webhooks():
            if not hook.active:
                continue
            since = max(hook.created_at, hook.updated_at) - MISSED_GRACE
            wanted = [
                e
                for e in events
                if e.event_type in hook.event_types
                and (hook.site_id is None or hook.site_id == e.site_id)
                and e.occurred_at >= since
            ]
            for start in range(0, len(wanted), chunk):
                rows = []
                for e in wanted[start : start + chunk]:
                    site = None
                    if e.site_id is not None:
                        if e.site_id not in names:
                            names[e.site_id] = self.store.site(e.site_id).name
                        site = (e.site_id, names[e.site_id])
                    body = event_body(e.event_type, e.event_id, e.occurred_at, site, e.data)
                    rows.append(OutboxEvent(e.event_id, e.event_type, e.site_id, body))
                written += self.store.enqueue(rows, webhook_id=hook.webhook_id)
        if written:
            self._count("caught_up", written)
            self._wake.set()
        return written

    def _all_webhooks(self, page: int = 500) -> list[Webhook]:
        hooks: list[Webhook] = []
        while True:
            got = self.store.webhooks(limit=page, offset=len(hooks))
            hooks += got
            if len(got) < page:
                return hooks

    def test_send(self, webhook_id: str) -> tuple[str, SendResult]:
        """Send a signed ``ping`` event to the webhook now (active or not), outside the outbox: the
        event id and how it went."""
        hook = self.store.webhook(webhook_id)
        event_id = str(uuid.uuid4())
        site = None if hook.site_id is None else (hook.site_id, self.store.site(hook.site_id).name)
        body = event_body(
            PING_EVENT,
            event_id,
            datetime.now(UTC),
            site,
            {"webhook_id": hook.webhook_id, "event_types": list(hook.event_types)},
        )
        secret = self.store.webhook_secret(webhook_id)
        return event_id, self.sender.send(hook.url, secret, PING_EVENT, event_id, dumps(body).encode())

    # -------------------------------------------------------------------------- the worker

    def start(self) -> None:
        """Start the delivery worker thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(self.settings.parallel, thread_name_prefix="keliu-webhook-send")
        self._thread = threading.Thread(target=self._run, name="keliu-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the worker: the attempt in flight finishes, claimed deliveries not yet tried are
        handed back (due now, for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.sender.close()

    def wake(self) -> None:
        """Look for due deliveries now (e.g. after one was queued again by hand)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict[str, int]:
        """Counters since start (published, delivered, failed, dead, worker_errors) and the outbox
        now (pending, dead_letters): for ``/metrics``."""
        with self._counters_lock:
            out = dict(self._counters)
        out["pending"] = self.store.count_deliveries(status="pending")
        out["dead_letters"] = self.store.count_deliveries(status="dead")
        return out

    def _count(self, name: str, n: int = 1) -> None:
        with self._counters_lock:
            self._counters[name] += n

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._maintain()
                claimed = self.run_once()
                failures = 0
            except Exception:  # the database may be down: log, wait, go on
                failures += 1
                self._count("worker_errors")
                log.exception("webhook delivery worker: error (attempt %d); retrying", failures)
                self._stop.wait(min(30.0, self.settings.poll_s * 2**failures))
                continue
            if claimed < self.settings.batch_size:
                self._wake.wait(self.settings.poll_s)

    def _maintain(self) -> None:
        now = time.monotonic()
        if now - self._last_maintenance < self.settings.maintenance_s:
            return
        self._last_maintenance = now
        wall = datetime.now(UTC)
        expired = self.store.expire_deliveries(wall - timedelta(seconds=self.settings.max_age_s))
        if expired:
            self._count("dead", expired)
            log.warning("webhooks: %d deliveries expired undelivered (dead letters)", expired)
        self.store.purge_deliveries(wall - timedelta(seconds=self.settings.retention_s))

    def run_once(self) -> int:
        """Claim one batch of due deliveries and attempt them (endpoints in parallel, each endpoint's
        deliveries in order); the number claimed. Used by the worker, and by tests step by step."""
        claimed = self.store.claim_deliveries(limit=self.settings.batch_size, lease_s=self.settings.lease_s)
        if not claimed:
            return 0
        by_hook: dict[str, list[Delivery]] = {}
        for item in claimed:
            by_hook.setdefault(item.webhook_id, []).append(item)
        groups = list(by_hook.items())
        if self._pool is None or len(groups) == 1:
            for webhook_id, items in groups:
                self._deliver_to(webhook_id, items)
        else:
            for future in [self._pool.submit(self._deliver_to, w, items) for w, items in groups]:
                future.result()
        return len(claimed)

    def _deliver_to(self, webhook_id: str, items: list[Delivery]) -> None:
        """Deliver one endpoint's claimed items in order; after a failure the rest wait for the same
        retry time (one unreachable endpoint costs one timeout per round, not one per event)."""
        try:
            hook: Webhook = self.store.webhook(webhook_id)
            secret = self.store.webhook_secret(webhook_id)
        except WebhookNotFound:  # deleted meanwhile: its rows went with it
            return
        for index, item in enumerate(items):
            if self._stop.is_set():
                self._release(items[index:], datetime.now(UTC))
                return
            body = dumps(item.payload).encode()
            result = self.sender.send(
                hook.url, secret, item.event_type, item.event_id, body, attempt=item.attempts + 1
            )
            now = datetime.now(UTC)
            if result.ok:
                self.store.record_delivered(item.event_id, webhook_id, status=result.status or 200, at=now)
                self._count("delivered")
                continue
            delay = timedelta(seconds=self.settings.retry_delay_s(item.attempts + 1))
            retry_at: datetime | None = now + delay
            if now + delay - item.created_at > timedelta(seconds=self.settings.max_age_s):
                retry_at = None  # the next attempt would come after the maximum age: dead letter
                self._count("dead")
                log.warning(
                    "webhook %s: event %s dead-lettered after %d attempts: %s",
                    webhook_id,
                    item.event_id,
                    item.attempts + 1,
                    result.error,
                )
            self._count("failed")
            self.store.record_failed(
                item.event_id,
                webhook_id,
                error=result.error or "failed",
                status=result.status,
                next_attempt_at=retry_at,
                at=now,
            )
            note = f"waiting: an earlier delivery to this URL failed ({result.error})"
            self._release(items[index + 1 :], retry_at or now, note)
            return

    def _release(self, items: list[Delivery], at: datetime, note: str | None = None) -> None:
        for item in items:
            self.store.release_delivery(item.event_id, item.webhook_id, at, note=note)
