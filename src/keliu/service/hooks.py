"""Hooks through which routers built by a factory (live streams, webhooks) ask the app who may do what
and record what was done, without importing a particular auth scheme.

``Authorize``: ``authorize(conn, site_id)`` returns the principal (e.g. the signed-in user) when the
request may act on ``site_id`` (``None``: organisation-wide, every site), and raises a
:class:`keliu.errors.KeliuError` otherwise (``Unauthenticated`` 401, ``Forbidden`` 403, ``NotFound``
404 for a site the user may not see). It is a plain function (it may read the database); async
routes call it in a worker thread.

``Audit``: ``audit(conn, principal, action, site_id=..., target=..., details=...)``, the signature of
``keliu.service.audit.audit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

__all__ = ["Audit", "Authorize", "authorize_async"]

Authorize = Callable[[HTTPConnection, str | None], Any]


class Audit(Protocol):
    def __call__(
        self,
        conn: HTTPConnection,
        user: Any,
        action: str,
        *,
        site_id: str | None = None,
        target: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None: ...


async def authorize_async(authorize: Authorize, conn: HTTPConnection, site_id: str | None) -> Any:
    """``authorize`` called from an async route without blocking the event loop."""
    return await run_in_threadpool(authorize, conn, site_id)
