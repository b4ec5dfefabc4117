"""The REST API on a real store (SQLite and PostgreSQL): sign-in, throttling, API tokens, roles, the
error envelope, and site scoping on every route of the OpenAPI document (REQUIREMENTS O8, O9)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from keliu.service.app import create_app
from keliu.service.auth import hash_password
from keliu.service.main import bootstrap
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


@pytest.fixture
def api(db_url: str, keliu_home: Path) -> Iterator[tuple[TestClient, Store]]:
    settings = ServiceSettings(admin_password=PASSWORD, login_attempts=3, login_window_s=60)
    store = open_store(db_url)
    try:
        bootstrap(store, settings, lambda _: None)
        for site, name in (("shop-a", "A 店"), ("shop-b", "B 店")):
            store.upsert_site(site, name)
        store.create_user("mgr-a", "Manager A", hash_password(PASSWORD), "manager", ["shop-a"])
        store.create_user("staff-a", "Staff A", hash_password(PASSWORD), "staff", ["shop-a"])
        with TestClient(create_app(settings, store)) as client:
            yield client, store
    finally:
        store.close()


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    client.cookies.clear()
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"], body


def test_sign_in_out_and_the_error_envelope(api: tuple[TestClient, Store]) -> None:
    client, store = api
    assert_error(client.get("/api/v1/sites"), 401, "unauthenticated")
    assert_error(login(client, "admin", "wrong password"), 401, "unauthenticated")
    assert_error(login(client, "nobody", "wrong password"), 401, "unauthenticated")
    response = login(client, "admin")
    assert response.status_code == 200 and response.json()["role"] == "admin"
    assert "keliu_session" in response.cookies
    assert {s["id"] for s in client.get("/api/v1/sites").json()["items"]} == {"shop-a", "shop-b"}
    assert_error(client.get("/api/v1/sites/nope"), 404, "not_found")
    assert_error(client.patch("/api/v1/sites/shop-a", json={"dedup_window_s": -1}), 422, "invalid_request")
    assert_error(
        client.get("/api/v1/sites/shop-a/dashboard?at=9999-12-31T00:00:00%2B08:00"), 400, "invalid_input"
    )
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert_error(client.get("/api/v1/auth/me"), 401, "unauthenticated")
    actions = [e.action for e in store.audit_entries()[0]]
    assert {"login", "login_failed", "logout"} <= set(actions)


def test_failed_logins_are_throttled(api: tuple[TestClient, Store]) -> None:
    client, _ = api
    for _ in range(3):
        assert_error(login(client, "mgr-a", "wrong password"), 401, "unauthenticated")
    assert_error(login(client, "mgr-a"), 429, "too_many_attempts")  # even the right password now
    assert login(client, "staff-a").status_code == 200  # another user is not locked out


def test_api_tokens_are_shown_once_and_can_be_revoked(api: tuple[TestClient, Store]) -> None:
    client, _ = api
    login(client, "mgr-a")
    created = client.post("/api/v1/auth/tokens", json={"name": "DMS"})
    assert created.status_code == 201
    token = created.json()["token"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=bearer).json()["username"] == "mgr-a"
    assert token not in client.get("/api/v1/auth/tokens", headers=bearer).text  # only its hash is kept
    assert_error(client.post("/api/v1/auth/tokens", json={"name": "x"}, headers=bearer), 403, "forbidden")
    login(client, "mgr-a")
    assert client.delete(f"/api/v1/auth/tokens/{created.json()['id']}").status_code == 200
    client.cookies.clear()
    assert_error(client.get("/api/v1/auth/me", headers=bearer), 401, "unauthenticated")


def test_roles(api: tuple[TestClient, Store]) -> None:
    client, store = api
    login(client, "staff-a")
    assert_error(client.get("/api/v1/users"), 403, "forbidden")
    assert_error(client.patch("/api/v1/sites/shop-a", json={"dedup_window_s": 3600}), 403, "forbidden")
    login(client, "mgr-a")
    hours = [{"weekday": d, "opens": "22:00", "closes": "02:00"} for d in range(7)]
    changed = client.patch("/api/v1/sites/shop-a", json={"hours": hours, "week_start": 6})
    assert changed.status_code == 200, changed.text
    assert changed.json()["hours_source"] == "api" and changed.json()["week_start"] == 6
    assert store.setting_source("shop-a", "business_hours") == "api"
    login(client, "admin")
    made = client.post(
        "/api/v1/users",
        json={
            "username": "staff-b",
            "display_name": "B",
            "password": PASSWORD,
            "role": "staff",
            "sites": ["shop-b"],
        },
    )
    assert made.status_code == 201 and made.json()["must_change_password"] is True
    assert_error(
        client.post(
            "/api/v1/users",
            json={"username": "staff-b", "display_name": "B", "password": PASSWORD, "role": "staff"},
        ),
        409,
        "conflict",
    )
    assert_error(
        client.post(
            "/api/v1/users",
            json={
                "username": "x",
                "display_name": "X",
                "password": PASSWORD,
                "role": "staff",
                "sites": ["zz"],
            },
        ),
        404,
        "not_found",
    )


def _example(name: str) -> str:
    return {"day": date(2026, 3, 7).isoformat(), "date_from": "2026-03-01", "date_to": "2026-03-07"}.get(
        name, "1"
    )


def test_a_user_of_site_a_gets_nothing_of_site_b_on_any_route(api: tuple[TestClient, Store]) -> None:
    """Every operation of the OpenAPI document with a site in its path, called for site B by
    store staff and a manager of site A: 403 or 404, never data."""
    client, _ = api
    spec = client.get("/openapi.json").json()
    scoped = [
        (path, method)
        for path, operations in spec["paths"].items()
        if "{site_id}" in path
        for method in operations
    ]
    assert len(scoped) >= 3
    for user in ("staff-a", "mgr-a"):
        login(client, user)
        for path, method in scoped:
            url = re.sub(r"\{(\w+)\}", lambda m: "shop-b" if m[1] == "site_id" else _example(m[1]), path)
            response = client.request(method.upper(), url, json={})
            assert response.status_code in (403, 404), (
                f"{user} {method.upper()} {url}: {response.status_code}"
            )
            assert "shop-b" not in response.text.replace(url, "") or response.status_code == 404
            if path.endswith("/live"):
                continue  # site A's own stream is endless: the stream tests cover it
            own = client.request(method.upper(), url.replace("shop-b", "shop-a"), json={})
            assert own.status_code != 404 or "unknown site" not in own.text, f"{method} {url} for site A"
        stream_b = "/api/v1/sites/shop-b/live/ws"
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(stream_b) as ws:
            ws.receive_text()  # the WebSocket stream of site B is refused too


def test_reception_desk_classifies_batches_and_the_brief_counts_them(
    api: tuple[TestClient, Store],
) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from keliu.demo.load import seed_demo

    client, store = api
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    seed_demo(store, 1, 1, today, seed=3)
    store.update_user(store.user_by_name("staff-a").id, sites=["shop-a", "demo-001"])  # type: ignore[union-attr]
    login(client, "staff-a")
    day = (today - timedelta(days=0)).isoformat()
    listed = client.get(f"/api/v1/sites/demo-001/arrivals?day={day}")
    assert listed.status_code == 200, listed.text
    arrivals = listed.json()["items"]
    assert arrivals and all(a["size"] >= 1 and len(a["upper_colours"]) == a["size"] for a in arrivals)
    before = client.get(f"/api/v1/sites/demo-001/reception/brief?day={day}").json()
    total = listed.json()["total"]
    assert before["arrivals"] == total and before["unclassified"] == total
    first, second = arrivals[0]["batch_id"], arrivals[1]["batch_id"]
    for batch, category in ((first, "order"), (second, "browsing")):
        put = client.put(
            f"/api/v1/sites/demo-001/arrivals/{batch}/reception",
            json={"category": category, "advisor": "王敏"},
        )
        assert put.status_code == 200 and put.json()["updated_by"] == "staff-a", put.text
    after = client.get(f"/api/v1/sites/demo-001/reception/brief?day={day}").json()
    assert (after["order"], after["browsing"], after["unclassified"]) == (1, 1, total - 2)
    shown = client.get(f"/api/v1/sites/demo-001/arrivals?day={day}").json()["items"]
    assert {a["batch_id"]: (a["reception"] or {}).get("category") for a in shown}[first] == "order"
    assert_error(
        client.put("/api/v1/sites/demo-001/arrivals/no-such-batch/reception", json={"category": "order"}),
        404,
        "not_found",
    )
    assert_error(
        client.put(f"/api/v1/sites/demo-001/arrivals/{first}/reception", json={"category": "vip"}),
        422,
        "invalid_request",
    )
    assert_error(client.get("/api/v1/sites/demo-001/staff-suggestions"), 403, "forbidden")


def test_a_confirmed_staff_suggestion_enrols_the_person(api: tuple[TestClient, Store]) -> None:
    import numpy as np

    from keliu.domain.visits import Signature
    from keliu.resolve import StaffSuggestion

    client, store = api
    vector = np.ones(8, dtype=np.float32) / np.sqrt(8)
    signature = Signature(embedding=vector, colour=vector)
    suggestion = StaffSuggestion(
        person_key="p7",
        day=date(2026, 3, 7),
        present_s=30000.0,
        business_hours_s=43200.0,
        share=0.69,
        staff_zones=(),
        reasons=("present 69% of business hours",),
        visit_ids=("v1", "v2"),
        signature=signature,
    )
    assert store.save_staff_suggestions("shop-a", [suggestion]) == 1
    assert store.save_staff_suggestions("shop-a", [suggestion]) == 0
    login(client, "mgr-a")
    pending = client.get("/api/v1/sites/shop-a/staff-suggestions").json()["items"]
    assert [(p["person_key"], p["can_confirm"]) for p in pending] == [("p7", True)]
    done = client.post("/api/v1/sites/shop-a/staff-suggestions/p7/2026-03-07/confirm", json={"name": "李娜"})
    assert done.status_code == 200, done.text
    (member,) = store.staff("shop-a")
    assert member.name == "李娜" and np.allclose(member.signatures[0].embedding, vector)
    assert client.get("/api/v1/sites/shop-a/staff-suggestions").json()["items"] == []
    assert_error(client.post("/api/v1/sites/shop-a/staff-suggestions/p7/2026-03-07/dismiss"), 409, "conflict")


def test_csv_import_through_the_api_reads_gbk_and_names_the_bad_line(api: tuple[TestClient, Store]) -> None:
    client, _ = api
    login(client, "mgr-a")
    good = "day,temp_low,temp_high,condition\n2026-03-07,3,11,晴\n".encode("gb18030")
    done = client.post("/api/v1/sites/shop-a/imports/weather", files={"file": ("天气.csv", good, "text/csv")})
    assert done.status_code == 200, done.text
    assert done.json() == {"kind": "weather", "records": 1, "encoding": "GB18030/GBK"}
    bad = b"day,temp_low,temp_high,condition\n2026-03-08,12,4,rain\n"
    refused = client.post("/api/v1/sites/shop-a/imports/weather", files={"file": ("w.csv", bad, "text/csv")})
    assert_error(refused, 400, "invalid_argument")
    assert "w.csv:2" in refused.json()["error"]["message"]
    login(client, "staff-a")
    assert_error(
        client.post("/api/v1/sites/shop-a/imports/weather", files={"file": ("w.csv", good, "text/csv")}),
        403,
        "forbidden",
    )


def test_every_catalogue_metric_is_reachable_for_a_site(api: tuple[TestClient, Store]) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from keliu.demo.load import seed_demo

    client, store = api
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    seed_demo(store, 1, 14, today, seed=4)
    login(client, "admin")
    catalogue = client.get("/api/v1/metrics").json()
    assert len(catalogue) >= 20 and {"zh", "en", "params"} <= set(catalogue[0])
    first, last = (today - timedelta(days=13)).isoformat(), today.isoformat()
    answered = 0
    for metric in catalogue:
        params = {k: v for k, v in {"from": first, "to": last}.items() if k in metric["params"]}
        url = (
            f"/api/v1/metrics/{metric['name']}"
            if metric["site"] == "none"
            else f"/api/v1/sites/demo-001/metrics/{metric['name']}"
        )
        response = client.get(url, params=params)
        assert response.status_code in (200, 400), f"{url}: {response.text}"
        if response.status_code == 200:
            answered += 1
            assert response.json()["metric"] == metric["name"]
        else:  # a metric that needs more parameters says which
            assert response.json()["error"]["code"] == "invalid_argument", response.text
    assert answered >= len(catalogue) * 2 // 3
    trend = client.get("/api/v1/sites/demo-001/metrics/trend", params={"from": first, "to": last})
    assert trend.status_code == 200 and trend.json()["params"]["from"] == first
    assert_error(
        client.get("/api/v1/sites/demo-001/metrics/trend", params={"from": "1900-01-01", "to": last}),
        400,
        "invalid_argument",
    )
    assert_error(
        client.get("/api/v1/sites/demo-001/metrics/trend", params={"zone": "x"}), 400, "invalid_argument"
    )
    login(client, "mgr-a")
    assert_error(client.get("/api/v1/metrics/trend"), 403, "forbidden")


def test_metric_shapes_the_screens_render(api: tuple[TestClient, Store]) -> None:
    """The numbers issue 12's review found wrong, through the API the web UI calls: 返场指数 of
    persons, the peak slot by visitors per day, upcoming holidays without figures and compared like
    with like, the profile unavailable in words, the overview as totals (not the ranking again)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from keliu.demo.load import seed_demo

    client, store = api
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    seed_demo(store, 1, 31, today, seed=4)
    login(client, "admin")
    site = "/api/v1/sites/demo-001/metrics"
    day = {"day": today.isoformat()}
    idx = client.get(f"{site}/indices", params=day).json()["result"]
    assert idx["persons"] == idx["visits"] - idx["repeat_visits"] and idx["returning_persons"] > 0
    assert idx["return_index"] == idx["returning_persons"] / idx["persons"]
    slots = client.get(f"{site}/peaks", params=day).json()["result"]["time_slots"]
    assert slots["peak"] == max(slots["slots"], key=lambda s: s["per_day"] or 0)["name"]
    year = today.year + 1
    holidays = client.get(f"{site}/holidays", params={"year": year}).json()["result"]
    assert holidays and all(h["status"] == "upcoming" for h in holidays)
    assert all(
        h["total"] is None and h["vs_previous"] is None and h["vs_last_year"] is None for h in holidays
    )
    for h in holidays:
        assert h["holiday"]["kind"] in ("break", "festival")
        assert h["previous"] is None or h["previous"]["kind"] == h["holiday"]["kind"], h
    past = client.get(f"{site}/holidays", params={"year": year, "at": f"{year + 1}-01-01T00:00"}).json()
    assert {h["status"] for h in past["result"]} == {"past"}
    profile = client.get(f"{site}/profile", params=day).json()["result"]
    assert (profile["available"], profile["cells"], profile["unknown_share"]) == (False, [], None)
    assert "attribute model" in profile["reason"] and profile["total"] > 0
    ms = client.get("/api/v1/metrics/multi-store", params=day).json()["result"]
    assert isinstance(ms["overview"], dict) and len(ms["ranking"]) == len(store.sites()) >= 2
    assert (ms["overview"]["stores"], ms["overview"]["total"]) == (len(store.sites()), ms["total"])
    assert ms["overview"]["top_site_id"] == ms["ranking"][0]["site_id"] == ms["top"]
    assert not any(isinstance(v, list) and v and "rank" in v[0] for v in ms["overview"].values())


def test_staff_suggestions_are_decided_from_the_command_line_too(
    api: tuple[TestClient, Store], db_url: str
) -> None:
    import subprocess
    import sys

    import numpy as np

    from keliu.domain.visits import Signature
    from keliu.resolve import StaffSuggestion

    _, store = api
    vector = np.ones(8, dtype=np.float32) / np.sqrt(8)
    made = [
        StaffSuggestion(
            key, date(2026, 3, 7), 30000.0, 43200.0, 0.69, (), ("present 69%",), (), Signature(vector, vector)
        )
        for key in ("p1", "p2")
    ]
    store.save_staff_suggestions("shop-a", made)

    def keliu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "keliu.cli", "staff", *args, "--site", "shop-a", "--db", db_url],
            capture_output=True,
            text=True,
            check=False,
        )

    listed = keliu("suggestions")
    assert listed.returncode == 0 and [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        "p1",
        "p2",
    ]
    assert keliu("confirm", "p1", "2026-03-07", "--name", "Zhang").returncode == 0
    assert keliu("dismiss", "p2", "2026-03-07").returncode == 0
    again = keliu("confirm", "p2", "2026-03-07")
    assert again.returncode == 2 and "already dismissed" in again.stderr
    assert [m.name for m in store.staff("shop-a")] == ["Zhang"]
