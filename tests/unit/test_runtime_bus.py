"""The runtime's event bus: back-pressure of lossless subscribers, drop-oldest of lossy ones, filters,
closing, and asyncio consumers (no thread per consumer)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from keliu.runtime.bus import EventBus
from keliu.runtime.events import CameraStatus, Event, FrameStats

pytestmark = pytest.mark.timeout(60)

AT = datetime(2026, 3, 7, 10, tzinfo=UTC)


def stats(n: int, site: str = "s1", camera: str = "door") -> FrameStats:
    return FrameStats(
        site_id=site,
        at=AT,
        camera_id=camera,
        frames=n,
        fps=10.0,
        detections=0,
        crossings=0,
        sightings=0,
        in_view=0,
        video_s=n / 10,
    )


def frames_of(events: list[Event]) -> list[int]:
    return [e.frames for e in events if isinstance(e, FrameStats)]


def test_lossless_subscriber_blocks_the_publisher_when_full_and_loses_nothing() -> None:
    bus = EventBus()
    sub = bus.subscribe("writer", lossless=True, capacity=3)
    published: list[int] = []

    def publisher() -> None:
        for n in range(10):
            bus.publish(stats(n))
            published.append(n)

    thread = threading.Thread(target=publisher, daemon=True)
    thread.start()
    time.sleep(0.3)
    assert published == [0, 1, 2], "the publisher must wait while the lossless queue is full"
    assert thread.is_alive() and sub.depth == 3
    first = sub.get(timeout=1)
    assert isinstance(first, FrameStats) and first.frames == 0
    deadline = time.monotonic() + 5
    while len(published) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert published == [0, 1, 2, 3], "taking one event lets exactly one more in"
    got = [first]
    while len(got) < 10:
        got += sub.get_many(4, timeout=5)
    thread.join(5)
    assert frames_of(got) == list(range(10))
    assert sub.stats().dropped == 0 and sub.stats().delivered == 10
    assert sub.stats().blocked_s > 0.2


def test_lossy_subscriber_drops_the_oldest_and_counts_them() -> None:
    bus = EventBus()
    lossy = bus.subscribe("browser", capacity=3)
    lossless = bus.subscribe("writer", lossless=True, capacity=100)
    started = time.monotonic()
    for n in range(10):
        bus.publish(stats(n))
    assert time.monotonic() - started < 1.0, "a lossy subscriber never slows the publisher"
    assert frames_of(lossy.get_many(10, timeout=0)) == [7, 8, 9]
    assert lossy.dropped == 7
    assert frames_of(lossless.get_many(100, timeout=0)) == list(range(10))
    names = {s.name: s for s in bus.stats()}
    assert names["browser"].dropped == 7 and names["writer"].dropped == 0


def test_filters_by_kind_and_site() -> None:
    bus = EventBus()
    site_stats = bus.subscribe("s1-stats", kinds=(FrameStats,), site_id="s1")
    everything = bus.subscribe("all")
    bus.publish(stats(1, site="s1"))
    bus.publish(stats(2, site="s2"))
    bus.publish(CameraStatus(site_id="s1", at=AT, camera_id="door", state="online"))
    assert frames_of(site_stats.get_many(10, timeout=0)) == [1]
    assert len(everything.get_many(10, timeout=0)) == 3
    with pytest.raises(TypeError):
        bus.publish("not an event")  # type: ignore[arg-type]


def test_closing_wakes_blocked_publishers_and_consumers() -> None:
    bus = EventBus()
    full = bus.subscribe("stuck-writer", lossless=True, capacity=1)
    bus.publish(stats(0))
    done = threading.Event()

    def publisher() -> None:
        bus.publish(stats(1))  # blocks: the queue is full and nobody reads
        done.set()

    threading.Thread(target=publisher, daemon=True).start()
    assert not done.wait(0.3)
    waiting = bus.subscribe("idle")
    got: list[Event | None] = []
    consumer = threading.Thread(target=lambda: got.append(waiting.get()), daemon=True)
    consumer.start()
    bus.close()
    assert done.wait(2), "closing must release a publisher blocked on a full lossless queue"
    consumer.join(2)
    assert got == [None]
    assert frames_of(full.get_many(5, timeout=0)) == [0], "what was queued is still delivered"
    assert full.get(timeout=0) is None and full.closed
    late = bus.subscribe("late")
    assert late.closed and late.get(timeout=0) is None
    bus.publish(stats(2))  # nobody listens: nothing blocks


def test_async_consumers_need_no_thread_each() -> None:
    bus = EventBus()
    consumers = 50

    async def main() -> list[list[int]]:
        subs = [bus.subscribe(f"ws-{i}", capacity=64) for i in range(consumers)]

        async def consume(i: int) -> list[int]:
            seen: list[int] = []
            async for event in subs[i]:
                assert isinstance(event, FrameStats)
                seen.append(event.frames)
                if len(seen) == 20:
                    subs[i].close()
            return seen

        threads_before = threading.active_count()
        tasks = [asyncio.create_task(consume(i)) for i in range(consumers)]
        await asyncio.sleep(0.05)

        def publish() -> None:
            for n in range(20):
                bus.publish(stats(n))
                time.sleep(0.005)

        publisher = threading.Thread(target=publish)
        publisher.start()
        await asyncio.sleep(0)
        assert threading.active_count() <= threads_before + 1  # the publisher only
        results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        publisher.join()
        return results

    results = asyncio.run(main())
    assert results == [list(range(20))] * consumers


def test_async_get_times_out_and_a_lossless_async_consumer_applies_back_pressure() -> None:
    bus = EventBus()

    async def main() -> tuple[Event | None, list[int], float]:
        sub = bus.subscribe("hook-writer", lossless=True, capacity=2)
        started = time.monotonic()
        nothing = await sub.aget(timeout=0.2)
        assert 0.15 <= time.monotonic() - started < 2
        published: list[int] = []

        def publish() -> None:
            for n in range(6):
                bus.publish(stats(n))
                published.append(n)

        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        await asyncio.sleep(0.3)
        held_at = len(published)
        got: list[int] = []
        while len(got) < 6:
            event = await sub.aget(timeout=5)
            assert isinstance(event, FrameStats)
            got.append(event.frames)
            await asyncio.sleep(0.01)
        thread.join(5)
        return nothing, got, held_at

    nothing, got, held_at = asyncio.run(main())
    assert nothing is None
    assert held_at == 2, "the publisher waits for the async consumer"
    assert got == list(range(6))
