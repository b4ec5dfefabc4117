"""Live push latency: an arrival published into the live hub → its delivery to WebSocket clients.

A real uvicorn server (this process, in a thread) serves the live router; a second process opens
``--clients`` WebSocket connections to one site (permessage-deflate on, as browsers negotiate it) and
timestamps every arrival it receives. A publisher thread here publishes ``--rate`` arrivals per
second for ``--seconds`` (the payload of keliu.service.push.arrival_data plus the publish time). The
latency of each (message, client) pair is receive wall clock − publish wall clock (one machine, one
clock). Prints p50 / p90 / p99 / max and the drops, next to the target (p99 ≤ 500 ms).

    .venv/bin/python bench/live_latency.py [--clients 20] [--rate 20] [--seconds 30] [--burst 0]

``--burst N``: publish in bursts of N at once (a batch of people entering together), same mean rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

TARGET_P99_MS = 500.0
SITE = "bench-site"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clients(url: str, clients: int, expected: int, ready: Any, results: Any) -> None:
    """The client process: ``clients`` WebSockets, each reading ``expected`` arrivals."""
    from websockets.asyncio.client import connect

    async def one() -> tuple[list[float], int]:
        latencies: list[float] = []
        dropped = 0
        async with connect(url, proxy=None, max_size=None) as ws:
            await ws.recv()  # hello: subscribed
            ready.put(1)
            while len(latencies) + dropped < expected:
                message = json.loads(await ws.recv())
                now_ns = time.time_ns()
                if message["event"] == "dropped":
                    dropped += message["dropped"]
                elif message["event"] == "arrival":
                    latencies.append((now_ns - message["data"]["published_ns"]) / 1e6)
        return latencies, dropped

    async def main() -> list[tuple[list[float], int]]:
        return await asyncio.gather(*[one() for _ in range(clients)])

    results.put(asyncio.run(main()))


def _arrival(n: int) -> dict[str, Any]:
    from keliu.domain.visits import Entry, PersonCategory, Visit
    from keliu.service.push import arrival_data

    at = datetime.now(UTC)
    visit = Visit(
        visit_id=f"v{n}",
        site_id=SITE,
        category=PersonCategory.CUSTOMER,
        first_entry=at,
        entries=[Entry(at=at, camera_id="door-cam", line_id="main")],
        batch_id=f"b{n // 2}",
        upper_colour="blue",
        lower_colour="black",
    )
    return arrival_data(visit, batch_size=2, entrance="正门 main door")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=1, help="arrivals published at once")
    args = parser.parse_args(argv)

    import uvicorn
    from fastapi import FastAPI

    from keliu.service.live import LiveHub
    from keliu.service.routers.live import build_live_router

    hub = LiveHub()
    app = FastAPI()
    app.include_router(build_live_router(hub, authorize=lambda _c, _s: None), prefix="/api/v1")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    burst = max(1, args.burst)
    total = int(args.rate * args.seconds) // burst * burst
    context = mp.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    url = f"ws://127.0.0.1:{port}/api/v1/sites/{SITE}/live/ws"
    process = context.Process(target=_clients, args=(url, args.clients, total, ready, results))
    process.start()
    for _ in range(args.clients):
        ready.get(timeout=60)

    period = burst / args.rate
    started = time.perf_counter()
    for k in range(total // burst):
        time.sleep(max(0.0, started + k * period - time.perf_counter()))
        for n in range(k * burst, (k + 1) * burst):
            payload = _arrival(n)
            payload["published_ns"] = time.time_ns()
            hub.publish(SITE, "arrival", payload)
    per_client = results.get(timeout=120)
    process.join(30)
    hub.close()
    server.should_exit = True
    thread.join(10)

    latencies = sorted(x for lat, _ in per_client for x in lat)
    dropped = sum(d for _, d in per_client)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    p50, p90, p99 = q[49], q[89], q[98]
    print(
        f"clients {args.clients}, {total} arrivals at {args.rate:g}/s (bursts of {burst}), "
        f"{len(latencies)} deliveries, {dropped} dropped"
    )
    print(f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'target p99':>11}")
    verdict = "met" if p99 <= TARGET_P99_MS and dropped == 0 else "NOT MET"
    print(f"{p50:8.2f} {p90:8.2f} {p99:8.2f} {latencies[-1]:8.2f} {'<= 500':>11}  {verdict}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
