"""Devices (设备) through the API while the service runs (ISSUE 11 item 2), on a real store (SQLite
and PostgreSQL) with real videos played as live cameras: cameras added, changed and removed without
interrupting the others, a stored device run again by a new app on the same store, credentials in a
source masked in every answer and encrypted in the database, and the sources the API refuses."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from keliu.service.app import create_app
from keliu.service.auth import hash_password
from keliu.service.main import bootstrap
from keliu.service.runtime import ServiceRuntime
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store
from keliu.store import schema as t
from keliu.store.crypto import generate_key

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
SITE = "shop-a"
DEVICES = f"/api/v1/sites/{SITE}/devices"
DOOR = {"id": "door", "a": [0.5, 0.0], "b": [0.5, 1.0], "inside": [0.9, 0.5]}
SECRET = "s3cr3t-Pw"
RTSP = f"rtsp://admin:{SECRET}@127.0.0.1:9/live?token=tok-{SECRET}"  # port 9: refused at once


@pytest.fixture
def service(
    db_url: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ServiceSettings, Store]]:
    # the provisioned models of KELIU_HOME run the cameras; a key of this test's own seals the sources
    monkeypatch.setenv("KELIU_SIGNATURE_KEY", base64.b64encode(generate_key()).decode())
    monkeypatch.delenv("KELIU_SIGNATURE_KEY_FILE", raising=False)
    settings = ServiceSettings(admin_password=PASSWORD, video_dir=shared_data / "video")
    store = open_store(db_url)
    try:
        bootstrap(store, settings, lambda _: None)
        store.upsert_site(SITE, "A 店")
        store.upsert_site("shop-b", "B 店")
        store.create_user("mgr-a", "Manager A", hash_password(PASSWORD), "manager", [SITE])
        store.create_user("staff-a", "Staff A", hash_password(PASSWORD), "staff", [SITE])
        yield settings, store
    finally:
        store.close()


def login(client: TestClient, username: str) -> None:
    client.cookies.clear()
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text


def status_of(client: TestClient, camera_id: str) -> dict[str, Any]:
    response = client.get(f"{DEVICES}/{camera_id}")
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()["status"]
    assert status is not None, f"{camera_id} is not run by the service"
    return status


def wait_for(
    client: TestClient, camera_id: str, ok: Callable[[dict[str, Any]], bool], timeout: float = 120.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = status_of(client, camera_id)
        if ok(status):
            return status
        assert time.monotonic() < deadline, f"{camera_id}: gave up waiting; last status {status}"
        time.sleep(0.3)


def counting(after: int) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s["state"] == "online" and s["frames"] > after


def test_devices_come_and_go_while_the_others_keep_counting_and_survive_a_restart(
    service: tuple[ServiceSettings, Store], shared_data: Path
) -> None:
    settings, store = service
    video = shared_data / "video"
    with TestClient(create_app(settings, store)) as client:
        login(client, "mgr-a")
        added = client.post(
            DEVICES,
            json={
                "id": "cam-a",
                "name": "门口 A",
                "source": "TUD-Stadtmitte.mp4",  # relative to the video_dir
                "analysis_fps": 2.0,
                "lines": [DOOR],
            },
        )
        assert added.status_code == 201, added.text
        body = added.json()
        assert body["managed_by"] == "api" and body["source"] == str(video / "TUD-Stadtmitte.mp4")
        assert [ln["id"] for ln in body["lines"]] == ["door"] and body["analysis_fps"] == 2.0
        second = client.post(
            DEVICES,
            json={
                "id": "cam-b",
                "source": str(video / "PETS09-S2L1.mp4"),
                "analysis_fps": 2,
                "lines": [DOOR],
            },
        )
        assert second.status_code == 201, second.text
        duplicate = client.post(DEVICES, json={"id": "cam-b", "source": "PETS09-S2L1.mp4"})
        assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "conflict"

        a = wait_for(client, "cam-a", counting(0))
        b_before = wait_for(client, "cam-b", counting(0))
        listed = client.get(DEVICES).json()["items"]
        assert [(d["id"], d["online"]) for d in listed] == [("cam-a", True), ("cam-b", True)]

        # camera A gets a new door line and a pass-by line: taken at its next frame, B never notices
        lines = [
            {"id": "door-2", "a": [0.2, 0.6], "b": [0.8, 0.6], "inside": [0.5, 0.9]},
            {"id": "walk", "kind": "passby", "a": [0.0, 0.3], "b": [1.0, 0.3]},
        ]
        changed = client.patch(f"{DEVICES}/cam-a", json={"lines": lines, "name": "门口 A2"})
        assert changed.status_code == 200, changed.text
        assert [(ln["id"], ln["kind"]) for ln in changed.json()["lines"]] == [
            ("door-2", "door"),
            ("walk", "passby"),
        ]
        assert changed.json()["name"] == "门口 A2"
        (record,) = [c for c in store.cameras(SITE) if c.camera_id == "cam-a"]
        assert [ln.id for ln in record.lines] == ["door-2", "walk"] and record.passby_lines == ("walk",)
        worker = client.app.state.runtime.workers[SITE]  # type: ignore[attr-defined]
        assert ("cam-a", "walk") in worker.resolution._passby_lines
        assert worker.is_alive() and worker.site.site.name == "A 店"  # built from the stored site
        a_after = wait_for(client, "cam-a", counting(a["frames"] + 2))
        assert a_after["restarts"] == 0  # new lines without reopening the video
        b_after = wait_for(client, "cam-b", counting(b_before["frames"] + 2))
        assert b_after["restarts"] == 0 and b_after["errors"] == 0
        assert b_after["since"] == b_before["since"]  # online throughout: never restarted, never offline

        # camera A is removed: it stops, B keeps counting
        assert client.delete(f"{DEVICES}/cam-a").status_code == 204
        gone = client.get(f"{DEVICES}/cam-a")
        assert gone.status_code == 404 and "unknown site" not in gone.text
        assert [c.camera_id for c in store.cameras(SITE)] == ["cam-b"]
        assert [d.camera_id for d in store.devices()] == ["cam-b"]
        assert all(c.camera_id != "cam-a" for c in client.app.state.runtime.supervisor.cameras())  # type: ignore[attr-defined]
        b_last = wait_for(client, "cam-b", counting(b_after["frames"] + 2))
        assert b_last["restarts"] == 0 and b_last["since"] == b_before["since"]

        assert (worker.errors, worker.last_error) == (0, None)  # its sightings resolved and stored
        actions = [(e.action, e.target, e.username) for e in store.audit_entries(site_ids=[SITE])[0]]
        assert [a for a in actions if a[0].startswith("device_")] == [
            ("device_removed", "cam-a", "mgr-a"),
            ("device_changed", "cam-a", "mgr-a"),
            ("device_added", "cam-b", "mgr-a"),
            ("device_added", "cam-a", "mgr-a"),
        ]

    # a restart of the service: a new runtime runs the stored devices (as `keliu serve` does at start)
    runtime = ServiceRuntime(store)
    assert runtime.add_stored_devices() == 1
    with TestClient(create_app(settings, store, runtime)) as client:
        login(client, "staff-a")  # store staff read devices and their status
        again = wait_for(client, "cam-b", counting(0))
        assert again["restarts"] == 0
        (device,) = client.get(DEVICES).json()["items"]
        assert device["id"] == "cam-b" and device["managed_by"] == "api" and device["analysis_fps"] == 2.0
        refused = client.patch(f"{DEVICES}/cam-b", json={"name": "x"})
        assert refused.status_code == 403


def test_credentials_are_masked_in_every_answer_and_encrypted_at_rest(
    service: tuple[ServiceSettings, Store],
) -> None:
    settings, store = service
    with TestClient(create_app(settings, store)) as client:
        login(client, "admin")
        answers = [
            client.post(DEVICES, json={"id": "ip-cam", "name": "大厅", "source": RTSP, "lines": [DOOR]})
        ]
        assert answers[0].status_code == 201, answers[0].text
        assert answers[0].json()["source"] == "rtsp://admin:***@127.0.0.1:9/live?token=***"
        offline = wait_for(client, "ip-cam", lambda s: s["state"] == "offline", timeout=60)
        assert offline["reason"] and not offline["online"]
        answers.append(client.get(f"{DEVICES}/ip-cam"))
        answers.append(client.get(DEVICES))
        new_source = RTSP.replace("127.0.0.1:9", "127.0.0.1:7")
        answers.append(client.patch(f"{DEVICES}/ip-cam", json={"source": new_source, "name": "大厅 2"}))
        assert answers[-1].status_code == 200 and answers[-1].json()["source"].startswith(
            "rtsp://admin:***@127.0.0.1:7/"
        )
        answers.append(client.get("/api/v1/audit"))
        for answer in answers:
            assert answer.status_code in (200, 201), answer.text
            assert SECRET not in answer.text, answer.request.url
        # the camera runs with the real credentials, and the store keeps them only encrypted
        running = client.app.state.runtime.supervisor._runner(SITE, "ip-cam").camera  # type: ignore[attr-defined]
        assert running.source == new_source
        assert store.device(SITE, "ip-cam").source == new_source
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(t.devices).where(t.devices.c.camera_id == "ip-cam")).one()
        assert (
            isinstance(row.source, bytes) and SECRET.encode() not in row.source and b"rtsp" not in row.source
        )
        assert SECRET not in str(row.config) and "source" not in row.config
        assert row.config["lines"][0]["id"] == "door"
        assert client.delete(f"{DEVICES}/ip-cam").status_code == 204
        assert store.devices() == []


def test_what_the_api_refuses(service: tuple[ServiceSettings, Store], shared_data: Path) -> None:
    settings, store = service
    store.upsert_camera(SITE, "cfg-cam", "from the site config")
    with TestClient(create_app(settings, store)) as client:
        login(client, "mgr-a")

        def refused(body: dict[str, Any], status: int, words: str) -> None:
            response = client.post(DEVICES, json={"id": "x", **body})
            assert response.status_code == status, response.text
            assert words in response.text, response.text

        refused({"source": "/etc/hostname"}, 400, "video_dir")  # outside the video_dir
        refused({"source": "../../../etc/hostname"}, 400, "video_dir")
        refused({"source": "no-such-video.mp4"}, 400, "no such video file")
        refused({"source": "file:///etc/hostname"}, 422, "not allowed")
        refused({"source": "ftp://cam.local/x"}, 422, "not allowed")
        refused({"source": "rtsp:///no-host"}, 422, "no host")
        refused({"source": "usb:x"}, 422, "usb:N")
        refused(
            {"source": "rtsp://cam.local/x", "lines": [{"id": "d", "a": [0, 0], "b": [1, 1]}]}, 422, "inside"
        )
        refused({"source": "rtsp://cam.local/x", "analysis_fps": "5"}, 422, "analysis_fps")
        refused({"source": "rtsp://cam.local/x", "detector": {"name": "yolo"}}, 422, "detector")
        refused({"source": "rtsp://cam.local/x", "id": "cfg-cam"}, 409, "already")
        assert client.patch(f"{DEVICES}/cfg-cam", json={"name": "y"}).status_code == 409
        assert client.delete(f"{DEVICES}/cfg-cam").status_code == 409
        assert client.delete(f"{DEVICES}/nope").status_code == 404
        assert (
            client.post("/api/v1/sites/shop-b/devices", json={"id": "x", "source": "usb:0"}).status_code
            == 404
        )
        login(client, "staff-a")
        assert client.post(DEVICES, json={"id": "x", "source": "usb:0"}).status_code == 403
        assert [c.camera_id for c in store.cameras(SITE)] == ["cfg-cam"] and store.devices() == []

    # without a video_dir (the default, and the fuzzing app's) no file is accepted at all
    with TestClient(create_app(ServiceSettings(admin_password=PASSWORD), store)) as client:
        login(client, "admin")
        inside = str(shared_data / "video" / "TUD-Campus.mp4")
        response = client.post(DEVICES, json={"id": "x", "source": inside})
        assert response.status_code == 400 and "KELIU_VIDEO_DIR" in response.text
