"""`keliu serve`: the always-on service (REST API, live arrivals, webhooks; docs/api.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer()

DEMO_PASSWORD = "keliu-demo-2026"  # `keliu serve --demo` only, on a first start without KELIU_ADMIN_PASSWORD


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Port (default 8080).")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Service settings YAML (docs/api.md); KELIU_* env wins.")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Demo organisation: on an empty store, seed a simulated history of 4 stores and use the "
            f"administrator password {DEMO_PASSWORD!r} (what `make run` starts).",
        ),
    ] = False,
    demo_video: Annotated[
        Path | None,
        typer.Option(
            "--demo-video", help="With --demo: play this video in a loop as a live camera of the first store."
        ),
    ] = None,
) -> None:
    """Run the service: REST API under /api/v1, OpenAPI at /openapi.json (docs/api.md)."""
    import os

    from keliu.service.main import serve as run_service
    from keliu.service.settings import load_settings

    if demo and not os.environ.get("KELIU_ADMIN_PASSWORD"):
        os.environ["KELIU_ADMIN_PASSWORD"] = DEMO_PASSWORD
    if demo_video is not None and not demo:
        from keliu.errors import ConfigError

        raise ConfigError("--demo-video goes with --demo")
    settings = load_settings(config, host=host, port=port, demo=demo or None, demo_video=demo_video)
    run_service(settings)
