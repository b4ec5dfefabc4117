"""Webhooks against a real HTTP receiver, on SQLite and PostgreSQL: signed bodies, back-off while the
receiver is down or failing, dead letters, a worker killed (SIGKILL) and restarted without losing an
event, and the /webhooks API."""

from __future__ import annotations

import base64
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection
from tests.support.webhook_receiver import WebhookReceiver, free_port

from keliu.domain.visits import Entry, PersonCategory, Visit
from keliu.errors import Forbidden, InputError, NotFound, Unauthenticated
from keliu.service.errors import install_error_handlers
from keliu.service.push import arrival_data, device_data
from keliu.service.routers.webhooks import build_webhooks_router
from keliu.service.webhooks import DeliverySettings, Webhooks, sign, verify_signature
from keliu.store import Store, open_store
from keliu.store import schema as t
from keliu.store.crypto import generate_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

KEY = generate_key()
SECRET = "a-long-shared-secret-1234"
SITE, OTHER = "showroom-1", "showroom-2"
FAST = DeliverySettings(
    timeout_s=2.0, first_retry_s=0.2, max_retry_s=1.0, jitter=0.0, poll_s=0.05, maintenance_s=0.1
)
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url, key=KEY) as s:
        s.upsert_site(SITE, "长安4S店 一号展厅")
        s.upsert_site(OTHER, "Showroom 2")
        yield s


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(SECRET)
    yield r
    r.stop()


def visit(n: int, at: datetime | None = None) -> Visit:
    at = at or datetime(2026, 12, 2, 9, 30, tzinfo=UTC) + timedelta(minutes=n)
    return Visit(
        visit_id=f"v{n}",
        site_id=SITE,
        category=PersonCategory.CUSTOMER,
        first_entry=at,
        entries=[Entry(at=at, camera_id="door-cam", line_id="main")],
        batch_id=f"b{n}",
        upper_colour="red",
        lower_colour="black",
    )


def wait_until(predicate: Any, timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


# ------------------------------------------------------------------------------------- delivery


def test_signed_body_reaches_only_subscribed_receivers(store: Store, receiver: WebhookReceiver) -> None:
    receiver.start()
    hooks = Webhooks(store, FAST)
    wanted = store.create_webhook(receiver.url, SECRET, ["arrival", "batch"], site_id=SITE)
    everywhere = store.create_webhook(receiver.url + "?all", SECRET, ["arrival"])
    store.create_webhook(receiver.url + "?devices", SECRET, ["device"], site_id=SITE)  # other type
    store.create_webhook(receiver.url + "?other", SECRET, ["arrival"], site_id=OTHER)  # other site
    store.create_webhook(receiver.url + "?paused", SECRET, ["arrival"], active=False)

    event_id = hooks.publish("arrival", SITE, arrival_data(visit(1), batch_size=2, entrance="正门"))
    assert store.count_deliveries(status="pending") == 2  # queued before anything is sent
    assert hooks.run_once() == 2

    got = sorted(receiver.snapshot(), key=lambda r: r.path)
    assert [r.path for r in got] == ["/hooks/keliu", "/hooks/keliu?all"]
    for r in got:
        assert r.signature_ok
        assert r.headers["x-keliu-event"] == "arrival"
        assert r.headers["x-keliu-event-id"] == event_id
        assert r.headers["content-type"].startswith("application/json")
        timestamp = int(r.headers["x-keliu-timestamp"])
        assert r.headers["x-keliu-signature"] == f"t={timestamp},v1={sign(SECRET, timestamp, r.body)}"
        assert not verify_signature("another secret", r.body, r.headers["x-keliu-signature"])
        assert not verify_signature(SECRET, r.body + b" ", r.headers["x-keliu-signature"])
        assert not verify_signature(
            SECRET, r.body, r.headers["x-keliu-signature"], now=timestamp + 301
        )  # an old delivery replayed later is refused
        body = r.json
        assert set(body) == {"event", "id", "occurred_at", "site", "data"}
        assert body["event"] == "arrival" and body["id"] == event_id
        assert body["site"] == {"id": SITE, "name": "长安4S店 一号展厅"}
        assert "长安".encode() in r.body  # UTF-8, not \u escapes
        data = body["data"]
        assert data["visit_id"] == "v1" and data["batch_id"] == "b1" and data["batch_size"] == 2
        assert data["at"] == "2026-12-02T09:31:00.000Z"
        assert (data["upper_colour"], data["lower_colour"]) == ("red", "black")
        assert (data["camera_id"], data["line_id"], data["entrance"]) == ("door-cam", "main", "正门")
    for hook in (wanted, everywhere):
        (row,) = store.deliveries(hook.webhook_id)
        assert row.status == "delivered" and row.attempts == 1 and row.last_status == 200
    assert store.count_deliveries(status="pending") == 0

    # the secret is stored sealed, never in clear
    with store.engine.connect() as conn:
        blobs = conn.execute(sa.select(t.webhooks.c.secret)).scalars().all()
    assert blobs and all(SECRET.encode() not in bytes(b) for b in blobs)
    assert store.webhook_secret(wanted.webhook_id) == SECRET


def test_unknown_event_type_or_site_is_refused_and_nothing_queued(store: Store) -> None:
    store.create_webhook("http://127.0.0.1:9/x", SECRET, ["arrival"])
    hooks = Webhooks(store, FAST)
    with pytest.raises(InputError, match=r"unknown event type 'arival'.*arrival, batch"):
        hooks.publish("arival", SITE, {})
    with pytest.raises(InputError, match="unknown site 'nowhere'"):
        hooks.publish("arrival", "nowhere", {})
    assert store.count_deliveries() == 0


def test_backoff_doubles_until_the_receiver_accepts(store: Store) -> None:
    failing = WebhookReceiver(SECRET, answer=lambda n: 503 if n < 3 else 200).start()
    try:
        hook = store.create_webhook(failing.url, SECRET, ["device"])
        hooks = Webhooks(store, FAST)
        hooks.start()
        event_id = hooks.publish("device", SITE, device_data("door-cam", "offline", since=datetime.now(UTC)))
        failing.wait_for(lambda: len(failing.requests) >= 4)
        wait_until(lambda: store.delivery(event_id, hook.webhook_id).status == "delivered", what="delivery")
        hooks.stop()
    finally:
        failing.stop()
    got = failing.snapshot()
    assert len(got) == 4  # three 503s, then accepted; nothing after
    assert {r.headers["x-keliu-event-id"] for r in got} == {event_id}
    assert [r.headers["x-keliu-attempt"] for r in got] == ["1", "2", "3", "4"]
    assert len({r.body for r in got}) == 1  # the same body on every attempt
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    for gap, nominal in zip(gaps, (0.2, 0.4, 0.8), strict=True):  # first_retry_s doubling, no jitter
        assert nominal - 0.02 <= gap <= nominal + 0.5, gaps
    row = store.delivery(event_id, hook.webhook_id)
    assert row.attempts == 4 and row.last_status == 200 and row.last_error is None


def test_receiver_down_then_up_gets_every_event_once(store: Store) -> None:
    port = free_port()
    receiver = WebhookReceiver(SECRET)
    hook = store.create_webhook(f"http://127.0.0.1:{port}/hooks/keliu", SECRET, ["arrival"], site_id=SITE)
    hooks = Webhooks(store, FAST)
    ids = [hooks.publish("arrival", SITE, arrival_data(visit(n))) for n in range(5)]
    hooks.start()
    try:
        # down for a while: the oldest event is retried with back-off, the others wait behind it
        # (one refused connection per round, not one per event); nothing delivered, nothing lost
        wait_until(lambda: store.delivery(ids[0], hook.webhook_id).attempts >= 3, what="retries")
        hooks.stop()  # a steady state to look at (stopping hands claimed rows back)
        rows = {d.event_id: d for d in store.deliveries(hook.webhook_id)}
        assert {d.status for d in rows.values()} == {"pending"} and len(rows) == 5
        first = rows[ids[0]]
        assert first.last_status is None and "ConnectError" in (first.last_error or ""), first
        for later in ids[1:]:
            assert rows[later].attempts == 0
            assert (rows[later].last_error or "").startswith(
                "waiting: an earlier delivery to this URL failed"
            )
            assert rows[later].next_attempt_at <= first.next_attempt_at + timedelta(seconds=0.5)

        receiver.start(port)  # the receiver comes up
        hooks.start()
        wait_until(lambda: store.count_deliveries(hook.webhook_id, status="delivered") == 5, what="delivery")
    finally:
        hooks.stop()
        receiver.stop()
    assert sorted(receiver.processed) == sorted(ids)
    assert all(n == 1 for n in receiver.processed.values()) and receiver.duplicates == 0
    assert all(r.signature_ok for r in receiver.snapshot())


def test_dead_letter_after_max_age_then_retried_by_hand(store: Store) -> None:
    answers = {"status": 500}
    receiver = WebhookReceiver(SECRET, answer=lambda _n: answers["status"]).start()
    settings = DeliverySettings(
        timeout_s=2.0, first_retry_s=0.1, max_retry_s=0.2, jitter=0.0, poll_s=0.05, max_age_s=0.6
    )
    try:
        hook = store.create_webhook(receiver.url, SECRET, ["alert"])
        hooks = Webhooks(store, settings)
        hooks.start()
        event_id = hooks.publish("alert", None, {"kind": "test", "message": "door camera dark"})
        wait_until(lambda: store.delivery(event_id, hook.webhook_id).status == "dead", what="dead letter")
        dead = store.delivery(event_id, hook.webhook_id)
        assert dead.attempts >= 3 and dead.last_status == 500
        assert dead.last_error == "HTTP 500: receiver says no"
        assert store.count_deliveries(status="dead") == 1 and hooks.stats()["dead_letters"] == 1
        time.sleep(0.3)
        assert store.delivery(event_id, hook.webhook_id).attempts == dead.attempts  # no more tries

        answers["status"] = 200
        store.retry_delivery(event_id, hook.webhook_id)
        hooks.wake()
        wait_until(lambda: store.delivery(event_id, hook.webhook_id).status == "delivered", what="retry")
        hooks.stop()
    finally:
        receiver.stop()
    assert list(receiver.processed) == [event_id]
    assert receiver.requests[-1].json["site"] is None  # an organisation-wide event


def test_paused_webhook_keeps_its_deliveries_until_resumed(store: Store, receiver: WebhookReceiver) -> None:
    receiver.start()
    hook = store.create_webhook(receiver.url, SECRET, ["batch"])
    hooks = Webhooks(store, FAST)
    event_id = hooks.publish("batch", SITE, {"batch_id": "b1", "size": 3})
    store.update_webhook(hook.webhook_id, active=False)
    assert hooks.run_once() == 0 and receiver.requests == []
    store.update_webhook(hook.webhook_id, active=True, url=receiver.url + "?moved")
    assert hooks.run_once() == 1
    assert receiver.requests[0].path == "/hooks/keliu?moved" and list(receiver.processed) == [event_id]


# --------------------------------------------------------------------------------- kill-safety

WORKER = """
import sys, time
from keliu.service.webhooks import DeliverySettings, Webhooks
from keliu.store import open_store
store = open_store(sys.argv[1])
hooks = Webhooks(store, DeliverySettings(poll_s=0.05, lease_s=1.0, batch_size=5, parallel=1, jitter=0.0))
hooks.start()
print("READY", flush=True)
time.sleep(600)
"""


def test_killed_and_restarted_workers_deliver_every_event(db_url: str, store: Store) -> None:
    receiver = WebhookReceiver(SECRET, delay_s=0.02).start()
    try:
        hook = store.create_webhook(receiver.url, SECRET, ["arrival", "batch"])
        publisher = Webhooks(store, FAST)  # publishes only: its worker is never started
        ids = [publisher.publish("arrival" if n % 2 else "batch", SITE, {"n": n}) for n in range(60)]
        assert store.count_deliveries(hook.webhook_id, status="pending") == 60

        # 1. a worker in another process is SIGKILLed mid-way (rows it held stay leased for 1 s)
        env = {**os.environ, "KELIU_SIGNATURE_KEY": base64.b64encode(KEY).decode(), "PYTHONPATH": str(SRC)}
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, db_url], env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "READY"
            receiver.wait_for(lambda: len(receiver.requests) >= 10)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        after_kill = len(receiver.snapshot())
        assert 10 <= after_kill < 60

        # 2. a new worker on a new Store instance (a restart) is stopped gracefully mid-way
        with open_store(db_url, key=KEY) as second_store:
            second = Webhooks(second_store, FAST)
            second.start()
            receiver.wait_for(lambda: len(receiver.requests) >= after_kill + 15)
            second.stop()
        assert store.count_deliveries(hook.webhook_id, status="pending") > 0  # really stopped mid-way

        # 3. and another restart finishes the job
        with open_store(db_url, key=KEY) as third_store:
            third = Webhooks(third_store, FAST)
            third.start()
            wait_until(
                lambda: third_store.count_deliveries(hook.webhook_id, status="delivered") == 60,
                timeout_s=60,
                what="every delivery",
            )
            third.stop()
    finally:
        receiver.stop()
    # every event arrived, signed; the receiver processed each exactly once (de-dup by event id)
    assert sorted(receiver.processed) == sorted(ids)
    assert set(receiver.processed.values()) == {1}
    assert len(receiver.requests) == 60 + receiver.duplicates
    assert all(r.signature_ok for r in receiver.snapshot())
    assert store.count_deliveries(status="pending") == 0 and store.count_deliveries(status="dead") == 0


# --------------------------------------------------------------------------------------- the API

ADMIN, STAFF_A = "admin", "staff-of-showroom-1"


def fake_authorize(conn: HTTPConnection, site_id: str | None) -> str:
    """The hook the app plugs in (keliu.service.hooks): here a header names the user."""
    user = conn.headers.get("x-user")
    if not user:
        raise Unauthenticated("sign in first")
    if user == ADMIN:
        return user
    if site_id is None:
        raise Forbidden("only an administrator may manage webhooks of every site")
    if site_id != SITE:
        raise NotFound(f"unknown site {site_id!r}")
    return user


@pytest.fixture
def api(store: Store) -> Iterator[tuple[TestClient, Webhooks, list[tuple[Any, ...]]]]:
    hooks = Webhooks(store, FAST)
    audited: list[tuple[Any, ...]] = []

    def audit(_conn: HTTPConnection, user: Any, action: str, **kw: Any) -> None:
        audited.append((user, action, kw.get("site_id"), kw.get("target")))

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_webhooks_router(hooks, authorize=fake_authorize, audit=audit), prefix="/api/v1")
    with TestClient(app, headers={"x-user": ADMIN}) as client:
        yield client, hooks, audited


def test_api_validates_input_with_clear_messages(api: tuple[TestClient, Webhooks, list[Any]]) -> None:
    client, _, _ = api
    bad = {
        "ftp://dms.local/in": "must start with http:// or https://",
        "dms.local/in": "must start with http:// or https://",
        "http:///in": "no host name",
        "https://user:pw@dms.local/in": "must not hold a user name or password",
        "http://dms.local:99999/in": "not a valid URL",
    }
    for url, message in bad.items():
        r = client.post("/api/v1/webhooks", json={"url": url, "event_types": ["arrival"]})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["code"] == "invalid_request"
        assert message in r.json()["error"]["message"], (url, r.json())
    r = client.post("/api/v1/webhooks", json={"url": "http://dms.local/in", "event_types": ["arrivals"]})
    assert r.status_code == 422 and "'arrival'" in r.json()["error"]["message"]
    assert r.json()["error"]["details"][0]["field"] == "event_types.0"
    for body in (
        {"url": "http://dms.local/in", "event_types": []},
        {"url": "http://dms.local/in", "event_types": ["arrival"], "secret": "short"},
        {"url": "http://dms.local/in", "event_types": ["arrival"], "colour": "red"},
    ):
        assert client.post("/api/v1/webhooks", json=body).status_code == 422, body
    r = client.post(
        "/api/v1/webhooks", json={"url": "http://x.local/", "event_types": ["arrival"], "site_id": "nope"}
    )
    assert r.status_code == 404 and "unknown site 'nope'" in r.json()["error"]["message"]
    assert client.get("/api/v1/webhooks/wh_missing").status_code == 404
    assert client.get("/api/v1/webhooks", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/webhooks", headers={"x-user": ""}).status_code == 401
    assert client.get("/api/v1/webhooks").json()["total"] == 0  # nothing was written


def test_api_crud_scoping_test_send_and_deliveries(
    api: tuple[TestClient, Webhooks, list[Any]], receiver: WebhookReceiver
) -> None:
    client, hooks, audited = api
    receiver.start()
    r = client.post(
        "/api/v1/webhooks",
        json={
            "url": receiver.url,
            "event_types": ["arrival", "reception"],
            "site_id": SITE,
            "description": "DMS",
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret and len(secret) >= 32  # made for the caller, shown once
    receiver.secret = secret  # the receiver is configured with it
    hook_id = created["id"]
    assert client.get(f"/api/v1/webhooks/{hook_id}").json()["secret"] is None
    for n in range(2):
        client.post("/api/v1/webhooks", json={"url": f"http://h{n}.local/", "event_types": ["alert"]})
    page = client.get("/api/v1/webhooks", params={"limit": 2, "offset": 0}).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    assert len(client.get("/api/v1/webhooks", params={"limit": 2, "offset": 2}).json()["items"]) == 1

    # a store-staff user of showroom-1: their site's webhook only
    staff = {"x-user": STAFF_A}
    assert client.get(f"/api/v1/webhooks/{hook_id}", headers=staff).status_code == 200
    assert client.get("/api/v1/webhooks", headers=staff).status_code == 403
    assert client.get("/api/v1/webhooks", params={"site_id": SITE}, headers=staff).json()["total"] == 1
    assert client.get("/api/v1/webhooks", params={"site_id": OTHER}, headers=staff).status_code == 404
    everywhere = page["items"][1]["id"]
    assert client.get(f"/api/v1/webhooks/{everywhere}", headers=staff).status_code == 403
    r = client.patch(f"/api/v1/webhooks/{hook_id}", json={"site_id": OTHER}, headers=staff)
    assert r.status_code == 404 and client.get(f"/api/v1/webhooks/{hook_id}").json()["site_id"] == SITE

    # test send: signed with the secret shown at creation
    r = client.post(f"/api/v1/webhooks/{hook_id}/test", headers=staff)
    assert r.status_code == 200 and r.json()["delivered"] and r.json()["status"] == 200
    ping = receiver.snapshot()[-1]
    assert verify_signature(secret, ping.body, ping.headers["x-keliu-signature"])
    assert ping.json["event"] == "ping" and ping.json["id"] == r.json()["event_id"]

    # events, then the outbox as the API shows it
    event_id = hooks.publish(
        "reception", SITE, {"batch_id": "b7", "classification": "看车", "advisor": "王芳"}
    )
    assert hooks.run_once() == 1
    deliveries = client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=staff).json()
    assert deliveries["total"] == 1
    (item,) = deliveries["items"]
    assert item["event_id"] == event_id and item["status"] == "delivered" and item["attempts"] == 1
    assert item["body"]["data"]["classification"] == "看车"
    assert (
        client.get(f"/api/v1/webhooks/{hook_id}/deliveries", params={"status": "dead"}).json()["total"] == 0
    )
    assert client.get(f"/api/v1/webhooks/{hook_id}/deliveries", params={"status": "gone"}).status_code == 422
    r = client.post(f"/api/v1/webhooks/{hook_id}/deliveries/{event_id}/retry")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert hooks.run_once() == 1 and receiver.duplicates == 1  # sent again; the receiver de-duplicates
    assert client.post(f"/api/v1/webhooks/{hook_id}/deliveries/nope/retry").status_code == 404

    # rotate the secret: shown once; the old one no longer verifies
    r = client.patch(f"/api/v1/webhooks/{hook_id}", json={"rotate_secret": True, "active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    new_secret = r.json()["secret"]
    assert new_secret and new_secret != secret
    r = client.post(f"/api/v1/webhooks/{hook_id}/test")  # a paused webhook can still be tested
    assert r.json()["status"] == 401 and r.json()["error"] == "HTTP 401: receiver says no"  # old secret
    last = receiver.snapshot()[-1]
    assert verify_signature(new_secret, last.body, last.headers["x-keliu-signature"])
    assert not verify_signature(secret, last.body, last.headers["x-keliu-signature"])

    r = client.patch(f"/api/v1/webhooks/{hook_id}", json={"site_id": None, "description": None})
    assert r.status_code == 200 and r.json()["site_id"] is None and r.json()["description"] is None
    assert client.delete(f"/api/v1/webhooks/{hook_id}").status_code == 204
    assert client.get(f"/api/v1/webhooks/{hook_id}").status_code == 404
    assert hooks.store.count_deliveries(hook_id) == 0

    actions = [a[1] for a in audited]
    assert actions.count("webhook_created") == 3
    assert {"webhook_tested", "webhook_delivery_retried", "webhook_changed", "webhook_deleted"} <= set(
        actions
    )
    assert (STAFF_A, "webhook_tested", SITE, hook_id) in audited
