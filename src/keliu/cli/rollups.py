"""`keliu rollups rebuild|refresh`: recompute the traffic rollups (after upgrading a database with
visits, after bulk edits, or to restate the past under new business hours).

The computation is ``keliu.analytics.rollups``; this module checks the options and prints the
counts. Must not compute a rollup itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from keliu.cli.options import DbOpt, SiteOpt, check_range, open_existing_store, parse_day

__all__ = ["app"]

app = typer.Typer(
    help="Recompute the traffic rollups (after upgrading a database with visits, or after bulk edits).",
    no_args_is_help=True,
)


@app.command("rebuild")
def rollups_rebuild(
    site: Annotated[str | None, typer.Option("--site", help="Site id (default: every site).")] = None,
    db: DbOpt = None,
) -> None:
    """Recompute the rollups of a site (or every site) over all its stored data."""
    from keliu.analytics.rollups import rebuild_rollups

    with open_existing_store(db) as store:
        if site is not None:
            store.site(site)
        stats = rebuild_rollups(store, site)
        count = 1 if site is not None else len(store.sites())
    print(
        f"rebuilt the rollups of {count} site(s): "
        f"{stats.hours} hours, {stats.days} days, {stats.months} months"
    )


@app.command("refresh")
def rollups_refresh(
    site: SiteOpt,
    date_from: Annotated[str, typer.Option("--from", help="First local day YYYY-MM-DD.")],
    date_to: Annotated[str, typer.Option("--to", help="Last local day (inclusive).")],
    db: DbOpt = None,
) -> None:
    """Recompute the rollups of the local days --from .. --to (and their months) of one site."""
    from keliu.analytics.rollups import refresh_rollups

    first, last = parse_day(date_from, "--from"), parse_day(date_to, "--to")
    check_range(first, last)
    with open_existing_store(db) as store:
        zone = ZoneInfo(store.site(site).timezone)
        start = datetime.combine(first, datetime.min.time(), zone)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
        stats = refresh_rollups(store, site, start, end)
    print(
        f"refreshed the rollups of site {site}, {first} .. {last}: "
        f"{stats.hours} hours, {stats.days} days, {stats.months} months"
    )
