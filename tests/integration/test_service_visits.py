"""Visits and their manual correction (人工干预过滤, REQUIREMENTS I8) and the privacy page through the
API, on a real store (SQLite and PostgreSQL): a correction changes the day's figures by exactly the
visits it moves (traffic table, rollups behind the dashboard and metrics, reception brief), survives
the resolution saving the visit again, is audited with its reason and pushed live, and undoing it
gives every figure back; signatures counted, expired ones purged, and all of them on request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from keliu.demo.load import seed_demo
from keliu.domain.visits import PersonCategory, Sighting, Signature
from keliu.service.app import create_app
from keliu.service.auth import hash_password
from keliu.service.main import bootstrap
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store
from keliu.store import schema as t

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
SITE = "demo-001"
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def api(db_url: str, keliu_home: Path) -> Iterator[tuple[TestClient, Store]]:
    settings = ServiceSettings(admin_password=PASSWORD)
    store = open_store(db_url)
    try:
        bootstrap(store, settings, lambda _: None)
        store.upsert_site("shop-b", "B 店")
        with TestClient(create_app(settings, store)) as client:
            yield client, store
    finally:
        store.close()


def login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text


def seeded(store: Store) -> date:
    today = datetime.now(ZONE).date()
    seed_demo(store, 1, 1, today, seed=3)
    store.create_user("mgr", "Manager", hash_password(PASSWORD), "manager", [SITE])
    store.create_user("desk", "Desk", hash_password(PASSWORD), "staff", [SITE])
    return today


def figures(client: TestClient, store: Store, day: date) -> dict[str, int]:
    """The day's figures as every consumer reads them: the traffic table (visits), the rollups (the
    dashboard and metrics read these) and the reception brief (batches)."""
    row = client.get(f"/api/v1/sites/{SITE}/traffic?from={day}&to={day}").json()["totals"]
    d = t.traffic_daily.c
    with store.engine.connect() as conn:
        rolled = conn.execute(
            sa.select(
                sa.func.sum(d.visits), sa.func.sum(d.staff), sa.func.sum(d.invalid), sa.func.sum(d.batches)
            ).where(d.site_id == SITE, d.day == day)
        ).one()
    brief = client.get(f"/api/v1/sites/{SITE}/reception/brief?day={day}").json()
    return {
        "deduplicated": row["deduplicated"],
        "staff": row["staff"],
        "invalid": row["invalid"],
        "total": row["total"],
        "rollup_visits": int(rolled[0] or 0),
        "rollup_staff": int(rolled[1] or 0),
        "rollup_invalid": int(rolled[2] or 0),
        "rollup_batches": int(rolled[3] or 0),
        "arrivals": brief["arrivals"],
        "people": brief["people"],
    }


def live_events(client: TestClient, site_id: str) -> list[dict[str, Any]]:
    """Every message the site's live stream still holds for a newcomer (the hub's replay ring)."""
    hub = client.app.state.runtime.hub  # type: ignore[attr-defined]

    async def read() -> list[dict[str, Any]]:
        sub = hub.subscribe(site_id, f"{hub.run_id}-0")
        try:
            got = await sub.next(1.0)
        finally:
            sub.close()
        return [] if got is None else [json.loads(m.text) for m in got[1]]

    return asyncio.run(read())


def test_a_corrected_visit_moves_every_figure_survives_re_resolution_and_undoes(
    api: tuple[TestClient, Store],
) -> None:
    client, store = api
    day = seeded(store)
    login(client, "desk")
    listed = client.get(f"/api/v1/sites/{SITE}/visits?day={day}&limit=500")
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] >= len(page["items"]) > 0
    start = datetime.combine(day, time(0), ZONE)
    assert page["total"] == len(store.visits(SITE, start, start + timedelta(days=1)))
    item = next(v for v in page["items"] if v["category"] == "customer" and v["batch_size"] >= 1)
    assert set(item) >= {"visit_id", "batch_id", "arrived_at", "entrance", "upper_colour", "lower_colour"}
    assert item["corrected"] is False and item["correction"] is None and item["camera_id"]
    second = client.get(f"/api/v1/sites/{SITE}/visits?day={day}&limit=2&offset=1").json()
    assert [v["visit_id"] for v in second["items"]] == [v["visit_id"] for v in page["items"][1:3]]

    url = f"/api/v1/sites/{SITE}/visits/{item['visit_id']}"
    change = {"category": "staff", "reason": "店员 Li, 没穿工服"}
    refused = client.patch(url, json=change)
    assert refused.status_code == 403 and refused.json()["error"]["message"]  # store staff may not

    login(client, "mgr")
    before = figures(client, store, day)
    for bad, status in (
        ({"category": "staff"}, 422),
        ({"category": "staff", "reason": ""}, 422),
        ({"category": "staff", "reason": "   "}, 400),
        ({"category": "vip", "reason": "x"}, 422),
        ({"category": "staff", "reason": "x", "extra": 1}, 422),
    ):
        response = client.patch(url, json=bad)
        assert response.status_code == status and response.json()["error"]["message"], (bad, response.text)
    missing = client.patch(f"/api/v1/sites/{SITE}/visits/no-such-visit", json=change)
    assert missing.status_code == 404 and "unknown site" not in missing.text
    assert figures(client, store, day) == before  # nothing changed by the refused requests

    (visit,) = [
        v for v in store.visits(SITE, start, start + timedelta(days=1)) if v.visit_id == item["visit_id"]
    ]
    entries = len(visit.entries)
    corrected = client.patch(url, json=change)
    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    assert body["category"] == "staff" and body["reason"] == "manual:staff" and body["corrected"] is True
    assert body["correction"]["reason"] == change["reason"] and body["correction"]["corrected_by"] == "mgr"
    after = figures(client, store, day)
    assert after["deduplicated"] == before["deduplicated"] - 1 == after["rollup_visits"]
    assert after["staff"] == before["staff"] + 1 == after["rollup_staff"]
    assert after["total"] == before["total"] - entries
    assert after["people"] == before["people"] - 1
    if item["batch_size"] == 1:  # the batch is left without customers: one arrival less
        assert after["arrivals"] == before["arrivals"] - 1
        assert after["rollup_batches"] == before["rollup_batches"] - 1

    (entry,) = [e for e in store.audit_entries()[0] if e.action == "visit_corrected"]
    assert entry.target == item["visit_id"] and entry.details["reason"] == change["reason"]
    assert entry.username == "mgr" and entry.site_id == SITE
    pushed = [e for e in live_events(client, SITE) if e["event"] == "batch"]
    assert pushed and pushed[-1]["data"]["batch_id"] == item["batch_id"]
    assert pushed[-1]["data"]["size"] == item["batch_size"] - 1

    # the resolution saves the visit again (a re-entry, an exit, a replay): the correction holds
    assert visit.category == PersonCategory.CUSTOMER
    store.save_visits([visit])
    assert figures(client, store, day) == after
    listed_again = client.get(f"/api/v1/sites/{SITE}/visits?day={day}&limit=500").json()["items"]
    (again,) = [v for v in listed_again if v["visit_id"] == item["visit_id"]]
    assert again["category"] == "staff" and again["corrected"] is True

    # back to a customer by correction, then undone: the figures are those of the start
    back = client.patch(url, json={"category": "customer", "reason": "顾客，误判"})
    assert back.status_code == 200 and back.json()["category"] == "customer"
    assert figures(client, store, day) == before
    undone = client.delete(url.replace("/visits/", "/visit-corrections/"))
    assert undone.status_code == 200, undone.text
    assert undone.json()["corrected"] is False and undone.json()["category"] == "customer"
    assert figures(client, store, day) == before
    again_undone = client.delete(url.replace("/visits/", "/visit-corrections/"))
    assert again_undone.status_code == 404 and again_undone.json()["error"]["message"]
    actions = [e.action for e in store.audit_entries()[0]]
    assert actions.count("visit_corrected") == 2 and "visit_correction_undone" in actions


def test_a_whole_batch_is_corrected_at_once_and_undone(api: tuple[TestClient, Store]) -> None:
    client, store = api
    day = seeded(store)
    login(client, "mgr")
    arrivals = client.get(f"/api/v1/sites/{SITE}/arrivals?day={day}&limit=500").json()["items"]
    batch = max(arrivals, key=lambda a: (a["size"], a["batch_id"]))
    assert batch["size"] >= 2, "the demo day has batches of several people"
    before = figures(client, store, day)
    url = f"/api/v1/sites/{SITE}/batches/{batch['batch_id']}"
    corrected = client.patch(url, json={"category": "courier", "reason": "美团骑手, 一起送餐"})
    assert corrected.status_code == 200, corrected.text
    visits = corrected.json()["visits"]
    assert sorted(v["visit_id"] for v in visits) == sorted(batch["visit_ids"])
    assert all(v["category"] == "invalid" and v["reason"] == "manual:courier" for v in visits)
    after = figures(client, store, day)
    assert after["deduplicated"] == before["deduplicated"] - batch["size"] == after["rollup_visits"]
    assert after["invalid"] == before["invalid"] + batch["size"] == after["rollup_invalid"]
    assert after["arrivals"] == before["arrivals"] - 1 and after["people"] == before["people"] - batch["size"]
    assert after["rollup_batches"] == before["rollup_batches"] - 1
    gone = client.get(f"/api/v1/sites/{SITE}/arrivals?day={day}&limit=500").json()["items"]
    assert batch["batch_id"] not in {a["batch_id"] for a in gone}
    (entry,) = [e for e in store.audit_entries()[0] if e.action == "batch_corrected"]
    assert entry.target == batch["batch_id"] and entry.details["reason"] == "美团骑手, 一起送餐"
    pushed = [e["data"] for e in live_events(client, SITE) if e["event"] == "batch"]
    assert {"batch_id": batch["batch_id"], "size": 0} in [
        {k: d[k] for k in ("batch_id", "size")} for d in pushed
    ]

    undone = client.delete(url.replace("/batches/", "/batch-corrections/"))
    assert undone.status_code == 200, undone.text
    assert all(v["category"] == "customer" and not v["corrected"] for v in undone.json()["visits"])
    assert figures(client, store, day) == before
    assert client.delete(url.replace("/batches/", "/batch-corrections/")).status_code == 404
    unknown = client.patch(
        f"/api/v1/sites/{SITE}/batches/{quote('b/none')}", json={"category": "staff", "reason": "x"}
    )
    assert unknown.status_code == 404 and "unknown site" not in unknown.text
    # a method a path does not have is a 405, even where an id may hold any "/"
    assert client.patch(f"/api/v1/sites/{SITE}/visit-corrections/x/y", json={}).status_code == 405
    assert client.delete(f"/api/v1/sites/{SITE}/visits/x/correction").status_code == 405
    other = client.get(f"/api/v1/sites/shop-b/visits?day={day}")
    assert other.status_code == 404  # a site the manager may not see


def _signature() -> Signature:
    rng = np.random.default_rng(7)
    embedding = rng.normal(size=1280).astype(np.float32)
    colour = rng.random(48).astype(np.float32)
    return Signature(embedding=embedding / np.linalg.norm(embedding), colour=colour / np.linalg.norm(colour))


def test_the_privacy_page_counts_signatures_and_purges_them(api: tuple[TestClient, Store]) -> None:
    client, store = api
    store.upsert_site("shop-a", "A 店", dedup_window_s=3600, returning_memory_days=1)
    store.create_user("desk-a", "Desk", hash_password(PASSWORD), "staff", ["shop-a"])
    now = datetime.now(UTC)
    sightings = [
        Sighting(
            site_id="shop-a",
            camera_id="door",
            track_id=i,
            first_seen=at - timedelta(seconds=30),
            last_seen=at,
            signature=_signature(),
        )
        for i, at in enumerate((now - timedelta(days=3), now - timedelta(days=2), now - timedelta(hours=1)))
    ]
    store.save_sightings(
        [
            *sightings,
            Sighting(
                "shop-b", "door", 9, now - timedelta(days=5), now - timedelta(days=5), signature=_signature()
            ),
        ]
    )

    login(client, "desk-a")
    page = client.get("/api/v1/privacy")
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["stores_frames"] is False and body["stores_crops"] is False and body["signatures_encrypted"]
    assert [s["site_id"] for s in body["sites"]] == ["shop-a"]  # only the sites this user sees
    assert body["sites"][0]["signature_retention_s"] == 86400.0  # the longer of 1 h and 1 day
    kinds = {k["kind"]: k for k in body["signatures"]}
    assert kinds["sightings"]["count"] == 3
    assert 3 * 86400 - 120 < kinds["sightings"]["oldest_age_s"] < 3 * 86400 + 120
    assert body["expired_now"] == 2  # the two older than a day, not shop-b's (not this user's)
    refused = client.post("/api/v1/privacy/purge", json={})
    assert refused.status_code == 403

    login(client, "admin")
    admin_page = client.get("/api/v1/privacy").json()
    assert {k["kind"]: k["count"] for k in admin_page["signatures"]}["sightings"] == 4  # shop-b's too
    assert admin_page["expired_now"] == 2  # shop-b remembers for 180 days: its 5-day-old one stays
    assert client.post("/api/v1/privacy/purge", json={"all_signatures": 1}).status_code == 422
    purged = client.post("/api/v1/privacy/purge", json={})
    assert purged.status_code == 200, purged.text
    assert purged.json() == {"all_signatures": False, "removed": 2, "by_kind": {}}
    left = [s for s in store.sightings("shop-a", now - timedelta(days=9), now + timedelta(days=1))]
    assert [s.signature is not None for s in left] == [False, False, True]  # times and crossings stay
    page = client.get("/api/v1/privacy").json()
    assert page["expired_now"] == 0 and {k["kind"]: k["count"] for k in page["signatures"]}["sightings"] == 2

    everything = client.post("/api/v1/privacy/purge", json={"all_signatures": True})
    assert everything.status_code == 200, everything.text
    assert everything.json()["removed"] == 2 and everything.json()["by_kind"]["sightings"] == 2
    assert all(k["count"] == 0 for k in client.get("/api/v1/privacy").json()["signatures"])
    with store.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).where(t.sightings.c.signature.is_not(None))).scalar() == 0
        )
    purges = [e for e in store.audit_entries()[0] if e.action == "signatures_purged"]
    assert [(e.details["all_signatures"], e.details["removed"]) for e in purges] == [(True, 2), (False, 2)]
