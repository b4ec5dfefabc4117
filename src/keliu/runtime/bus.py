"""The in-process event bus (事件总线): bounded, thread-safe, one queue per subscriber.

Publishers (camera threads, resolution workers) call :meth:`EventBus.publish`; every subscriber
whose filter matches gets the event in its own bounded queue, in publishing order:

* a **lossless** subscriber (a store writer) never loses an event: when its queue is full,
  ``publish`` blocks until it has room (back-pressure on the publisher; a live source then drops its
  oldest buffered frames, a file is simply read more slowly). Publish from threads, never from an
  asyncio event loop, when a lossless subscriber is attached.
* a **lossy** subscriber (live push to browsers, a terminal view) never slows anybody: when its
  queue is full the oldest event is dropped and counted (``dropped``).

Consuming, from a thread::

    sub = bus.subscribe("store-writer", lossless=True, kinds=(SightingSeen,), site_id="s1")
    event = sub.get(timeout=0.5)          # None on timeout or once closed and drained
    batch = sub.get_many(256, timeout=0.5)
    for event in sub: ...                  # until the subscription (or the bus) is closed

and from asyncio (FastAPI, WebSocket/SSE handlers) without a thread per client::

    sub = bus.subscribe("ws-42", capacity=256)
    try:
        async for event in sub:            # or: event = await sub.aget(timeout=15)
            await websocket.send_json(...)
    finally:
        sub.close()

A waiting coroutine is woken with ``loop.call_soon_threadsafe``; no executor thread is used. Closing
a subscription wakes its consumers and its blocked publishers; closing the bus closes them all.
``EventBus.stats()`` gives each queue's depth, drops and deliveries (for ``/metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from keliu.runtime.events import Event

__all__ = ["DEFAULT_CAPACITY", "EventBus", "Subscription", "SubscriptionStats"]

DEFAULT_CAPACITY = 1024


@dataclass(frozen=True)
class SubscriptionStats:
    name: str
    lossless: bool
    capacity: int
    depth: int  # events waiting
    delivered: int  # events taken by the consumer
    dropped: int  # lossy: events dropped because the queue was full
    blocked_s: float  # lossless: total seconds publishers waited for room


class Subscription:
    """One subscriber's bounded queue (see the module docstring); made by :meth:`EventBus.subscribe`."""

    def __init__(
        self,
        bus: EventBus,
        name: str,
        *,
        lossless: bool,
        capacity: int,
        kinds: tuple[type[Event], ...],
        site_id: str | None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.name = name
        self.lossless = lossless
        self.capacity = capacity
        self.kinds = kinds
        self.site_id = site_id
        self._bus = bus
        self._items: deque[Event] = deque()
        self._cond = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = False
        self.delivered = 0
        self.dropped = 0
        self.blocked_s = 0.0

    # -- publishing side ------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        return (not self.kinds or isinstance(event, self.kinds)) and (
            self.site_id is None or event.site_id == self.site_id
        )

    def _offer(self, event: Event) -> None:
        with self._cond:
            if self._closed:
                return
            if len(self._items) >= self.capacity:
                if self.lossless:
                    started = time.monotonic()
                    while len(self._items) >= self.capacity and not self._closed:
                        self._cond.wait(timeout=0.5)
                    self.blocked_s += time.monotonic() - started
                    if self._closed:
                        return
                else:
                    self._items.popleft()
                    self.dropped += 1
            self._items.append(event)
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        _wake(waiters)

    # -- consuming side -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def depth(self) -> int:
        return len(self._items)

    def _take(self, limit: int) -> list[Event]:
        """Up to ``limit`` waiting events (caller holds the lock); wakes blocked publishers."""
        out = [self._items.popleft() for _ in range(min(limit, len(self._items)))]
        if out:
            self.delivered += len(out)
            self._cond.notify_all()
        return out

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None when ``timeout`` seconds pass without one, or when the subscription
        is closed and drained."""
        events = self.get_many(1, timeout)
        return events[0] if events else None

    def get_many(self, limit: int, timeout: float | None = None) -> list[Event]:
        """Up to ``limit`` events, waiting up to ``timeout`` seconds for the first (None: for ever, or
        until closed); an empty list on timeout or when closed and drained."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return []
                self._cond.wait(timeout=remaining)
            return self._take(limit)

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.get()
            if event is None:
                return
            yield event

    async def aget(self, timeout: float | None = None) -> Event | None:
        """Like :meth:`get`, awaited in an asyncio event loop (no thread is blocked)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._cond:
                taken = self._take(1)
                if taken:
                    return taken[0]
                if self._closed:
                    return None
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            remaining = None if deadline is None else deadline - loop.time()
            try:
                if remaining is not None and remaining <= 0:
                    return None
                await asyncio.wait_for(asyncio.shield(future), remaining)
            except TimeoutError:
                with self._cond:
                    self._waiters = [(lp, f) for lp, f in self._waiters if f is not future]
                with self._cond:
                    taken = self._take(1)
                return taken[0] if taken else None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._async_events()

    async def _async_events(self) -> AsyncIterator[Event]:
        while True:
            event = await self.aget()
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Stop receiving: waiting consumers get what is queued, then None; blocked publishers go on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        _wake(waiters)
        self._bus._remove(self)

    def stats(self) -> SubscriptionStats:
        return SubscriptionStats(
            self.name, self.lossless, self.capacity, self.depth, self.delivered, self.dropped, self.blocked_s
        )

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
    for loop, future in waiters:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there any more
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class EventBus:
    """Bounded in-process publish/subscribe for runtime events (see the module docstring)."""

    def __init__(self, *, default_capacity: int = DEFAULT_CAPACITY) -> None:
        self.default_capacity = default_capacity
        self._subscriptions: tuple[Subscription, ...] = ()
        self._lock = threading.Lock()
        self._closed = False
        self._published = itertools.count()
        self.published = 0

    def subscribe(
        self,
        name: str,
        *,
        lossless: bool = False,
        capacity: int | None = None,
        kinds: tuple[type[Event], ...] = (),
        site_id: str | None = None,
    ) -> Subscription:
        """A new subscriber's queue for the events of ``kinds`` (default: all) of ``site_id``
        (default: every site). Events published before this call are not delivered."""
        sub = Subscription(
            self,
            name,
            lossless=lossless,
            capacity=capacity or self.default_capacity,
            kinds=kinds,
            site_id=site_id,
        )
        with self._lock:
            closed = self._closed
            if not closed:
                self._subscriptions = (*self._subscriptions, sub)
        if closed:
            sub.close()
        return sub

    def publish(self, event: Event) -> None:
        """Deliver ``event`` to every matching subscriber; blocks while a lossless one is full."""
        if not isinstance(event, Event):
            raise TypeError(f"not a runtime event: {type(event).__name__}")
        self.published = next(self._published) + 1
        for sub in self._subscriptions:  # a tuple swapped under the lock: safe to iterate
            if sub.wants(event):
                sub._offer(event)

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not sub)

    def close(self) -> None:
        """Close every subscription (consumers drain and end); later subscriptions start closed."""
        with self._lock:
            self._closed = True
            subs = self._subscriptions
        for sub in subs:
            sub.close()

    def stats(self) -> list[SubscriptionStats]:
        return [sub.stats() for sub in self._subscriptions]
