"""Live push against a real uvicorn server: real WebSocket clients (``websockets``) and SSE clients
(httpx streams). Events arrive in order, missed ones are replayed by id, a slow client loses the
oldest and is told exactly how many, refusals come before anything is streamed, shutdown ends the
streams."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import HTTPConnection
from tests.support.server_thread import ServerThread
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from keliu.errors import NotFound, Unauthenticated
from keliu.service.errors import install_error_handlers
from keliu.service.live import LiveHub
from keliu.service.routers.live import build_live_router

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SITE, OTHER = "showroom-1", "showroom-2"
ADMIN = {"x-user": "admin"}
STAFF_A = {"x-user": "staff-a"}  # may see SITE only


def authorize(conn: HTTPConnection, site_id: str | None) -> str:
    """The hook the app plugs in (keliu.service.hooks); here a header names the user."""
    user = conn.headers.get("x-user")
    if not user:
        raise Unauthenticated("sign in first")
    if user != "admin" and site_id != SITE:
        raise NotFound(f"unknown site {site_id!r}")
    return user


@contextmanager
def serve(hub: LiveHub) -> Iterator[ServerThread]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_live_router(hub, authorize=authorize, keepalive_s=0.5), prefix="/api/v1")
    with ServerThread(app) as server:
        try:
            yield server
        finally:
            hub.close()


def sse_url(server: ServerThread, site: str = SITE) -> str:
    return f"{server.http}/api/v1/sites/{site}/live"


def ws_url(server: ServerThread, site: str = SITE, query: str = "") -> str:
    return f"{server.ws}/api/v1/sites/{site}/live/ws{query}"


async def sse_messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON of each SSE event; checks that the ``id:``/``event:`` lines agree with it."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue  # keepalive comment
        if line:
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")
            continue
        if "data" in fields:
            data = json.loads(fields["data"])
            assert fields.get("event") == data["event"]
            # only events carry an SSE id (a browser resumes from it); notices do not
            assert fields.get("id") == (data["id"] if "seq" in data else None)
            yield data
        fields = {}


async def ws_json(ws: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 20)))


def ws_connect(server: ServerThread, query: str = "", **kw: Any) -> Any:
    return connect(ws_url(server, query=query), additional_headers=ADMIN, proxy=None, **kw)


def publish(hub: LiveHub, site: str, count: int, start: int = 0, pad: int = 0) -> None:
    for n in range(start, start + count):
        hub.publish(site, "arrival", {"n": n, "pad": os.urandom(pad).hex() if pad else ""})


# ------------------------------------------------------------------------------------- in order


def test_events_arrive_in_order_on_websocket_and_sse() -> None:
    hub = LiveHub(queue_size=5000)
    with serve(hub) as server:

        async def main() -> None:
            async with (
                ws_connect(server) as ws,
                httpx.AsyncClient(timeout=20, trust_env=False) as http,
                http.stream("GET", sse_url(server), headers=ADMIN) as response,
            ):
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                assert response.headers["cache-control"] == "no-cache"
                sse = sse_messages(response)
                assert await ws_json(ws) == {"event": "hello", "site_id": SITE, "id": None}
                assert await anext(sse) == {"event": "hello", "site_id": SITE, "id": None}

                def runtime() -> None:  # publishers are threads (the bus, the cameras)
                    for n in range(300):
                        hub.publish(SITE, "arrival" if n % 3 else "batch", {"n": n})
                        hub.publish(OTHER, "arrival", {"n": -n})

                async def read_ws() -> list[dict[str, Any]]:
                    return [await ws_json(ws) for _ in range(300)]

                async def read_sse() -> list[dict[str, Any]]:
                    return [await anext(sse) for _ in range(300)]

                publisher = threading.Thread(target=runtime)
                publisher.start()
                ws_got, sse_got = await asyncio.gather(read_ws(), read_sse())
                publisher.join()
            for got in (ws_got, sse_got):
                assert [m["seq"] for m in got] == list(range(1, 301))
                assert [m["data"]["n"] for m in got] == list(range(300))  # nothing of the other site
                assert {m["site_id"] for m in got} == {SITE}
                assert [m["event"] for m in got[:3]] == ["batch", "arrival", "arrival"]
                assert all(m["id"] == f"{hub.run_id}-{m['seq']}" for m in got)
                assert all(m["occurred_at"].endswith("Z") for m in got)
            assert ws_got == sse_got  # the same messages on both transports

        asyncio.run(main())
        assert hub.stats()["dropped"] == 0


def test_missed_events_are_replayed_by_id_or_counted() -> None:
    hub = LiveHub(replay_size=8)
    with serve(hub) as server:

        async def read_sse(http: httpx.AsyncClient, last: str | None, count: int) -> list[dict[str, Any]]:
            headers = {**ADMIN, **({"Last-Event-ID": last} if last else {})}
            async with http.stream("GET", sse_url(server), headers=headers) as response:
                sse = sse_messages(response)
                return [await anext(sse) for _ in range(count)]

        async def main() -> None:
            async with httpx.AsyncClient(timeout=20, trust_env=False) as http:
                publish(hub, SITE, 3)
                got = await read_sse(http, None, 1)
                assert got == [{"event": "hello", "site_id": SITE, "id": f"{hub.run_id}-3"}]
                publish(hub, SITE, 4, start=3)  # seq 4..7 while the client is away
                got = await read_sse(http, f"{hub.run_id}-3", 5)
                assert got[0]["event"] == "hello"
                assert [m["seq"] for m in got[1:]] == [4, 5, 6, 7]

                publish(hub, SITE, 21, start=7)  # seq 8..28; the ring keeps 21..28
                got = await read_sse(http, f"{hub.run_id}-7", 10)
                assert got[1] == {"event": "dropped", "dropped": 13}  # 8..20 are gone: said so
                assert [m["seq"] for m in got[2:]] == list(range(21, 29))

                got = await read_sse(http, "0a0b0c-5", 2)  # an id from before a restart
                assert got[1]["event"] == "reset" and "restarted" in got[1]["reason"]

                url = sse_url(server) + f"?last_event_id={hub.run_id}-26"  # EventSource's first connect
                async with http.stream("GET", url, headers=ADMIN) as response:
                    sse = sse_messages(response)
                    assert [(await anext(sse)).get("seq") for _ in range(3)] == [None, 27, 28]

            async with ws_connect(server, f"?last_event_id={hub.run_id}-25") as ws:
                assert (await ws_json(ws))["event"] == "hello"
                assert [(await ws_json(ws))["seq"] for _ in range(3)] == [26, 27, 28]
                hub.publish(SITE, "reception", {"batch_id": "b1", "classification": "订单"})
                live = await ws_json(ws)
                assert live["seq"] == 29 and live["data"]["classification"] == "订单"

        asyncio.run(main())


# ----------------------------------------------------------------------------------- slow client


def account(messages: list[dict[str, Any]]) -> tuple[int, int, int]:
    """Check that every gap in the events is exactly announced by the ``dropped`` notices before it;
    (events, dropped, last seq)."""
    last = events = dropped = announced = 0
    for m in messages:
        if m["event"] == "dropped":
            announced += m["dropped"]
            dropped += m["dropped"]
            continue
        assert m["seq"] == last + 1 + announced, (m["seq"], last, announced)
        last, announced, events = m["seq"], 0, events + 1
    assert announced == 0
    return events, dropped, last


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_slow_client_loses_the_oldest_and_is_told_how_many(transport: str) -> None:
    hub = LiveHub(queue_size=32)
    small = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)]  # the slow client's kernel buffer
    with serve(hub) as server:

        async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
            async with ws_connect(server, compression=None) as fast:
                assert (await ws_json(fast))["event"] == "hello"
                async with slow_client(transport, server, small) as slow:
                    assert (await anext(slow))["event"] == "hello"
                    fast_got: list[dict[str, Any]] = []

                    async def read_fast() -> None:
                        while not fast_got or not fast_got[-1].get("data", {}).get("done"):
                            fast_got.append(await ws_json(fast))

                    reader = asyncio.create_task(read_fast())
                    total = await asyncio.to_thread(flood, hub)
                    await asyncio.wait_for(reader, 60)
                    slow_got = []  # now the slow client reads everything that is left for it
                    while not slow_got or not slow_got[-1].get("data", {}).get("done"):
                        slow_got.append(await anext(slow))
                    return fast_got, slow_got, total

        fast_got, slow_got, total = asyncio.run(main())
    events, dropped, last = account(slow_got)
    assert last == total and events + dropped == total  # the newest is never the one dropped
    assert dropped > 0 and events >= hub.queue_size
    assert account(fast_got) == (total, 0, total)  # a client that keeps up loses nothing


def flood(hub: LiveHub) -> int:
    """Publish 4 kB arrivals, paced, until the slow (second) subscriber has lost some, then 40 more
    and a last one marked done; the number published."""
    n = 0
    slow = hub.subscriptions(SITE)[1]
    deadline = time.monotonic() + 60
    while slow.dropped_total == 0:
        assert time.monotonic() < deadline, "the slow client never fell behind"
        publish(hub, SITE, 10, start=n, pad=2048)
        n += 10
        time.sleep(0.005)
    for _ in range(4):
        publish(hub, SITE, 10, start=n, pad=2048)
        n += 10
        time.sleep(0.005)
    hub.publish(SITE, "arrival", {"n": n, "done": True})
    return n + 1


def slow_client(transport: str, server: ServerThread, options: list[tuple[int, int, int]]) -> Any:
    """A WebSocket or SSE client that reads nothing until asked (``anext``); small kernel buffer."""
    return _SlowWebSocket(server, options) if transport == "websocket" else _SlowSSE(server, options)


class _SlowWebSocket:
    def __init__(self, server: ServerThread, options: list[tuple[int, int, int]]) -> None:
        sock = socket.socket()
        for level, name, value in options:
            sock.setsockopt(level, name, value)
        sock.connect(("127.0.0.1", server.port))
        self._connect = connect(
            ws_url(server), sock=sock, additional_headers=ADMIN, proxy=None, compression=None, max_queue=1
        )

    async def __aenter__(self) -> AsyncIterator[dict[str, Any]]:
        self._ws = await self._connect.__aenter__()

        async def messages() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await ws_json(self._ws)

        return messages()

    async def __aexit__(self, *exc: object) -> None:
        await self._connect.__aexit__(*exc)


class _SlowSSE:
    def __init__(self, server: ServerThread, options: list[tuple[int, int, int]]) -> None:
        transport = httpx.AsyncHTTPTransport(socket_options=options)
        self._http = httpx.AsyncClient(transport=transport, timeout=60, trust_env=False)
        self._stream = self._http.stream("GET", sse_url(server), headers=ADMIN)

    async def __aenter__(self) -> AsyncIterator[dict[str, Any]]:
        response = await self._stream.__aenter__()
        assert response.status_code == 200
        return sse_messages(response)

    async def __aexit__(self, *exc: object) -> None:
        await self._stream.__aexit__(*exc)
        await self._http.aclose()


# ------------------------------------------------------------------------- refusals and shutdown


def test_refused_before_anything_is_streamed_and_shutdown_ends_streams() -> None:
    hub = LiveHub(max_subscribers=2)
    with serve(hub) as server:
        with httpx.Client(timeout=10, trust_env=False) as http:
            r = http.get(sse_url(server))
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
            r = http.get(sse_url(server, OTHER), headers=STAFF_A)
            assert r.status_code == 404 and r.json()["error"] == {
                "code": "not_found",
                "message": "unknown site 'showroom-2'",
            }

        async def main() -> None:
            for headers, site, status in ((None, SITE, 401), (STAFF_A, OTHER, 404)):
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(ws_url(server, site), additional_headers=headers, proxy=None):
                        pass
                response = refused.value.response
                assert response.status_code == status
                assert json.loads(response.body or b"{}")["error"]["code"] in ("unauthenticated", "not_found")
            assert hub.stats()["subscribers"] == 0

            async with (
                connect(ws_url(server), additional_headers=STAFF_A, proxy=None) as ws,
                httpx.AsyncClient(timeout=10, trust_env=False) as http,
                http.stream("GET", sse_url(server), headers=STAFF_A) as response,
            ):
                sse = sse_messages(response)
                assert (await ws_json(ws))["event"] == "hello" and (await anext(sse))["event"] == "hello"
                full = await http.get(sse_url(server), headers=ADMIN)  # max_subscribers reached
                assert full.status_code == 503 and full.json()["error"]["code"] == "stream_unavailable"
                hub.publish(SITE, "device", {"camera_id": "door-cam", "status": "offline"})
                assert (await ws_json(ws))["data"]["status"] == "offline"
                assert (await anext(sse))["data"]["status"] == "offline"

                hub.close()  # shutdown: both streams end
                with pytest.raises(ConnectionClosed) as closed:
                    await ws_json(ws)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
                assert [m async for m in sse] == []
            deadline = time.monotonic() + 5
            while hub.stats()["subscribers"] and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert hub.stats()["subscribers"] == 0

        asyncio.run(main())
