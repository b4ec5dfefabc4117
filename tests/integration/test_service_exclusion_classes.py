"""Exclusion classes (无效客流) managed through the API on a real store (SQLite and PostgreSQL): a
manager creates one of the site's own with a colour rule, renames it, switches it off and changes
its rule; unknown colours and malformed classes are refused with a message (422), a taken id or a
global class with a conflict (409), another site's with not found (404); every change is audited,
and the site's running resolver classifies the next sighting with the class as it now is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from keliu.config import SiteConfig
from keliu.domain.visits import (
    ColourName,
    ColourRule,
    ExclusionClass,
    PersonCategory,
    Sighting,
    SightingCrossing,
    Signature,
    StaffMember,
)
from keliu.processing import register_site
from keliu.runtime.bus import Subscription
from keliu.runtime.events import SightingSeen, VisitChanged
from keliu.runtime.resolution import ResolutionWorker
from keliu.service.app import create_app
from keliu.service.auth import hash_password
from keliu.service.main import bootstrap
from keliu.service.runtime import ServiceRuntime
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"
SITE = "s1"
BASE = f"/api/v1/sites/{SITE}/exclusion-classes"
OTHER = "/api/v1/sites/shop-b/exclusion-classes"
COLOURS = [
    "red",
    "orange",
    "yellow",
    "green",
    "cyan",
    "blue",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
    "grey",
]
CONFIG = SiteConfig.model_validate(
    {
        "site": {"id": SITE, "name": "Showroom"},
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


@dataclass
class Service:
    client: TestClient
    store: Store
    visits: Subscription  # the runtime's VisitChanged events
    runtime: ServiceRuntime


@pytest.fixture
def service(db_url: str, keliu_home: Path) -> Iterator[Service]:
    """The service over a store with the live site s1 (its shipped global courier classes included;
    its sightings come from the test instead of cameras), another site, a manager and a member of
    store staff of s1."""
    settings = ServiceSettings(admin_password=PASSWORD)
    store = open_store(db_url)
    try:
        bootstrap(store, settings, lambda _: None)
        register_site(store, CONFIG)
        store.upsert_site("shop-b", "B 店")
        store.save_exclusion_class(
            "shop-b", ExclusionClass("cleaner", "保洁", colour_rule=ColourRule(("white",)))
        )
        store.create_user("mgr", "Manager", hash_password(PASSWORD), "manager", [SITE])
        store.create_user("desk", "Desk", hash_password(PASSWORD), "staff", [SITE])
        runtime = ServiceRuntime(store)
        runtime.workers[SITE] = ResolutionWorker(CONFIG, store, runtime.bus)  # no camera threads
        visits = runtime.bus.subscribe("test-visits", kinds=(VisitChanged,), capacity=1000)
        with TestClient(create_app(settings, store, runtime)) as client:
            yield Service(client, store, visits, runtime)
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
        assert word in error["message"], error


def audited(store: Store, action: str) -> list[Any]:
    return [e for e in store.audit_entries(limit=500)[0] if e.action == action]


GREEN = {"upper_colours": ["green"], "lower_colours": ["black", "grey", "black"], "max_stay_s": 600}


def test_a_manager_creates_lists_renames_switches_off_and_changes_a_class(service: Service) -> None:
    client, store = service.client, service.store
    login(client, "desk")
    assert_error(client.post(BASE, json={"id": "x", "name": "x", "colour_rule": GREEN}), 403, "forbidden")
    assert_error(client.patch(f"{BASE}/courier:meituan", json={"enabled": False}), 403, "forbidden")

    login(client, "mgr")
    created = client.post(BASE, json={"id": "uniform:green", "name": "绿衣 保洁", "colour_rule": GREEN})
    assert created.status_code == 201, created.text
    expected = {
        "id": "uniform:green",
        "name": "绿衣 保洁",
        "enabled": True,
        "scope": "site",
        "colour_rule": {"upper_colours": ["green"], "lower_colours": ["black", "grey"], "max_stay_s": 600.0},
        "exemplars": 0,
    }
    assert created.json() == expected
    (stored,) = [c for c in store.exclusion_classes(SITE) if c.class_id == "uniform:green"]
    assert stored.colour_rule == ColourRule(("green",), ("black", "grey"), 600.0) and stored.enabled
    assert store.own_exclusion_class_ids(SITE) == {"uniform:green"}

    listed = client.get(BASE).json()
    assert listed["colours"] == COLOURS
    assert [c["id"] for c in listed["items"]] == [
        "courier:eleme",
        "courier:jd",
        "courier:meituan",
        "courier:sf",
        "uniform:green",
    ]
    assert listed["items"][-1] == expected and listed["total"] == 5
    assert {c["scope"] for c in listed["items"][:-1]} == {"global"}
    assert "uniform:green" not in {c.class_id for c in store.exclusion_classes("shop-b")}

    renamed = client.patch(f"{BASE}/uniform:green", json={"name": "  保洁 绿衣  "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {**expected, "name": "保洁 绿衣"}
    off = client.patch(f"{BASE}/uniform:green", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False and off.json()["name"] == "保洁 绿衣"
    rule = client.patch(
        f"{BASE}/uniform:green", json={"colour_rule": {"upper_colours": ["cyan", "green"]}, "enabled": True}
    )
    assert rule.status_code == 200, rule.text
    assert rule.json()["colour_rule"] == {
        "upper_colours": ["cyan", "green"],
        "lower_colours": [],
        "max_stay_s": None,
    }
    assert rule.json()["enabled"] is True and rule.json()["name"] == "保洁 绿衣"
    (stored,) = [c for c in store.exclusion_classes(SITE) if c.class_id == "uniform:green"]
    assert (stored.name, stored.enabled, stored.colour_rule) == (
        "保洁 绿衣",
        True,
        ColourRule(("cyan", "green")),
    )

    # no rule and no exemplars would match nobody; an empty change changes nothing
    assert_error(
        client.patch(f"{BASE}/uniform:green", json={"colour_rule": None}), 400, "invalid_input", "exemplars"
    )
    assert_error(client.patch(f"{BASE}/uniform:green", json={}), 422, "invalid_request")
    assert_error(client.patch(f"{BASE}/uniform:green", json={"name": None}), 422, "invalid_request", "name")

    # a class with exemplars (added with the command line) may drop its colour rule; they are kept
    vector = np.ones(8, dtype=np.float32) / np.sqrt(8)
    with_images = ExclusionClass("rider", "骑手", (Signature(vector, vector),), ColourRule(("orange",)))
    store.save_exclusion_class(SITE, with_images)
    dropped = client.patch(f"{BASE}/rider", json={"colour_rule": None})
    assert dropped.status_code == 200, dropped.text
    assert (dropped.json()["colour_rule"], dropped.json()["exemplars"]) == (None, 1)

    (made,) = audited(store, "exclusion_class_created")
    assert (made.username, made.site_id, made.target) == ("mgr", SITE, "uniform:green")
    assert made.details == {"name": "绿衣 保洁", "enabled": True, "colour_rule": expected["colour_rule"]}
    changes = audited(store, "exclusion_class_changed")
    assert sorted((e.target, tuple(sorted(e.details))) for e in changes) == [
        ("rider", ("colour_rule",)),
        ("uniform:green", ("colour_rule", "enabled")),
        ("uniform:green", ("enabled",)),
        ("uniform:green", ("name",)),
    ]
    assert all(e.username == "mgr" and e.site_id == SITE for e in changes)

    assert client.delete(f"{BASE}/uniform:green").status_code == 204
    assert "uniform:green" not in {c["id"] for c in client.get(BASE).json()["items"]}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            {"id": "gold", "name": "金", "colour_rule": {"upper_colours": ["gold"]}},
            ["gold", "unknown colour"],
        ),
        (
            {
                "id": "x",
                "name": "x",
                "colour_rule": {"upper_colours": ["red"], "lower_colours": ["navy", "teal"]},
            },
            ["navy, teal"],
        ),
        ({"id": "x", "name": "x", "colour_rule": {"upper_colours": [], "lower_colours": ["red"]}}, ["upper"]),
        ({"id": "x", "name": "x"}, ["colour_rule"]),
        (
            {"id": "x", "name": "x", "colour_rule": {"upper_colours": ["red"], "max_stay_s": 0}},
            ["max_stay_s"],
        ),
        ({"id": "a/b", "name": "x", "colour_rule": {"upper_colours": ["red"]}}, ["id"]),
        ({"id": "outside_hours", "name": "x", "colour_rule": {"upper_colours": ["red"]}}, ["reason"]),
        ({"id": "staff:li", "name": "x", "colour_rule": {"upper_colours": ["red"]}}, ["reason"]),
        ({"id": "x", "name": "   ", "colour_rule": {"upper_colours": ["red"]}}, ["name"]),
        ({"id": "x", "name": "a\x00b", "colour_rule": {"upper_colours": ["red"]}}, ["control"]),
        ({"id": "x", "name": "x", "colour_rule": {"upper_colours": ["red"]}, "enabled": "yes"}, ["enabled"]),
        ({"id": "x", "name": "x", "colour_rule": {"upper_colours": ["red"]}, "exemplars": []}, ["--images"]),
    ],
)
def test_malformed_classes_are_refused_with_a_message(
    service: Service, body: dict[str, Any], words: list[str]
) -> None:
    client, store = service.client, service.store
    login(client, "mgr")
    assert_error(client.post(BASE, json=body), 422, "invalid_request", *words)
    assert store.own_exclusion_class_ids(SITE) == set()
    assert audited(store, "exclusion_class_created") == []


def test_bad_colours_in_a_change_are_refused_and_nothing_changes(service: Service) -> None:
    client, store = service.client, service.store
    login(client, "mgr")
    assert client.post(BASE, json={"id": "u", "name": "u", "colour_rule": GREEN}).status_code == 201
    assert_error(
        client.patch(f"{BASE}/u", json={"colour_rule": {"upper_colours": ["green", "khaki"]}}),
        422,
        "invalid_request",
        "khaki",
    )
    (stored,) = [c for c in store.exclusion_classes(SITE) if c.class_id == "u"]
    assert stored.colour_rule == ColourRule(("green",), ("black", "grey"), 600.0)
    assert audited(store, "exclusion_class_changed") == []


def test_taken_ids_global_classes_and_other_sites(service: Service) -> None:
    client, store = service.client, service.store
    login(client, "mgr")
    body = {"id": "uniform", "name": "制服", "colour_rule": {"upper_colours": ["purple"]}}
    assert client.post(BASE, json=body).status_code == 201
    assert_error(client.post(BASE, json={**body, "name": "again"}), 409, "conflict", "already")
    assert [c.name for c in store.exclusion_classes(SITE) if c.class_id == "uniform"] == ["制服"]
    # a global class: not created over, not renamed or re-ruled here (the command line manages it),
    # but switched off and on for this site alone
    assert_error(client.post(BASE, json={**body, "id": "courier:meituan"}), 409, "conflict", "global")
    assert_error(
        client.patch(f"{BASE}/courier:meituan", json={"name": "外卖"}), 409, "conflict", "keliu exclusion"
    )
    assert_error(
        client.patch(f"{BASE}/courier:meituan", json={"enabled": False, "colour_rule": None}),
        409,
        "conflict",
        "switch it on or off",
    )
    (meituan,) = [c for c in store.exclusion_classes(SITE) if c.class_id == "courier:meituan"]
    assert meituan.enabled and "courier:meituan" not in store.own_exclusion_class_ids(SITE)
    off = client.patch(f"{BASE}/courier:meituan", json={"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json()["enabled"] is False and off.json()["scope"] == "site"  # the site's copy
    (here,) = [c for c in store.exclusion_classes(SITE) if c.class_id == "courier:meituan"]
    assert not here.enabled and (here.name, here.colour_rule) == (meituan.name, meituan.colour_rule)
    (there,) = [c for c in store.exclusion_classes("shop-b") if c.class_id == "courier:meituan"]
    assert there.enabled  # other sites keep it on
    on = client.patch(f"{BASE}/courier:meituan", json={"enabled": True})
    assert on.status_code == 200 and on.json()["enabled"] is True
    assert sorted(e.details["enabled"] for e in audited(store, "exclusion_class_changed")) == [False, True]
    assert_error(client.patch(f"{BASE}/nothing", json={"enabled": False}), 404, "not_found")
    assert_error(client.patch(f"{BASE}/a%00b", json={"enabled": False}), 422, "invalid_request")
    assert_error(client.delete(f"{BASE}/a%00b"), 422, "invalid_request")

    # another site: not the manager's (404, nothing said about it), and its classes stay its own
    assert_error(client.post(OTHER, json=body), 404, "not_found")
    assert_error(client.patch(f"{OTHER}/cleaner", json={"enabled": False}), 404, "not_found")
    assert_error(client.patch(f"{BASE}/cleaner", json={"enabled": False}), 404, "not_found")
    login(client, "admin")
    assert_error(client.post("/api/v1/sites/nowhere/exclusion-classes", json=body), 404, "not_found")
    same_id = client.post(OTHER, json=body)  # the same id at another site is that site's own class
    assert same_id.status_code == 201 and same_id.json()["scope"] == "site"
    assert [c.name for c in store.exclusion_classes("shop-b") if c.class_id == "cleaner"] == ["保洁"]
    assert [e.target for e in audited(store, "exclusion_class_created")] == ["uniform", "uniform"]
    assert len(audited(store, "exclusion_class_changed")) == 2  # the two switches of the global class


# ------------------------------------------------------------------ the running resolver takes it


def _signature(seed: int, upper: ColourName) -> Signature:
    rng = np.random.default_rng(seed)
    embedding = rng.normal(size=1280).astype(np.float32)
    colour = rng.random(96).astype(np.float32)
    return Signature(
        embedding=embedding / np.linalg.norm(embedding),
        colour=colour / np.linalg.norm(colour),
        upper_colour=upper,
        lower_colour="black",
    )


def _arrive(service: Service, track: int, upper: ColourName) -> VisitChanged:
    """A new person walks in (a sighting of the door camera); the arrival the worker publishes."""
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)
    crossing = SightingCrossing("main", "in", first + timedelta(seconds=1), (0.5, 0.8))
    sighting = Sighting(
        SITE, "door", track, first, first + timedelta(seconds=3), (crossing,), (), _signature(track, upper)
    )
    service.runtime.bus.publish(SightingSeen(site_id=SITE, at=sighting.last_seen, sighting=sighting))
    while True:
        event = service.visits.get(timeout=20)
        assert isinstance(event, VisitChanged), "no visit within 20 s"
        if event.kind == "arrival" and event.visit.entries[0].at == crossing.at:
            return event


def test_the_running_resolver_takes_a_created_changed_and_removed_class(service: Service) -> None:
    client = service.client
    login(client, "mgr")
    before = _arrive(service, 1, "green")
    assert before.visit.category == PersonCategory.CUSTOMER and before.visit.exclusion is None

    rule = {"upper_colours": ["green"], "lower_colours": ["black"]}
    assert (
        client.post(BASE, json={"id": "uniform:green", "name": "绿衣", "colour_rule": rule}).status_code
        == 201
    )
    after = _arrive(service, 2, "green")
    assert after.visit.category == PersonCategory.INVALID
    assert after.visit.exclusion is not None and after.visit.exclusion.reason == "uniform:green"
    stored = {
        v.visit_id: v
        for v in service.store.visits(
            SITE, after.visit.first_entry - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)
        )
    }
    assert stored[after.visit.visit_id].category == PersonCategory.INVALID

    assert client.patch(f"{BASE}/uniform:green", json={"enabled": False}).status_code == 200
    assert _arrive(service, 3, "green").visit.category == PersonCategory.CUSTOMER
    assert (
        client.patch(
            f"{BASE}/uniform:green", json={"enabled": True, "colour_rule": {"upper_colours": ["pink"]}}
        ).status_code
        == 200
    )
    assert _arrive(service, 4, "green").visit.category == PersonCategory.CUSTOMER
    pink = _arrive(service, 5, "pink").visit
    assert pink.exclusion is not None and pink.exclusion.reason == "uniform:green"
    assert client.delete(f"{BASE}/uniform:green").status_code == 204
    assert _arrive(service, 6, "pink").visit.category == PersonCategory.CUSTOMER
    worker = service.runtime.workers[SITE]
    assert worker.errors == 0, worker.last_error


def test_the_running_resolver_forgets_a_removed_member_of_staff(service: Service) -> None:
    """Staff removed through the API (a wrong enrolment) reach the running resolver like classes do:
    the person, seen again, is a customer from the next sighting on."""
    enrolled = _signature(7, "blue")
    service.store.enrol_staff(SITE, StaffMember("s-7", "王芳", (enrolled,)))
    staff = _arrive(service, 7, "blue").visit  # the resolver starts now and reads the enrolment
    assert staff.category == PersonCategory.STAFF
    login(service.client, "mgr")
    assert service.client.delete(f"/api/v1/sites/{SITE}/staff/s-7").status_code == 204
    # the same person seen again by another track: their visit goes on, classified again
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    again = Sighting(SITE, "door", 8, first, first + timedelta(seconds=3), (), (), enrolled)
    service.runtime.bus.publish(SightingSeen(site_id=SITE, at=again.last_seen, sighting=again))
    while True:
        event = service.visits.get(timeout=20)
        assert isinstance(event, VisitChanged), "no visit change within 20 s"
        if event.visit.visit_id == staff.visit_id:
            break
    assert event.visit.category == PersonCategory.CUSTOMER and event.visit.exclusion is None
    worker = service.runtime.workers[SITE]
    assert worker.errors == 0, worker.last_error
