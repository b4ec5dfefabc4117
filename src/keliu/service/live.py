"""Live push per site (实时推送): the hub behind the WebSocket and Server-Sent Events streams.

    hub = LiveHub()
    hub.publish("showroom-1", "arrival", arrival_data(visit))     # from any thread
    async with hub.subscription("showroom-1", last_event_id) as sub:
        while (got := await sub.next(timeout_s=15)) is not None:
            dropped, messages = got                                # notices, then events in order

Every message of a site gets the next number of that site (``seq``) and an id ``"<run>-<seq>"``;
``run`` is random per hub, so an id from before a restart is recognised as such. The last
``replay_size`` messages of each site stay in a ring buffer: a client that reconnects with the id of
the last message it saw (SSE ``Last-Event-ID``, WebSocket ``?last_event_id=``) gets what it missed,
or a ``dropped`` notice with how many it cannot get any more (a ``reset`` notice if the id is from
another run).

Each subscriber has a bounded queue: a slow client never slows the publisher or anybody else; when
its queue is full the oldest message is dropped, and the client is told how many before the next
messages it gets (``dropped``). Publishing never blocks and never touches the network.

Message JSON (WebSocket text frames and SSE ``data``)::

    {"id": "9f2c1a-17", "seq": 17, "event": "arrival", "site_id": "showroom-1",
     "occurred_at": "2026-12-02T09:30:12.345Z", "data": {...}}             # keliu.service.push
    {"event": "dropped", "dropped": 12}
    {"event": "reset", "reason": "..."}

Must not decide who may listen (``keliu.service.routers.live`` asks the authorize hook) or what an
arrival is (the runtime does).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keliu.errors import StreamUnavailable
from keliu.service.push import dumps, iso

__all__ = ["LiveHub", "LiveMessage", "LiveSubscription", "notice"]

DEFAULT_QUEUE = 256
DEFAULT_REPLAY = 200
DEFAULT_MAX_SUBSCRIBERS = 1000


@dataclass(frozen=True)
class LiveMessage:
    """One published message; ``text`` is its JSON, serialised once for every subscriber."""

    id: str
    seq: int
    event: str
    text: str


def notice(kind: str, **fields: Any) -> str:
    """The JSON of a control message (``dropped``, ``reset``, ``hello``)."""
    return dumps({"event": kind, **fields})


class LiveSubscription:
    """One client's bounded queue on one site (made by :meth:`LiveHub.subscribe`)."""

    def __init__(self, hub: LiveHub, site_id: str, capacity: int, loop: asyncio.AbstractEventLoop) -> None:
        self.site_id = site_id
        self.capacity = capacity
        self._hub = hub
        self._loop = loop
        self._items: deque[LiveMessage] = deque()
        self._ready = asyncio.Event()
        self._dropped = 0  # not yet told to the client
        self.dropped_total = 0
        self.delivered = 0
        self.reset: str | None = None  # a reset notice to give first
        self.start_id: str | None = None  # the site's latest message id when this subscription began
        self.closed = False

    # called with the hub's lock held
    def _offer(self, message: LiveMessage) -> bool:
        """Queue ``message`` (dropping the oldest when full); True if the consumer must be woken."""
        was_empty = not self._items and not self._dropped
        if len(self._items) >= self.capacity:
            self._items.popleft()
            self._dropped += 1
            self.dropped_total += 1
        self._items.append(message)
        return was_empty

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # its event loop is closed: nobody listens any more
            self._loop.call_soon_threadsafe(self._ready.set)

    async def next(self, timeout_s: float | None = None) -> tuple[int, list[LiveMessage]] | None:
        """What is waiting: (messages dropped since the last call, messages in order); waits up to
        ``timeout_s`` for something (then ``(0, [])``); None once closed."""
        while True:
            with self._hub._lock:
                if self._items or self._dropped:
                    messages, dropped = list(self._items), self._dropped
                    self._items.clear()
                    self._dropped = 0
                    self.delivered += len(messages)
                    return dropped, messages
                if self.closed:
                    return None
                self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except TimeoutError:
                return 0, []

    def close(self) -> None:
        self._hub._remove(self)

    @property
    def depth(self) -> int:
        return len(self._items)


class _Site:
    def __init__(self, replay: int) -> None:
        self.seq = 0
        self.ring: deque[LiveMessage] = deque(maxlen=replay)
        self.subscribers: list[LiveSubscription] = []


class LiveHub:
    """Per-site fan-out of live messages to bounded subscriber queues (see the module docstring).
    Thread-safe; subscribers live in asyncio event loops, publishers anywhere."""

    def __init__(
        self,
        *,
        queue_size: int = DEFAULT_QUEUE,
        replay_size: int = DEFAULT_REPLAY,
        max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS,
    ) -> None:
        if queue_size < 1 or replay_size < 0 or max_subscribers < 1:
            raise ValueError("queue_size and max_subscribers must be >= 1, replay_size >= 0")
        self.queue_size = queue_size
        self.replay_size = replay_size
        self.max_subscribers = max_subscribers
        self.run_id = secrets.token_hex(3)
        self._lock = threading.Lock()
        self._sites: dict[str, _Site] = {}
        self._count = 0
        self._closed = False
        self.published = 0
        self._dropped_closed = 0  # drops of subscriptions that have ended

    # ------------------------------------------------------------------------- publishing

    def publish(
        self,
        site_id: str,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        occurred_at: datetime | None = None,
    ) -> LiveMessage:
        """Send ``payload`` (the event's ``data``) to every subscriber of the site; never blocks."""
        when = iso(occurred_at or datetime.now(UTC))
        with self._lock:
            site = self._site(site_id)
            site.seq += 1
            message_id = f"{self.run_id}-{site.seq}"
            text = dumps(
                {
                    "id": message_id,
                    "seq": site.seq,
                    "event": event_type,
                    "site_id": site_id,
                    "occurred_at": when,
                    "data": dict(payload),
                }
            )
            message = LiveMessage(message_id, site.seq, event_type, text)
            site.ring.append(message)
            self.published += 1
            to_wake = [s for s in site.subscribers if s._offer(message)]
        for sub in to_wake:
            sub._wake()
        return message

    def _site(self, site_id: str) -> _Site:
        site = self._sites.get(site_id)
        if site is None:
            site = self._sites[site_id] = _Site(self.replay_size)
        return site

    # ------------------------------------------------------------------------ subscribing

    def check_capacity(self) -> None:
        """:class:`StreamUnavailable` if no subscriber can be added now (closing, or full)."""
        if self._closed:
            raise StreamUnavailable("the live stream is shutting down; reconnect in a moment")
        if self._count >= self.max_subscribers:
            raise StreamUnavailable(f"too many live stream clients ({self.max_subscribers}); try again later")

    def subscribe(self, site_id: str, last_event_id: str | None = None) -> LiveSubscription:
        """A new subscriber of ``site_id`` in the running event loop; with ``last_event_id``, what
        came after that message is queued first (see the module docstring). Close it when done."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self.check_capacity()
            site = self._site(site_id)
            sub = LiveSubscription(self, site_id, self.queue_size, loop)
            sub.start_id = f"{self.run_id}-{site.seq}" if site.seq else None
            if last_event_id:
                self._replay(sub, site, last_event_id)
            site.subscribers.append(sub)
            self._count += 1
        return sub

    @asynccontextmanager
    async def subscription(
        self, site_id: str, last_event_id: str | None = None
    ) -> AsyncIterator[LiveSubscription]:
        sub = self.subscribe(site_id, last_event_id)
        try:
            yield sub
        finally:
            sub.close()

    def _replay(self, sub: LiveSubscription, site: _Site, last_event_id: str) -> None:
        run, _, seq_text = last_event_id.strip().rpartition("-")
        try:
            last_seq = int(seq_text)
        except ValueError:
            last_seq = -1
        if run != self.run_id or not 0 <= last_seq <= site.seq:
            sub.reset = (
                f"event id {last_event_id[:40]!r} is not from this server run (it restarted): "
                "events in between cannot be replayed; reload the current state"
            )
            return
        missed = [m for m in site.ring if m.seq > last_seq]
        oldest = missed[0].seq if missed else site.seq + 1
        gap = oldest - last_seq - 1  # gone from the ring buffer
        if gap > 0:
            sub._dropped += gap
            sub.dropped_total += gap
        for message in missed:
            sub._offer(message)

    def _remove(self, sub: LiveSubscription) -> None:
        with self._lock:
            site = self._sites.get(sub.site_id)
            if site is not None and sub in site.subscribers:
                site.subscribers.remove(sub)
                self._count -= 1
                self._dropped_closed += sub.dropped_total
            sub.closed = True
        sub._wake()

    def subscriptions(self, site_id: str) -> list[LiveSubscription]:
        """The site's subscriptions now, oldest first (for stats and tests; do not consume them)."""
        with self._lock:
            site = self._sites.get(site_id)
            return list(site.subscribers) if site is not None else []

    def close(self) -> None:
        """End every stream (at shutdown): subscribers get what is queued, then None."""
        with self._lock:
            self._closed = True
            subs = [s for site in self._sites.values() for s in site.subscribers]
            for sub in subs:
                sub.closed = True
        for sub in subs:
            sub._wake()

    def stats(self) -> dict[str, int]:
        """For ``/metrics``: subscribers now, messages published and dropped (all clients)."""
        with self._lock:
            subs = [s for site in self._sites.values() for s in site.subscribers]
            return {
                "subscribers": len(subs),
                "published": self.published,
                "dropped": self._dropped_closed + sum(s.dropped_total for s in subs),
                "queued": sum(s.depth for s in subs),
            }
