"""`keliu dashboard` and `keliu analytics METRIC`: every analytics metric from the command line
(docs/metrics.md, "Command line").

- ``keliu dashboard [--site ID] [--at ISO] [--json]``: the home dashboard (首页), whole chain without --site;
- ``keliu analytics METRIC …``: one metric of the catalogue (``keliu.analytics.catalogue``), which
  names the metrics, the options each takes, and validates and runs them; this module only maps the
  options onto the catalogue's parameters (``--other-zone`` → ``other_zone``) and prints.

Readable output is rich tables (``keliu.cli.render``); ``--json`` prints one JSON document
(``keliu.analytics.jsonable``). User errors are :class:`keliu.errors.ConfigError` (bad option) or the
queries' :class:`keliu.errors.InputError` (unknown site, bad range): one line and exit code 2 from
``keliu.cli.main``. Must not define, validate or compute a metric itself.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from keliu.analytics.catalogue import METRIC_NAMES, METRICS, check_call, run_metric
from keliu.analytics.params import COMMAND_LINE, parse_at
from keliu.cli.options import DbOpt, open_existing_store
from keliu.cli.render import emit, fmt, print_dashboard

__all__ = ["METRIC_NAMES", "app"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]

app = typer.Typer()  # top-level commands: keliu.cli adds them to `keliu` without a group name


def _metric_list() -> str:
    width = max(len(n) for n in METRICS)
    return "\n".join(f"  {name.ljust(width)}  {spec.zh} {spec.description}" for name, spec in METRICS.items())


def _analytics_help() -> str:
    return (
        "One metric (docs/metrics.md) for a site, or the whole chain where no --site is given.\n\n"
        "Dates are local days of the site (inclusive): --day D, or --from D [--to D]. Unknown options "
        "for a metric are refused. METRIC is one of:\n\n" + _metric_list()
    )


# ------------------------------------------------------------------------------- commands


@app.command()
def dashboard(
    site: Annotated[
        str | None, typer.Option("--site", help="Site id (default: the whole chain).", show_default=False)
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="ISO date and time, e.g. 2025-03-05T11:30+08:00 (no offset: the site's local time). "
            "Default: now.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """首页 Home dashboard: 客流简报 brief, today by hour, funnel, entrances, KPIs, targets, ranking."""
    from keliu.analytics import queries

    with open_existing_store(db) as store:
        now = parse_at(at, store, site)
        result = queries.home_dashboard(store, site, now)
    if as_json:
        from keliu.analytics.jsonable import dumps

        sys.stdout.write(dumps(result) + "\n")
    else:
        print_dashboard(result)


@app.command(help=_analytics_help())
def analytics(
    metric: Annotated[
        str, typer.Argument(metavar="METRIC", help="The metric (listed above).", show_default=False)
    ],
    site: Annotated[
        str | None, typer.Option("--site", help="Site id (default: the whole chain, where it applies).")
    ] = None,
    day: Annotated[
        str | None, typer.Option("--day", help="One local day YYYY-MM-DD (kpis: 'today').")
    ] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First local day YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day (inclusive).")] = None,
    measure: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="total (总客流, default), deduplicated (去重客流), new, returning or batches.",
        ),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="targets, occupancy, holidays: ISO date, time (default now).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="trend: day|hour; dwell, occupancy: zone|floor|category; shops: the order."
        ),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", help="entrance-heat: top N entrances (0: all).")] = None,
    days: Annotated[
        int | None, typer.Option("--days", help="peaks, indices: window length (default 30).")
    ] = None,
    year: Annotated[int | None, typer.Option("--year", help="holidays, shops: the year.")] = None,
    month: Annotated[
        str | None, typer.Option("--month", help="shops: YYYY-MM (or 1–12 with --year).")
    ] = None,
    level: Annotated[int | None, typer.Option("--level", help="categories: 业态 level 1–3.")] = None,
    zone: Annotated[str | None, typer.Option("--zone", help="zone-comparison: the first zone.")] = None,
    other_zone: Annotated[
        str | None, typer.Option("--other-zone", help="zone-comparison: the zone to compare with.")
    ] = None,
    from_zone: Annotated[
        str | None, typer.Option("--from-zone", help="zone-conversion: from this zone.")
    ] = None,
    to_zone: Annotated[
        str | None, typer.Option("--to-zone", help="zone-conversion: on to this zone.")
    ] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    params = {
        "site": site,
        "day": day,
        "from": date_from,
        "to": date_to,
        "metric": measure,
        "at": at,
        "by": by,
        "top": top,
        "days": days,
        "year": year,
        "month": month,
        "level": level,
        "zone": zone,
        "other_zone": other_zone,
        "from_zone": from_zone,
        "to_zone": to_zone,
    }
    spec = check_call(metric, params, COMMAND_LINE)  # before the store is opened
    with open_existing_store(db) as store:
        run = run_metric(store, metric, params, spelling=COMMAND_LINE)
    document = {"metric": metric, "site": site, "params": run.params, "result": run.result}
    described = ", ".join(f"{k} {fmt(k, v)}" for k, v in run.params.items())
    scope = f"site {site}" if site else "whole chain"
    emit(
        as_json,
        document,
        f"{spec.zh} {metric} — {scope}" + (f", {described}" if described else ""),
        run.result,
    )
