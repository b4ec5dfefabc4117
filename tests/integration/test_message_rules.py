"""消息规则 message rules through the API on a real store (SQLite and PostgreSQL): a manager creates,
lists, changes and removes a site's rules (store staff read them only), bad rules are refused with a
message (422 for the shape, 400 for what does not fit the kind), every change is audited; and the
evaluation, run at a given `now` on visits, entries and zone stays stored for real, fires each rule
that crosses its threshold exactly once per period (hour or day), stores the message (newest first
on ``/messages``) and pushes it as an ``alert`` to live streams and the webhook outbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from keliu.domain.visits import Entry, PersonCategory, Visit
from keliu.service.app import create_app
from keliu.service.auth import hash_password
from keliu.service.main import bootstrap
from keliu.service.runtime import ServiceRuntime
from keliu.service.settings import ServiceSettings
from keliu.store import Store, ZoneStay, open_store
from keliu.store.messages import Message

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"
SITE = "s1"
TZ = ZoneInfo("Asia/Shanghai")
RULES = f"/api/v1/sites/{SITE}/message-rules"
MESSAGES = f"/api/v1/sites/{SITE}/messages"
DAY = datetime(2026, 11, 25, tzinfo=TZ)  # a Wednesday, local midnight


@dataclass
class Service:
    client: TestClient
    store: Store
    runtime: ServiceRuntime


@pytest.fixture
def service(db_url: str, keliu_home: Path) -> Iterator[Service]:
    """The service over a store with site s1 (Asia/Shanghai, open all day), another site, a manager
    and a member of store staff of s1. The runtime's own minute-by-minute pass is held back: the
    tests run the evaluation themselves at the moments they choose."""
    settings = ServiceSettings(admin_password=PASSWORD)
    store = open_store(db_url)
    try:
        bootstrap(store, settings, lambda _: None)
        store.upsert_site(SITE, "一号店", "Asia/Shanghai")
        store.upsert_site("shop-b", "B 店", "Asia/Shanghai")
        store.create_user("mgr", "Manager", hash_password(PASSWORD), "manager", [SITE])
        store.create_user("desk", "Desk", hash_password(PASSWORD), "staff", [SITE])
        runtime = ServiceRuntime(store)
        runtime.messages.first_s = 3600.0
        with TestClient(create_app(settings, store, runtime)) as client:
            assert runtime.messages.running  # the runtime owns the checker …
            yield Service(client, store, runtime)
        assert not runtime.messages.running  # … and stops it with the service
    finally:
        store.close()


def login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text


def assert_error(response: Any, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    for word in words:
        assert word in json.dumps(error, ensure_ascii=False), error


def audited(store: Store, action: str) -> list[Any]:
    return [e for e in store.audit_entries(limit=500)[0] if e.action == action]


def create(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post(RULES, json=body)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


# ------------------------------------------------------------------------------------------ CRUD


def test_a_manager_creates_lists_changes_and_removes_rules_staff_only_read(service: Service) -> None:
    client, store = service.client, service.store
    login(client, "mgr")
    occupancy = create(client, kind="occupancy", threshold=40, name=" 展厅拥挤 ")
    assert {k: occupancy[k] for k in ("kind", "threshold", "enabled", "severity", "name", "created_by")} == {
        "kind": "occupancy",
        "threshold": 40.0,
        "enabled": True,
        "severity": "warning",
        "name": "展厅拥挤",
        "created_by": "mgr",
    }
    assert (occupancy["compare"], occupancy["direction"], occupancy["min_count"]) == (None, None, None)
    change = create(client, kind="traffic_change", threshold=30, compare="week", severity="critical")
    # traffic_change gets its defaults: either direction, judged from 20 entries on
    assert (change["compare"], change["direction"], change["min_count"]) == ("week", "both", 20)
    assert change["last_fired_at"] is None

    login(client, "desk")  # store staff see the rules and the messages, and change nothing
    listed = client.get(RULES)
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["items"]] == [occupancy["id"], change["id"]]
    assert listed.json()["total"] == 2
    assert client.get(MESSAGES).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert_error(client.post(RULES, json={"kind": "occupancy", "threshold": 5}), 403, "forbidden")
    assert_error(client.patch(f"{RULES}/{occupancy['id']}", json={"enabled": False}), 403, "forbidden")
    assert_error(client.delete(f"{RULES}/{occupancy['id']}"), 403, "forbidden")

    login(client, "mgr")
    changed = client.patch(f"{RULES}/{occupancy['id']}", json={"enabled": False, "threshold": 55})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["enabled"], changed.json()["threshold"]) == (False, 55.0)
    assert changed.json()["name"] == "展厅拥挤"  # left as it was
    renamed = client.patch(
        f"{RULES}/{change['id']}", json={"direction": "down", "min_count": 50, "name": None}
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["direction"], renamed.json()["min_count"], renamed.json()["name"]) == (
        "down",
        50,
        None,
    )
    assert [r.enabled for r in store.message_rules(SITE)] == [False, True]

    assert client.delete(f"{RULES}/{occupancy['id']}").status_code == 204
    assert_error(client.delete(f"{RULES}/{occupancy['id']}"), 404, "not_found", occupancy["id"])
    assert_error(client.patch(f"{RULES}/{occupancy['id']}", json={"threshold": 3}), 404, "not_found")
    assert [r.rule_id for r in store.message_rules(SITE)] == [change["id"]]

    # another site's rules are not the manager's: the same 404 as a site that does not exist
    assert_error(client.get("/api/v1/sites/shop-b/message-rules"), 404, "not_found")
    assert_error(
        client.post("/api/v1/sites/shop-b/message-rules", json={"kind": "occupancy", "threshold": 5}),
        404,
        "not_found",
    )
    assert_error(client.get("/api/v1/sites/shop-b/messages"), 404, "not_found")

    created = audited(store, "message_rule_created")
    assert sorted((e.username, e.site_id, e.target) for e in created) == sorted(
        [("mgr", SITE, change["id"]), ("mgr", SITE, occupancy["id"])]
    )
    assert any(e.details.get("kind") == "traffic_change" for e in created)
    assert {e.target for e in audited(store, "message_rule_changed")} == {occupancy["id"], change["id"]}
    assert [e.target for e in audited(store, "message_rule_removed")] == [occupancy["id"]]


def test_bad_rules_are_refused_with_a_message(service: Service) -> None:
    client, store = service.client, service.store
    login(client, "mgr")
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"kind": "queue_length", "threshold": 5}, 422, "invalid_request", "kind"),
        ({"kind": "occupancy"}, 422, "invalid_request", "threshold"),
        ({"kind": "occupancy", "threshold": 0}, 422, "invalid_request", "threshold"),
        ({"kind": "occupancy", "threshold": -3}, 422, "invalid_request", "threshold"),
        ({"kind": "occupancy", "threshold": "5"}, 422, "invalid_request", "threshold"),
        ({"kind": "occupancy", "threshold": 5, "enabled": "yes"}, 422, "invalid_request", "enabled"),
        ({"kind": "occupancy", "threshold": 5, "colour": "red"}, 422, "invalid_request", "colour"),
        ({"kind": "occupancy", "threshold": 5, "severity": "panic"}, 422, "invalid_request", "severity"),
        ({"kind": "occupancy", "threshold": 5, "name": "a\x00b"}, 422, "invalid_request", "control"),
        ({"kind": "traffic_change", "threshold": 10, "compare": "year"}, 422, "invalid_request", "compare"),
        ({"kind": "traffic_change", "threshold": 10, "min_count": 0}, 422, "invalid_request", "min_count"),
        # the shape is right, the kind does not take it: 400 with the reason
        ({"kind": "occupancy", "threshold": 0.5}, 400, "invalid_input", "number of people"),
        (
            {"kind": "hourly_entries", "threshold": 30, "compare": "day"},
            400,
            "invalid_input",
            "only a traffic_change",
        ),
        ({"kind": "traffic_change", "threshold": 20_000}, 400, "invalid_input", "per cent"),
    ]
    for body, status, code, word in cases:
        assert_error(client.post(RULES, json=body), status, code, word)
    assert store.message_rules(SITE) == []

    rule = create(client, kind="hourly_entries", threshold=30)
    path = f"{RULES}/{rule['id']}"
    assert_error(client.patch(path, json={}), 422, "invalid_request", "give threshold")
    assert_error(client.patch(path, json={"threshold": None}), 422, "invalid_request", "threshold")
    assert_error(client.patch(path, json={"kind": "occupancy"}), 422, "invalid_request", "kind")
    assert_error(client.patch(path, json={"min_count": 5}), 400, "invalid_input", "only a traffic_change")
    assert_error(client.patch(f"{RULES}/bad%20id", json={"enabled": True}), 422, "invalid_request")
    assert_error(client.get(MESSAGES, params={"limit": 0}), 422, "invalid_request", "limit")
    assert_error(client.get(MESSAGES, params={"limit": 501}), 422, "invalid_request", "limit")
    assert store.message_rule(SITE, rule["id"]).threshold == 30.0  # unchanged by the refusals

    for _ in range(49):  # 50 rules at most per site
        create(client, kind="occupancy", threshold=5, enabled=False)
    assert_error(
        client.post(RULES, json={"kind": "occupancy", "threshold": 5}), 400, "invalid_input", "at most 50"
    )


# ------------------------------------------------------------------------------------ evaluation


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return DAY + timedelta(days=day, hours=hour, minutes=minute)


def arrivals(store: Store, prefix: str, start: datetime, count: int, every: timedelta) -> list[str]:
    """``count`` customer visits of s1, one entry each, ``every`` apart from ``start``."""
    visits = []
    for i in range(count):
        when = start + i * every
        visits.append(
            Visit(
                visit_id=f"{prefix}-{i}",
                site_id=SITE,
                category=PersonCategory.CUSTOMER,
                first_entry=when,
                entries=[Entry(at=when, camera_id="door", line_id="main")],
                batch_id=f"b-{prefix}-{i}",
            )
        )
    store.save_visits(visits)
    return [v.visit_id for v in visits]


def fired(messages: list[Any]) -> list[tuple[str, str]]:
    return sorted((m.rule_id, m.details["period"]) for m in messages)


def test_rules_fire_once_per_period_on_stored_data_and_are_pushed(service: Service) -> None:
    client, store, runtime = service.client, service.store, service.runtime
    checker = runtime.messages
    store.create_webhook("http://127.0.0.1:9/dms", "a-long-shared-secret-1234", ["alert"], site_id=SITE)
    # yesterday: 10 entries between 09:00 and 09:50; today: 30 between 09:00 and 09:49
    arrivals(store, "y", at(9, day=-1), 10, timedelta(minutes=5))
    arrivals(store, "t", at(9), 30, timedelta(seconds=100))
    # three customers in the showroom now (open zone stays), one who has left
    present = arrivals(store, "z", at(9, 30), 4, timedelta(minutes=1))
    store.save_visit_zones(
        SITE,
        [ZoneStay(v, "hall", at(9, 31), None) for v in present[:3]]
        + [ZoneStay(present[3], "hall", at(9, 31), at(9, 40))],
    )

    login(client, "mgr")
    hourly = create(client, kind="hourly_entries", threshold=25)
    quiet_hour = create(client, kind="hourly_entries", threshold=200)
    crowd = create(client, kind="occupancy", threshold=2, severity="critical")
    rise = create(client, kind="traffic_change", threshold=50, min_count=5)  # vs yesterday, either way
    too_few = create(client, kind="traffic_change", threshold=50, min_count=50)  # yesterday had ~9
    falls = create(client, kind="traffic_change", threshold=50, direction="down", min_count=5)
    off = create(client, kind="occupancy", threshold=1, enabled=False)

    async def first_pass() -> tuple[list[Message], Any]:
        async with runtime.hub.subscription(SITE) as live:  # a live client listening meanwhile
            messages = await asyncio.to_thread(checker.evaluate, at(9, 55))
            return messages, await live.next(1.0)

    first, got = asyncio.run(first_pass())
    hour_key, day_key = "2026-11-25T09", "2026-11-25"
    assert fired(first) == sorted([(hourly["id"], hour_key), (crowd["id"], hour_key), (rise["id"], day_key)])
    by_rule = {m.rule_id: m for m in first}
    assert by_rule[hourly["id"]].details["value"] == 34  # 30 of today's and the 4 in the showroom
    assert by_rule[crowd["id"]].details["value"] == 3 and by_rule[crowd["id"]].details["zones"] == {"hall": 3}
    assert by_rule[crowd["id"]].severity == "critical"
    change = by_rule[rise["id"]].details
    # today so far: 34; yesterday up to 09:55: 10 entries of its 09 hour, taken 55/60
    assert change["value"] == 34 and change["previous"] == pytest.approx(10 * 55 / 60, abs=0.1)
    assert change["change_pct"] == pytest.approx((34 / (10 * 55 / 60) - 1) * 100, abs=0.1)
    assert "34" in by_rule[rise["id"]].text and "%" in by_rule[rise["id"]].text
    assert quiet_hour["id"] not in by_rule and too_few["id"] not in by_rule
    assert falls["id"] not in by_rule and off["id"] not in by_rule

    # the same hour again: nothing new, however often it is evaluated
    assert checker.evaluate(at(9, 58)) == []
    assert checker.evaluate(at(9, 59)) == []

    # pushed live and queued for the webhook, once each, with the message's id as the event id
    assert got is not None
    pushed = [json.loads(x.text) for x in got[1]]
    assert [p["event"] for p in pushed] == ["alert"] * 3
    assert sorted(p["data"]["details"]["rule_id"] for p in pushed) == sorted(by_rule)
    assert {p["data"]["kind"] for p in pushed} == {"hourly_entries", "occupancy", "traffic_change"}
    queued = [d for d in store.deliveries() if d.event_type == "alert"]
    assert sorted(d.event_id for d in queued) == sorted(m.message_id for m in first)
    assert all(d.payload["data"]["message"] for d in queued)

    # the next hour: the hourly rule fires again only when that hour crosses the threshold, the
    # day's change rule not again today; the crowd went home (their stays ended)
    store.save_visit_zones(SITE, [ZoneStay(v, "hall", at(9, 31), at(9, 59)) for v in present[:3]])
    assert checker.evaluate(at(10, 5)) == []
    arrivals(store, "t10", at(10, 1), 26, timedelta(minutes=1))
    second = checker.evaluate(at(10, 40))
    assert fired(second) == [(hourly["id"], "2026-11-25T10")]
    assert second[0].details["value"] == 26 and second[0].details["hour"] == "10:00"
    assert checker.evaluate(at(10, 50)) == []

    # a changed condition forgets the last firing: it may fire again in the same period
    assert client.patch(f"{RULES}/{rise['id']}", json={"threshold": 60}).status_code == 200
    again = checker.evaluate(at(10, 55))
    assert fired(again) == [(rise["id"], day_key)]
    # switching a rule on and off does not: it fired this hour already
    assert client.patch(f"{RULES}/{hourly['id']}", json={"enabled": False}).status_code == 200
    assert client.patch(f"{RULES}/{hourly['id']}", json={"enabled": True}).status_code == 200
    assert checker.evaluate(at(10, 58)) == []

    # the messages API: newest first, paginated, readable by store staff; a removed rule's stay
    login(client, "desk")
    listed = client.get(MESSAGES, params={"limit": 2})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert page["total"] == 5 and len(page["items"]) == 2
    assert page["items"][0]["id"] == again[0].message_id and page["items"][1]["id"] == second[0].message_id
    rest = client.get(MESSAGES, params={"limit": 10, "offset": 2}).json()["items"]
    assert sorted(m["id"] for m in rest) == sorted(m.message_id for m in first)
    assert client.get(RULES).json()["items"][0]["last_fired_at"] is not None
    login(client, "mgr")
    assert client.delete(f"{RULES}/{crowd['id']}").status_code == 204
    kept = client.get(MESSAGES, params={"limit": 10}).json()
    assert kept["total"] == 5 and crowd["id"] in {m["rule_id"] for m in kept["items"]}

    # a message older than the retention is deleted by the next pass
    assert checker.evaluate(at(12) + checker.retention + timedelta(days=1)) == []
    assert store.messages(SITE)[1] == 0


def test_a_quieter_day_than_last_week_fires_a_fall(service: Service) -> None:
    client, store, runtime = service.client, service.store, service.runtime
    arrivals(store, "w", at(10, day=-7), 40, timedelta(minutes=1))  # last Wednesday, 10:00–10:39
    arrivals(store, "t", at(10), 8, timedelta(minutes=3))  # today, 10:00–10:21
    login(client, "mgr")
    fall = create(client, kind="traffic_change", threshold=50, compare="week", direction="down", min_count=10)
    rise = create(client, kind="traffic_change", threshold=50, compare="week", direction="up", min_count=10)
    month = create(client, kind="traffic_change", threshold=10, compare="month", min_count=1)  # nothing then
    messages = runtime.messages.evaluate(at(11, 30))
    assert fired(messages) == [(fall["id"], "2026-11-25")]
    details = messages[0].details
    assert (details["value"], details["previous"], details["change_pct"]) == (8, 40, -80.0)
    assert details["compare"] == "week" and "上周同期" in messages[0].text
    assert {rise["id"], month["id"]}.isdisjoint(m.rule_id for m in messages)
