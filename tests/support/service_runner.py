"""The service as a real process for tests that kill it: the ServiceRuntime and app of `keliu serve`
under uvicorn, with one site whose sightings come from a feeder instead of cameras.

    python -m tests.support.service_runner --db URL --port P --site-config site.yaml \
        --sightings sqlite:///recorded.db [--rate 8] [--burst 1] [--limit N] [--run K]

The feeder stands in for the site's cameras: it publishes ``SightingSeen`` events on the runtime's
bus, as a camera thread does when a track ends, at ``--rate`` per second (``--burst`` at once: a
group of people, a lagging camera catching up). Its sightings are real
ones — what `keliu process` recorded from a video into the store ``--sightings`` — replayed in the
order their tracks ended, each shifted in time so that it ends now, with a track id of its own
(``--run`` × 10 000 000 + a counter, so no two runs or loops share one). After ``--limit``
sightings it prints ``FED <n>`` and stops feeding (0: feed until killed).

Everything else is the product: the store (``--db``; the signature key from ``KELIU_SIGNATURE_KEY``),
the site's resolution worker, the push bridge with its start-up catch-up, the webhook outbox and
delivery worker (fast retries and a 2 s lease, so a test does not wait minutes for rows a killed
process held), the live hub and every route of ``create_app``. The site must be in the store
(``keliu.processing.register_site``). Prints ``READY <port>`` once it serves, and
``CAUGHT_UP <rows>`` whenever the start-up catch-up queued webhooks that an earlier process lost.
SIGTERM stops it the product's way (everything counted is flushed); SIGKILL is what tests use.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from keliu.domain.visits import Sighting

__all__ = ["main", "replayed"]


def replayed(sighting: Sighting, site_id: str, track_id: int, ends_at: datetime) -> Sighting:
    """``sighting`` moved in time so that it ends at ``ends_at``, as track ``track_id`` of ``site_id``."""
    delta = ends_at - sighting.last_seen
    return replace(
        sighting,
        site_id=site_id,
        track_id=track_id,
        first_seen=sighting.first_seen + delta,
        last_seen=ends_at,
        crossings=tuple(replace(c, at=c.at + delta) for c in sighting.crossings),
        zones=tuple(
            replace(
                z, entered_at=z.entered_at + delta, left_at=None if z.left_at is None else z.left_at + delta
            )
            for z in sighting.zones
        ),
    )


def _say(text: str) -> None:
    print(text, flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--site-config", type=Path, required=True)
    parser.add_argument("--sightings", required=True, help="store URL holding the recorded sightings")
    parser.add_argument("--rate", type=float, default=8.0, help="sightings per second")
    parser.add_argument("--burst", type=int, default=1, help="sightings published at once")
    parser.add_argument("--limit", type=int, default=0, help="stop feeding after this many (0: never)")
    parser.add_argument("--run", type=int, default=0, help="numbers this run's track ids")
    args = parser.parse_args(argv)

    import uvicorn

    from keliu.config import load_site_config
    from keliu.runtime.events import SightingSeen
    from keliu.runtime.resolution import ResolutionWorker
    from keliu.service.app import create_app
    from keliu.service.runtime import ServiceRuntime
    from keliu.service.settings import ServiceSettings
    from keliu.service.webhooks import DeliverySettings
    from keliu.store import open_store

    site = load_site_config(args.site_config)
    site_id = site.site.id
    with open_store(args.sightings) as recorded:
        far = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2199, 1, 1, tzinfo=UTC))
        sightings = sorted(recorded.sightings(site_id, *far), key=lambda s: (s.last_seen, s.track_id))
    if not sightings:
        print(f"no sightings of site {site_id!r} in {args.sightings}", file=sys.stderr)
        return 2

    store = open_store(args.db)
    fast = DeliverySettings(
        timeout_s=2.0,
        first_retry_s=0.2,
        max_retry_s=1.0,
        jitter=0.0,
        poll_s=0.05,
        lease_s=2.0,
        maintenance_s=1.0,
    )
    runtime = ServiceRuntime(store, delivery=fast)
    # the site is resolved live; its sightings come from the feeder below, not from camera threads
    runtime.workers[site_id] = ResolutionWorker(site, store, runtime.bus)
    settings = ServiceSettings(database_url=args.db, host="127.0.0.1", port=args.port)
    app = create_app(settings, store, runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    )

    def feed() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.01)
        _say(f"READY {args.port}")
        fed, caught_up = 0, 0
        burst = max(1, args.burst)
        period = burst / args.rate
        next_at = time.monotonic()
        while not server.should_exit:
            if runtime.bridge.caught_up != caught_up:
                caught_up = runtime.bridge.caught_up
                _say(f"CAUGHT_UP {caught_up}")
            if args.limit and fed >= args.limit:
                if fed == args.limit:
                    _say(f"FED {fed}")
                    fed += 1
                time.sleep(0.1)
                continue
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += period
            for _ in range(burst if not args.limit else min(burst, args.limit - fed)):
                now = datetime.now(UTC)
                source = sightings[fed % len(sightings)]
                sighting = replayed(source, site_id, args.run * 10_000_000 + fed, now)
                runtime.bus.publish(SightingSeen(site_id=site_id, at=now, sighting=sighting))
                fed += 1

    feeder = threading.Thread(target=feed, name="feeder", daemon=True)
    feeder.start()
    try:
        server.run()  # SIGTERM / Ctrl-C: uvicorn stops; the app's lifespan stops the runtime in order
    finally:
        feeder.join(5)
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
