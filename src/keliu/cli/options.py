"""Command-line options shared by the `keliu` command's modules (``keliu.cli.*``), so each is spelled
once, and the one validator of the values every command bounds the same way (``parse_day``,
``check_range``, ``check_count``, ``check_year``, ``check_at``: defined in ``keliu.analytics.params``,
which the metric catalogue and an API use too, and re-exported here). Must not import the commands
themselves.

Bounds (``keliu.domain.bounds``; docs/reports.md, "Bounds on dates and ranges"): a day lies in
2000-01-01 .. 2199-12-31, a day range (``--from/--to``, ``--days``) spans at most 3660 days (ten
years), and an hour-by-hour range at most 92 days (a quarter). Beyond them a command answers at once
with one line instead of overflowing or running for minutes.

Read-only commands open the store with :func:`open_existing_store`: a mistyped SQLite path is refused
("no keliu database at PATH"), never created empty. Commands that write (process, demo seed) use
``keliu.store.open_store``, which creates the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keliu.analytics.params import check_at, check_count, check_range, check_year, parse_day
from keliu.config import LineConfig
from keliu.domain.bounds import FIRST_DAY, LAST_DAY, MAX_HOUR_RANGE_DAYS, MAX_RANGE_DAYS
from keliu.errors import ConfigError

if TYPE_CHECKING:
    from keliu.store import Store

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_HOUR_RANGE_DAYS",
    "MAX_RANGE_DAYS",
    "CameraOpt",
    "ConfigOpt",
    "DbOpt",
    "LineOpt",
    "SiteOpt",
    "StrideOpt",
    "VideoArg",
    "check_at",
    "check_count",
    "check_range",
    "check_year",
    "open_existing_store",
    "parse_day",
    "parse_line_option",
    "parse_line_options",
    "sqlite_file",
]


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
VideoArg = Annotated[
    str | None, typer.Argument(help="Video file, rtsp://…, http://… or usb:N.", show_default=False)
]
LineOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--line",
        help="ID:AX,AY,BX,BY,IX,IY in frame fractions; (IX,IY) is on the inside.",
        show_default=False,
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Site YAML config.", show_default=False)]
CameraOpt = Annotated[
    str | None, typer.Option("--camera", help="Camera id in the site config.", show_default=False)
]
StrideOpt = Annotated[
    int | None, typer.Option("--stride", help="Analyse every Nth frame (default: from analysis_fps).", min=1)
]


def sqlite_file(url: str | None) -> Path | None:
    """The SQLite file that ``url`` (``None``: the default store in ``KELIU_HOME``) names; ``None`` for a
    server URL or an in-memory database."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from keliu.paths import keliu_home
    from keliu.store.engine import DB_FILE_NAME

    if url is None:
        return keliu_home() / DB_FILE_NAME
    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        return None  # open_store explains what a database URL looks like
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def open_existing_store(url: str | None) -> Store:
    """``open_store(url)`` for a command that reads (or changes what is already there): a SQLite file
    that does not exist is a :class:`ConfigError`, and is not created."""
    from keliu.store import open_store

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise ConfigError(
            f"no keliu database at {path}; run `keliu process` or `keliu demo seed` first "
            "(or check --db / KELIU_DATABASE_URL)"
        )
    return open_store(url)


def parse_line_options(texts: list[str]) -> list[LineConfig]:
    """Every ``--line``; a line id given twice is refused (each counts its own crossings)."""
    lines = [parse_line_option(t) for t in texts]
    ids = [line.id for line in lines]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ConfigError(
            f"--line: the id(s) {', '.join(repr(i) for i in doubled)} given more than once; "
            "give each counting line its own id"
        )
    return lines


def parse_line_option(text: str) -> LineConfig:
    """Parse ``ID:AX,AY,BX,BY,IX,IY`` (fractions of frame width/height)."""
    ident, sep, coords = text.partition(":")
    if not sep or not ident:
        raise ConfigError(f"--line {text!r}: expected ID:AX,AY,BX,BY,IX,IY")
    parts = coords.split(",")
    if len(parts) != 6:
        raise ConfigError(
            f"--line {text!r}: expected 6 comma-separated numbers after the id, got {len(parts)}"
        )
    try:
        ax, ay, bx, by, ix, iy = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--line {text!r}: coordinates must be numbers") from None
    values = (ax, ay, bx, by, ix, iy)
    if not all(0.0 <= v <= 1.0 for v in values):
        raise ConfigError(f"--line {text!r}: coordinates are fractions of the frame and must lie in 0..1")
    try:
        return LineConfig(id=ident, a=(ax, ay), b=(bx, by), inside=(ix, iy))
    except ValueError as exc:
        first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise ConfigError(f"--line {text!r}: {first.removeprefix('Value error, ')}") from None
