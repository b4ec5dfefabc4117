"""Runtime events on the real bus → the live hub and the webhook outbox (keliu.service.push_bridge),
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from keliu.domain.visits import Entry, PersonCategory, Visit
from keliu.resolve import StaffSuggestion
from keliu.runtime.bus import EventBus
from keliu.runtime.events import CameraStatus, FrameStats, StaffSuggested, VisitChanged
from keliu.service.live import LiveHub
from keliu.service.push import reception_data
from keliu.service.push_bridge import PushBridge, Pusher
from keliu.service.webhooks import DeliverySettings, Webhooks
from keliu.store import Entrance, Store, open_store
from keliu.store.crypto import generate_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SITE = "showroom-1"
T0 = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url, key=generate_key()) as s:
        s.upsert_site(SITE, "一号展厅")
        s.set_entrances(SITE, [Entrance("door-cam", "main", "正门", group="东门组", is_main=True)])
        yield s


def visit(visit_id: str, at: datetime, batch: str | None, category: PersonCategory) -> Visit:
    return Visit(
        visit_id=visit_id,
        site_id=SITE,
        category=category,
        first_entry=at,
        entries=[Entry(at=at, camera_id="door-cam", line_id="main")],
        batch_id=batch,
        upper_colour="white",
        lower_colour="blue",
    )


def test_runtime_events_are_pushed_live_and_queued_for_webhooks(store: Store) -> None:
    v1 = visit("v1", T0, "b1", PersonCategory.CUSTOMER)
    v2 = visit("v2", T0 + timedelta(seconds=20), "b1", PersonCategory.CUSTOMER)
    clerk = visit("s1", T0 + timedelta(seconds=30), None, PersonCategory.STAFF)
    store.save_visits([v1, v2, clerk])  # the resolution worker publishes after it committed
    store.create_webhook(
        "http://127.0.0.1:9/dms", "a-long-shared-secret-1234", ["arrival", "batch", "device"]
    )
    hooks = Webhooks(store, DeliverySettings())  # no worker: we look at the outbox
    hub = LiveHub()
    bus = EventBus()

    def runtime() -> None:
        for event in (
            VisitChanged(site_id=SITE, at=T0, visit=v1, kind="arrival"),
            VisitChanged(site_id=SITE, at=T0, visit=v2, kind="arrival"),
            VisitChanged(site_id=SITE, at=T0, visit=clerk, kind="arrival"),  # staff: not pushed
            VisitChanged(site_id=SITE, at=T0, visit=v2, kind="update"),  # same batch: nothing new
            CameraStatus(site_id=SITE, at=T0, camera_id="door-cam", state="offline", reason="no frames"),
            CameraStatus(site_id=SITE, at=T0, camera_id="door-cam", state="offline", reason="still"),
            FrameStats(
                site_id=SITE,
                at=T0,
                camera_id="door-cam",
                frames=1,
                fps=5.0,
                detections=0,
                crossings=0,
                sightings=0,
                in_view=0,
                video_s=1.0,
            ),
            CameraStatus(site_id=SITE, at=T0, camera_id="door-cam", state="online"),
            StaffSuggested(
                site_id=SITE,
                at=T0,
                day=date(2026, 12, 1),
                suggestions=(
                    StaffSuggestion("p1", date(2026, 12, 1), 30000.0, 36000.0, 0.83, (), (), (), None),
                ),
            ),
        ):
            bus.publish(event)

    async def main() -> list[dict[str, Any]]:
        async with hub.subscription(SITE) as sub:
            bridge = PushBridge(bus, store, Pusher(hub, hooks)).start()
            publisher = threading.Thread(target=runtime)
            publisher.start()
            await asyncio.to_thread(publisher.join)
            await asyncio.to_thread(bridge.stop)  # handles what is queued, then stops
            assert bridge.errors == 0
            got = await sub.next(1.0)
            assert got is not None and got[0] == 0
            return [json.loads(m.text) for m in got[1]]

    messages = asyncio.run(main())
    assert [m["event"] for m in messages] == [
        "arrival",
        "batch",
        "arrival",
        "batch",
        "device",
        "device",
        "alert",
    ]
    first, batch, second, batch2, offline, online, alert = messages
    assert first["data"]["visit_id"] == "v1" and first["occurred_at"] == "2026-12-02T09:30:00.000Z"
    assert (first["data"]["entrance"], first["data"]["entrance_group"]) == ("正门", "东门组")
    assert first["data"]["batch_size"] == 2 and second["data"]["visit_id"] == "v2"
    assert (
        batch["data"]
        == batch2["data"]
        == {
            "batch_id": "b1",
            "started_at": "2026-12-02T09:30:00.000Z",
            "size": 2,
            "visit_ids": ["v1", "v2"],
        }
    )
    assert (offline["data"]["status"], offline["data"]["reason"]) == ("offline", "no frames")
    assert online["data"]["status"] == "online"
    assert alert["data"]["kind"] == "staff_suggestions" and alert["data"]["details"]["count"] == 1

    # the webhook (arrival, batch, device) got the same events, queued in the outbox; not the alert
    queued = sorted(
        (d.event_type, d.payload["data"].get("visit_id") or d.payload["data"].get("status") or "")
        for d in store.deliveries()
    )
    assert queued == sorted(
        [
            ("arrival", "v1"),
            ("arrival", "v2"),
            ("batch", ""),
            ("batch", ""),
            ("device", "offline"),
            ("device", "online"),
        ]
    )
    assert all(d.payload["site"] == {"id": SITE, "name": "一号展厅"} for d in store.deliveries())


def test_reception_updates_go_through_the_same_pusher(store: Store) -> None:
    store.save_visits([visit("v1", T0, "b1", PersonCategory.CUSTOMER)])
    store.create_webhook("http://127.0.0.1:9/dms", "a-long-shared-secret-1234", ["reception"], site_id=SITE)
    hooks = Webhooks(store, DeliverySettings())
    hub = LiveHub()

    async def main() -> dict[str, Any]:
        async with hub.subscription(SITE) as sub:
            decided = store.set_reception(SITE, "b1", category="order", advisor="王芳", by="desk")
            Pusher(hub, hooks).push(SITE, "reception", reception_data(decided))
            got = await sub.next(1.0)
            assert got is not None
            return dict(json.loads(got[1][0].text))

    message = asyncio.run(main())
    assert message["event"] == "reception"
    assert {k: message["data"][k] for k in ("batch_id", "category", "advisor", "updated_by")} == {
        "batch_id": "b1",
        "category": "order",
        "advisor": "王芳",
        "updated_by": "desk",
    }
    (delivery,) = store.deliveries()
    assert delivery.event_type == "reception" and delivery.payload["data"] == message["data"]
