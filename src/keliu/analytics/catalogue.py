"""The metric catalogue (指标目录): every analytics metric that a user can ask for, once.

Each :class:`Metric` names a metric (``zone-conversion``), its Chinese and English names, what it
tells, whether it takes a site, the parameters it takes, the function of
``keliu.analytics.queries`` that computes it and the type of its result. ``keliu analytics METRIC``
(``keliu.cli.analytics``), an API and ``tests/unit/test_metric_catalogue.py`` (every entry is
documented in docs/metrics.md) all read this one table; :func:`run_metric` validates a call's
parameters and runs it:

    run = run_metric(store, "trend", {"site": "s1", "from": "2025-03-01", "to": "2025-03-31", "by": "day"})
    run.params  # {"from": date(2025, 3, 1), "to": date(2025, 3, 31), "metric": "total", "by": "day"}
    run.result  # a metrics.Trend

Parameters (values as typed: text, or numbers where they are numbers): ``site``; days ``day``,
``from``, ``to`` (local, inclusive); ``days`` (a trailing window); ``at`` (ISO time, without an
offset the site's local time); ``metric`` (total, deduplicated, new, returning, batches); ``by``;
``top``; ``year``; ``month``; ``level``; ``zone``, ``other_zone``, ``from_zone``, ``to_zone``. A
parameter a metric does not take is refused, never ignored. Every refusal is a
:class:`keliu.errors.ConfigError` naming the parameter as the caller spells it
(:class:`keliu.analytics.params.Spelling`); an unknown site is the store's ``InputError``.

Light to import (the command line loads it at start): the queries and result types are imported
when a metric runs. Must not import the CLI or a web framework, nor compute a number itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from keliu.analytics.params import (
    API,
    Spelling,
    check_count,
    check_range,
    check_year,
    parse_at,
    parse_day,
    parse_int,
    site_zone,
)
from keliu.domain.bounds import MAX_RANGE_DAYS
from keliu.errors import ConfigError

if TYPE_CHECKING:
    from keliu.analytics.metrics import MeanBy, SlotPeaks, TargetProgress, ZoneStats
    from keliu.store import Store

__all__ = [
    "METRICS",
    "METRIC_NAMES",
    "PARAMETERS",
    "CategoryVisits",
    "Metric",
    "MetricRun",
    "Peaks",
    "Presence",
    "Targets",
    "ZonePair",
    "check_call",
    "run_metric",
]

SiteScope = Literal["optional", "required", "none"]

# every parameter a metric may take (besides ``site``), in the order the command line lists them
PARAMETERS = (
    "day",
    "from",
    "to",
    "metric",
    "at",
    "by",
    "top",
    "days",
    "year",
    "month",
    "level",
    "zone",
    "other_zone",
    "from_zone",
    "to_zone",
)

# ------------------------------------------------------------------ results made of two queries' parts


@dataclass(frozen=True)
class Peaks:
    """到访峰值 / 峰值透视: the busiest time slots, and the mean per weekday and per weather."""

    time_slots: SlotPeaks
    weekdays: tuple[MeanBy, ...]
    weather: tuple[MeanBy, ...]


@dataclass(frozen=True)
class Targets:
    """目标监控: the progress towards this month's and this year's targets."""

    month: TargetProgress
    year: TargetProgress


@dataclass(frozen=True)
class ZonePair:
    """区域对比: two zones side by side."""

    zone: ZoneStats
    other: ZoneStats


@dataclass(frozen=True)
class CategoryVisits:
    """业态热度: one category's visits and share of the visits."""

    category: str
    visits: int
    share: float | None


@dataclass(frozen=True)
class Presence:
    """实时驻留人数: the visitors present in one zone, floor or category."""

    key: str
    present: int


# ------------------------------------------------------------------------------ one call's values


@dataclass
class _Args:
    """One call's parameters; the parsers record what they resolved in ``params``."""

    metric: str
    site: str | None
    given: dict[str, Any]  # parameter → value as given, for the parameters given
    store: Store
    spelling: Spelling
    params: dict[str, Any] = field(default_factory=dict)

    def opt(self, name: str) -> Any:
        return self.given.get(name)

    def missing(self, what: str) -> ConfigError:
        sp = self.spelling
        return ConfigError(f"{sp.scope} {self.metric}: missing {sp.word} {what}")

    def require(self, name: str, what: str) -> str:
        value = self.opt(name)
        if value is None or value == "":
            raise self.missing(f"{self.spelling(name)} ({what})")
        self.params[name] = value
        return str(value)

    def days(self) -> tuple[date, date]:
        """``day`` or ``from`` [``to``] (inclusive local dates)."""
        o = self.spelling
        day, first_text, last_text = self.opt("day"), self.opt("from"), self.opt("to")
        if day is not None and (first_text is not None or last_text is not None):
            raise ConfigError(f"give either {o('day')} or {o('from')}/{o('to')}, not both")
        if day is not None:
            first = last = parse_day(str(day), o("day"))
        elif first_text is not None:
            first = parse_day(str(first_text), o("from"))
            last = parse_day(str(last_text), o("to")) if last_text is not None else first
            hourly = self.metric == "trend" and self.opt("by") == "hour"
            check_range(first, last, "hour" if hourly else "day", spelling=o)
        elif last_text is not None:
            raise ConfigError(f"{o('to')} needs {o('from')} (or give one {o('day')})")
        else:
            raise self.missing(f"{o('day')} YYYY-MM-DD or {o('from')} YYYY-MM-DD [{o('to')} …]")
        self.params.update({"from": first, "to": last})
        return first, last

    def window(self) -> tuple[date, int]:
        """The last day and length of a trailing window: ``from`` and ``to``, or ``day`` (or ``to``)
        with ``days`` (default 30) ending on it."""
        o = self.spelling
        count = self.opt("days")
        if self.opt("from") is not None:
            if count is not None:
                raise ConfigError(f"give {o('days')} or {o('from')}/{o('to')}, not both")
            first, last = self.days()
            count = (last - first).days + 1
        else:
            if self.opt("day") is not None and self.opt("to") is not None:
                raise ConfigError(f"give either {o('day')} or {o('to')}, not both")
            text = self.opt("day") or self.opt("to")
            if text is None:
                raise self.missing(
                    f"{o('day')} YYYY-MM-DD (the last day of the window) or {o('from')}/{o('to')}"
                )
            last = parse_day(str(text), o("day") if self.opt("day") else o("to"))
            count = 30 if count is None else parse_int(count, o("days"))
            count = check_count(count, o("days"), 1, MAX_RANGE_DAYS)
            first = last - timedelta(days=count - 1)
            check_range(first, last, options=f"{o('day')}/{o('days')}", spelling=o)
            self.params.update({"from": first, "to": last})
        self.params["days"] = count
        return last, count

    def at(self) -> datetime:
        text = self.opt("at")
        at = parse_at(None if text is None else str(text), self.store, self.site, self.spelling("at"))
        self.params["at"] = at
        return at

    def today(self) -> date:
        """``day`` (default: today at the site)."""
        text = self.opt("day")
        if text is not None:
            day = parse_day(str(text), self.spelling("day"))
        else:
            day = parse_at(None, self.store, self.site).date()
        self.params["day"] = day
        return day

    def choice(self, name: str, choices: Sequence[str], default: str) -> Any:
        value = self.opt(name) or default
        if value not in choices:
            raise ConfigError(f"{self.spelling(name)} {value!r}: use one of {', '.join(choices)}")
        self.params[name] = value
        return value

    def measure(
        self, choices: Sequence[str] = ("total", "deduplicated", "new", "returning", "batches")
    ) -> Any:
        return self.choice("metric", choices, "total")

    def integer(self, name: str, default: int, lo: int, hi: int | None = None) -> int:
        value = self.opt(name)
        value = default if value is None else parse_int(value, self.spelling(name))
        if value < lo or (hi is not None and value > hi):
            bound = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
            raise ConfigError(f"{self.spelling(name)} {value}: must be {bound}")
        self.params[name] = value
        return value

    def month(self) -> date:
        """``month`` YYYY-MM, ``month`` M with ``year`` Y, or ``day`` D (the month containing it)."""
        o = self.spelling
        text, year, day = self.opt("month"), self.opt("year"), self.opt("day")
        if year is not None:
            year = parse_int(year, o("year"))
        if day is not None:
            if text is not None or year is not None:
                raise ConfigError(f"give either {o('day')} or {o('month')} [{o('year')}], not both")
            first = parse_day(str(day), o("day")).replace(day=1)
        elif text is None:
            raise self.missing(f"{o('month')} YYYY-MM (or {o('day')} D)")
        else:
            y_text, dash, m_text = str(text).partition("-")
            try:
                y, mo = (int(y_text), int(m_text)) if dash else (year, int(y_text))
            except ValueError:
                raise ConfigError(
                    f"{o('month')} {text!r}: expected YYYY-MM, or a month 1–12 with {o('year')}"
                ) from None
            if y is None:
                raise ConfigError(f"{o('month')} {text}: give {o('year')} too, or write {o('month')} YYYY-MM")
            if dash and year is not None and year != y:
                raise ConfigError(f"{o('month')} {text} and {o('year')} {year} disagree")
            if not 1 <= mo <= 12:
                raise ConfigError(f"{o('month')} {text!r}: expected YYYY-MM with a month 1–12")
            check_year(y, o("month"), str(text))
            first = date(y, mo, 1)
        self.params["month"] = first.strftime("%Y-%m")
        return first

    def year(self) -> int:
        year = self.opt("year")
        if year is None:
            year = parse_at(None, self.store, self.site).year
        self.params["year"] = check_year(parse_int(year, self.spelling("year")), self.spelling("year"))
        return int(self.params["year"])


# ----------------------------------------------------------------------------------- the metrics

Adapter = Callable[[Callable[..., Any], "Store", _Args], Any]  # (the query, store, args) → result

_RANGE = ("day", "from", "to")
_WINDOW = ("day", "from", "to", "days")
_ZONE_BY = ("zone", "floor", "category")
_LISTED_ZONES = 30  # zone ids named in the "unknown zone" error


@dataclass(frozen=True)
class Metric:
    """One metric of the catalogue.

    ``name`` is what a user asks for (``keliu analytics NAME``); ``zh`` and ``en`` are its Chinese and
    English names; ``description`` says in a few words what it tells; ``site`` whether a site is
    optional (the whole chain without one), required, or refused (it covers every store); ``params``
    the parameters it takes besides ``site``; ``query`` the function of ``keliu.analytics.queries``
    that computes it; ``result`` its result type, written over the names of
    ``keliu.analytics.metrics`` and of this module (:meth:`result_type` resolves it)."""

    name: str
    zh: str
    en: str
    description: str
    site: SiteScope
    params: tuple[str, ...]
    query: str
    result: str
    run: Adapter = field(repr=False, compare=False)

    def query_function(self) -> Callable[..., Any]:
        """The function of ``keliu.analytics.queries`` (imported on first use: it loads the store)."""
        from keliu.analytics import queries

        return getattr(queries, self.query)  # type: ignore[no-any-return]

    def result_type(self) -> Any:
        """The result type as a Python type (``tuple[Kpi, ...]`` for ``tuple[Kpi, ...]``)."""
        from keliu.analytics import metrics

        names = {**vars(metrics), **{c.__name__: c for c in _RESULTS}, "__builtins__": {"tuple": tuple}}
        return eval(self.result, names)  # a type expression of this module's table, not user input


_RESULTS = (Peaks, Targets, ZonePair, CategoryVisits, Presence)


def _peaks(f: Callable[..., Any], store: Store, a: _Args) -> Peaks:
    last, days = a.window()
    return Peaks(*f(store, a.site, last, days))


def _targets(f: Callable[..., Any], store: Store, a: _Args) -> Targets:
    return Targets(*f(store, a.site, a.at(), a.measure(("total", "deduplicated"))))


def _holidays(f: Callable[..., Any], store: Store, a: _Args) -> Any:
    """``at`` (default now) decides which holidays are upcoming; ``year`` defaults to its year."""
    at = a.at()
    zone = site_zone(store, a.site)
    today = (at.astimezone(zone) if zone else at).date()
    year = a.year() if a.opt("year") is not None else today.year
    a.params["year"] = year
    return f(store, a.site, year, a.measure(), today)


def _known_zones(store: Store, a: _Args, given: dict[str, str]) -> None:
    """Each zone named in ``given`` (parameter → zone id) is one the site has: a zone of a camera or
    an area of its reference data. Otherwise a :class:`ConfigError` naming the unknown zones and the
    known ones (a zone that does not exist would show zeros, as if nobody had been there)."""
    site = str(a.site)
    known = {z.id for camera in store.cameras(site) for z in camera.zones}
    known |= {area.zone_id for area in store.areas(site)}
    unknown = [f"{a.spelling(name)} {zone!r}" for name, zone in given.items() if zone not in known]
    if unknown:
        names = sorted(known)
        more = f" … ({len(names)} in all)" if len(names) > _LISTED_ZONES else ""
        listed = (
            ", ".join(names[:_LISTED_ZONES]) + more if names else "none (zones come from the site config)"
        )
        raise ConfigError(
            f"{a.spelling.scope} {a.metric}: unknown zone(s) {', '.join(unknown)} at site {site}; "
            f"its zones are: {listed}"
        )


def _zone_comparison(f: Callable[..., Any], store: Store, a: _Args) -> ZonePair:
    first, last = a.days()
    zone = a.require("zone", "the first zone id")
    other = a.require("other_zone", "the zone id to compare with")
    _known_zones(store, a, {"zone": zone, "other_zone": other})
    return ZonePair(*f(store, a.site, first, last, zone, other))


def _zone_conversion(f: Callable[..., Any], store: Store, a: _Args) -> Any:
    first, last = a.days()
    from_zone = a.require("from_zone", "the zone visitors start in")
    to_zone = a.require("to_zone", "the zone they may go on to")
    _known_zones(store, a, {"from_zone": from_zone, "to_zone": to_zone})
    return f(store, a.site, first, last, from_zone, to_zone)


def _audit(f: Callable[..., Any], store: Store, a: _Args) -> Any:
    first, last = a.days()
    zone = ZoneInfo(store.site(str(a.site)).timezone)
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    return f(store, a.site, start, end)


def _categories(f: Callable[..., Any], s: Store, a: _Args) -> tuple[CategoryVisits, ...]:
    rows = f(s, a.site, *a.days(), a.integer("level", 1, 1, 3))
    return tuple(CategoryVisits(*row) for row in rows)


def _occupancy(f: Callable[..., Any], s: Store, a: _Args) -> tuple[Presence, ...]:
    return tuple(Presence(*row) for row in f(s, a.site, a.at(), a.choice("by", _ZONE_BY, "zone")))


_SHOP_ORDER = ("visits", "returning", "per_m2", "first_shop", "mom_change")

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            name="traffic",
            zh="客流汇总",
            en="Traffic summary",
            description="all traffic sums",
            site="optional",
            params=_RANGE,
            query="traffic",
            result="Traffic",
            run=lambda f, s, a: f(s, a.site, *a.days()),
        ),
        Metric(
            name="trend",
            zh="趋势分析",
            en="Trend",
            description="per day or hour, mean and peak",
            site="optional",
            params=(*_RANGE, "metric", "by"),
            query="trend",
            result="Trend",
            run=lambda f, s, a: f(s, a.site, *a.days(), a.measure(), a.choice("by", ("day", "hour"), "day")),
        ),
        Metric(
            name="profile",
            zh="客户画像",
            en="Profile",
            description="gender × age",
            site="optional",
            params=_RANGE,
            query="profile",
            result="Profile",
            run=lambda f, s, a: f(s, a.site, *a.days()),
        ),
        Metric(
            name="funnel",
            zh="转化漏斗",
            en="Funnel",
            description="pass-by → entered → received → returning",
            site="optional",
            params=_RANGE,
            query="funnel",
            result="Funnel",
            run=lambda f, s, a: f(s, a.site, *a.days()),
        ),
        Metric(
            name="return-intervals",
            zh="活跃分析",
            en="Return intervals",
            description="days since the previous visit",
            site="optional",
            params=_RANGE,
            query="return_intervals",
            result="ReturnIntervals",
            run=lambda f, s, a: f(s, a.site, *a.days()),
        ),
        Metric(
            name="business-hours",
            zh="营业时间",
            en="Business hours",
            description="entries left out by business hours",
            site="optional",
            params=_RANGE,
            query="business_hours_effect",
            result="BusinessHoursEffect",
            run=lambda f, s, a: f(s, a.site, *a.days()),
        ),
        Metric(
            name="entrance-heat",
            zh="进场热力 / 出入口分布",
            en="Entrance heat",
            description="entries per entrance and group",
            site="required",
            params=(*_RANGE, "top"),
            query="entrance_heat",
            result="EntranceHeat",
            run=lambda f, s, a: f(s, a.site, *a.days(), a.integer("top", 15, 0) or None),
        ),
        Metric(
            name="kpis",
            zh="客流 KPI",
            en="KPIs",
            description="last day/week/month/year, 环比 and 同比",
            site="optional",
            params=("day", "metric"),
            query="kpis",
            result="tuple[Kpi, ...]",
            run=lambda f, s, a: f(s, a.site, a.today(), a.measure()),
        ),
        Metric(
            name="targets",
            zh="目标监控",
            en="Targets",
            description="month and year completion",
            site="required",
            params=("at", "metric"),
            query="targets",
            result="Targets",
            run=_targets,
        ),
        Metric(
            name="peaks",
            zh="到访峰值 / 峰值透视",
            en="Peaks",
            description="time slots, weekdays, weather",
            site="required",
            params=_WINDOW,
            query="peaks",
            result="Peaks",
            run=_peaks,
        ),
        Metric(
            name="holidays",
            zh="节日分析 / 节日客流",
            en="Holidays",
            description="holidays and festivals of a year",
            site="required",
            params=("year", "metric", "at"),
            query="holidays",
            result="tuple[HolidayStats, ...]",
            run=_holidays,
        ),
        Metric(
            name="multi-store",
            zh="门店排行 / 门店概览",
            en="Store ranking",
            description="every store ranked",
            site="none",
            params=(*_RANGE, "metric"),
            query="multi_store",
            result="MultiStore",
            run=lambda f, s, a: f(s, *a.days(), a.measure()),
        ),
        Metric(
            name="floors",
            zh="楼层转化",
            en="Floors",
            description="visitors per floor, climb rates",
            site="required",
            params=_RANGE,
            query="floors",
            result="FloorClimb",
            run=lambda f, s, a: f(s, a.site, *a.days()),
        ),
        Metric(
            name="shops",
            zh="品牌排行",
            en="Shop ranking",
            description="shops of a month",
            site="required",
            params=("month", "year", "day", "by"),
            query="shops",
            result="tuple[ShopRank, ...]",
            run=lambda f, s, a: f(s, a.site, a.month(), a.choice("by", _SHOP_ORDER, "visits")),
        ),
        Metric(
            name="categories",
            zh="业态热度",
            en="Categories",
            description="visits per category (level 1–3)",
            site="required",
            params=(*_RANGE, "level"),
            query="categories",
            result="tuple[CategoryVisits, ...]",
            run=_categories,
        ),
        Metric(
            name="indices",
            zh="运营指标",
            en="Indices",
            description="return, activity and browsing indices",
            site="required",
            params=_WINDOW,
            query="indices",
            result="Indices",
            run=lambda f, s, a: f(s, a.site, *a.window()),
        ),
        Metric(
            name="zone-comparison",
            zh="区域对比",
            en="Zone comparison",
            description="two zones side by side",
            site="required",
            params=(*_RANGE, "zone", "other_zone"),
            query="zone_comparison",
            result="ZonePair",
            run=_zone_comparison,
        ),
        Metric(
            name="zone-conversion",
            zh="转化分析",
            en="Zone conversion",
            description="from one zone on to another",
            site="required",
            params=(*_RANGE, "from_zone", "to_zone"),
            query="zone_conversion",
            result="ZoneConversion",
            run=_zone_conversion,
        ),
        Metric(
            name="paths",
            zh="动线分析",
            en="Paths and association",
            description="where each shop's visitors came from, went next, and also went",
            site="required",
            params=_RANGE,
            query="paths",
            result="tuple[ZoneFlow, ...]",
            run=lambda f, s, a: f(s, a.site, *a.days()),
        ),
        Metric(
            name="dwell",
            zh="驻留时长",
            en="Dwell",
            description="mean and median stay",
            site="required",
            params=(*_RANGE, "by"),
            query="dwell",
            result="tuple[ZoneStats, ...]",
            run=lambda f, s, a: f(s, a.site, *a.days(), a.choice("by", _ZONE_BY, "zone")),
        ),
        Metric(
            name="occupancy",
            zh="实时驻留人数",
            en="Live occupancy",
            description="visitors present now",
            site="required",
            params=("at", "by"),
            query="occupancy",
            result="tuple[Presence, ...]",
            run=_occupancy,
        ),
        Metric(
            name="audit",
            zh="准确率稽核",
            en="Accuracy audit",
            description="system vs manual counts",
            site="required",
            params=_RANGE,
            query="accuracy_audit",
            result="Audit",
            run=_audit,
        ),
    )
}
METRIC_NAMES = tuple(METRICS)


# ------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class MetricRun:
    """One metric computed: its name, site (None: the whole chain), the resolved parameters and the
    result. As JSON (``keliu.analytics.jsonable``) it is ``{"metric", "site", "params", "result"}``."""

    metric: str
    site: str | None
    params: dict[str, Any]
    result: Any


def _given(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters given, besides ``site`` (``None`` and ``False`` are not given)."""
    return {k: v for k, v in params.items() if k != "site" and v is not None and v is not False}


def check_call(name: str, params: Mapping[str, Any], spelling: Spelling = API) -> Metric:
    """The checks of a call that need no store: a known metric, only parameters it takes, a site
    where it needs one and none where it covers every store. Returns the metric."""
    spec = METRICS.get(name)
    if spec is None:
        raise ConfigError(f"unknown metric {name!r}; use one of: {', '.join(METRICS)}")
    extra = [spelling(p) for p in _given(params) if p not in spec.params]
    if extra:
        takes = ", ".join(spelling(p) for p in spec.params) or f"no other {spelling.word}s"
        raise ConfigError(f"{spelling.scope} {name}: {', '.join(extra)} does not apply (it takes {takes})")
    site = params.get("site")
    if spec.site == "required" and not site:
        raise ConfigError(f"{spelling.scope} {name}: missing {spelling.word} {spelling('site')} (a site id)")
    if spec.site == "none" and site:
        raise ConfigError(
            f"{spelling.scope} {name}: {spelling('site')} does not apply (it covers every store)"
        )
    return spec


def run_metric(store: Store, name: str, params: Mapping[str, Any], *, spelling: Spelling = API) -> MetricRun:
    """Validate ``params`` for the metric ``name`` and compute it on ``store``.

    ``params`` maps parameter names (module docstring) to values as typed; ``spelling`` is how the
    caller's users write them, for the messages of the :class:`ConfigError` a bad value raises."""
    spec = check_call(name, params, spelling)
    query = spec.query_function()
    if params.get("site") is not None:
        store.site(str(params["site"]))  # an unknown site: one clear error before any parsing
    site = str(params["site"]) if params.get("site") else None
    args = _Args(name, site, _given(params), store, spelling)
    result = spec.run(query, store, args)
    return MetricRun(name, site, args.params, result)
