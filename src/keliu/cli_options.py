"""Command-line options shared by the `keliu` command's modules (cli.py and the cli_* modules that
register commands on it), so each is spelled once. Must not import the commands themselves."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["DbOpt", "SiteOpt"]

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="KELIU_DATABASE_URL",
        help="Store URL (postgresql://…); default: SQLite in KELIU_HOME.",
        show_default=False,
    ),
]
SiteOpt = Annotated[str, typer.Option("--site", help="Site id.")]
