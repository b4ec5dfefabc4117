"""The web UI (NiceGUI, mounted on the service's FastAPI app): ``mount_ui(app)``.

Pages are in :mod:`keliu.ui.pages`, one module per screen; every figure comes from the REST API of
the same process (:mod:`keliu.ui.api`), words from one catalogue (:mod:`keliu.ui.i18n`). NiceGUI's
own scripts, ECharts and Quasar are served from the package: nothing loads from the internet.

NiceGUI keeps one app per process, so the UI is mounted once, by `keliu serve`; tests that only need
the API create apps without it.
"""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["mount_ui"]


def mount_ui(app: FastAPI) -> None:
    """Serve the web UI at ``/`` of ``app`` (the API keeps ``/api/v1``, ``/healthz``, ``/metrics``)."""
    from nicegui import ui

    from keliu.ui import pages  # noqa: F401 - registers every page
    from keliu.ui.api import bind_service

    bind_service(app)
    ui.run_with(
        app,
        title="keliu",
        favicon="📊",
        language="zh-CN",
        show_welcome_message=False,
        reconnect_timeout=30.0,  # a busy moment must not cost a receptionist her page
        binding_refresh_interval=None,
    )
