"""The API's reports and exports, locations, staff and exclusion classes on a real store (SQLite and
PostgreSQL): the numbers against the store and the command line, bounded ranges, files streamed from
a temporary folder and audited, validation of entrances and areas, roles and the audit log."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from keliu.analytics import queries
from keliu.demo.load import seed_demo
from keliu.domain.visits import ColourRule, ExclusionClass, Signature, StaffMember
from keliu.service.app import create_app
from keliu.service.auth import hash_password
from keliu.service.main import bootstrap
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
SITE = "demo-001"
LAST = date(2026, 3, 7)  # a Saturday: its week is 2026-03-02 .. 2026-03-08
FIRST = LAST - timedelta(days=2)
BASE = f"/api/v1/sites/{SITE}"


@pytest.fixture
def api(db_url: str, keliu_home: Path) -> Iterator[tuple[TestClient, Store]]:
    """The service over a store with three demo days of one site, another site, a manager and a
    member of store staff of the demo site."""
    settings = ServiceSettings(admin_password=PASSWORD)
    store = open_store(db_url)
    try:
        bootstrap(store, settings, lambda _: None)
        seed_demo(store, 1, 3, LAST, seed=5)
        store.upsert_site("shop-b", "B 店")
        store.create_user("mgr", "Manager", hash_password(PASSWORD), "manager", [SITE])
        store.create_user("desk", "Desk", hash_password(PASSWORD), "staff", [SITE])
        with TestClient(create_app(settings, store)) as client:
            yield client, store
    finally:
        store.close()


def login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    assert (
        client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).status_code
        == 200
    )


def assert_error(response: Any, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], error


def actions(store: Store, action: str) -> list[Any]:
    return [e for e in store.audit_entries(limit=500)[0] if e.action == action]


def leftover_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("keliu-[re]*-*")}


# ------------------------------------------------------------------------------- traffic table


def test_traffic_table_is_the_report_table_and_ranges_are_bounded(
    api: tuple[TestClient, Store], db_url: str
) -> None:
    client, store = api
    login(client, "desk")  # any user of the site reads its traffic table
    daily = client.get(f"{BASE}/traffic", params={"from": FIRST.isoformat(), "to": LAST.isoformat()})
    assert daily.status_code == 200, daily.text
    body = daily.json()
    assert (body["first_day"], body["last_day"], body["by"]) == (FIRST.isoformat(), LAST.isoformat(), "day")
    assert [r["bucket"][:10] for r in body["rows"]] == ["2026-03-05", "2026-03-06", "2026-03-07"]
    for key in ("total", "exits", "deduplicated", "staff", "invalid", "batches", "new", "returning"):
        assert body["totals"][key] == sum(r[key] for r in body["rows"]), key
    assert body["totals"]["deduplicated"] == round(queries.traffic(store, SITE, FIRST, LAST).visits) > 0
    assert all(r["new"] + r["returning"] == r["deduplicated"] for r in body["rows"])
    assert sum(body["totals"]["invalid_by_reason"].values()) == body["totals"]["invalid"] > 0

    hourly = client.get(
        f"{BASE}/traffic", params={"from": FIRST.isoformat(), "to": LAST.isoformat(), "by": "hour"}
    ).json()
    assert len(hourly["rows"]) == 72 and hourly["totals"]["total"] == body["totals"]["total"]

    cli = subprocess.run(
        [
            *(sys.executable, "-m", "keliu.cli", "report", "--site", SITE, "--db", db_url, "--json"),
            *("--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--by", "hour"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [{k: r[k] for k in printed[0]} for r in hourly["rows"]] == printed  # the same table as JSON

    started = time.perf_counter()
    refused = client.get(f"{BASE}/traffic", params={"from": "2000-01-01", "to": "2199-12-31", "by": "hour"})
    assert time.perf_counter() - started < 1.0  # answered at once, not after minutes of work
    assert_error(refused, 400, "invalid_argument", "92 days", "hour by hour")
    assert_error(
        client.get(f"{BASE}/traffic", params={"from": "2000-01-01", "to": "2199-12-31"}),
        400,
        "invalid_argument",
    )
    assert_error(
        client.get(f"{BASE}/traffic", params={"from": "2026-03-07", "to": "2026-03-01"}),
        400,
        "invalid_argument",
        "before",
    )
    assert_error(client.get(f"{BASE}/traffic"), 400, "invalid_argument", "from")
    assert_error(client.get(f"{BASE}/traffic", params={"from": "1999-12-31"}), 400, "invalid_argument")
    assert_error(client.get(f"{BASE}/traffic", params={"from": "7 March"}), 422, "invalid_request")
    assert_error(client.get("/api/v1/sites/shop-b/traffic", params={"from": "2026-03-07"}), 404, "not_found")


# ------------------------------------------------------------------------------------- reports


def test_reports_are_streamed_as_html_xlsx_and_zipped_csv_and_audited(api: tuple[TestClient, Store]) -> None:
    client, store = api
    login(client, "mgr")
    before = leftover_folders()
    week = client.get(f"{BASE}/traffic", params={"from": "2026-03-02", "to": "2026-03-08"}).json()["totals"]

    html = client.get(f"{BASE}/reports/week", params={"day": LAST.isoformat()})
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["content-disposition"] == (
        'attachment; filename="keliu-demo-001-week-2026-03-02_2026-03-08.html"'
    )
    assert "<script" not in html.text and "(demo-001)" in html.text

    xlsx = client.get(
        f"{BASE}/reports/week", params={"day": LAST.isoformat(), "format": "xlsx", "lang": "en"}
    )
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxml")
    summary = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert summary.cell(1, 1).value == "Indicator"
    assert summary.cell(2, 2).value == week["deduplicated"]  # 去重客流 customers, as the traffic table

    zipped = client.get(f"{BASE}/reports/day", params={"day": LAST.isoformat(), "format": "csv"})
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    assert 'filename="keliu-demo-001-day-2026-03-07.zip"' in zipped.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        names = archive.namelist()
        assert {"keliu-demo-001-day-2026-03-07-summary.csv", "keliu-demo-001-day-2026-03-07-info.csv"} <= set(
            names
        )
        rows = list(csv.reader(io.StringIO(archive.read(names[0]).decode("utf-8-sig"))))
    day_total = client.get(f"{BASE}/traffic", params={"from": LAST.isoformat()}).json()["totals"]
    assert int(rows[1][1]) == day_total["deduplicated"]

    custom = client.get(f"{BASE}/reports/custom", params={"from": "2026-03-05", "to": "2026-03-07"})
    assert (
        'filename="keliu-demo-001-custom-2026-03-05_2026-03-07.html"' in custom.headers["content-disposition"]
    )

    exports = actions(store, "export")
    assert len(exports) == 4 and {e.site_id for e in exports} == {SITE}
    assert {(e.details["kind"], e.details["format"]) for e in exports} == {
        ("week", "html"),
        ("week", "xlsx"),
        ("day", "csv"),
        ("custom", "html"),
    }
    assert all(e.username == "mgr" and e.target.startswith("keliu-demo-001-") for e in exports)
    assert leftover_folders() <= before  # written only to a temporary folder, removed after the answer

    assert_error(client.get(f"{BASE}/reports/week"), 400, "invalid_argument", "day")
    assert_error(
        client.get(f"{BASE}/reports/custom", params={"day": "2026-03-07"}), 400, "invalid_argument", "from/to"
    )
    assert_error(
        client.get(f"{BASE}/reports/month", params={"from": "2026-03-01"}), 400, "invalid_argument", "day"
    )
    assert_error(
        client.get(f"{BASE}/reports/custom", params={"from": "2000-01-01", "to": "2199-12-31"}),
        400,
        "invalid_argument",
        "3660 days",
    )
    assert_error(client.get(f"{BASE}/reports/quarter", params={"day": "2026-03-07"}), 422, "invalid_request")
    assert_error(
        client.get(f"{BASE}/reports/day", params={"day": "2026-03-07", "format": "pdf"}),
        422,
        "invalid_request",
    )
    assert len(actions(store, "export")) == 4  # a refused export is not one
    login(client, "desk")
    assert_error(client.get(f"{BASE}/reports/day", params={"day": "2026-03-07"}), 403, "forbidden")
    assert_error(
        client.get("/api/v1/sites/shop-b/reports/day", params={"day": "2026-03-07"}), 404, "not_found"
    )


def test_a_report_of_each_entrance_group_and_the_groups_add_up(api: tuple[TestClient, Store]) -> None:
    """位置 location: ``?location=<entrance group>`` reports that group's doors; over all groups of a
    site whose every entrance is in one, the customers add up to the whole site's; an unknown group
    is a 400 naming the known ones."""
    client, store = api
    login(client, "mgr")
    entrances = client.get(f"{BASE}/entrances").json()["entrances"]
    groups = sorted({e["group"] for e in entrances})
    assert len(groups) >= 2 and all(e["group"] for e in entrances)

    def customers(**params: str) -> int:
        xlsx = client.get(
            f"{BASE}/reports/week", params={"day": LAST.isoformat(), "format": "xlsx", **params}
        )
        assert xlsx.status_code == 200, xlsx.text
        return int(load_workbook(io.BytesIO(xlsx.content)).worksheets[0].cell(2, 2).value)

    per_group = {g: customers(location=g) for g in groups}
    assert sum(per_group.values()) == customers() > 0
    assert sum(1 for n in per_group.values() if n > 0) >= 2
    html = client.get(f"{BASE}/reports/day", params={"day": LAST.isoformat(), "location": groups[0]})
    assert html.status_code == 200 and groups[0] in html.text
    assert f"-{quote(groups[0])}-day-2026-03-07.html" in html.headers["content-disposition"]  # RFC 5987
    assert actions(store, "export")[-1].details["location"] == groups[0]
    assert_error(
        client.get(f"{BASE}/reports/day", params={"day": LAST.isoformat(), "location": "nowhere"}),
        400,
        "invalid_input",
        groups[0],
    )


# ------------------------------------------------------------------------------------- exports


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_exports_of_traffic_attributes_and_locations(api: tuple[TestClient, Store]) -> None:
    client, store = api
    login(client, "mgr")
    before = leftover_folders()
    span = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
    table = client.get(f"{BASE}/traffic", params=span).json()["rows"]

    traffic = _csv(client.get(f"{BASE}/exports/traffic", params=span))
    assert traffic[0][:4] == ["时段 period", "总客流 total", "离店 exits", "去重客流 deduplicated"]
    assert [int(r[3]) for r in traffic[1:]] == [r["deduplicated"] for r in table]
    assert [int(r[1]) for r in traffic[1:]] == [r["total"] for r in table]

    hourly = client.get(f"{BASE}/exports/traffic", params={**span, "by": "hour", "format": "xlsx"})
    assert hourly.status_code == 200
    assert (
        'filename="keliu-demo-001-traffic-hour-2026-03-05_2026-03-07.xlsx"'
        in hourly.headers["content-disposition"]
    )
    sheet = load_workbook(io.BytesIO(hourly.content)).active
    assert sheet is not None and sheet.max_row == 1 + 72
    assert sum(sheet.cell(row, 2).value for row in range(2, 74)) == sum(r["total"] for r in table)

    attributes = _csv(client.get(f"{BASE}/exports/attributes", params=span))
    head = attributes[0]
    uppers = [i for i, h in enumerate(head) if h.startswith("上装")]
    lowers = [i for i, h in enumerate(head) if h.startswith("下装")]
    assert len(uppers) == len(lowers) == 13  # twelve colours and unknown
    for row, day in zip(attributes[1:], table, strict=True):
        customers = int(row[head.index("顾客 customers")])
        assert customers == day["deduplicated"]
        assert int(row[head.index("员工 staff")]) == day["staff"]
        assert int(row[head.index("无效 invalid")]) == day["invalid"]
        assert int(row[head.index("新客 new")]) + int(row[head.index("回头客 returning")]) == customers
        assert sum(int(row[i]) for i in uppers) == sum(int(row[i]) for i in lowers) == customers
    assert sum(int(attributes[1][i]) for i in uppers if "unknown" not in head[i]) > 0

    locations = _csv(client.get(f"{BASE}/exports/locations", params=span))
    assert locations[0][3:7] == ["出入口 entrance", "出入口组 entrance group", "进店 entries", "离店 exits"]
    heat = queries.entrance_heat(store, SITE, FIRST, LAST, top=None)
    assert sum(int(r[5]) for r in locations[1:]) == round(heat.total_entries) > 0
    assert {r[0] for r in locations[1:]} == {"2026-03-05", "2026-03-06", "2026-03-07"}
    north = [r for r in locations[1:] if r[1] == "cam-n2"]
    assert north and all(r[3:5] == ["北门2", "北门"] for r in north)

    assert len(actions(store, "export")) == 4
    assert leftover_folders() <= before
    assert_error(
        client.get(f"{BASE}/exports/attributes", params={"from": "2024-01-01", "to": "2026-03-07"}),
        400,
        "invalid_argument",
        "366 days",
    )
    assert_error(
        client.get(f"{BASE}/exports/locations", params={**span, "by": "hour"}),
        400,
        "invalid_argument",
        "per day",
    )
    assert_error(
        client.get(
            f"{BASE}/exports/traffic", params={"from": "2026-01-01", "to": "2026-06-30", "by": "hour"}
        ),
        400,
        "invalid_argument",
        "92 days",
    )
    assert_error(client.get(f"{BASE}/exports/visitors", params=span), 422, "invalid_request")
    empty = _csv(client.get(f"{BASE}/exports/locations", params={"from": "2030-01-01"}))
    assert len(empty) == 1  # no traffic counted then: the header alone
    login(client, "desk")
    assert_error(client.get(f"{BASE}/exports/traffic", params=span), 403, "forbidden")


# ----------------------------------------------------------------------------------- locations


def test_entrances_are_read_by_anyone_and_replaced_by_managers_against_the_door_lines(
    api: tuple[TestClient, Store],
) -> None:
    client, store = api
    login(client, "desk")
    shown = client.get(f"{BASE}/entrances")
    assert shown.status_code == 200
    body = shown.json()
    assert len(body["entrances"]) == len(store.entrances(SITE)) == 7
    assert {"name": "北门", "entrances": ["cam-n1/door", "cam-n2/door"]} in body["groups"]
    assert {"camera_id": "cam-e1", "line_id": "door"} in body["door_lines"]
    assert {"camera_id": "cam-e1", "line_id": "street"} not in body["door_lines"]  # a pass-by line
    assert_error(client.put(f"{BASE}/entrances", json={"entrances": []}), 403, "forbidden")

    login(client, "mgr")
    wanted = [
        {"camera_id": "cam-n1", "line_id": "door", "name": "北门主入口", "group": "北区", "is_main": True},
        {"camera_id": "cam-n2", "line_id": "door", "name": "北门侧门", "group": "北区"},
        {"camera_id": "cam-s1", "line_id": "door", "name": "南门"},
    ]
    replaced = client.put(f"{BASE}/entrances", json={"entrances": wanted})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["groups"] == [
        {"name": "北区", "entrances": ["cam-n1/door", "cam-n2/door"]},
        {"name": "南门", "entrances": ["cam-s1/door"]},
    ]
    assert [(e.name, e.group, e.is_main) for e in store.entrances(SITE)] == [
        ("北门主入口", "北区", True),
        ("北门侧门", "北区", False),
        ("南门", None, False),
    ]
    heat = queries.entrance_heat(store, SITE, FIRST, LAST, top=None)
    assert "北区" in {g.name for g in heat.groups}  # the analytics read the new names at once
    (changed,) = actions(store, "entrances_changed")
    assert changed.username == "mgr" and changed.site_id == SITE and changed.details == {"entrances": 3}

    def refused(entrances: list[dict[str, Any]], *words: str) -> None:
        assert_error(
            client.put(f"{BASE}/entrances", json={"entrances": entrances}), 400, "invalid_input", *words
        )

    refused([{"camera_id": "cam-e1", "line_id": "street", "name": "x"}], "entrances.0", "pass-by")
    refused([wanted[2], {"camera_id": "cam-x", "line_id": "door", "name": "x"}], "entrances.1", "cam-x")
    refused([wanted[2], wanted[2]], "listed twice")
    assert_error(
        client.put(f"{BASE}/entrances", json={"entrances": [{**wanted[2], "colour": "red"}]}),
        422,
        "invalid_request",
    )
    assert_error(
        client.put(f"{BASE}/entrances", json={"entrances": [{**wanted[2], "name": ""}]}),
        422,
        "invalid_request",
    )
    assert len(store.entrances(SITE)) == 3  # nothing refused was written


def test_areas_name_the_cameras_zones(api: tuple[TestClient, Store]) -> None:
    client, store = api
    store.upsert_zone(SITE, "cam-e1", "lobby", [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)])
    store.upsert_zone(SITE, "cam-s1", "desk", [(0.2, 0.2), (0.8, 0.2), (0.5, 0.8)])
    login(client, "desk")
    body = client.get(f"{BASE}/areas").json()
    assert {"camera_id": "cam-e1", "zone_id": "lobby"} in body["zones"]
    stored = body["areas"]
    assert len(stored) == len(store.areas(SITE)) > 10
    shop = next(a for a in stored if a["kind"] == "shop")
    kept = store.areas(SITE)[0]
    assert (shop["zone_id"], shop["floor"], shop["category"]) == (
        kept.zone_id,
        kept.floor,
        list(kept.category),
    )
    assert len(shop["category"]) == 3 and shop["area_m2"] > 0  # 三级业态 and 面积
    dropped = stored[1]["zone_id"]
    assert_error(client.put(f"{BASE}/areas", json={"areas": []}), 403, "forbidden")

    login(client, "mgr")
    new = [
        {"zone_id": "lobby", "kind": "floor", "name": "一层大堂", "floor": 1},
        {"zone_id": "desk", "kind": "reception", "name": "接待台", "floor": 1, "area_m2": 12},
        {**shop, "name": "星巴克", "area_m2": 70.5},  # a zone the demo stored stays valid
    ]
    replaced = client.put(f"{BASE}/areas", json={"areas": new})
    assert replaced.status_code == 200, replaced.text
    assert [(a.zone_id, a.kind, a.name) for a in store.areas(SITE)] == [
        (shop["zone_id"], "shop", "星巴克"),
        ("desk", "reception", "接待台"),
        ("lobby", "floor", "一层大堂"),
    ]
    assert store.areas(SITE)[0].category == kept.category and store.areas(SITE)[0].area_m2 == 70.5
    (changed,) = actions(store, "areas_changed")
    assert changed.details == {"areas": 3}
    assert_error(
        client.put(
            f"{BASE}/areas", json={"areas": [*new, {"zone_id": dropped, "kind": "shop", "name": "x"}]}
        ),
        400,
        "invalid_input",
        "areas.3.zone_id",
    )  # dropped above, and no camera has it
    assert_error(client.put(f"{BASE}/areas", json={"areas": [new[0], new[0]]}), 400, "invalid_input", "twice")
    for bad in (
        {**new[0], "kind": "parking"},
        {**new[0], "category": ["a", "b", "c", "d"]},
        {**new[0], "area_m2": 0},
        {**new[0], "floor": "1"},
    ):
        assert_error(client.put(f"{BASE}/areas", json={"areas": [bad]}), 422, "invalid_request")
    assert len(store.areas(SITE)) == 3


# --------------------------------------------------------------------- staff and exclusion classes


def _signature(seed: int) -> Signature:
    vector = np.random.default_rng(seed).normal(size=8).astype(np.float32)
    vector /= np.linalg.norm(vector)
    return Signature(embedding=vector, colour=vector)


def test_staff_are_listed_without_signatures_and_removed(api: tuple[TestClient, Store]) -> None:
    client, store = api
    store.enrol_staff(SITE, StaffMember("s-01", "王敏", (_signature(1), _signature(2))))
    store.enrol_staff(SITE, StaffMember("s-02", "李娜", (_signature(3),)))
    login(client, "desk")
    assert_error(client.get(f"{BASE}/staff"), 403, "forbidden")
    assert_error(client.delete(f"{BASE}/staff/s-01"), 403, "forbidden")

    login(client, "mgr")
    listed = client.get(f"{BASE}/staff")
    assert listed.status_code == 200
    assert listed.json() == {
        "items": [
            {"id": "s-01", "name": "王敏", "signatures": 2},
            {"id": "s-02", "name": "李娜", "signatures": 1},
        ],
        "total": 2,
        "limit": 100,
        "offset": 0,
    }
    page = client.get(f"{BASE}/staff", params={"limit": 1, "offset": 1}).json()
    assert [m["id"] for m in page["items"]] == ["s-02"] and page["total"] == 2
    assert client.delete(f"{BASE}/staff/s-01").status_code == 204
    assert [m.staff_id for m in store.staff(SITE)] == ["s-02"]
    assert_error(client.delete(f"{BASE}/staff/s-01"), 404, "not_found")
    assert_error(client.delete("/api/v1/sites/shop-b/staff/s-02"), 404, "not_found", "unknown site")
    (removed,) = actions(store, "staff_removed")
    assert (removed.username, removed.site_id, removed.target) == ("mgr", SITE, "s-01")


def test_exclusion_classes_list_their_rules_and_only_a_sites_own_is_removed(
    api: tuple[TestClient, Store],
) -> None:
    client, store = api
    meituan = ColourRule(("yellow",), (), 300.0)
    store.save_exclusion_class(None, ExclusionClass("courier:meituan", "美团", colour_rule=meituan))
    store.save_exclusion_class(None, ExclusionClass("courier:sf", "顺丰", colour_rule=ColourRule(("black",))))
    store.save_exclusion_class(
        SITE, ExclusionClass("courier:sf", "顺丰 本店", (_signature(4),), ColourRule(("black",), ("black",)))
    )
    store.save_exclusion_class(SITE, ExclusionClass("cleaner", "保洁", (_signature(5),), enabled=False))
    login(client, "desk")
    assert_error(client.get(f"{BASE}/exclusion-classes"), 403, "forbidden")

    login(client, "mgr")
    items = client.get(f"{BASE}/exclusion-classes").json()["items"]
    assert items == [
        {
            "id": "cleaner",
            "name": "保洁",
            "enabled": False,
            "scope": "site",
            "colour_rule": None,
            "exemplars": 1,
        },
        {
            "id": "courier:meituan",
            "name": "美团",
            "enabled": True,
            "scope": "global",
            "colour_rule": {"upper_colours": ["yellow"], "lower_colours": [], "max_stay_s": 300.0},
            "exemplars": 0,
        },
        {
            "id": "courier:sf",
            "name": "顺丰 本店",
            "enabled": True,
            "scope": "site",
            "colour_rule": {"upper_colours": ["black"], "lower_colours": ["black"], "max_stay_s": None},
            "exemplars": 1,
        },
    ]
    assert_error(client.delete(f"{BASE}/exclusion-classes/courier:meituan"), 409, "conflict", "global")
    assert client.delete(f"{BASE}/exclusion-classes/courier:sf").status_code == 204
    after = {c["id"]: c for c in client.get(f"{BASE}/exclusion-classes").json()["items"]}
    assert (after["courier:sf"]["name"], after["courier:sf"]["scope"]) == (
        "顺丰",
        "global",
    )  # the global again
    assert_error(client.delete(f"{BASE}/exclusion-classes/courier:sf"), 409, "conflict")
    assert_error(client.delete(f"{BASE}/exclusion-classes/nothing"), 404, "not_found")
    assert [e.target for e in actions(store, "exclusion_class_removed")] == ["courier:sf"]
    assert len(store.exclusion_classes("shop-b")) == 2  # the global ones; the site's own never leaked
