"""The FastAPI application factory: ``create_app(settings, store, runtime)``.

Every route lives under ``/api/v1`` (health and metrics at the root), answers errors with the one
envelope of ``keliu.service.errors``, and reads through the store and analytics. The OpenAPI document
is at ``/openapi.json``. FastAPI's interactive pages (/docs, /redoc) load scripts from a CDN that an
air-gapped store cannot reach, so they are off; docs/api.md explains the API.

The app starts and stops the ``runtime`` (``keliu.service.runtime``: cameras, resolution, live push,
webhooks) with its own lifespan; without one it makes a runtime with no cameras, so reception
updates are still pushed and webhooks still delivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection

from keliu import __version__
from keliu.errors import Forbidden
from keliu.service.audit import audit as audit_entry
from keliu.service.auth import LoginThrottle, authenticate, check_site, get_store
from keliu.service.errors import ERROR_RESPONSES, install_error_handlers
from keliu.service.metrics import RuntimeCollector
from keliu.service.routers import (
    analytics,
    audit,
    auth,
    dashboard,
    health,
    imports,
    locations,
    messages,
    privacy,
    reception,
    reports,
    sites,
    snapshot,
    staff,
    users,
    visits,
)
from keliu.service.routers.live import build_live_router
from keliu.service.routers.webhooks import build_webhooks_router
from keliu.service.runtime import ServiceRuntime
from keliu.service.settings import ServiceSettings
from keliu.store import Store

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"

DESCRIPTION = """keliu (客流) — on-premise, privacy-first footfall analytics.

Authentication: `POST /api/v1/auth/login` sets a session cookie (browsers); machines send
`Authorization: Bearer <API token>` (create one with `POST /api/v1/auth/tokens`). Every error is
`{"error": {"code", "message", "details?"}}`. A user sees only their sites: any other site id is 404.
"""


def _listener(conn: HTTPConnection, site_id: str | None) -> Any:
    """Who may listen to a site's live stream: any user who may see the site."""
    user = authenticate(conn)
    if site_id is None:
        if user.role != "admin":
            raise Forbidden("only administrators may act for every site")
        return user
    check_site(get_store(conn), user, site_id)
    return user


def _webhook_manager(conn: HTTPConnection, site_id: str | None) -> Any:
    """Who may manage webhooks: administrators (any, or organisation-wide) and managers (their sites)."""
    user = _listener(conn, site_id)
    if user.role not in ("admin", "manager"):
        raise Forbidden(f"your role ({user.role}) may not manage webhooks")
    return user


def create_app(settings: ServiceSettings, store: Store, runtime: ServiceRuntime | None = None) -> FastAPI:
    """The service's app over ``store``; ``runtime`` runs cameras and pushes (module docstring)."""
    runtime = runtime or ServiceRuntime(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="keliu",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=ERROR_RESPONSES,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.runtime = runtime
    app.state.pusher = runtime.pusher
    app.state.login_throttle = LoginThrottle(settings.login_attempts, settings.login_window_s)
    registry = CollectorRegistry()
    registry.register(RuntimeCollector(runtime))
    app.state.metrics_registry = registry
    install_error_handlers(app)
    app.include_router(health.router)
    for module in (
        auth,
        users,
        sites,
        dashboard,
        analytics,
        reception,
        imports,
        audit,
        reports,
        locations,
        staff,
        visits,
        messages,
        privacy,
        snapshot,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(build_live_router(runtime.hub, authorize=_listener), prefix=API_PREFIX)
    app.include_router(
        build_webhooks_router(runtime.webhooks, authorize=_webhook_manager, audit=audit_entry),
        prefix=API_PREFIX,
    )
    return app
