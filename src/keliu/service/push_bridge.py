"""From the runtime's event bus to live push and webhooks: the few lines that wire them together.

    pusher = Pusher(hub, webhooks)                       # one entry point for both
    bridge = PushBridge(bus, store, pusher).start()      # VisitChanged, CameraStatus, StaffSuggested
    ...
    pusher.push(site_id, "reception", reception_data(r)) # from the reception route
    ...
    bridge.stop()

What is pushed for which runtime event (``keliu.runtime.events``):

* ``VisitChanged`` of a **customer** visit, kind ``arrival`` → ``arrival`` (with the batch's size and
  the entrance name of the door line), then ``batch`` with the batch as stored now; kind ``update``
  that moved the visit into another batch → ``batch``. Staff and invalid visits are not pushed.
* ``CameraStatus`` ``online`` / ``offline`` → ``device``, once per change of a camera's state.
* ``StaffSuggested`` → ``alert`` (kind ``staff_suggestions``): a manager can confirm them.

The webhook outbox is written before the live message is sent (a live client that sees an event
can rely on its webhook being queued). A failure of either is logged and counted; the bridge goes on.

**Crash catch-up** (docs/api.md, "Delivery guarantees"). The resolution worker commits a visit and
then publishes ``VisitChanged``; a process killed between the two (or with the event still in the
bridge's queue) would never queue that arrival's webhooks. So the webhook ids of an arrival and of
the batch event that follows it are derived from the site and the visit (:func:`visit_event_id`, a
UUIDv5), publishing the same id again writes nothing (the outbox's key is event id and webhook), and
:meth:`PushBridge.catch_up` — run by the service at every start for the sites it resolves live —
queues again the arrival (and its batch) of every customer visit whose first entry is within
:data:`CATCH_UP` of now: whatever was queued before the crash is left as it is, whatever was lost is
queued now, for the webhooks that existed, unchanged, when the visit arrived
(``Webhooks.queue_missed``). Nothing is re-sent to live streams: their clients reload after a
restart (the ``reset`` notice).

Must not decide what an arrival is: the resolution worker does.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from keliu.domain.visits import PersonCategory, Visit
from keliu.runtime.bus import EventBus, Subscription
from keliu.runtime.events import CameraStatus, Event, StaffSuggested, VisitChanged
from keliu.service.live import LiveHub
from keliu.service.push import alert_data, arrival_data, batch_data, device_data
from keliu.service.webhooks import PastEvent, Webhooks
from keliu.store import Entrance, Store

__all__ = ["CATCH_UP", "PushBridge", "Pusher", "visit_event_id"]

log = logging.getLogger(__name__)

_ENTRANCES_TTL_S = 60.0  # entrance names are re-read this often (they change through the API)
_REMEMBERED = 10_000  # visits (their batch) and cameras (their state) remembered, oldest forgotten
_BATCH_LOOKBACK = timedelta(hours=2)  # a batch started at most this long before a visit's entry

# How far back the start-up catch-up looks (visits by first entry). 24 h: the outbox's maximum age
# (DeliverySettings.max_age_s), so an arrival is never owed longer than a queued one would be tried;
# it covers a server that crashed in the evening and is restarted the next morning; it stays well
# inside the outbox's retention of delivered rows (7 days), which is what makes re-queuing a no-op
# for what was queued; and one day of a site's visits is read once per start (a few thousand rows).
CATCH_UP: Final = timedelta(hours=24)
_CATCH_UP_TRIES = 5  # a store that is down at start is tried again, 2 s, 4 s, … apart

# the namespace of the ids of pushed visit events (UUIDv5); never change it: receivers de-duplicate on
# the ids, and an arrival queued again after a crash must keep the id it was first queued with
_VISIT_EVENTS: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:keliu:push:visit-events")


def visit_event_id(site_id: str, visit_id: str, kind: Literal["arrival", "arrival-batch"]) -> str:
    """The webhook event id of a visit's ``arrival`` event, or of the ``batch`` event pushed with it
    (``arrival-batch``): the same for the same visit in every process, so queuing it again (catch-up
    after a crash) is a no-op where it was queued, and receivers de-duplicate it."""
    return str(uuid.uuid5(_VISIT_EVENTS, f"v1\n{site_id}\n{visit_id}\n{kind}"))


class Pusher:
    """Push one event to webhooks (the outbox, first) and to the live hub; either may be None."""

    def __init__(self, hub: LiveHub | None, webhooks: Webhooks | None) -> None:
        self.hub = hub
        self.webhooks = webhooks
        self.errors = 0

    def push(
        self,
        site_id: str,
        event_type: str,
        data: Mapping[str, Any],
        *,
        occurred_at: datetime | None = None,
        event_id: str | None = None,
    ) -> None:
        """``event_id``: the webhook event id (default a new random one); one that was published
        already queues nothing again (the live hub numbers its messages itself)."""
        if self.webhooks is not None:
            try:
                self.webhooks.publish(event_type, site_id, data, occurred_at=occurred_at, event_id=event_id)
            except Exception:
                self.errors += 1
                log.exception("webhooks: %s event of site %s not queued", event_type, site_id)
        if self.hub is not None:
            self.hub.publish(site_id, event_type, data, occurred_at=occurred_at)


class PushBridge:
    """A thread that turns runtime events into pushed events (see the module docstring)."""

    def __init__(
        self,
        bus: EventBus,
        store: Store,
        pusher: Pusher,
        *,
        capacity: int = 10_000,
        catch_up: timedelta = CATCH_UP,
        retry_s: float = 2.0,
    ) -> None:
        self.bus = bus
        self.store = store
        self.pusher = pusher
        self.capacity = capacity
        self.catch_up_window = catch_up
        self.retry_s = retry_s
        self.errors = 0
        self.caught_up = 0  # outbox rows written by catch-up (arrivals lost by an earlier crash)
        self._sub: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._catching: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._batch_of: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._state_of: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._entrances: dict[str, tuple[float, dict[tuple[str, str], Entrance]]] = {}

    def start(self) -> PushBridge:
        # lossless: an arrival must reach the outbox; handling is quick and never blocks for long
        self._sub = self.bus.subscribe(
            "push",
            lossless=True,
            capacity=self.capacity,
            kinds=(VisitChanged, CameraStatus, StaffSuggested),
        )
        self._thread = threading.Thread(target=self._run, args=(self._sub,), name="keliu-push", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Handle what is queued, then stop (a catch-up under way finishes first)."""
        self._stopping.set()
        if self._sub is not None:
            self._sub.close()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for thread in self._catching:
            thread.join(timeout_s)
        self._catching = []
        self._sub = self._thread = None

    # ------------------------------------------------------------------------------ catch-up

    def catch_up_later(self, site_ids: Iterable[str]) -> threading.Thread:
        """Run :meth:`catch_up` for ``site_ids`` in a thread of its own (a store that is down is tried
        again a few times); the service calls this at start, after :meth:`start`."""
        sites = sorted(set(site_ids))
        thread = threading.Thread(
            target=self._catch_up_retrying, args=(sites,), name="keliu-push-catch-up", daemon=True
        )
        self._catching = [t for t in self._catching if t.is_alive()] + [thread]
        thread.start()
        return thread

    def _catch_up_retrying(self, site_ids: list[str]) -> None:
        for attempt in range(1, _CATCH_UP_TRIES + 1):
            try:
                written = self.catch_up(site_ids)
            except Exception:
                if attempt == _CATCH_UP_TRIES or self._stopping.is_set():
                    self.errors += 1
                    log.exception(
                        "push: catch-up of sites %s failed; arrivals lost by a crash "
                        "before this start may be missing from webhooks",
                        site_ids,
                    )
                    return
                log.warning("push: catch-up of sites %s failed (attempt %d); retrying", site_ids, attempt)
                self._stopping.wait(self.retry_s * 2 ** (attempt - 1))
                continue
            if written:
                log.warning(
                    "push: %d webhook deliveries of arrivals not queued before the last "
                    "shutdown were queued now (sites %s)",
                    written,
                    site_ids,
                )
            return

    def catch_up(self, site_ids: Iterable[str], *, now: datetime | None = None) -> int:
        """Queue for webhooks the arrival (and its batch event) of every customer visit of
        ``site_ids`` whose first entry is within :data:`CATCH_UP` before ``now``, with their
        deterministic ids: what is queued already is not queued again (module docstring). Returns
        the outbox rows written: those an earlier process lost."""
        webhooks = self.pusher.webhooks
        if webhooks is None or not webhooks.subscribed("arrival", "batch"):
            return 0
        now = now or datetime.now(UTC)
        since, until = now - self.catch_up_window, now + timedelta(minutes=1)
        events: list[PastEvent] = []
        for site_id in site_ids:
            visits = [
                v for v in self.store.visits(site_id, since, until) if v.category == PersonCategory.CUSTOMER
            ]
            if not visits:
                continue
            batches = {
                a.batch_id: a
                for a in self.store.arrivals(site_id, since - _BATCH_LOOKBACK, until, limit=1_000_000)
            }
            for visit in visits:
                arrival = batches.get(visit.batch_id) if visit.batch_id is not None else None
                door = self._entrance(visit)
                events.append(
                    PastEvent(
                        "arrival",
                        site_id,
                        visit_event_id(site_id, visit.visit_id, "arrival"),
                        visit.first_entry,
                        arrival_data(
                            visit,
                            batch_size=arrival.size if arrival else None,
                            entrance=door.name if door else None,
                            entrance_group=door.group if door else None,
                        ),
                    )
                )
                if arrival is not None:
                    events.append(
                        PastEvent(
                            "batch",
                            site_id,
                            visit_event_id(site_id, visit.visit_id, "arrival-batch"),
                            visit.first_entry,
                            batch_data(
                                arrival.batch_id,
                                started_at=arrival.started_at,
                                size=arrival.size,
                                visit_ids=arrival.visit_ids,
                            ),
                        )
                    )
        written = webhooks.queue_missed(events)
        self.caught_up += written
        return written

    def _run(self, sub: Subscription) -> None:
        for event in sub:
            self.handle(event)

    def handle(self, event: Event) -> None:
        """Push what ``event`` means (never raises: errors are logged and counted)."""
        try:
            if isinstance(event, VisitChanged):
                self._visit(event)
            elif isinstance(event, CameraStatus):
                self._camera(event)
            elif isinstance(event, StaffSuggested):
                count = len(event.suggestions)
                if count:
                    self.pusher.push(
                        event.site_id,
                        "alert",
                        alert_data(
                            "staff_suggestions",
                            f"{count} people looked like staff on {event.day.isoformat()}: "
                            "a manager can confirm or dismiss them",
                            severity="info",
                            details={"day": event.day.isoformat(), "count": count},
                        ),
                        occurred_at=event.at,
                    )
        except Exception:
            self.errors += 1
            log.exception("push: %s of site %s not pushed", type(event).__name__, event.site_id)

    # ------------------------------------------------------------------------------ events

    def _visit(self, event: VisitChanged) -> None:
        visit = event.visit
        if visit.category != PersonCategory.CUSTOMER:
            return
        key = (visit.site_id, visit.visit_id)
        known = key in self._batch_of
        before = self._batch_of.get(key)
        _remember(self._batch_of, key, visit.batch_id)
        if event.kind == "arrival":
            batch = self._batch(visit)
            door = self._entrance(visit)
            self.pusher.push(
                visit.site_id,
                "arrival",
                arrival_data(
                    visit,
                    batch_size=batch["size"] if batch else None,
                    entrance=door.name if door else None,
                    entrance_group=door.group if door else None,
                ),
                occurred_at=visit.first_entry,
                event_id=visit_event_id(visit.site_id, visit.visit_id, "arrival"),
            )
            if batch:
                self.pusher.push(
                    visit.site_id,
                    "batch",
                    batch,
                    occurred_at=visit.first_entry,
                    event_id=visit_event_id(visit.site_id, visit.visit_id, "arrival-batch"),
                )
        elif known and visit.batch_id is not None and visit.batch_id != before:
            batch = self._batch(visit)
            if batch:
                self.pusher.push(visit.site_id, "batch", batch, occurred_at=event.at)

    def _camera(self, event: CameraStatus) -> None:
        if event.state not in ("online", "offline"):
            return
        key = (event.site_id, event.camera_id)
        if self._state_of.get(key) == event.state:
            return
        _remember(self._state_of, key, event.state)
        self.pusher.push(
            event.site_id,
            "device",
            device_data(event.camera_id, event.state, since=event.at, reason=event.reason or None),
            occurred_at=event.at,
        )

    # ------------------------------------------------------------------------------ lookups

    def _batch(self, visit: Visit) -> dict[str, Any] | None:
        """The visit's batch as stored now (size, visits), or None."""
        if visit.batch_id is None:
            return None
        arrivals = self.store.arrivals(
            visit.site_id,
            visit.first_entry - _BATCH_LOOKBACK,
            visit.first_entry + timedelta(seconds=1),
        )
        for arrival in arrivals:
            if arrival.batch_id == visit.batch_id:
                return batch_data(
                    arrival.batch_id,
                    started_at=arrival.started_at,
                    size=arrival.size,
                    visit_ids=arrival.visit_ids,
                )
        return None

    def _entrance(self, visit: Visit) -> Entrance | None:
        if not visit.entries:
            return None
        first = min(visit.entries, key=lambda e: e.at)
        cached = self._entrances.get(visit.site_id)
        if cached is None or time.monotonic() - cached[0] > _ENTRANCES_TTL_S:
            doors = {(e.camera_id, e.line_id): e for e in self.store.entrances(visit.site_id)}
            cached = self._entrances[visit.site_id] = (time.monotonic(), doors)
        return cached[1].get((first.camera_id, first.line_id))


def _remember(memory: OrderedDict[tuple[str, str], Any], key: tuple[str, str], value: Any) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > _REMEMBERED:
        memory.popitem(last=False)
