"""Creating a site (the web UI's setup wizard) and a site's forecast through the API, on SQLite and
PostgreSQL; the forecast is the one `keliu forecast --site` prints, on the demo chain's history."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from tests.integration.test_service_api import PASSWORD, api, assert_error, login  # noqa: F401 - fixture

from keliu.analytics.site_forecast import site_forecast
from keliu.demo.load import seed_demo
from keliu.service.app import create_app
from keliu.store import Store

pytestmark = pytest.mark.integration


def test_an_administrator_creates_a_site(api: tuple[TestClient, Store]) -> None:  # noqa: F811
    client, store = api
    assert login(client, "mgr-a").status_code == 200
    assert_error(client.post("/api/v1/sites", json={"id": "shop-c", "name": "C 店"}), 403, "forbidden")
    assert login(client, "admin").status_code == 200
    new = {"id": "shop-c", "name": "C 店", "store_type": "showroom", "region": "华北"}
    made = client.post("/api/v1/sites", json=new)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["id"], body["name"], body["timezone"], body["store_type"], body["region"]) == (
        "shop-c", "C 店", "Asia/Shanghai", "showroom", "华北",
    )  # fmt: skip
    assert "shop-c" in {s.site_id for s in store.sites()}
    assert_error(client.post("/api/v1/sites", json={"id": "shop-c", "name": "again"}), 409, "conflict")
    on_mars = {"id": "x", "name": "x", "timezone": "Mars/Base"}
    assert_error(client.post("/api/v1/sites", json=on_mars), 422, "invalid_request")
    assert_error(client.post("/api/v1/sites", json={"id": "../etc", "name": "x"}), 422, "invalid_request")
    assert client.get("/api/v1/audit").json()["items"][0]["action"] == "site_created"


def test_forecast_of_a_site(api: tuple[TestClient, Store]) -> None:  # noqa: F811
    client, store = api
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    seed_demo(store, 1, 35, today, seed=3)
    assert login(client, "admin").status_code == 200
    answer = client.get("/api/v1/sites/demo-001/forecast", params={"days": 7})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    days = body["days"]
    assert next(date.fromisoformat(d["day"]) for d in days) == today and len(days) == 7
    assert all(d["low"] <= d["expected"] <= d["high"] and d["expected"] > 0 for d in days)
    expected = site_forecast(store, "demo-001", "deduplicated", 7)
    assert [d["expected"] for d in days] == [d.expected for d in expected.days]
    assert_error(client.get("/api/v1/sites/shop-a/forecast"), 400, "invalid_input")  # no history: one line
    assert_error(client.get("/api/v1/sites/demo-001/forecast", params={"days": 99}), 422, "invalid_request")
    assert login(client, "staff-a").status_code == 200
    assert_error(client.get("/api/v1/sites/demo-001/forecast"), 404, "not_found")


def test_the_app_without_ui_serves_no_pages(api: tuple[TestClient, Store]) -> None:  # noqa: F811
    client, _ = api
    assert client.get("/").status_code == 404  # the UI is mounted by `keliu serve`, not by create_app
    assert isinstance(create_app, object)
