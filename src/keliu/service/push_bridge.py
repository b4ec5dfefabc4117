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
Must not decide what an arrival is: the resolution worker does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from keliu.domain.visits import PersonCategory, Visit
from keliu.runtime.bus import EventBus, Subscription
from keliu.runtime.events import CameraStatus, Event, StaffSuggested, VisitChanged
from keliu.service.live import LiveHub
from keliu.service.push import alert_data, arrival_data, batch_data, device_data
from keliu.service.webhooks import Webhooks
from keliu.store import Entrance, Store

__all__ = ["PushBridge", "Pusher"]

log = logging.getLogger(__name__)

_ENTRANCES_TTL_S = 60.0  # entrance names are re-read this often (they change through the API)
_REMEMBERED = 10_000  # visits (their batch) and cameras (their state) remembered, oldest forgotten
_BATCH_LOOKBACK = timedelta(hours=2)  # a batch started at most this long before a visit's entry


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
    ) -> None:
        if self.webhooks is not None:
            try:
                self.webhooks.publish(event_type, site_id, data, occurred_at=occurred_at)
            except Exception:
                self.errors += 1
                log.exception("webhooks: %s event of site %s not queued", event_type, site_id)
        if self.hub is not None:
            self.hub.publish(site_id, event_type, data, occurred_at=occurred_at)


class PushBridge:
    """A thread that turns runtime events into pushed events (see the module docstring)."""

    def __init__(self, bus: EventBus, store: Store, pusher: Pusher, *, capacity: int = 10_000) -> None:
        self.bus = bus
        self.store = store
        self.pusher = pusher
        self.capacity = capacity
        self.errors = 0
        self._sub: Subscription | None = None
        self._thread: threading.Thread | None = None
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
        """Handle what is queued, then stop."""
        if self._sub is not None:
            self._sub.close()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._sub = self._thread = None

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
            )
            if batch:
                self.pusher.push(visit.site_id, "batch", batch, occurred_at=visit.first_entry)
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
