"""Loading demo data (演示数据) into a store: the normal path and the bulk loader.

``seed_demo`` writes a simulated chain (``keliu.demo.simulate``) into a :class:`keliu.store.Store`:
sites, cameras and door lines, reference data (entrances and groups, areas with floors and 业态,
business hours, site profiles, targets, manual counts, weather), visits with entries, exits (离店: one
per visit whose exit was seen, at its last exit through the door of its last entry), batches, zone
stays, pass-by counts, and the traffic rollups. With ``until`` (``keliu serve --demo`` passes the
moment of seeding), nothing later is written: the last day stops there as a live store's would
(``SimulatedVisits.until``: later visits, entries, zone stays and pass-by hours dropped, visits
still inside have no exit, batches count only their members so far), and the rollups are computed
from those rows; the days before are the same as without it. Re-seeding a site's days replaces them: what the
store held for those local days (visits, entries, exits, zone stays, batches, pass-by counts) is
deleted first, and the rollups of the range are recomputed.

Two paths write the same rows:

* ``bulk=False``: the store's own methods (``save_visits``, ``save_visit_zones``, ``save_passby``),
  one day at a time: what an edge node does; fine for a few sites and days.
* ``bulk=True`` (default): the bulk loader: one transaction per site, rows built column-wise with
  numpy and written with the driver's fastest path (``COPY`` on PostgreSQL, ``executemany`` on
  SQLite) into the same tables, then the rollups of the whole range refreshed once. It writes
  exactly what the normal path stores (tests/integration/test_demo_seed.py compares the tables).

Must not: decide what a visit is (the simulator does) or compute metrics (the rollups do).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from keliu.analytics.rollups import refresh_rollups
from keliu.demo.columns import CATEGORY_CODES, SimulatedVisits, utc_from_us
from keliu.demo.simulate import simulate_site
from keliu.demo.sites import DemoSite, chain_profiles, weather_day
from keliu.domain.crossings import Exit
from keliu.domain.visits import COLOUR_NAMES
from keliu.errors import InputError
from keliu.store import Store
from keliu.store import schema as t
from keliu.store.reference import (
    Area,
    Entrance,
    ManualCount,
    OpeningHours,
    PassbyCount,
    SiteProfile,
    Target,
    ZoneStay,
)

__all__ = ["SeedReport", "SiteLoad", "clear_days", "load_reference", "load_site", "seed_demo"]

MAX_SITES = 2000
MAX_DAYS = 3 * 366
_ROWS_PER_WRITE = 50_000


@dataclass(frozen=True)
class SiteLoad:
    """What loading one site wrote, and how long generating and writing took (seconds)."""

    site_id: str
    visits: int
    entries: int
    zone_stays: int
    generate_s: float
    write_s: float
    rollup_s: float


@dataclass(frozen=True)
class SeedReport:
    """What ``seed_demo`` wrote: per site, and in all."""

    first_day: date
    last_day: date
    sites: tuple[SiteLoad, ...]
    total_s: float

    @property
    def visits(self) -> int:
        return sum(s.visits for s in self.sites)

    @property
    def entries(self) -> int:
        return sum(s.entries for s in self.sites)

    @property
    def zone_stays(self) -> int:
        return sum(s.zone_stays for s in self.sites)

    def seconds(self, part: str) -> float:
        """Summed ``generate_s``, ``write_s`` or ``rollup_s`` over the sites."""
        return float(sum(getattr(s, part) for s in self.sites))


# ------------------------------------------------------------------------------ time helpers


def _local_range(site: DemoSite, first: date, last: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(site.timezone)
    lo = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    end = last + timedelta(days=1)
    hi = datetime(end.year, end.month, end.day, tzinfo=tz).astimezone(UTC)
    return lo, hi


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# ---------------------------------------------------------------------------- reference data


def load_reference(
    store: Store,
    site: DemoSite,
    first: date,
    last: date,
    seed: int,
    visits: SimulatedVisits | None = None,
    until: datetime | None = None,
) -> None:
    """The site, its cameras and door lines, and its reference data: entrances (出入口/出入口组),
    areas (商铺/区域 with floor, 业态, m²), business hours (营业时间), site profile, weather (天气) for
    ``first``..``last``; with ``visits``, also monthly and yearly targets (目标) near what the site
    does and one manual count (准确率稽核) per month on the main door (none that ends after ``until``;
    the targets come from the whole simulated days, so they do not depend on the time of seeding)."""
    store.upsert_site(site.site_id, site.name, site.timezone)
    for e in site.entrances:
        store.upsert_camera(site.site_id, e.camera_id, e.name)
        store.upsert_line(site.site_id, e.camera_id, e.line_id, (0.1, 0.6), (0.9, 0.6), (0.5, 0.3))
        if e.passby_line_id:
            store.upsert_line(
                site.site_id, e.camera_id, e.passby_line_id, (0.0, 0.9), (1.0, 0.9), (0.5, 0.5), kind="passby"
            )
    store.set_entrances(
        site.site_id, [Entrance(e.camera_id, e.line_id, e.name, e.group, e.is_main) for e in site.entrances]
    )
    store.set_areas(
        site.site_id,
        [Area(a.zone_id, a.kind, a.name, a.floor, None, a.category or (), a.area_m2) for a in site.areas],
    )
    store.set_business_hours(
        site.site_id, [OpeningHours(wd, opens, closes) for wd, (opens, closes) in enumerate(site.hours)]
    )
    store.set_site_profile(
        site.site_id,
        SiteProfile(
            region=site.city.region,
            store_type=site.store_type,
            weight=round(site.daily_visits / 100.0, 1),
            area_m2=site.area_m2,
            reception_min_s=site.reception_min_s,
        ),
    )
    store.save_weather(site.site_id, [weather_day(site.city, d, seed) for d in _days(first, last)])
    if visits is not None and len(visits):
        _targets_and_audits(store, site, visits, seed, until)


def _targets_and_audits(
    store: Store, site: DemoSite, visits: SimulatedVisits, seed: int, until: datetime | None = None
) -> None:
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 4, site.number])
    customer = visits.category == 0
    first_local = (visits.first_us + _offset_us(site)).astype("datetime64[us]")
    months = first_local.astype("datetime64[M]")
    targets: list[Target] = []
    by_year: dict[int, list[float]] = {}
    for month in np.unique(months):
        in_month = months == month
        dedup = float(np.count_nonzero(in_month & customer))
        total = float(np.count_nonzero(np.isin(visits.entry_visit, np.flatnonzero(in_month & customer))))
        y, m = int(str(month)[:4]), int(str(month)[5:7])
        stretch = float(rng.uniform(0.92, 1.12))  # some months beat the target, some miss it
        targets.append(Target(y, m, "total", round(total * stretch, -1)))
        targets.append(Target(y, m, "deduplicated", round(dedup * stretch, -1)))
        sums = by_year.setdefault(y, [0.0, 0.0])
        sums[0] += total * stretch
        sums[1] += dedup * stretch
    for y, (total, dedup) in by_year.items():
        targets.append(Target(y, None, "total", round(total, -2)))
        targets.append(Target(y, None, "deduplicated", round(dedup, -2)))
    store.set_targets(site.site_id, targets)

    main = next(i for i, e in enumerate(site.entrances) if e.is_main)
    cam, line = visits.entrances[main]
    counts = []
    customer_entry = customer[visits.entry_visit] & (visits.entry_entrance == main)
    entry_local = (visits.entry_us + _offset_us(site)).astype("datetime64[us]")
    local_days = first_local.astype("datetime64[D]")
    for month in np.unique(months):
        days = np.unique(local_days[months == month])
        day = days[len(days) // 2]  # one audited hour a month, mid-month of what was simulated
        start_local = day.astype("datetime64[us]") + np.timedelta64(14, "h")
        end_local = start_local + np.timedelta64(1, "h")
        in_hour = customer_entry & (entry_local >= start_local) & (entry_local < end_local)
        system = int(np.count_nonzero(in_hour))
        start = utc_from_us(int((start_local.astype(np.int64)) - _offset_us(site)))
        counts.append(
            ManualCount(
                start=start,
                end=start + timedelta(hours=1),
                entries=round(system / float(rng.uniform(0.87, 0.97))),  # people the system missed
                camera_id=cam,
                line_id=line,
                note="演示: 人工点数 manual count",
            )
        )
    store.save_manual_counts(site.site_id, [c for c in counts if until is None or c.end <= until])


def _offset_us(site: DemoSite) -> int:
    """The site's UTC offset in microseconds (the demo chain's time zones have no daylight saving)."""
    offset = datetime(2025, 1, 1, tzinfo=ZoneInfo(site.timezone)).utcoffset()
    assert offset is not None
    return int(offset.total_seconds()) * 1_000_000


# ------------------------------------------------------------------------------ clearing days


def clear_days(store: Store, site: DemoSite, first: date, last: date) -> None:
    """Delete what the store holds for the site's local days ``first``..``last``: visits whose first
    entry is in them (with their entries, exits and zone stays), batches that start in them and
    pass-by counts. The rollups are left to the caller (it refreshes the range after writing)."""
    lo, hi = _local_range(site, first, last)
    v, e, z, b, p = t.visits.c, t.entries.c, t.visit_zones.c, t.batches.c, t.passby_counts.c
    in_range = sa.select(v.visit_id).where(v.site_id == site.site_id, v.first_entry >= lo, v.first_entry < hi)
    x = t.exits.c
    with store.engine.begin() as conn:
        conn.execute(sa.delete(t.exits).where(x.site_id == site.site_id, x.visit_id.in_(in_range)))
        conn.execute(sa.delete(t.visit_zones).where(z.site_id == site.site_id, z.visit_id.in_(in_range)))
        conn.execute(sa.delete(t.entries).where(e.site_id == site.site_id, e.visit_id.in_(in_range)))
        conn.execute(
            sa.delete(t.visits).where(v.site_id == site.site_id, v.first_entry >= lo, v.first_entry < hi)
        )
        conn.execute(
            sa.delete(t.batches).where(b.site_id == site.site_id, b.started_at >= lo, b.started_at < hi)
        )
        conn.execute(sa.delete(t.passby_counts).where(p.site_id == site.site_id, p.hour >= lo, p.hour < hi))


def _refresh_rollups(store: Store, site: DemoSite, first: date, last: date) -> None:
    lo, hi = _local_range(site, first, last)
    refresh_rollups(store, site.site_id, lo, hi)


# ------------------------------------------------------------------------------ normal path


def _write_normal(store: Store, site: DemoSite, visits: SimulatedVisits, first: date, last: date) -> None:
    """One day at a time through the store's own methods, as an edge node would."""
    lo, _ = _local_range(site, first, last)
    day_us = 86_400 * 1_000_000
    lo_us = int(lo.timestamp()) * 1_000_000
    day_of_visit = (visits.first_us - lo_us) // day_us
    all_visits = visits.to_visits()
    stays = visits.zone_stays()
    stay_day = day_of_visit[visits.zone_visit]
    passby = visits.passby()
    passby_day = (visits.passby_hour_us - lo_us) // day_us
    exit_visit, exit_entrance = _exits(visits)
    ids, doors = visits.visit_id.tolist(), visits.entrances
    exits = [
        Exit(visits.site_id, doors[e][0], doors[e][1], utc_from_us(int(visits.last_exit_us[i])), i, ids[i])
        for i, e in zip(exit_visit.tolist(), exit_entrance.tolist(), strict=True)
    ]
    exit_day = day_of_visit[exit_visit]
    for k in range((last - first).days + 1):
        idx = np.flatnonzero(day_of_visit == k)
        if len(idx):
            store.save_visits([all_visits[i] for i in idx])
            store.save_crossings(site.site_id, exits=[exits[j] for j in np.flatnonzero(exit_day == k)])
        day_stays = [stays[i] for i in np.flatnonzero(stay_day == k)]
        if day_stays:
            store.save_visit_zones(
                site.site_id, [ZoneStay(s.visit_id, s.zone_id, s.entered_at, s.left_at) for s in day_stays]
            )
        day_passby = [passby[i] for i in np.flatnonzero(passby_day == k)]
        if day_passby:
            store.save_passby(site.site_id, [PassbyCount(h, c, line, n) for h, c, line, n in day_passby])


# -------------------------------------------------------------------------------- bulk path


def _timestamps(us: npt.NDArray[np.int64], postgres: bool) -> list[str | None]:
    """UTC microseconds as the text each engine stores: SQLite ``YYYY-MM-DD HH:MM:SS.ffffff`` (what
    SQLAlchemy writes for a naive UTC datetime), PostgreSQL ISO 8601 with ``Z``; -1 is NULL."""
    text = np.datetime_as_string(np.maximum(us, 0).astype("datetime64[us]"), unit="us")
    if postgres:
        out: list[str | None] = [s + "Z" for s in text.tolist()]
    else:
        chars = text.astype("<U26").view(np.uint32).reshape(-1, 26).copy()
        chars[:, 10] = ord(" ")
        out = list(chars.view("<U26").ravel().tolist())
    if (us < 0).any():
        for i in np.flatnonzero(us < 0).tolist():
            out[i] = None
    return out


def _floats(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [None if math.isnan(x) else x for x in values.tolist()]  # NaN is NULL


def _visit_columns(v: SimulatedVisits, postgres: bool) -> dict[str, Sequence[Any]]:
    n = len(v)
    categories = [c.value for c in CATEGORY_CODES]
    category = [categories[c] for c in v.category.tolist()]
    has_reason = v.reason >= 0
    exclusion_category = [c if r else None for c, r in zip(category, has_reason.tolist(), strict=True)]
    reasons = v.reasons
    return {
        "site_id": [v.site_id] * n,
        "visit_id": v.visit_id.tolist(),
        "category": category,
        "first_entry": _timestamps(v.first_us, postgres),
        "last_exit": _timestamps(v.last_exit_us, postgres),
        "exclusion_category": exclusion_category,
        "exclusion_reason": [reasons[r] if r >= 0 else None for r in v.reason.tolist()],
        "exclusion_confidence": _floats(np.where(has_reason, v.confidence, np.nan)),
        "batch_id": v.batch_ids(),
        "is_returning": v.returning.tolist(),
        "since_previous_s": _floats(v.since_previous_s),
        "upper_colour": [COLOUR_NAMES[c] for c in v.upper.tolist()],
        "lower_colour": [COLOUR_NAMES[c] for c in v.lower.tolist()],
    }


def _entry_columns(v: SimulatedVisits, postgres: bool) -> dict[str, Sequence[Any]]:
    ids = v.visit_id[v.entry_visit].tolist()
    cams = v.entrances
    ent = v.entry_entrance.tolist()
    return {
        "site_id": [v.site_id] * len(ids),
        "visit_id": ids,
        "at": _timestamps(v.entry_us, postgres),
        "camera_id": [cams[i][0] for i in ent],
        "line_id": [cams[i][1] for i in ent],
    }


def _exits(v: SimulatedVisits) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The demo's exits (离店): the visits whose exit was seen (indices; each exit's track id) and the
    entrance of each one's last entry, which it leaves through."""
    ends = np.r_[v.entry_visit[1:] != v.entry_visit[:-1], True] if len(v.entry_visit) else []
    last = np.flatnonzero(np.asarray(ends, dtype=bool))  # each visit's last entry (grouped, in order)
    door = np.full(len(v), -1, np.int64)
    door[v.entry_visit[last]] = v.entry_entrance[last]
    seen = np.flatnonzero((v.last_exit_us >= 0) & (door >= 0)).astype(np.int64)
    return seen, door[seen]


def _exit_columns(v: SimulatedVisits, postgres: bool) -> dict[str, Sequence[Any]]:
    seen, door = _exits(v)
    cams = v.entrances
    return {
        "site_id": [v.site_id] * len(seen),
        "camera_id": [cams[i][0] for i in door.tolist()],
        "line_id": [cams[i][1] for i in door.tolist()],
        "at": _timestamps(v.last_exit_us[seen], postgres),
        "track_id": seen.tolist(),
        "visit_id": v.visit_id[seen].tolist(),
    }


def _batch_columns(v: SimulatedVisits, postgres: bool) -> dict[str, Sequence[Any]]:
    """Batches as ``Store.save_visits`` derives them: size = customer visits, start = their earliest
    first entry; batches without a customer have no row."""
    customer = (v.category == 0) & (v.leader >= 0)
    leaders, inverse = np.unique(v.leader[customer], return_inverse=True)
    size = np.bincount(inverse)
    started = np.full(len(leaders), np.iinfo(np.int64).max)
    np.minimum.at(started, inverse, v.first_us[customer])
    ids = v.visit_id[leaders].tolist()
    return {
        "site_id": [v.site_id] * len(ids),
        "batch_id": [f"b/{i}" for i in ids],
        "started_at": _timestamps(started, postgres),
        "size": size.tolist(),
    }


def _zone_columns(v: SimulatedVisits, postgres: bool) -> dict[str, Sequence[Any]]:
    zones = v.zone_ids
    return {
        "site_id": [v.site_id] * len(v.zone_visit),
        "visit_id": v.visit_id[v.zone_visit].tolist(),
        "zone_id": [zones[z] for z in v.zone_area.tolist()],
        "entered_at": _timestamps(v.zone_in_us, postgres),
        "left_at": _timestamps(v.zone_out_us, postgres),
    }


def _passby_columns(v: SimulatedVisits, postgres: bool) -> dict[str, Sequence[Any]]:
    lines = v.passby_lines
    ent = v.passby_entrance.tolist()
    return {
        "site_id": [v.site_id] * len(ent),
        "hour": _timestamps(v.passby_hour_us, postgres),
        "camera_id": [lines[i][0] for i in ent],
        "line_id": [lines[i][1] for i in ent],
        "count": v.passby_count.tolist(),
    }


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _write_table(conn: sa.Connection, table: sa.Table, columns: dict[str, Sequence[Any]]) -> None:
    names = list(columns)
    if set(names) != set(table.c.keys()):
        raise AssertionError(f"{table.name}: columns {names} do not match the schema")
    n = len(columns[names[0]])
    if not n:
        return
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        copy_sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        with raw.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[union-attr]
            for start in range(0, n, _ROWS_PER_WRITE):
                cols = [[_copy_text(x) for x in columns[c][start : start + _ROWS_PER_WRITE]] for c in names]
                block = "\n".join("\t".join(row) for row in zip(*cols, strict=True)) + "\n"
                if "\\" in block.replace("\\N", ""):
                    raise AssertionError(f"{table.name}: a value needs COPY escaping")
                copy.write(block)
        return
    sql = str(sa.insert(table).compile(dialect=conn.dialect, column_keys=names))
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, n, _ROWS_PER_WRITE):
            rows = zip(*(columns[c][start : start + _ROWS_PER_WRITE] for c in names), strict=True)
            cursor.executemany(sql, rows)
    finally:
        cursor.close()


def _write_bulk(store: Store, visits: SimulatedVisits) -> None:
    postgres = store.engine.dialect.name == "postgresql"
    with store.engine.begin() as conn:
        if postgres:  # demo data: a crash may lose the last commit, never corrupt anything
            conn.execute(sa.text("SET LOCAL synchronous_commit TO off"))
        _write_table(conn, t.visits, _visit_columns(visits, postgres))
        _write_table(conn, t.entries, _entry_columns(visits, postgres))
        _write_table(conn, t.exits, _exit_columns(visits, postgres))
        _write_table(conn, t.batches, _batch_columns(visits, postgres))
        _write_table(conn, t.visit_zones, _zone_columns(visits, postgres))
        _write_table(conn, t.passby_counts, _passby_columns(visits, postgres))


# ------------------------------------------------------------------------------------ seeding


def _until_us(until: datetime) -> int:
    if until.tzinfo is None or until.utcoffset() is None:
        raise InputError(f"until must be timezone-aware, got naive {until.isoformat()}")
    return (until - utc_from_us(0)) // timedelta(microseconds=1)


def load_site(
    store: Store,
    site: DemoSite,
    first: date,
    last: date,
    seed: int = 0,
    *,
    bulk: bool = True,
    until: datetime | None = None,
) -> SiteLoad:
    """Generate the site's local days ``first``..``last`` and write them (replacing those days);
    with ``until``, only what happened up to that instant (``SimulatedVisits.until``)."""
    started = time.perf_counter()
    whole = simulate_site(site, first, last, seed)
    visits = whole if until is None else whole.until(_until_us(until))
    generated = time.perf_counter()
    load_reference(store, site, first, last, seed, whole, until)
    clear_days(store, site, first, last)
    if bulk:
        _write_bulk(store, visits)
    else:
        _write_normal(store, site, visits, first, last)
    written = time.perf_counter()
    _refresh_rollups(store, site, first, last)
    done = time.perf_counter()
    return SiteLoad(
        site_id=site.site_id,
        visits=len(visits),
        entries=len(visits.entry_us),
        zone_stays=len(visits.zone_visit),
        generate_s=generated - started,
        write_s=written - generated,
        rollup_s=done - written,
    )


def seed_demo(
    store: Store,
    n_sites: int,
    days: int,
    end_date: date,
    seed: int = 0,
    *,
    bulk: bool = True,
    progress: Callable[[SiteLoad], None] | None = None,
    until: datetime | None = None,
) -> SeedReport:
    """Seed ``n_sites`` demo sites with the ``days`` local days ending on ``end_date`` (inclusive);
    with ``until`` (timezone-aware), nothing later than it is written (the demo service passes the
    moment of seeding, so today holds only what has happened so far). ``None``: whole days.

    Raises :class:`keliu.errors.InputError` for ``n_sites`` or ``days`` out of range."""
    if not 1 <= n_sites <= MAX_SITES:
        raise InputError(f"--sites must be between 1 and {MAX_SITES}, got {n_sites}")
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
    if until is not None:
        _until_us(until)  # naive: refused before anything is written
    first = end_date - timedelta(days=days - 1)
    started = time.perf_counter()
    loads = []
    for site in chain_profiles(n_sites, seed):
        load = load_site(store, site, first, end_date, seed, bulk=bulk, until=until)
        loads.append(load)
        if progress is not None:
            progress(load)
    store.analyze()  # planner statistics for the freshly loaded tables
    return SeedReport(first, end_date, tuple(loads), time.perf_counter() - started)
