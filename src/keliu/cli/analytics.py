"""`keliu dashboard` and `keliu analytics METRIC`: every analytics metric from the command line
(docs/metrics.md, "Command line").

- ``keliu dashboard [--site ID] [--at ISO] [--json]``: the home dashboard (首页), whole chain without --site;
- ``keliu analytics METRIC …``: one query of ``keliu.analytics.queries``; ``_METRICS`` maps each METRIC
  to a small adapter that turns the options into the query's arguments.

Readable output is rich tables (``keliu.cli.render``); ``--json`` prints one JSON document
(``keliu.analytics.jsonable``). User errors are :class:`keliu.errors.ConfigError` (bad option) or the
queries' :class:`keliu.errors.InputError` (unknown site, bad range): one line and exit code 2 from
``keliu.cli.main``. Must not compute a metric itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

import typer

from keliu.cli.options import (
    MAX_RANGE_DAYS,
    DbOpt,
    check_at,
    check_count,
    check_range,
    check_year,
    open_existing_store,
    parse_day,
)
from keliu.cli.render import emit, fmt, print_dashboard
from keliu.errors import ConfigError

if TYPE_CHECKING:
    from keliu.store import Store

__all__ = ["METRIC_NAMES", "app"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]

app = typer.Typer()  # top-level commands: keliu.cli adds them to `keliu` without a group name


def _site_zone(store: Store, site: str | None) -> tzinfo | None:
    """The site's time zone; for the chain (``site`` None) the sites' zone if they share one, else None."""
    if site is not None:
        return ZoneInfo(store.site(site).timezone)
    zones = {s.timezone for s in store.sites()}
    if len(zones) == 1:
        return ZoneInfo(zones.pop())
    return UTC if not zones else None


def _parse_at(text: str | None, store: Store, site: str | None) -> datetime:
    """``--at``: an ISO date and time; without a UTC offset it is the site's local time. Default: now."""
    zone = _site_zone(store, site)
    if text is None:
        return datetime.now(zone or UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--at {text!r}: expected a date and time, e.g. 2025-03-05T11:30+08:00") from None
    if at.tzinfo is None or at.utcoffset() is None:
        if zone is None:
            raise ConfigError(
                f"--at {text!r}: the sites are in several time zones; give a UTC offset, "
                "e.g. 2025-03-05T11:30+08:00"
            )
        at = at.replace(tzinfo=zone)
    return check_at(at)


# ------------------------------------------------------------------------ analytics METRIC


@dataclass
class _Args:
    """The options of one ``keliu analytics`` call; the parsers record what they resolved in ``params``."""

    metric: str
    site: str | None
    given: dict[str, Any]  # option name → value as typed, for the options given
    store: Store
    params: dict[str, Any] = field(default_factory=dict)

    def opt(self, name: str) -> Any:
        return self.given.get(name)

    def require(self, name: str, what: str) -> str:
        value = self.opt(name)
        if value is None or value == "":
            raise ConfigError(f"analytics {self.metric}: missing option {name} ({what})")
        self.params[name.removeprefix("--").replace("-", "_")] = value
        return str(value)

    def days(self) -> tuple[date, date]:
        """``--day D`` or ``--from D [--to D]`` (inclusive local dates)."""
        day, first_text, last_text = self.opt("--day"), self.opt("--from"), self.opt("--to")
        if day is not None and (first_text is not None or last_text is not None):
            raise ConfigError("give either --day or --from/--to, not both")
        if day is not None:
            first = last = parse_day(day, "--day")
        elif first_text is not None:
            first = parse_day(first_text, "--from")
            last = parse_day(last_text, "--to") if last_text is not None else first
            hourly = self.metric == "trend" and self.opt("--by") == "hour"
            check_range(first, last, "hour" if hourly else "day")
        elif last_text is not None:
            raise ConfigError("--to needs --from (or give one --day)")
        else:
            raise ConfigError(
                f"analytics {self.metric}: missing option --day YYYY-MM-DD or --from YYYY-MM-DD [--to …]"
            )
        self.params.update({"from": first, "to": last})
        return first, last

    def window(self) -> tuple[date, int]:
        """The last day and length of a trailing window: ``--from D --to D``, or ``--day D`` (or
        ``--to D``) with ``--days N`` (default 30) ending on it."""
        count = self.opt("--days")
        if self.opt("--from") is not None:
            if count is not None:
                raise ConfigError("give --days or --from/--to, not both")
            first, last = self.days()
            count = (last - first).days + 1
        else:
            if self.opt("--day") is not None and self.opt("--to") is not None:
                raise ConfigError("give either --day or --to, not both")
            text = self.opt("--day") or self.opt("--to")
            if text is None:
                raise ConfigError(
                    f"analytics {self.metric}: missing option --day YYYY-MM-DD (the last day of the "
                    "window) or --from/--to"
                )
            last = parse_day(text, "--day" if self.opt("--day") else "--to")
            count = check_count(30 if count is None else int(count), "--days", 1, MAX_RANGE_DAYS)
            first = last - timedelta(days=count - 1)
            check_range(first, last, options="--day/--days")
            self.params.update({"from": first, "to": last})
        self.params["days"] = count
        return last, count

    def today(self) -> date:
        """``--day D`` (default: today at the site)."""
        text = self.opt("--day")
        day = parse_day(text, "--day") if text is not None else _parse_at(None, self.store, self.site).date()
        self.params["day"] = day
        return day

    def at(self) -> datetime:
        at = _parse_at(self.opt("--at"), self.store, self.site)
        self.params["at"] = at
        return at

    def choice(self, name: str, choices: Sequence[str], default: str) -> Any:
        value = self.opt(name) or default
        if value not in choices:
            raise ConfigError(f"{name} {value!r}: use one of {', '.join(choices)}")
        self.params[name.removeprefix("--")] = value
        return value

    def measure(
        self, choices: Sequence[str] = ("total", "deduplicated", "new", "returning", "batches")
    ) -> Any:
        return self.choice("--metric", choices, "total")

    def integer(self, name: str, default: int, lo: int, hi: int | None = None) -> int:
        value = self.opt(name)
        value = default if value is None else int(value)
        if value < lo or (hi is not None and value > hi):
            bound = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
            raise ConfigError(f"{name} {value}: must be {bound}")
        self.params[name.removeprefix("--")] = value
        return value

    def month(self) -> date:
        """``--month YYYY-MM``, ``--month M --year Y`` or ``--day D`` (the month containing it)."""
        text, year, day = self.opt("--month"), self.opt("--year"), self.opt("--day")
        if day is not None:
            if text is not None or year is not None:
                raise ConfigError("give either --day or --month [--year], not both")
            first = parse_day(day, "--day").replace(day=1)
        elif text is None:
            raise ConfigError(f"analytics {self.metric}: missing option --month YYYY-MM (or --day D)")
        else:
            y_text, dash, m_text = str(text).partition("-")
            try:
                y, mo = (int(y_text), int(m_text)) if dash else (year, int(y_text))
            except ValueError:
                raise ConfigError(
                    f"--month {text!r}: expected YYYY-MM, or a month 1–12 with --year"
                ) from None
            if y is None:
                raise ConfigError(f"--month {text}: give --year too, or write --month YYYY-MM")
            if dash and year is not None and year != y:
                raise ConfigError(f"--month {text} and --year {year} disagree")
            if not 1 <= mo <= 12:
                raise ConfigError(f"--month {text!r}: expected YYYY-MM with a month 1–12")
            check_year(y, "--month", str(text))
            first = date(y, mo, 1)
        self.params["month"] = first.strftime("%Y-%m")
        return first

    def year(self) -> int:
        year = self.opt("--year")
        if year is None:
            year = _parse_at(None, self.store, self.site).year
        self.params["year"] = check_year(int(year))
        return int(year)


Adapter = Callable[[Any, "Store", _Args], Any]

_RANGE = ("--day", "--from", "--to")
_WINDOW = ("--day", "--from", "--to", "--days")


@dataclass(frozen=True)
class _Metric:
    """One METRIC of ``keliu analytics``: names, whether it takes a site, its options, its adapter."""

    zh: str
    en: str
    site: Literal["optional", "required", "none"]
    options: tuple[str, ...]
    run: Adapter


def _pairs(rows: Sequence[tuple[Any, ...]], *names: str) -> list[dict[str, Any]]:
    return [dict(zip(names, row, strict=True)) for row in rows]


def _peaks(q: Any, store: Store, a: _Args) -> dict[str, Any]:
    last, days = a.window()
    slots, weekdays, weather = q.peaks(store, a.site, last, days)
    return {"time_slots": slots, "weekdays": weekdays, "weather": weather}


def _targets(q: Any, store: Store, a: _Args) -> dict[str, Any]:
    month, year = q.targets(store, a.site, a.at(), a.measure(("total", "deduplicated")))
    return {"month": month, "year": year}


_LISTED_ZONES = 30  # zone ids named in the "unknown zone" error


def _known_zones(store: Store, a: _Args, given: dict[str, str]) -> None:
    """Each zone named in ``given`` (option → zone id) is one the site has: a zone of a camera or an
    area of its reference data. Otherwise a :class:`ConfigError` naming the unknown zones and the
    known ones (a zone that does not exist would show zeros, as if nobody had been there)."""
    site = str(a.site)
    known = {z.id for camera in store.cameras(site) for z in camera.zones}
    known |= {area.zone_id for area in store.areas(site)}
    unknown = [f"{option} {zone!r}" for option, zone in given.items() if zone not in known]
    if unknown:
        names = sorted(known)
        more = f" … ({len(names)} in all)" if len(names) > _LISTED_ZONES else ""
        listed = (
            ", ".join(names[:_LISTED_ZONES]) + more if names else "none (zones come from the site config)"
        )
        raise ConfigError(
            f"analytics {a.metric}: unknown zone(s) {', '.join(unknown)} at site {site}; "
            f"its zones are: {listed}"
        )


def _zone_comparison(q: Any, store: Store, a: _Args) -> dict[str, Any]:
    first, last = a.days()
    zone = a.require("--zone", "the first zone id")
    other = a.require("--other-zone", "the zone id to compare with")
    _known_zones(store, a, {"--zone": zone, "--other-zone": other})
    one, two = q.zone_comparison(store, a.site, first, last, zone, other)
    return {"zone": one, "other": two}


def _zone_conversion(q: Any, store: Store, a: _Args) -> Any:
    first, last = a.days()
    from_zone = a.require("--from-zone", "the zone visitors start in")
    to_zone = a.require("--to-zone", "the zone they may go on to")
    _known_zones(store, a, {"--from-zone": from_zone, "--to-zone": to_zone})
    return q.zone_conversion(store, a.site, first, last, from_zone, to_zone)


def _audit(q: Any, store: Store, a: _Args) -> Any:
    first, last = a.days()
    zone = ZoneInfo(store.site(str(a.site)).timezone)
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    return q.accuracy_audit(store, a.site, start, end)


_ZONE_BY = ("zone", "floor", "category")

_METRICS: dict[str, _Metric] = {
    "traffic": _Metric(
        "客流汇总", "all traffic sums", "optional", _RANGE, lambda q, s, a: q.traffic(s, a.site, *a.days())
    ),
    "trend": _Metric(
        "趋势分析",
        "per day or hour, mean and peak",
        "optional",
        (*_RANGE, "--metric", "--by"),
        lambda q, s, a: q.trend(s, a.site, *a.days(), a.measure(), a.choice("--by", ("day", "hour"), "day")),
    ),
    "profile": _Metric(
        "客户画像", "gender × age", "optional", _RANGE, lambda q, s, a: q.profile(s, a.site, *a.days())
    ),
    "funnel": _Metric(
        "转化漏斗",
        "pass-by → entered → received → returning",
        "optional",
        _RANGE,
        lambda q, s, a: q.funnel(s, a.site, *a.days()),
    ),
    "return-intervals": _Metric(
        "活跃分析",
        "days since the previous visit",
        "optional",
        _RANGE,
        lambda q, s, a: q.return_intervals(s, a.site, *a.days()),
    ),
    "business-hours": _Metric(
        "营业时间",
        "entries left out by business hours",
        "optional",
        _RANGE,
        lambda q, s, a: q.business_hours_effect(s, a.site, *a.days()),
    ),
    "entrance-heat": _Metric(
        "进场热力 / 出入口分布",
        "entries per entrance and group",
        "required",
        (*_RANGE, "--top"),
        lambda q, s, a: q.entrance_heat(s, a.site, *a.days(), a.integer("--top", 15, 0) or None),
    ),
    "kpis": _Metric(
        "客流 KPI",
        "last day/week/month/year, 环比 and 同比",
        "optional",
        ("--day", "--metric"),
        lambda q, s, a: q.kpis(s, a.site, a.today(), a.measure()),
    ),
    "targets": _Metric("目标监控", "month and year completion", "required", ("--at", "--metric"), _targets),
    "peaks": _Metric("到访峰值 / 峰值透视", "time slots, weekdays, weather", "required", _WINDOW, _peaks),
    "holidays": _Metric(
        "节日分析 / 节日客流",
        "holidays and festivals of a year",
        "required",
        ("--year", "--metric"),
        lambda q, s, a: q.holidays(s, a.site, a.year(), a.measure()),
    ),
    "multi-store": _Metric(
        "门店排行 / 门店概览",
        "every store ranked",
        "none",
        (*_RANGE, "--metric"),
        lambda q, s, a: q.multi_store(s, *a.days(), a.measure()),
    ),
    "floors": _Metric(
        "楼层转化",
        "visitors per floor, climb rates",
        "required",
        _RANGE,
        lambda q, s, a: q.floors(s, a.site, *a.days()),
    ),
    "shops": _Metric(
        "品牌排行",
        "shops of a month",
        "required",
        ("--month", "--year", "--day", "--by"),
        lambda q, s, a: q.shops(
            s,
            a.site,
            a.month(),
            a.choice("--by", ("visits", "returning", "per_m2", "first_shop", "mom_change"), "visits"),
        ),
    ),
    "categories": _Metric(
        "业态热度",
        "visits per category (level 1–3)",
        "required",
        (*_RANGE, "--level"),
        lambda q, s, a: _pairs(
            q.categories(s, a.site, *a.days(), a.integer("--level", 1, 1, 3)), "category", "visits", "share"
        ),
    ),
    "indices": _Metric(
        "运营指标",
        "return, activity and browsing indices",
        "required",
        _WINDOW,
        lambda q, s, a: q.indices(s, a.site, *a.window()),
    ),
    "zone-comparison": _Metric(
        "区域对比",
        "two zones side by side",
        "required",
        (*_RANGE, "--zone", "--other-zone"),
        _zone_comparison,
    ),
    "zone-conversion": _Metric(
        "转化分析",
        "from one zone on to another",
        "required",
        (*_RANGE, "--from-zone", "--to-zone"),
        _zone_conversion,
    ),
    "paths": _Metric(
        "动线分析",
        "where each shop's visitors came from, went next, and also went",
        "required",
        _RANGE,
        lambda q, s, a: q.paths(s, a.site, *a.days()),
    ),
    "dwell": _Metric(
        "驻留时长",
        "mean and median stay",
        "required",
        (*_RANGE, "--by"),
        lambda q, s, a: q.dwell(s, a.site, *a.days(), a.choice("--by", _ZONE_BY, "zone")),
    ),
    "occupancy": _Metric(
        "实时驻留人数",
        "visitors present now",
        "required",
        ("--at", "--by"),
        lambda q, s, a: _pairs(
            q.occupancy(s, a.site, a.at(), a.choice("--by", _ZONE_BY, "zone")), "key", "present"
        ),
    ),
    "audit": _Metric("准确率稽核", "system vs manual counts", "required", _RANGE, _audit),
}
METRIC_NAMES = tuple(_METRICS)


def _metric_list() -> str:
    width = max(len(n) for n in _METRICS)
    return "\n".join(f"  {name.ljust(width)}  {spec.zh} {spec.en}" for name, spec in _METRICS.items())


def _run_metric(
    metric: str, site: str | None, given: dict[str, Any], db: str | None
) -> tuple[dict[str, Any], Any]:
    """Validate the options for ``metric``, run its query; (params, result)."""
    from keliu.analytics import queries

    spec = _METRICS.get(metric)
    if spec is None:
        raise ConfigError(f"unknown metric {metric!r}; use one of: {', '.join(_METRICS)}")
    given = {k: v for k, v in given.items() if v is not None and v is not False}
    extra = [name for name in given if name not in spec.options]
    if extra:
        takes = ", ".join(spec.options) or "no other options"
        raise ConfigError(f"analytics {metric}: {', '.join(extra)} does not apply (it takes {takes})")
    if spec.site == "required" and not site:
        raise ConfigError(f"analytics {metric}: missing option --site (a site id)")
    if spec.site == "none" and site:
        raise ConfigError(f"analytics {metric}: --site does not apply (it covers every store)")
    with open_existing_store(db) as store:
        if site is not None:
            store.site(site)  # an unknown site: one clear error before any parsing
        args = _Args(metric, site or None, given, store)
        result = spec.run(queries, store, args)
    return args.params, result


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
        now = _parse_at(at, store, site)
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
        str | None, typer.Option("--at", help="targets, occupancy: ISO date and time (default now).")
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
    given = {
        "--day": day,
        "--from": date_from,
        "--to": date_to,
        "--metric": measure,
        "--at": at,
        "--by": by,
        "--top": top,
        "--days": days,
        "--year": year,
        "--month": month,
        "--level": level,
        "--zone": zone,
        "--other-zone": other_zone,
        "--from-zone": from_zone,
        "--to-zone": to_zone,
    }
    params, result = _run_metric(metric, site, given, db)
    spec = _METRICS[metric]
    document = {"metric": metric, "site": site, "params": params, "result": result}
    described = ", ".join(f"{k} {fmt(k, v)}" for k, v in params.items())
    scope = f"site {site}" if site else "whole chain"
    emit(
        as_json,
        document,
        f"{spec.zh} {metric} — {scope}" + (f", {described}" if described else ""),
        result,
    )
