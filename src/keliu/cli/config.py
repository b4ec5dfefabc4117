"""`keliu config check FILE`: validate a site config (and that its video files exist).

Reads the file and prints one summary line; errors read ``file:line: key: message`` (from
``keliu.config``, where every rule of a site config lives). Must not open a store or a camera.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keliu.config import load_site_config

__all__ = ["app"]

app = typer.Typer(help="Site configuration files.", no_args_is_help=True)


@app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="Site YAML config.")]) -> None:
    """Validate a site config and that every video file exists; errors read file:line: key: message."""
    site = load_site_config(file, check_sources=True)
    lines = sum(len(c.lines) for c in site.cameras)
    zones = sum(len(c.zones) for c in site.cameras)
    print(
        f"{file}: ok (site {site.site.id}: {len(site.cameras)} camera(s), {lines} line(s), {zones} zone(s))"
    )
