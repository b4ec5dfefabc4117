"""A device's snapshot through the API (the settings page draws lines on it), on a real store (SQLite
and PostgreSQL) and real video: a JPEG of the frame with its size in headers, taken from the running
camera when it has a recent frame or by opening the source once, never cached and never written to
disk; an unreachable camera is a 503 with a message; managers and administrators only."""

from __future__ import annotations

import base64
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from keliu.paths import keliu_home
from keliu.service.app import create_app
from keliu.service.auth import hash_password
from keliu.service.main import bootstrap
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store
from keliu.store.crypto import generate_key
from keliu.vision.sources import open_source

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
SITE = "shop-a"
DEVICES = f"/api/v1/sites/{SITE}/devices"
VIDEO = "PETS09-S2L1.mp4"
DOOR = {"id": "door", "a": [0.5, 0.0], "b": [0.5, 1.0], "inside": [0.9, 0.5]}


@pytest.fixture
def service(
    db_url: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ServiceSettings, Store]]:
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


def files_under(*roots: Path) -> dict[str, int]:
    """Every file under ``roots`` with its size (the database's own files by name only: sessions and
    audit rows are written there by the sign-in, never a picture)."""
    out: dict[str, int] = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                out[str(path)] = -1 if ".db" in path.name else path.stat().st_size
    return out


def pictures_in_tmp() -> set[str]:
    tmp = Path(tempfile.gettempdir())
    return {str(p) for p in tmp.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file()}


def decoded(response: object) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)  # type: ignore[attr-defined]
    assert image is not None
    return image


def test_a_snapshot_is_a_jpeg_in_memory_with_its_size_and_nothing_is_written(
    service: tuple[ServiceSettings, Store], shared_data: Path, tmp_path: Path
) -> None:
    settings, store = service
    client = TestClient(create_app(settings, store))  # no lifespan: the runtime runs no camera
    login(client, "mgr-a")
    added = client.post(DEVICES, json={"id": "cam-a", "source": VIDEO, "lines": [DOOR]})
    assert added.status_code == 201, added.text
    refused = client.post(
        DEVICES,
        json={"id": "cam-off", "source": "rtsp://admin:pw@127.0.0.1:9/live"},  # port 9: refused
    )
    assert refused.status_code == 201, refused.text
    with open_source(str(shared_data / "video" / VIDEO)) as source:
        width, height = source.resolution_wh

    roots = [tmp_path, keliu_home(), shared_data / "video"]  # the test's, the data directory, the videos
    before, pictures = files_under(*roots), pictures_in_tmp()
    shot = client.get(f"{DEVICES}/cam-a/snapshot")
    assert shot.status_code == 200, shot.text
    assert shot.headers["content-type"] == "image/jpeg" and shot.content[:3] == b"\xff\xd8\xff"
    assert shot.headers["cache-control"] == "no-store" and shot.headers["x-frame-origin"] == "opened"
    assert (int(shot.headers["x-frame-width"]), int(shot.headers["x-frame-height"])) == (width, height)
    assert decoded(shot).shape[:2] == (height, width)
    assert shot.headers["x-coordinates"] == "fractions"

    started = time.monotonic()
    down = client.get(f"{DEVICES}/cam-off/snapshot")
    assert down.status_code == 503, down.text
    message = down.json()["error"]["message"]
    assert message and "pw" not in message  # the source's credentials stay masked
    assert time.monotonic() - started < 30
    assert files_under(*roots) == before and pictures_in_tmp() == pictures  # nothing on disk

    assert client.get(f"{DEVICES}/nope/snapshot").status_code == 404
    assert client.get("/api/v1/sites/shop-b/devices/cam-a/snapshot").status_code == 404
    login(client, "staff-a")
    assert client.get(f"{DEVICES}/cam-a/snapshot").status_code == 403


def test_a_running_camera_answers_its_latest_frame(
    service: tuple[ServiceSettings, Store], shared_data: Path
) -> None:
    settings, store = service
    with TestClient(create_app(settings, store)) as client:
        login(client, "admin")
        added = client.post(
            DEVICES, json={"id": "cam-a", "source": VIDEO, "analysis_fps": 2.0, "lines": [DOOR]}
        )
        assert added.status_code == 201, added.text
        deadline = time.monotonic() + 120
        while True:
            status = client.get(f"{DEVICES}/cam-a").json()["status"]
            if status and status["frames"] > 0:
                break
            assert time.monotonic() < deadline, f"the camera never analysed a frame: {status}"
            time.sleep(0.3)
        shot = client.get(f"{DEVICES}/cam-a/snapshot")
        assert shot.status_code == 200, shot.text
        assert shot.headers["x-frame-origin"] == "live" and shot.headers["cache-control"] == "no-store"
        image = decoded(shot)
        assert image.shape[:2] == (int(shot.headers["x-frame-height"]), int(shot.headers["x-frame-width"]))
