"""Reports built from a real store (SQLite and PostgreSQL) through the analytics queries.

Visits are written with ``Store.save_visits`` (which refreshes the rollups); the report must show
exactly the counts put in, split by local day and hour in the site's time zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from typer.testing import CliRunner

from keliu.analytics.report import Note, build_report, export_report
from keliu.cli import app
from keliu.domain.visits import Entry, Exclusion, PersonCategory, Visit
from keliu.errors import ConfigError, InputError
from keliu.store import Store, open_store
from keliu.store.crypto import generate_key
from keliu.store.reference import Entrance

pytestmark = pytest.mark.integration

SITE = "report-site"
TZ = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2024, 4, 29), date(2024, 5, 12)  # the week reported and the week before
GENERATED_AT = datetime(2024, 5, 13, 1, 0, tzinfo=UTC)


def customers_on(day: date) -> int:
    return 3 + day.day % 4


def _visits() -> list[Visit]:
    visits: list[Visit] = []
    day = FIRST
    while day <= LAST:
        for i in range(customers_on(day)):
            at = datetime(day.year, day.month, day.day, 10 + i, 15, tzinfo=TZ)
            door = "main" if i % 3 else "side"
            entries = [Entry(at, "cam1", door)]
            if i == 0:  # one re-entry a day: 总进店人次 = customers + 1
                entries.append(Entry(at + timedelta(minutes=20), "cam1", door))
            visits.append(
                Visit(
                    f"{day}-c{i}",
                    SITE,
                    PersonCategory.CUSTOMER,
                    at,
                    entries,
                    batch_id=f"{day}-b{i // 2}",
                    returning=i == 1,
                )
            )
        for kind, reason in ((PersonCategory.STAFF, "staff:王"), (PersonCategory.INVALID, "courier:meituan")):
            at = datetime(day.year, day.month, day.day, 9, 30, tzinfo=TZ)
            visits.append(
                Visit(
                    f"{day}-{kind}",
                    SITE,
                    kind,
                    at,
                    [Entry(at, "cam1", "main")],
                    exclusion=Exclusion(kind, reason, 1.0),
                )
            )
        day += timedelta(days=1)
    return visits


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, key=generate_key())
    try:
        s.upsert_site(SITE, "北京朝阳展厅", "Asia/Shanghai")
        s.upsert_camera(SITE, "cam1")
        s.set_entrances(SITE, [Entrance("cam1", "main", "正门"), Entrance("cam1", "side", "侧门")])
        s.save_visits(_visits())
        yield s
    finally:
        s.close()


def test_week_report_from_store(store: Store, tmp_path: Path) -> None:
    report = build_report(store, SITE, "week", date(2024, 5, 9), generated_at=GENERATED_AT)
    week = [date(2024, 5, 6) + timedelta(days=i) for i in range(7)]
    before = [d - timedelta(days=7) for d in week]
    customers = sum(customers_on(d) for d in week)
    assert report.site_name == "北京朝阳展厅"
    assert (report.period.first_day, report.period.last_day) == (week[0], week[-1])
    assert report.kpi("customers").value == customers
    assert report.kpi("customers").previous == sum(customers_on(d) for d in before)
    assert report.kpi("entries").value == customers + 7
    assert report.kpi("staff").value == 7 and report.kpi("invalid").value == 7
    assert report.kpi("returning").value == 7 and report.kpi("new").value == customers - 7
    assert report.kpi("batches").value == sum((customers_on(d) + 1) // 2 for d in week)
    daily = next(t for t in report.tables if t.key == "daily")
    assert [r[1] for r in daily.rows] == [customers_on(d) for d in week]
    # hour of day: customer i of each day arrives at 10+i o'clock local time
    profile = next(c for c in report.charts if c.key == "hour_profile").series[0].values
    assert profile[10] == 7 and profile[9] == 0
    assert profile[16] == sum(1 for d in week if customers_on(d) > 6)
    entrances = next(t for t in report.tables if t.key == "entrances")
    assert {r[0] for r in entrances.rows} == {"正门", "侧门"}
    assert sum(r[1] for r in entrances.rows) == report.kpi("entries").value  # customer entries only

    files = export_report(report, tmp_path, formats=("html", "xlsx"))
    wb = openpyxl.load_workbook(files[1])
    assert wb.worksheets[0].cell(2, 2).value == customers


def test_day_report_from_store_and_errors(store: Store) -> None:
    report = build_report(store, SITE, "day", date(2024, 5, 12), generated_at=GENERATED_AT)
    hourly = next(t for t in report.tables if t.key == "hourly")
    assert [r[1] for r in hourly.rows] == [
        1 if 10 <= h < 10 + customers_on(date(2024, 5, 12)) else 0 for h in range(24)
    ]
    assert [r[2] for r in hourly.rows][10] == 1  # the day before, same hour
    custom = build_report(
        store, SITE, "custom", (date(2024, 5, 1), date(2024, 5, 3)), generated_at=GENERATED_AT
    )
    assert custom.kpi("customers").value == sum(customers_on(date(2024, 5, d)) for d in (1, 2, 3))
    with pytest.raises(InputError, match="unknown site"):
        build_report(store, "nowhere", "day", date(2024, 5, 12), generated_at=GENERATED_AT)
    with pytest.raises(InputError, match="inverted"):
        build_report(store, SITE, "custom", (date(2024, 5, 3), date(2024, 5, 1)), generated_at=GENERATED_AT)


def test_a_week_in_progress_is_compared_with_the_same_days_of_last_week(store: Store) -> None:
    """Wednesday 15:00: this week so far (Monday – Wednesday 15:00) against last week's Monday –
    Wednesday 15:00, not against the whole of last week (which gave a false −64.3 % here)."""
    store.upsert_site("live", "进行中", "Asia/Shanghai")
    store.upsert_camera("live", "cam1")
    visits = []
    for day in [date(2024, 5, 6) + timedelta(days=i) for i in range(7)] + [
        date(2024, 5, 13) + timedelta(days=i) for i in range(3)
    ]:
        for hour in (10, 14, 16, 19):  # two customers before 15:00 and two after, each day
            at = datetime(day.year, day.month, day.day, hour, 0, tzinfo=TZ)
            if at < datetime(2024, 5, 15, 15, 0, tzinfo=TZ):  # nothing after "now" exists yet
                visits.append(
                    Visit(f"{day}-{hour}", "live", PersonCategory.CUSTOMER, at, [Entry(at, "cam1", "main")])
                )
    store.save_visits(visits)
    now = datetime(2024, 5, 15, 15, 0, tzinfo=TZ)  # Wednesday
    report = build_report(store, "live", "week", now.date(), generated_at=now)
    customers = report.kpi("customers")
    assert (customers.value, customers.previous) == (10, 10)  # Mon + Tue: 4 each, Wed so far: 2
    assert customers.change_pct == 0.0
    assert report.kpi("entries").previous == 10
    entrances = next(t for t in report.tables if t.key == "entrances")
    assert [(r[1], r[4]) for r in entrances.rows] == [(10, 10)]  # entries now and last week so far
    notes = [b.text.en for s in report.sections for b in s.blocks if isinstance(b, Note)]
    assert (
        "This period is still in progress (up to 2024-05-15 15:00): the change compares it with the same "
        "elapsed part of the previous period (up to 2024-05-08 15:00), not with the whole of it."
    ) in notes
    # a finished week is compared with the whole week before, as before
    done = build_report(
        store, "live", "week", date(2024, 5, 13), generated_at=datetime(2024, 5, 20, 1, 0, tzinfo=TZ)
    )
    assert (done.kpi("customers").value, done.kpi("customers").previous) == (10, 28)
    assert not any("in progress" in b.text.en for s in done.sections for b in s.blocks if isinstance(b, Note))


def test_two_sites_exported_into_one_folder_keep_both(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cron example of docs/reports.md writes every site into one folder: each file name (and
    the HTML title) carries the site id, so the second site does not overwrite the first."""
    monkeypatch.setenv("KELIU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KELIU_SIGNATURE_KEY", "ab" * 32)
    with open_store(db_url) as s:
        for site_id, name, n in (("north", "北店", 2), ("south", "南店", 5)):
            s.upsert_site(site_id, name, "Asia/Shanghai")
            s.upsert_camera(site_id, "cam1")
            at = datetime(2024, 5, 6, 10, 0, tzinfo=TZ)
            s.save_visits(
                [
                    Visit(f"{site_id}-{i}", site_id, PersonCategory.CUSTOMER, at, [Entry(at, "cam1", "main")])
                    for i in range(n)
                ]
            )
    out = tmp_path / "reports"
    printed: list[str] = []
    for site_id in ("north", "south"):
        result = CliRunner().invoke(
            app, ["report", "--site", site_id, "--day", "2024-05-06", "--export", str(out), "--db", db_url]
        )
        assert result.exit_code == 0, (result.output, result.exception)
        printed += result.stdout.split()
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(Path(p).name for p in printed)  # every file written is still there
    for site_id, name, n in (("north", "北店", 2), ("south", "南店", 5)):
        stem = f"keliu-{site_id}-day-2024-05-06"
        assert {f"{stem}.html", f"{stem}.xlsx", f"{stem}-summary.csv", f"{stem}-hourly.csv"} <= set(names)
        html = (out / f"{stem}.html").read_text(encoding="utf-8")
        assert f"<title>客流日报 · {name} ({site_id}) · 2024年5月6日 周一</title>" in html
        wb = openpyxl.load_workbook(out / f"{stem}.xlsx")
        assert wb.worksheets[0].cell(2, 2).value == n  # each site's own numbers survived
    assert len([n for n in names if n.endswith(".html")]) == 2


def test_a_report_of_one_entrance_group_counts_its_doors_only(store: Store, tmp_path: Path) -> None:
    """位置 location: the report of an entrance group (出入口组) shows the customers whose visit began
    through its doors, its entries and its entrance table; the groups add up to the whole site, and a
    month-long report (which would read the all-entrance monthly rollup) stays per group."""
    store.set_entrances(
        SITE, [Entrance("cam1", "main", "正门", group="北区"), Entrance("cam1", "side", "侧门", group="南区")]
    )
    week = [date(2024, 5, 6) + timedelta(days=i) for i in range(7)]
    whole = build_report(store, SITE, "week", week[0], generated_at=GENERATED_AT)
    north = build_report(store, SITE, "week", week[0], generated_at=GENERATED_AT, location="北区")
    south = build_report(store, SITE, "week", week[0], generated_at=GENERATED_AT, location="南区")
    # customer i of a day comes in through the side door when i % 3 == 0; customer 0 comes back once
    side = sum(len(range(0, customers_on(d), 3)) for d in week)
    assert south.kpi("customers").value == side
    assert south.kpi("entries").value == side + 7
    assert north.kpi("customers").value == sum(customers_on(d) for d in week) - side
    assert north.kpi("staff").value == 7 and south.kpi("staff").value == 0  # staff use the main door
    for key in ("customers", "entries", "staff", "invalid", "batches"):
        assert north.kpi(key).value + south.kpi(key).value == whole.kpi(key).value, key
    assert {r[0] for r in next(t for t in south.tables if t.key == "entrances").rows} == {"侧门"}
    assert south.location == "南区" and whole.location is None

    month = build_report(
        store, SITE, "custom", (date(2024, 4, 1), date(2024, 5, 31)), generated_at=GENERATED_AT
    )
    month_south = build_report(
        store,
        SITE,
        "custom",
        (date(2024, 4, 1), date(2024, 5, 31)),
        generated_at=GENERATED_AT,
        location="南区",
    )
    assert 0 < month_south.kpi("customers").value < month.kpi("customers").value

    files = export_report(south, tmp_path, formats=("html",))
    assert files[0].name == "keliu-report-site-南区-week-2024-05-06_2024-05-12.html"
    assert "南区" in files[0].read_text(encoding="utf-8")
    with pytest.raises(InputError, match=r"no entrance group '东区'.*北区, 南区"):
        build_report(store, SITE, "week", week[0], generated_at=GENERATED_AT, location="东区")


def test_the_command_line_writes_an_entrance_group_report(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KELIU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KELIU_SIGNATURE_KEY", "cd" * 32)
    at = datetime(2024, 5, 6, 10, 0, tzinfo=TZ)
    with open_store(db_url) as s:
        s.upsert_site("mall", "商场", "Asia/Shanghai")
        s.upsert_camera("mall", "cam1")
        s.set_entrances("mall", [Entrance("cam1", "n", "北门1", group="北门"), Entrance("cam1", "s", "南门")])
        s.save_visits(
            [
                Visit(
                    f"v{i}", "mall", PersonCategory.CUSTOMER, at, [Entry(at, "cam1", "n" if i < 3 else "s")]
                )
                for i in range(5)
            ]
        )
    out = tmp_path / "reports"
    args = ["report", "--site", "mall", "--day", "2024-05-06", "--export", str(out), "--db", db_url]
    result = CliRunner().invoke(app, [*args, "--location", "北门", "--format", "xlsx"])
    assert result.exit_code == 0, (result.output, result.exception)
    wb = openpyxl.load_workbook(out / "keliu-mall-北门-day-2024-05-06.xlsx")
    assert wb.worksheets[0].cell(2, 2).value == 3  # the three who came in through 北门1
    wrong = CliRunner().invoke(app, [*args, "--location", "西门"])
    assert isinstance(wrong.exception, InputError) and "no entrance group '西门'" in str(wrong.exception)
    misplaced = CliRunner().invoke(
        app, ["report", "--site", "mall", "--day", "2024-05-06", "--location", "北门"]
    )
    assert isinstance(misplaced.exception, ConfigError) and "--location" in str(misplaced.exception)
    assert sorted(p.name for p in out.iterdir()) == [
        "keliu-mall-北门-day-2024-05-06.xlsx"
    ]  # nothing else written
