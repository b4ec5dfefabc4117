"""The web UI in a real browser: Debian's Chromium (headless) driven by Playwright for Python with
the system executable (no browser download), against `keliu serve`'s own set-up with its web UI in a
real process (``tests/support/ui_server.py``) on the demo chain.

Screenshots go to ``test-artifacts/ui/`` (kept out of git) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ui_server import ADMIN, ROOT, UiServer, start_ui_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "ui"

__all__ = ["ADMIN", "ARTIFACTS", "CHROMIUM", "UiServer"]


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (make test-debs)")
    running = os.environ.get("KELIU_UI_TEST_SERVER")  # a developer's running ui_server, to iterate quickly
    if running:
        videos = Path(os.environ.get("KELIU_UI_TEST_VIDEOS", "/tmp/kh_t/videos"))
        yield UiServer(running, subprocess.Popen(["true"]), Path("/dev/null"), 4, 60, videos=videos)
        return
    server = start_ui_server(tmp_path_factory.mktemp("ui"), sites=4, days=15)  # forecasts need 2 weeks
    yield server
    server.process.terminate()
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Module-scoped: while Playwright's sync API is started, the main thread has a running event loop,
    # so every later test calling asyncio.run() would fail (the rest of the suite runs after this module).
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
