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
        400,
        "invalid_input",
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
            own = client.request(method.upper(), url.replace("shop-b", "shop-a"), json={})
            assert own.status_code != 404 or "unknown site" not in own.text, f"{method} {url} for site A"
