"""A site's resolution worker on the event bus, on SQLite and PostgreSQL: sightings committed in
arrival order with back-pressure, arrivals and updates published after the commit, outages stored,
remembered signatures saved and expired ones purged on the timer, and a stop that drains the bus."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from keliu.config import SiteConfig
from keliu.domain.visits import RememberedPerson, Sighting, SightingCrossing, Signature
from keliu.processing import register_site
from keliu.runtime.bus import EventBus
from keliu.runtime.events import CameraOutage, SightingSeen, VisitChanged
from keliu.runtime.resolution import ResolutionWorker
from keliu.store import Store, open_store

pytestmark = pytest.mark.timeout(120)

KEY = bytes(range(32))
SITE = SiteConfig.model_validate(
    {
        "site": {"id": "s1", "name": "Showroom"},
        "visitors": {"business_hours": ["00:00", "00:00"]},  # open 24 h: the test may run at any hour
        "cameras": [
            {
                "id": "door",
                "source": "rtsp://127.0.0.1:9/door",
                "lines": [{"id": "main", "a": [0.3, 0.8], "b": [0.7, 0.8], "inside": [0.5, 0.6]}],
            }
        ],
    }
)


def sig(seed: int) -> Signature:
    rng = np.random.default_rng(seed)
    embedding = rng.normal(size=1280).astype(np.float32)
    colour = rng.random(96).astype(np.float32)
    return Signature(embedding=embedding / np.linalg.norm(embedding), colour=colour / np.linalg.norm(colour))


def seen(track: int, first: datetime, direction: str, signature: Signature) -> SightingSeen:
    crossing = SightingCrossing("main", direction, first + timedelta(seconds=1), (0.5, 0.8))  # type: ignore[arg-type]
    sighting = Sighting("s1", "door", track, first, first + timedelta(seconds=3), (crossing,), (), signature)
    return SightingSeen(site_id="s1", at=sighting.last_seen, sighting=sighting)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url, key=KEY) as s:
        register_site(s, SITE)
        yield s


def test_the_worker_commits_publishes_keeps_time_and_drains(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    forgotten = RememberedPerson("long-ago", "s1", now - timedelta(days=400), sig(99))
    store.remember("s1", forgotten, now - timedelta(days=1))  # expired: the purge removes it
    bus = EventBus()
    visits = bus.subscribe("visits", kinds=(VisitChanged,), capacity=1000)
    worker = ResolutionWorker(SITE, store, bus, checkpoint_every_s=0.3, purge_every_s=0.3, capacity=8)
    worker.start()
    try:
        bus.publish(seen(1, now - timedelta(seconds=60), "in", sig(1)))
        arrival = visits.get(timeout=20)
        assert isinstance(arrival, VisitChanged) and arrival.kind == "arrival"
        assert [e.camera_id for e in arrival.visit.entries] == ["door"]
        assert store.visits("s1", now - timedelta(hours=1), now + timedelta(hours=1))[0].visit_id == (
            arrival.visit.visit_id
        ), "published after it was committed"

        bus.publish(seen(2, now - timedelta(seconds=30), "out", sig(1)))  # the same person leaves
        update = visits.get(timeout=20)
        assert isinstance(update, VisitChanged) and update.kind == "update"
        assert update.visit.visit_id == arrival.visit.visit_id and update.visit.last_exit is not None

        started, ended = now - timedelta(minutes=5), now - timedelta(minutes=4)
        bus.publish(
            CameraOutage(
                site_id="s1",
                at=ended,
                camera_id="door",
                started_at=started,
                ended_at=ended,
                attempts=3,
                reason="connection refused",
            )
        )
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while worker.report.purged == 0 or not store.remembered_people("s1", now):
            assert datetime.now(UTC) < deadline, "the timer saved nothing or purged nothing"
            time.sleep(0.1)
        assert [p.visit_id for p in store.remembered_people("s1", now)] == [arrival.visit.visit_id]
        assert store.outages("s1") == [("door", started, ended, 3, "connection refused")]

        # many sightings through a queue of 8: the publisher waits, nothing is lost, stop drains
        for n in range(200):
            bus.publish(
                seen(100 + n, now - timedelta(seconds=20) + timedelta(milliseconds=n), "in", sig(1000 + n))
            )
    finally:
        report = worker.stop()
        bus.close()
    assert worker.errors == 0, worker.last_error
    assert report.sightings == 202
    window = (now - timedelta(hours=1), now + timedelta(hours=1))
    assert len(store.sightings("s1", *window)) == 202
    assert len(store.visits("s1", *window)) == 201
    changes = visits.get_many(1000, timeout=0)
    assert sum(isinstance(e, VisitChanged) and e.kind == "arrival" for e in changes) == 200
    assert report.purged >= 1
