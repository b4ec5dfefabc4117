"""The web UI in a real browser: Debian's Chromium (headless) driven by Playwright for Python with
the system executable (no browser download), against `keliu serve`'s own set-up with its web UI in a
real process (``tests/support/ui_server.py``) on the demo chain.

Screenshots go to ``test-artifacts/ui/`` (kept out of git) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEMO_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
ARTIFACTS = ROOT / "test-artifacts" / "ui"
ADMIN = ("admin", "keliu-ui-test-2026")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class UiServer:
    base: str
    process: subprocess.Popen[str]
    log: Path
    sites: int
    days: int
    extra: dict[str, str] = field(default_factory=dict)

    @contextmanager
    def api(self, user: tuple[str, str] = ADMIN) -> Iterator[httpx.Client]:
        """The REST API signed in as ``user``."""
        with httpx.Client(base_url=self.base + "/api/v1", timeout=120) as client:
            client.post("/auth/login", json={"username": user[0], "password": user[1]}).raise_for_status()
            yield client

    def rss_mib(self) -> float:
        return float(httpx.get(self.base + "/_test/rss", timeout=30).json()["rss_mib"])

    def feed(self, n: int = 1) -> float:
        """N people cross demo-001's door now; the wall-clock time the sightings were published."""
        return float(
            httpx.post(self.base + "/_test/sightings", params={"n": n}, timeout=30).json()["published_at"]
        )


def start_ui_server(tmp: Path, sites: int, days: int) -> UiServer:
    videos = tmp / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "video" / "PETS09-S2L1.mp4", videos / "PETS09-S2L1.mp4")
    key = tmp / "signature.key"
    key.write_bytes(__import__("base64").b64encode(os.urandom(32)))
    key.chmod(0o600)
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "KELIU_SIGNATURE_KEY_FILE": str(key)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.ui_server", "--db", f"sqlite:///{tmp / 'keliu.db'}",
         "--port", str(port), "--sites", str(sites), "--days", str(days), "--video-dir", str(videos),
         "--demo-video", str(DEMO_VIDEO)],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ui_server exited: {log.read_text()[-3000:]}")
        if f"READY {port}" in log.read_text():
            return UiServer(f"http://127.0.0.1:{port}", process, log, sites, days)
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"ui_server not ready: {log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (make test-debs)")
    running = os.environ.get("KELIU_UI_TEST_SERVER")  # a developer's running ui_server, to iterate quickly
    if running:
        yield UiServer(running, subprocess.Popen(["true"]), Path("/dev/null"), 4, 60)
        return
    server = start_ui_server(tmp_path_factory.mktemp("ui"), sites=4, days=60)
    yield server
    server.process.terminate()
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
