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

Prints ``READY <port>`` once it serves. Memory (RSS) is at ``GET /_test/rss``.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ADMIN_PASSWORD = "keliu-ui-test-2026"


def synthetic_sighting(
    site_id: str, camera_id: str, line_id: str, track_id: int, now: datetime, rng: np.random.Generator
):
    """One person who walked in through ``line_id`` and whose track ended ``now``; a random appearance
    (nobody the site has seen: a new customer)."""
    from keliu.domain.visits import Sighting, SightingCrossing, Signature
    from keliu.vision.colours import HISTOGRAM_DIM

    embedding = rng.normal(size=1280).astype(np.float32)
    colour = np.abs(rng.normal(size=HISTOGRAM_DIM)).astype(np.float32)
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
    from keliu.store import open_store
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
    runtime = ServiceRuntime(store, extractor=build_signature_extractor())
    runtime.workers[demo.site.id] = ResolutionWorker(
        demo, store, runtime.bus
    )  # no camera thread: the test feeds it
    runtime.add_stored_devices()
    app = create_app(settings, store, runtime)
    rng = np.random.default_rng(7)
    fed = [0]

    @app.post("/_test/sightings", include_in_schema=False)
    def feed(n: int = 1) -> dict[str, float]:
        now = datetime.now(UTC)
        for _ in range(n):
            fed[0] += 1
            sighting = synthetic_sighting(
                demo.site.id, "demo-door", "demo-door", 9_000_000 + fed[0], now, rng
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
