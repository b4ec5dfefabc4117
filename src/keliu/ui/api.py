"""The web UI's only way to the data: the REST API of the same process, called in memory.

Every page asks ``/api/v1`` with the signed-in user's own session cookie, through the ASGI app
itself (no socket, no second code path): authentication, site scoping (another store's site is 404),
validation, audit and live pushes are exactly those of the API. An API error comes back as
:class:`ApiError` with the envelope's code and message, which the page shows as it is.

Must not reach the store or analytics directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.requests import HTTPConnection

from keliu.service.auth import SESSION_COOKIE

__all__ = ["Api", "ApiError", "bind_service", "service_hub", "shared_read"]

_service: dict[str, Any] = {}
_shared: dict[str, tuple[float, Any]] = {}
_shared_locks: dict[str, asyncio.Lock] = {}


def bind_service(app: FastAPI) -> None:
    """The service app the UI is mounted on (one per process)."""
    _service["app"] = app


def _client() -> httpx.AsyncClient:
    """One in-memory client for every page (made on first use, inside the server's event loop)."""
    client: httpx.AsyncClient | None = _service.get("client")
    if client is None:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=_service["app"]),
            base_url="http://keliu.ui/api/v1",
            timeout=120.0,
        )
        _service["client"] = client
    return client


def service_hub() -> Any:
    """The live hub of the service (the one behind ``/api/v1/sites/{id}/live``): pages that update
    live listen to it after the API has told them the user may see the site."""
    return _service["app"].state.runtime.hub


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Api:
    """The REST API as the user of ``conn``'s session cookie (or as nobody, to sign in)."""

    def __init__(self, session: str | None) -> None:
        self.session = session
        self._headers = {"cookie": f"{SESSION_COOKIE}={session}"} if session else {}

    @classmethod
    def of(cls, conn: HTTPConnection) -> Api:
        return cls(conn.cookies.get(SESSION_COOKIE))

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        params = kwargs.pop("params", None)
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v is not None and v != ""}
        response = await _client().request(method, path, headers=self._headers, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise ApiError(response.status_code, error.get("code", "error"), error.get("message", ""))
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, "error", response.text[:300]) from None
        return response

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.request("GET", path, params=params)).json()

    async def send(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.request(method, path, json=body)
        return response.json() if response.content else None


async def shared_read(key: str, fresh_since: float, read: Callable[[], Awaitable[Any]]) -> Any:
    """One read of ``key`` for every page that needs it: the answer of a read that started at or
    after ``fresh_since`` (``time.monotonic()``) is reused, otherwise ``read`` runs (once, while the
    others wait for it). Twenty reception consoles of a store woken by one arrival make one read, not
    twenty. Only for answers that are the same for every user who may open the page's store (the
    page checked that through the API when it opened)."""
    lock = _shared_locks.setdefault(key, asyncio.Lock())
    async with lock:
        cached = _shared.get(key)
        if cached is not None and cached[0] >= fresh_since:
            return cached[1]
        started = time.monotonic()
        data = await read()
        _shared[key] = (started, data)
        return data
