"""`keliu serve` with its web UI as a real process for the browser tests, plus one test-only door.

    python -m tests.support.ui_server --db URL --port P --sites 4 --days 60 --video-dir DIR

It is the product's own set-up (``bootstrap``, the demo chain of ``seed_demo``, ``ServiceRuntime``,
``create_app`` and ``mount_ui`` under uvicorn) with three differences a test needs:

* the demo store demo-001 has the demo camera ``demo-door`` in the store but no camera thread: its
  sightings come from the test, through ``POST /_test/sightings?n=N`` (test-only, not in the
  product), which publishes N people crossing the door now on the runtime's bus — exactly where a
  camera thread publishes a track that ended — and answers the monotonic-free wall-clock time of
  publication, so a test measures sighting → screen;
* users for the scoping tests: ``manager1`` (manager of demo-001) and ``staff2`` (staff of
  demo-002), passwords ``<name>-password``;
* devices added through the API may play files from ``--video-dir`` (the line-drawing test).

Prints ``READY <port>`` once it serves. Memory (RSS) is at ``GET /_test/rss``; what grew in the
Python heap since a mark is at ``GET /_test/heap`` (``?mark=true`` sets the mark; allocation sites only
when the server runs with ``KELIU_TRACE_MEMORY=1``: the mark then starts tracemalloc, which slows the
server from there on, so for benches only).
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ADMIN_PASSWORD = "keliu-ui-test-2026"
ADMIN = ("admin", ADMIN_PASSWORD)
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
DEMO_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


# ------------------------------------------------------------------ the test's side: start and talk to it


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
    videos: Path = Path("/nonexistent")

    @contextmanager
    def api(self, user: tuple[str, str] = ADMIN) -> Iterator[httpx.Client]:
        """The REST API signed in as ``user``."""
        with httpx.Client(base_url=self.base + "/api/v1", timeout=120) as client:
            client.post("/auth/login", json={"username": user[0], "password": user[1]}).raise_for_status()
            yield client

    def rss_mib(self) -> float:
        return float(httpx.get(self.base + "/_test/rss", timeout=30).json()["rss_mib"])

    def heap(self, mark: bool = False) -> dict[str, Any]:
        """What grew in the server's Python heap since the mark (``mark=True`` sets it)."""
        return dict(httpx.get(self.base + "/_test/heap", params={"mark": mark}, timeout=300).json())

    def feed(self, n: int = 1) -> float:
        """N people cross demo-001's door now; the wall-clock time the sightings were published."""
        return float(
            httpx.post(self.base + "/_test/sightings", params={"n": n}, timeout=30).json()["published_at"]
        )


def start_ui_server(tmp: Path, sites: int, days: int, ready_timeout_s: float = 900) -> UiServer:
    """The server on ``tmp/keliu.db``, seeded with the demo chain unless that database has stores
    already (a benchmark's big chain is seeded once and reused: its key stays beside it)."""
    videos = tmp / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    if not (videos / "PETS09-S2L1.mp4").exists():
        shutil.copy(DATA / "video" / "PETS09-S2L1.mp4", videos / "PETS09-S2L1.mp4")  # devices may play it
    key = tmp / "signature.key"
    if not key.exists():
        key.write_bytes(base64.b64encode(os.urandom(32)))
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
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ui_server exited: {log.read_text()[-3000:]}")
        if f"READY {port}" in log.read_text():
            return UiServer(f"http://127.0.0.1:{port}", process, log, sites, days, videos)
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"ui_server not ready: {log.read_text()[-3000:]}")


def signed_in_context(playwright: Any, server: UiServer) -> Any:
    """Debian's Chromium (headless) with a 1366×768 context signed in as the administrator (benches)."""
    browser = playwright.chromium.launch(
        executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"]
    )
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(server.base + "/login")
    page.locator("input[data-testid=username], [data-testid=username] input").fill(ADMIN[0])
    page.locator("input[data-testid=password], [data-testid=password] input").fill(ADMIN[1])
    page.get_by_test_id("login").click()
    page.wait_for_url(server.base + "/", timeout=120_000)
    page.close()
    return context


# ------------------------------------------------------------------------------- the server process


def synthetic_sighting(
    site_id: str, camera_id: str, line_id: str, track_id: int, now: datetime, rng: np.random.Generator
):
    """One person who walked in through ``line_id`` and whose track ended ``now``; a random appearance
    (nobody the site has seen: a new customer)."""
    from keliu.domain.visits import Sighting, SightingCrossing, Signature
    from keliu.vision.colours import HISTOGRAM_DIM

    embedding = rng.normal(size=1280).astype(np.float32)
    colour = np.zeros(HISTOGRAM_DIM, np.float32)  # a few colours of its own: like nobody else
    colour[rng.choice(HISTOGRAM_DIM, size=4, replace=False)] = 1.0
    signature = Signature(
        embedding / np.linalg.norm(embedding),
        colour / np.linalg.norm(colour),
        upper_colour=str(rng.choice(["red", "blue", "black", "white"])),  # type: ignore[arg-type]
        lower_colour=str(rng.choice(["black", "blue", "grey"])),  # type: ignore[arg-type]
        shots=3,
    )
    crossing = SightingCrossing(line_id, "in", now - timedelta(seconds=1), (0.5, 0.6))
    return Sighting(site_id, camera_id, track_id, now - timedelta(seconds=3), now, (crossing,), (), signature)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--video-dir", type=Path, required=True)
    parser.add_argument("--demo-video", type=Path, required=True)
    args = parser.parse_args()
    import uvicorn

    from keliu.demo.load import seed_demo
    from keliu.runtime.events import SightingSeen
    from keliu.runtime.resolution import ResolutionWorker
    from keliu.service.app import create_app
    from keliu.service.auth import hash_password
    from keliu.service.main import bootstrap, demo_camera_site
    from keliu.service.runtime import ServiceRuntime
    from keliu.service.settings import ServiceSettings
    from keliu.store import OpeningHours, open_store
    from keliu.ui import mount_ui
    from keliu.wiring import build_signature_extractor

    settings = ServiceSettings(
        database_url=args.db,
        port=args.port,
        admin_password=ADMIN_PASSWORD,
        video_dir=args.video_dir,
        login_attempts=100,
    )
    store = open_store(args.db)
    bootstrap(store, settings, print)
    if not store.sites():
        from zoneinfo import ZoneInfo

        now = datetime.now(ZoneInfo("Asia/Shanghai"))
        seed_demo(store, args.sites, args.days, now.date(), seed=2026, until=now)  # as `make run` does
        store.create_user(
            "manager1", "Manager One", hash_password("manager1-password"), "manager", sites=["demo-001"]
        )
        store.create_user(
            "staff2", "Staff Two", hash_password("staff2-password"), "staff", sites=["demo-002"]
        )
    demo = demo_camera_site(store, args.demo_video)
    # the test's arrivals come at whatever hour the test runs: demo-001 is open around the clock, or
    # an evening run would see every arrival set aside as outside business hours (and rightly so)
    store.set_business_hours(
        demo.site.id, [OpeningHours.parse(w, "00:00", "00:00") for w in range(7)], source="api"
    )
    runtime = ServiceRuntime(store, extractor=build_signature_extractor())
    runtime.workers[demo.site.id] = ResolutionWorker(
        demo, store, runtime.bus
    )  # no camera thread: the test feeds it
    runtime.add_stored_devices()
    app = create_app(settings, store, runtime)
    rng = np.random.default_rng()  # new people every run: an earlier run's would be recognised
    fed = [0]
    first_track = (
        int(time.time()) % 1_000_000
    ) * 1000  # track ids never seen by an earlier run on this store

    @app.post("/_test/sightings", include_in_schema=False)
    def feed(n: int = 1) -> dict[str, float]:
        now = datetime.now(UTC)
        for _ in range(n):
            fed[0] += 1
            sighting = synthetic_sighting(
                demo.site.id, "demo-door", "demo-door", first_track + fed[0], now, rng
            )
            runtime.bus.publish(SightingSeen(site_id=demo.site.id, at=now, sighting=sighting))
        return {"published_at": time.time()}

    @app.get("/_test/rss", include_in_schema=False)
    def rss() -> dict[str, float]:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return {"rss_mib": int(line.split()[1]) / 1024}
        return {"rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    heap_mark: dict[str, Any] = {}

    @app.get("/_test/heap", include_in_schema=False)
    def heap(mark: bool = False) -> dict[str, Any]:
        """Objects by type (after a full collection) and, when tracing, allocation sites: their growth
        since the mark, largest first."""
        import collections
        import gc
        import tracemalloc

        if mark and os.environ.get("KELIU_TRACE_MEMORY") and not tracemalloc.is_tracing():
            tracemalloc.start(8)  # at the mark, not at the start: seeding the demo chain traced takes ages
        gc.collect()
        counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        snapshot = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        traced = tracemalloc.get_traced_memory()[0] / 2**20 if snapshot is not None else None
        if mark or not heap_mark:
            heap_mark.update(counts=counts, snapshot=snapshot)
            return {"marked": True, "objects": sum(counts.values()), "traced_mib": traced}
        grown = counts.copy()
        grown.subtract(heap_mark["counts"])

        def short(frame: Any) -> str:
            return f"{frame.filename.split('site-packages/')[-1].split('/src/')[-1]}:{frame.lineno}"

        lines, files, stacks = [], [], []
        if snapshot is not None and heap_mark["snapshot"] is not None:
            for stat in snapshot.compare_to(heap_mark["snapshot"], "lineno")[:15]:
                lines.append([short(stat.traceback[0]), stat.size_diff / 1024, stat.count_diff])
            for stat in snapshot.compare_to(heap_mark["snapshot"], "traceback")[:6]:
                stacks.append([[short(frame) for frame in stat.traceback], stat.size_diff / 1024])
            for stat in snapshot.compare_to(heap_mark["snapshot"], "filename")[:10]:
                files.append([short(stat.traceback[0]).rsplit(":", 1)[0], stat.size_diff / 1024])
        return {
            "objects": sum(counts.values()),
            "types": [[name, n] for name, n in grown.most_common(20) if n > 0],
            "lines": lines,
            "files": files,
            "stacks": stacks,
            "traced_mib": traced,
        }

    mount_ui(app)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    )
    import threading

    def ready() -> None:
        while not server.started:
            time.sleep(0.05)
        print(f"READY {args.port}", flush=True)

    threading.Thread(target=ready, daemon=True).start()
    server.run()
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
