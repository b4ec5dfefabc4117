"""Live arrivals end to end: a sighting published on the running service's bus → its arrival delivered
to WebSocket clients.

The service runs in this process as `keliu serve` builds it — ServiceRuntime (event bus, the site's
resolution worker, push bridge, webhook outbox and delivery worker, live hub) and ``create_app`` —
under a real uvicorn server, on a real store (a fresh SQLite file, or with ``--postgres SERVER_URL``
a fresh database on that PostgreSQL server, dropped at the end). A feeder
thread stands in for the site's camera: it publishes ``SightingSeen`` events (one person each,
crossing the door line inward; the signature random, so everyone is a new visitor) at ``--rate`` per
second, ``--burst`` at once. Each is resolved, committed (sightings, visit, entries, batch, rollups),
queued for ``--webhooks`` webhooks (a local receiver that answers 204) and pushed to the site's live
stream, which ``--clients`` WebSocket clients in a second process read, signed in with an API token.
Latency per (arrival, client) = receive wall clock − the sighting's publish wall clock (one
machine). Prints p50 / p90 / p99 / max next to the goal (p99 ≤ 500 ms).

    .venv/bin/python bench/live_e2e.py [--clients 20] [--rate 5] [--burst 1] [--seconds 30]
                                        [--webhooks 1] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

TARGET_P99_MS = 500.0
SITE, CAMERA, LINE = "bench-site", "door-cam", "main"
EMBEDDING_DIM, COLOUR_DIM = 2048, 1024  # as the product's signatures (keliu.vision.signature)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clients(
    url: str, token: str, clients: int, expected: int, quiet_s: float, ready: Any, results: Any
) -> None:
    """The client process: ``clients`` WebSockets, each reading arrivals until it has ``expected`` or
    none came for ``quiet_s``; returns (visit id, receive ns) per client."""
    from websockets.asyncio.client import connect

    async def one() -> list[tuple[str, int]]:
        got: list[tuple[str, int]] = []
        headers = {"Authorization": f"Bearer {token}"}
        async with connect(url, additional_headers=headers, proxy=None, max_size=None) as ws:
            await ws.recv()  # hello: subscribed
            ready.put(1)
            while len(got) < expected:
                try:
                    raw = await asyncio.wait_for(ws.recv(), quiet_s)
                except TimeoutError:
                    break
                now_ns = time.time_ns()
                message = json.loads(raw)
                if message["event"] == "arrival":
                    got.append((message["data"]["visit_id"], now_ns))
                elif message["event"] == "dropped":
                    got += [("dropped", now_ns)] * message["dropped"]
        return got

    async def main() -> list[list[tuple[str, int]]]:
        return await asyncio.gather(*[one() for _ in range(clients)])

    results.put(asyncio.run(main()))


def _receiver() -> tuple[ThreadingHTTPServer, str]:
    """A webhook receiver that answers every POST with 204."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/dms"


def _admin(server: str) -> Any:
    import psycopg

    return psycopg.connect(server.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _fresh_database(server: str) -> str:
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"keliu_bench_e2e_{os.getpid()}"
    with _admin(server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _drop_database(server: str, url: str) -> None:
    from psycopg import sql
    from sqlalchemy.engine import make_url

    with _admin(server) as conn:
        name = make_url(url).database
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _sighting(n: int, now: datetime, rng: np.random.Generator) -> Any:
    from keliu.domain.visits import COLOUR_NAMES, Sighting, SightingCrossing, Signature

    def unit(dim: int) -> Any:
        v = rng.standard_normal(dim).astype(np.float32)
        return v / np.linalg.norm(v)

    colours = rng.choice(len(COLOUR_NAMES), 2)
    signature = Signature(
        embedding=unit(EMBEDDING_DIM),
        colour=unit(COLOUR_DIM),
        upper_colour=COLOUR_NAMES[colours[0]],
        lower_colour=COLOUR_NAMES[colours[1]],
        shots=5,
    )
    point = (float(rng.uniform(0.2, 0.8)), 0.6)
    return Sighting(
        site_id=SITE,
        camera_id=CAMERA,
        track_id=n,
        first_seen=now - timedelta(seconds=3),
        last_seen=now,
        crossings=(SightingCrossing(LINE, "in", now - timedelta(seconds=1), point),),
        signature=signature,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5.0, help="sightings (new visitors) per second")
    parser.add_argument("--burst", type=int, default=1, help="sightings published at once")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--webhooks", type=int, default=1, help="webhooks subscribed to arrivals")
    parser.add_argument("--postgres", help="a PostgreSQL server URL: the store is a fresh database there")
    args = parser.parse_args(argv)

    import uvicorn

    from keliu.config import SiteConfig
    from keliu.processing import register_site
    from keliu.runtime.events import SightingSeen
    from keliu.runtime.resolution import ResolutionWorker
    from keliu.service.app import create_app
    from keliu.service.auth import hash_password, new_token, token_hash
    from keliu.service.runtime import ServiceRuntime
    from keliu.service.settings import ServiceSettings
    from keliu.store import open_store
    from keliu.store.crypto import generate_key

    workdir = tempfile.TemporaryDirectory(prefix="keliu-live-e2e-")
    url = f"sqlite:///{Path(workdir.name) / 'store.db'}"
    if args.postgres:
        url = _fresh_database(args.postgres)
    store = open_store(url, key=generate_key())
    site = SiteConfig.model_validate(
        {
            "site": {"id": SITE, "name": "Bench 展厅"},
            "visitors": {"dedup_window_h": 0, "business_hours": ["00:00", "00:00"]},
            "cameras": [
                {
                    "id": CAMERA,
                    "source": "rtsp://127.0.0.1:9/fed-by-the-bench",  # never opened: the feeder is the camera
                    "lines": [{"id": LINE, "a": [0.0, 0.5], "b": [1.0, 0.5], "inside": [0.5, 0.8]}],
                }
            ],
        }
    )
    register_site(store, site)
    user = store.create_user("bench", "Bench", hash_password("bench-password-1"), "admin")
    token = new_token()
    store.create_api_token(user.id, "bench", token_hash(token))
    receiver = None
    if args.webhooks:
        receiver, hook_url = _receiver()
        for k in range(args.webhooks):
            store.create_webhook(f"{hook_url}/{k}", "a-long-shared-secret-1234", ["arrival", "batch"])

    runtime = ServiceRuntime(store)
    runtime.workers[SITE] = ResolutionWorker(site, store, runtime.bus)  # fed below, not by a camera
    port = _free_port()
    app = create_app(ServiceSettings(database_url=url, port=port), store, runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    burst = max(1, args.burst)
    total = int(args.rate * args.seconds) // burst * burst
    context = mp.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    ws_url = f"ws://127.0.0.1:{port}/api/v1/sites/{SITE}/live/ws"
    process = context.Process(
        target=_clients, args=(ws_url, token, args.clients, total, 10.0, ready, results)
    )
    process.start()
    for _ in range(args.clients):
        ready.get(timeout=60)

    rng = np.random.default_rng(2026)
    published: dict[int, int] = {}
    period = burst / args.rate
    started = time.perf_counter()
    for k in range(total // burst):
        time.sleep(max(0.0, started + k * period - time.perf_counter()))
        for n in range(k * burst, (k + 1) * burst):
            sighting = _sighting(n, datetime.now(UTC), rng)
            published[n] = time.time_ns()
            runtime.bus.publish(SightingSeen(site_id=SITE, at=sighting.last_seen, sighting=sighting))
    per_client = results.get(timeout=120 + args.seconds)
    process.join(30)
    server.should_exit = True
    thread.join(30)
    webhook_stats = runtime.webhooks.stats() if args.webhooks else None
    store.close()
    if receiver is not None:
        receiver.shutdown()
    workdir.cleanup()
    if args.postgres:
        _drop_database(args.postgres, url)

    latencies: list[float] = []
    dropped = missing = 0
    for got in per_client:
        seen = 0
        for visit_id, received_ns in got:
            if visit_id == "dropped":
                dropped += 1
                continue
            track = int(visit_id.rsplit("/", 1)[1].rstrip("+"))  # visit ids end with the track id
            latencies.append((received_ns - published[track]) / 1e6)
            seen += 1
        missing += total - seen - sum(1 for visit_id, _ in got if visit_id == "dropped")
    if not latencies:
        print("no arrival reached the clients", file=sys.stderr)
        return 1
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    p50, p90, p99 = q[49], q[89], q[98]
    hooks = "" if webhook_stats is None else f", webhooks: {webhook_stats['published']} queued"
    print(
        f"clients {args.clients}, {total} sightings at {args.rate:g}/s (bursts of {burst}){hooks}, "
        f"{len(latencies)} arrival deliveries, {missing} missing, {dropped} dropped"
    )
    print(f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'target p99':>11}")
    verdict = "met" if p99 <= TARGET_P99_MS and missing == dropped == 0 else "NOT MET"
    print(f"{p50:8.2f} {p90:8.2f} {p99:8.2f} {latencies[-1]:8.2f} {'<= 500':>11}  {verdict}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
