"""The FastAPI application factory: ``create_app(settings, store, supervisor)``.

Every route lives under ``/api/v1`` (health and metrics at the root), answers errors with the one
envelope of ``keliu.service.errors``, and reads through the store and analytics. The OpenAPI document
is at ``/openapi.json``. FastAPI's interactive pages (/docs, /redoc) load scripts from a CDN that an
air-gapped store cannot reach, so they are off; docs/api.md explains the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from keliu import __version__
from keliu.service.auth import LoginThrottle
from keliu.service.errors import ERROR_RESPONSES, install_error_handlers
from keliu.service.routers import auth, dashboard, health, sites, users
from keliu.service.settings import ServiceSettings
from keliu.store import Store

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"

DESCRIPTION = """keliu (客流) — on-premise, privacy-first footfall analytics.

Authentication: `POST /api/v1/auth/login` sets a session cookie (browsers); machines send
`Authorization: Bearer <API token>` (create one with `POST /api/v1/auth/tokens`). Every error is
`{"error": {"code", "message", "details?"}}`. A user sees only their sites: any other site id is 404.
"""


def create_app(settings: ServiceSettings, store: Store, supervisor: Any = None) -> FastAPI:
    """The service's app over ``store``; ``supervisor`` (keliu.runtime) runs live cameras, if any."""
    app = FastAPI(
        title="keliu",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.supervisor = supervisor
    app.state.login_throttle = LoginThrottle(settings.login_attempts, settings.login_window_s)
    app.state.metrics_registry = CollectorRegistry()
    install_error_handlers(app)
    app.include_router(health.router)
    for module in (auth, users, sites, dashboard):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
