"""The `keliu` command line: parses arguments, calls the library, prints results.

Contract (stable, other tools rely on it): `keliu count` prints one JSON object per crossing on
stdout in time order; progress and logs go to stderr. Every user error is one line on stderr and a
non-zero exit code, never a traceback (set KELIU_DEBUG=1 to see one).

One module per command group, each defining its commands at module level on its own typer app;
this module only assembles them into ``app`` (in the order ``keliu --help`` lists them) and maps
errors to exit codes in :func:`main`:

    forecast    keliu forecast                         analytics   keliu dashboard, keliu analytics METRIC
    count       keliu count, keliu track               process     keliu process
    report      keliu report (and --export)            embed       keliu embed
    config      keliu config check                     models      keliu models install|list
    staff       keliu staff enrol|list|remove          exclusion   keliu exclusion add|list|remove
    demo        keliu demo seed|live                   imports     keliu import weather|manual-counts|…
    rollups     keliu rollups rebuild|refresh          camera      keliu camera snapshot
    serve       keliu serve (the service, docs/api.md)

Shared pieces: ``options`` (option types and the one validator of dates, ranges and counts),
``video`` (the one-camera loop of count, track and demo live), ``render`` (analytics tables).
Commands hold no rules of counting, resolving or metrics: those live below the CLI.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from keliu.cli import (
    analytics,
    camera,
    config,
    count,
    demo,
    embed,
    exclusion,
    forecast,
    imports,
    models,
    process,
    report,
    rollups,
    serve,
    staff,
)
from keliu.errors import KeliuError

__all__ = ["app", "main"]

log = logging.getLogger("keliu")

app = typer.Typer(
    help="keliu (客流): privacy-first customer-footfall counting from ordinary CCTV video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for _commands in (serve.app, forecast.app, analytics.app, count.app, process.app, report.app, embed.app):
    app.add_typer(_commands)  # top-level commands (no group name)
app.add_typer(config.app, name="config")
app.add_typer(models.app, name="models")
app.add_typer(staff.app, name="staff")
app.add_typer(exclusion.app, name="exclusion")
app.add_typer(demo.app, name="demo")
app.add_typer(imports.app, name="import")
app.add_typer(rollups.app, name="rollups")
app.add_typer(camera.app, name="camera")


def main() -> None:
    logging.basicConfig(
        level=logging.INFO if os.environ.get("KELIU_VERBOSE") else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        status = app(standalone_mode=False)
    except KeliuError as exc:
        for message_line in str(exc).splitlines() or ["error"]:
            print(f"keliu: error: {message_line}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        if callable(getattr(exc, "format_message", None)):  # the CLI library's usage errors
            print(f"keliu: error: {exc.format_message()}", file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(int(getattr(exc, "exit_code", 2)) or 2)
        if os.environ.get("KELIU_DEBUG"):
            raise
        print(
            f"keliu: internal error: {type(exc).__name__}: {exc} (set KELIU_DEBUG=1 for details)",
            file=sys.stderr,
        )
        sys.exit(1)
    if isinstance(status, int) and status:
        sys.exit(status)
