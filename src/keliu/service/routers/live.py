"""Live arrivals per site (实时到店): ``GET /sites/{site_id}/live`` (Server-Sent Events) and
``WS /sites/{site_id}/live/ws`` (WebSocket), both fed by a :class:`keliu.service.live.LiveHub`.

    app.include_router(build_live_router(hub, authorize=...), prefix="/api/v1")

Each stream first says ``hello`` (``{"event": "hello", "site_id", "id"}``, id: the site's latest
message id), then sends every message of the site in order (message format:
``keliu.service.live``). SSE: ``id:`` and ``event:`` lines per message, a ``: keepalive`` comment when
idle, ``Last-Event-ID`` (header, or ``?last_event_id=`` for a first connection) replays what was
missed. WebSocket: JSON text frames; ``?last_event_id=`` replays; messages from the client are
ignored; the server closes with 1001 at shutdown. A refused WebSocket handshake is answered with the
HTTP status and JSON error envelope of the refusal (401/403/404), before anything is streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from keliu.errors import KeliuError
from keliu.service.errors import error_body, status_of
from keliu.service.hooks import Authorize, authorize_async
from keliu.service.live import LiveHub, LiveSubscription, notice

__all__ = ["KEEPALIVE_S", "build_live_router"]

KEEPALIVE_S = 15.0
SSE_RETRY_MS = 3000  # how soon a browser's EventSource reconnects
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy buffering

LastEventIdHeader = Annotated[
    str | None,
    Header(alias="Last-Event-ID", max_length=100, description="id of the last message seen (replay)"),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(max_length=100, description="id of the last message seen (replay); the header wins"),
]


def _sse(text: str, *, event: str | None = None, message_id: str | None = None) -> bytes:
    lines = []
    if message_id is not None:
        lines.append(f"id: {message_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append(f"data: {text}")
    return ("\n".join(lines) + "\n\n").encode()


def _hello(sub: LiveSubscription) -> str:
    return notice("hello", site_id=sub.site_id, id=sub.start_id)


def build_live_router(hub: LiveHub, *, authorize: Authorize, keepalive_s: float = KEEPALIVE_S) -> APIRouter:
    """The live routes over ``hub``; ``authorize(conn, site_id)`` decides who may listen
    (``keliu.service.hooks``)."""
    router = APIRouter(tags=["live"])

    @router.get(
        "/sites/{site_id}/live",
        summary="Live arrivals (Server-Sent Events)",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "an endless text/event-stream of the site's live messages",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
    )
    async def live_events(
        site_id: str,
        request: Request,
        last_event_id_header: LastEventIdHeader = None,
        last_event_id: LastEventIdQuery = None,
    ) -> StreamingResponse:
        await authorize_async(authorize, request, site_id)
        hub.check_capacity()
        resume = last_event_id_header or last_event_id

        async def stream() -> AsyncIterator[bytes]:
            async with hub.subscription(site_id, resume) as sub:
                yield f"retry: {SSE_RETRY_MS}\n".encode() + _sse(_hello(sub), event="hello")
                if sub.reset:
                    yield _sse(notice("reset", reason=sub.reset), event="reset")
                while (got := await sub.next(keepalive_s)) is not None:
                    dropped, messages = got
                    if not dropped and not messages:
                        yield b": keepalive\n\n"
                        continue
                    chunk = [_sse(notice("dropped", dropped=dropped), event="dropped")] if dropped else []
                    chunk += [_sse(m.text, event=m.event, message_id=m.id) for m in messages]
                    yield b"".join(chunk)

        return StreamingResponse(stream(), media_type="text/event-stream", headers=SSE_HEADERS)

    @router.websocket("/sites/{site_id}/live/ws", name="live_ws")
    async def live_ws(websocket: WebSocket, site_id: str, last_event_id: LastEventIdQuery = None) -> None:
        try:
            await authorize_async(authorize, websocket, site_id)
            hub.check_capacity()
        except KeliuError as exc:
            await _refuse(websocket, exc)
            return
        await websocket.accept()
        async with hub.subscription(site_id, last_event_id) as sub:
            await _serve_ws(websocket, sub, keepalive_s)

    return router


async def _refuse(websocket: WebSocket, exc: KeliuError) -> None:
    body = error_body(exc.code, str(exc).splitlines()[0] if str(exc) else exc.code)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(body, status_code=status_of(exc)))
    else:  # the server cannot answer the handshake with HTTP: close at once (policy violation)
        await websocket.close(code=1008, reason=body["error"]["code"])


async def _serve_ws(websocket: WebSocket, sub: LiveSubscription, keepalive_s: float) -> None:
    gone = asyncio.create_task(_until_disconnected(websocket))
    try:
        await websocket.send_text(_hello(sub))
        if sub.reset:
            await websocket.send_text(notice("reset", reason=sub.reset))
        while True:
            waiting = asyncio.ensure_future(sub.next(keepalive_s))
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                waiting.cancel()
                return
            got = waiting.result()
            if got is None:  # the hub closed: the server is shutting down
                await websocket.close(code=1001)
                return
            dropped, messages = got
            if dropped:
                await websocket.send_text(notice("dropped", dropped=dropped))
            for message in messages:
                await websocket.send_text(message.text)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the client went away while we were sending
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await gone


async def _until_disconnected(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
