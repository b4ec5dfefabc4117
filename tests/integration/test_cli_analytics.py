"""`keliu dashboard`, `keliu analytics METRIC`, `keliu import …` and `keliu rollups …` against real
stores (SQLite file and PostgreSQL, conftest.py).

The site is the home-dashboard worked example of docs/metrics.md (now: Wednesday 2025-03-05 11:30
Asia/Shanghai) plus a few zone stays; every JSON number must equal the query function's result, and
the hand-computed values below are checked as well.
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from keliu.analytics import queries as q
from keliu.analytics.catalogue import METRIC_NAMES, METRICS, run_metric
from keliu.analytics.jsonable import to_jsonable
from keliu.cli import app, main
from keliu.domain.visits import Entry, Exclusion, PersonCategory, Visit
from keliu.errors import ConfigError
from keliu.store import (
    Area,
    Entrance,
    ManualCount,
    OpeningHours,
    Store,
    Target,
    WeatherDay,
    ZoneStay,
    open_store,
)
from keliu.store import schema as t

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SH = ZoneInfo("Asia/Shanghai")
RUNNER = CliRunner()
DAY = "2025-03-05"
NOW_ISO = "2025-03-05T11:30:00+08:00"


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SH)


NOW = local(2025, 3, 5, 11, 30)
A_LEFT = local(2025, 3, 5, 11, 25)
D = date(2025, 3, 5)


def visit(
    visit_id: str,
    first: datetime,
    *more: tuple[datetime, str],
    camera: str = "cam1",
    site: str = "s1",
    staff: bool = False,
    since_days: float | None = None,
    exit_at: datetime | None = None,
) -> Visit:
    category = PersonCategory.STAFF if staff else PersonCategory.CUSTOMER
    return Visit(
        visit_id=visit_id,
        site_id=site,
        category=category,
        first_entry=first,
        entries=[Entry(first, camera, "door"), *(Entry(a, c, "door") for a, c in more)],
        last_exit=exit_at,
        exclusion=Exclusion(category, "staff:Li", 1.0) if staff else None,
        batch_id=None if staff else f"b/{visit_id}",
        returning=since_days is not None,
        since_previous_s=None if since_days is None else since_days * 86400.0,
    )


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KELIU_HOME", str(tmp_path / "keliu-home"))
    monkeypatch.setenv("KELIU_SIGNATURE_KEY", "ab" * 32)
    monkeypatch.delenv("KELIU_DATABASE_URL", raising=False)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as s:
        s.upsert_site("s1", "Mall", "Asia/Shanghai")
        s.upsert_site("s2", "Outlet", "Asia/Shanghai")
        for cam in ("cam1", "cam2"):
            s.upsert_camera("s1", cam)
            s.upsert_line("s1", cam, "door", (0.5, 0.1), (0.5, 0.9), (0.8, 0.5))
        s.set_entrances(
            "s1", [Entrance("cam1", "door", "1号门", "正门", True), Entrance("cam2", "door", "2号门", "正门")]
        )
        s.set_areas(
            "s1",
            [
                Area("A", "shop", "粤菜馆", floor=1, category=("餐饮", "地方菜", "粤菜"), area_m2=100),
                Area("B", "shop", "书店", floor=2, category=("零售", "图书"), area_m2=50),
                Area("rx", "reception", "接待区", floor=1),
            ],
        )
        s.set_targets("s1", [Target(2025, 3, "total", 100), Target(2025, None, "total", 1000)])
        s.save_visits(
            [
                visit("a", local(2025, 3, 5, 10, 10), (local(2025, 3, 5, 11, 5), "cam2"), exit_at=A_LEFT),
                visit("b", local(2025, 3, 5, 10, 40), camera="cam2", since_days=2),
                visit("c", local(2025, 3, 5, 11, 20)),
                visit("st", local(2025, 3, 5, 9, 0), staff=True),
                visit("d", local(2025, 3, 4, 10, 15)),
                visit("e", local(2025, 3, 4, 11, 10)),
                visit("f", local(2025, 3, 4, 11, 50)),
                visit("h", local(2025, 3, 3, 12, 0)),
                visit("g", local(2024, 3, 4, 10, 0)),
                visit("x", local(2025, 3, 5, 10, 0), site="s2"),
            ]
        )  # fmt: skip
        s.save_visit_zones(
            "s1",
            [
                ZoneStay("a", "A", local(2025, 3, 5, 10, 12), local(2025, 3, 5, 10, 30)),
                ZoneStay("a", "B", local(2025, 3, 5, 10, 35), local(2025, 3, 5, 11, 0)),
                ZoneStay("b", "rx", local(2025, 3, 5, 10, 41), local(2025, 3, 5, 10, 50)),
                ZoneStay("b", "A", local(2025, 3, 5, 10, 51)),
                ZoneStay("c", "B", local(2025, 3, 5, 11, 21)),
            ],
        )
        s.save_manual_counts("s1", [ManualCount(local(2025, 3, 5, 10), local(2025, 3, 5, 11), 3, batches=2)])
        yield s


def invoke(db_url: str, *args: str) -> Any:
    """Run ``keliu ARGS --db URL`` in-process; the parsed JSON document when --json is given."""
    result = RUNNER.invoke(app, [*args, "--db", db_url])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def plain(value: Any) -> Any:
    """What a query result looks like after the JSON round trip."""
    return json.loads(json.dumps(to_jsonable(value)))


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[Any, str]:
    """``keliu ARGS`` through ``keliu.cli.main`` (what the console script runs): (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["keliu", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    return exited.value.code, captured.err


def one_error(code: Any, err: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keliu: error: "), err
    return lines[0]


# ----------------------------------------------------------------------------- dashboard


def test_dashboard_json_is_the_query_and_the_worked_example(store: Store, db_url: str) -> None:
    doc = invoke(db_url, "dashboard", "--site", "s1", "--at", NOW_ISO, "--json")
    assert doc == plain(q.home_dashboard(store, "s1", NOW))
    day = doc["brief"]["items"][0]
    assert (day["period"], day["total"]["value"], day["total"]["previous"], day["total"]["change"]) == (
        "day",
        4,
        2.0,
        1.0,
    )
    assert doc["now"] == "2025-03-05T11:30:00+08:00"
    assert doc["month_target"]["completion"] == 0.08 and doc["ranking"] is None
    assert [(e["name"], e["entries"]) for e in doc["entrance_heat"]["entrances"]] == [
        ("1号门", 2),
        ("2号门", 2),
    ]
    # without an offset --at is the site's local time; without --site, the whole chain
    assert invoke(db_url, "dashboard", "--site", "s1", "--at", "2025-03-05T11:30", "--json") == doc
    chain = invoke(db_url, "dashboard", "--at", NOW_ISO, "--json")
    assert chain == plain(q.home_dashboard(store, None, NOW))
    assert chain["sites"] == 2 and chain["brief"]["items"][0]["total"]["value"] == 5
    assert [(r["site_id"], r["value"]) for r in chain["ranking"]["ranking"]] == [("s1", 4), ("s2", 1)]

    text = invoke(db_url, "dashboard", "--at", NOW_ISO)
    for label in ("客流简报", "总客流", "转化漏斗", "门店排行", "今日 today"):
        assert label in text, text


# ------------------------------------------------------------------------ analytics METRIC


def cases() -> list[tuple[list[str], Any]]:
    """(arguments, the same query called directly) for every metric."""
    day = ["--day", DAY]
    s1 = ["--site", "s1"]
    return [
        (["traffic", *s1, *day], lambda s: q.traffic(s, "s1", D, D)),
        (["traffic", "--from", "2025-03-01", "--to", DAY], lambda s: q.traffic(s, None, date(2025, 3, 1), D)),
        (["trend", *s1, *day, "--by", "hour"], lambda s: q.trend(s, "s1", D, D, "total", "hour")),
        (
            ["trend", *s1, "--from", "2025-03-01", "--to", DAY, "--metric", "deduplicated"],
            lambda s: q.trend(s, "s1", date(2025, 3, 1), D, "deduplicated"),
        ),
        (["profile", *s1, *day], lambda s: q.profile(s, "s1", D, D)),
        (["funnel", *s1, *day], lambda s: q.funnel(s, "s1", D, D)),
        (["return-intervals", *day], lambda s: q.return_intervals(s, None, D, D)),
        (["business-hours", *s1, *day], lambda s: q.business_hours_effect(s, "s1", D, D)),
        (["entrance-heat", *s1, *day, "--top", "1"], lambda s: q.entrance_heat(s, "s1", D, D, 1)),
        (["kpis", *s1, *day], lambda s: q.kpis(s, "s1", D)),
        (["kpis", *day, "--metric", "deduplicated"], lambda s: q.kpis(s, None, D, "deduplicated")),
        (
            ["targets", *s1, "--at", NOW_ISO],
            lambda s: dict(zip(("month", "year"), q.targets(s, "s1", NOW), strict=True)),
        ),
        (
            ["peaks", *s1, *day, "--days", "7"],
            lambda s: dict(zip(("time_slots", "weekdays", "weather"), q.peaks(s, "s1", D, 7), strict=True)),
        ),
        (["holidays", *s1, "--year", "2025"], lambda s: q.holidays(s, "s1", 2025)),
        (["holidays", *s1, "--year", "2025", "--at", NOW_ISO], lambda s: q.holidays(s, "s1", 2025, today=D)),
        (["multi-store", *day], lambda s: q.multi_store(s, D, D)),
        (["floors", *s1, *day], lambda s: q.floors(s, "s1", D, D)),
        (["shops", *s1, "--month", "2025-03"], lambda s: q.shops(s, "s1", date(2025, 3, 1))),
        (
            ["categories", *s1, *day, "--level", "2"],
            lambda s: [
                {"category": c, "visits": n, "share": r} for c, n, r in q.categories(s, "s1", D, D, 2)
            ],
        ),
        (["indices", *s1, *day], lambda s: q.indices(s, "s1", D, 30)),
        (
            ["zone-comparison", *s1, *day, "--zone", "A", "--other-zone", "B"],
            lambda s: dict(zip(("zone", "other"), q.zone_comparison(s, "s1", D, D, "A", "B"), strict=True)),
        ),
        (
            ["zone-conversion", *s1, *day, "--from-zone", "A", "--to-zone", "B"],
            lambda s: q.zone_conversion(s, "s1", D, D, "A", "B"),
        ),
        (["paths", *s1, *day], lambda s: q.paths(s, "s1", D, D)),
        (["dwell", *s1, *day, "--by", "zone"], lambda s: q.dwell(s, "s1", D, D, "zone")),
        (
            ["occupancy", *s1, "--at", NOW_ISO],
            lambda s: [{"key": k, "present": n} for k, n in q.occupancy(s, "s1", NOW)],
        ),
        (
            ["audit", *s1, *day],
            lambda s: q.accuracy_audit(s, "s1", local(2025, 3, 5, 0), local(2025, 3, 6, 0)),
        ),
    ]


def test_every_metric_equals_its_query(store: Store, db_url: str) -> None:
    covered = set()
    for args, query in cases():
        doc = invoke(db_url, "analytics", *args, "--json")
        assert doc["metric"] == args[0]
        assert doc["result"] == plain(query(store)), args
        covered.add(args[0])
        if db_url.startswith("sqlite"):  # the tables render (the same on every store: once is enough)
            assert doc["metric"] in invoke(db_url, "analytics", *args)
    assert covered == set(METRIC_NAMES)


def conforms(value: Any, declared: Any) -> bool:
    """``value`` is of the catalogue's declared result type (a class, or ``tuple[X, ...]``)."""
    if typing.get_origin(declared) is tuple:
        item = typing.get_args(declared)[0]
        return isinstance(value, tuple) and all(conforms(v, item) for v in value)
    return isinstance(value, declared)


def test_the_catalogue_runs_every_metric_as_an_api_would(store: Store) -> None:
    """``run_metric`` with parameters by name and values as text (a query string) gives what the
    query gives, of the type the catalogue declares; bad values are refused in the API's words."""
    for args, query in cases():
        name, options = args[0], args[1:]
        params = {
            option.removeprefix("--").replace("-", "_"): value
            for option, value in zip(options[::2], options[1::2], strict=True)
        }
        run = run_metric(store, name, params)
        assert (run.metric, run.site) == (name, params.get("site"))
        assert plain(run.result) == plain(query(store)), args
        assert conforms(run.result, METRICS[name].result_type()), (args, type(run.result))
    for name, params, message in (
        ("traffic", {"from": DAY, "to": "2025-03-01"}, "to 2025-03-01 is before from 2025-03-05"),
        ("entrance-heat", {"site": "s1", "day": DAY, "top": "many"}, "top 'many': expected a whole number"),
        (
            "zone-conversion",
            {"site": "s1", "day": DAY, "from_zone": "A", "to_zone": "Q"},
            "metric zone-conversion: unknown zone(s) to_zone 'Q' at site s1; its zones are: A, B, rx",
        ),
        ("funnel", {"site": "s1"}, "metric funnel: missing parameter day YYYY-MM-DD or from YYYY-MM-DD"),
        ("trend", {"from": "2024-01-01", "to": DAY, "by": "hour"}, "; use by day for longer ranges"),
    ):
        with pytest.raises(ConfigError) as refused:
            run_metric(store, name, params)
        assert message in str(refused.value), (name, str(refused.value))


def result(db_url: str, *args: str) -> Any:
    return invoke(db_url, "analytics", *args, "--json")["result"]


def test_metric_numbers_by_hand(store: Store, db_url: str) -> None:
    today = result(db_url, "traffic", "--site", "s1", "--day", DAY)
    assert (today["entries"], today["visits"], today["new_visits"], today["returning_visits"]) == (4, 3, 2, 1)
    assert today["staff"] == 1
    assert result(db_url, "traffic", "--day", DAY)["entries"] == 5  # the chain: s2's visitor too
    trend = result(db_url, "trend", "--site", "s1", "--day", DAY, "--by", "hour")
    assert len(trend["points"]) == 24 and ["2025-03-05 10:00", 2] in trend["points"]
    assert (trend["peak"], trend["peak_at"]) == (2, "2025-03-05 10:00")
    kpis = result(db_url, "kpis", "--site", "s1", "--day", DAY)
    assert kpis[0]["window"]["label"] == "yesterday"
    assert (kpis[0]["value"], kpis[0]["previous"], kpis[0]["year_ago"]) == (3, 1, 1)
    heat = result(db_url, "entrance-heat", "--site", "s1", "--day", DAY, "--top", "1")
    assert [e["name"] for e in heat["entrances"]] == ["1号门"] and heat["total_entries"] == 4
    targets = result(db_url, "targets", "--site", "s1", "--at", NOW_ISO)
    assert (targets["month"]["target"], targets["month"]["actual"], targets["month"]["completion"]) == (
        100,
        8,
        0.08,
    )
    ranking = result(db_url, "multi-store", "--day", DAY)["ranking"]
    assert [(r["site_id"], r["rank"], r["value"]) for r in ranking] == [("s1", 1, 4), ("s2", 2, 1)]
    # zones: a went A → B, b reception → A (still there), c to B (still there)
    conversion = result(
        db_url, "zone-conversion", "--site", "s1", "--day", DAY, "--from-zone", "A", "--to-zone", "B"
    )
    assert (conversion["from_visits"], conversion["converted"], conversion["rate"]) == (2, 1, 0.5)
    dwell = {z["key"]: z for z in result(db_url, "dwell", "--site", "s1", "--day", DAY)}
    assert (dwell["A"]["visits"], dwell["A"]["mean_dwell_s"]) == (2, 18 * 60)  # b's open stay left out
    assert dwell["B"]["mean_dwell_s"] == 25 * 60
    occupancy = result(db_url, "occupancy", "--site", "s1", "--at", NOW_ISO)
    assert occupancy == [{"key": "A", "present": 1}, {"key": "B", "present": 1}]
    floors = result(db_url, "occupancy", "--site", "s1", "--at", NOW_ISO, "--by", "floor")
    assert floors == [{"key": "1", "present": 1}, {"key": "2", "present": 1}]
    categories = result(db_url, "categories", "--site", "s1", "--day", DAY, "--level", "1")
    assert categories == [
        {"category": "零售", "visits": 2, "share": 2 / 3},
        {"category": "餐饮", "visits": 2, "share": 2 / 3},
    ]
    # audit: the hand count of 10:00–11:00 says 3, the system saw a and b → 1 − 1/3
    audit = result(db_url, "audit", "--site", "s1", "--day", DAY)
    assert (audit["overall"]["system"], audit["overall"]["manual"]) == (2, 3)
    assert audit["overall"]["accuracy"] == pytest.approx(2 / 3)
    assert audit["overall"]["batch_match"] == 1.0  # batches a and b vs 2 counted
    doc = invoke(db_url, "analytics", "peaks", "--site", "s1", "--day", DAY, "--json")
    assert doc["params"] == {"from": "2025-02-04", "to": DAY, "days": 30}


def test_years_print_as_years_and_missing_figures_say_why(store: Store, db_url: str) -> None:
    """The tables print a year as 2025 (not "2,025"), a holiday not yet begun as upcoming with no
    figures, the profile without an attribute model as one sentence, and the multi-store overview
    as totals (the ordered store table once, in the ranking)."""
    text = invoke(db_url, "analytics", "holidays", "--site", "s1", "--year", "2025", "--at", NOW_ISO)
    assert "year 2025" in text and "2,025" not in text, text
    assert "upcoming" in text and "-100.0 %" not in text
    holidays = result(db_url, "holidays", "--site", "s1", "--year", "2025", "--at", NOW_ISO)
    national = [h for h in holidays if h["holiday"]["name"].startswith("国庆节")]  # 2025: with 中秋节
    assert {h["holiday"]["kind"] for h in national} == {"break", "festival"}
    assert all(
        h["status"] == "upcoming" and h["total"] is None and h["vs_previous"] is None for h in national
    )
    profile = invoke(db_url, "analytics", "profile", "--site", "s1", "--day", DAY)
    assert "no gender/age attribute model is installed" in profile and "unknown" not in profile, profile
    doc = result(db_url, "profile", "--site", "s1", "--day", DAY)
    assert (doc["available"], doc["cells"], doc["gender_shares"], doc["unknown_share"]) == (
        False,
        [],
        [],
        None,
    )
    overview = result(db_url, "multi-store", "--day", DAY)["overview"]
    assert isinstance(overview, dict) and (
        overview["stores"],
        overview["total"],
        overview["top_site_id"],
    ) == (
        2,
        5,
        "s1",
    )
    shown = invoke(db_url, "analytics", "multi-store", "--day", DAY)
    assert shown.count("s2") == 1, shown  # in the ranking only


def test_help_lists_the_metrics_with_chinese_names() -> None:
    result = RUNNER.invoke(app, ["analytics", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for name, chinese in (
        ("traffic", "客流汇总"),
        ("trend", "趋势分析"),
        ("funnel", "转化漏斗"),
        ("return-intervals", "活跃分析"),
        ("kpis", "客流 KPI"),
        ("targets", "目标监控"),
        ("zone-conversion", "转化分析"),
        ("occupancy", "实时驻留人数"),
        ("audit", "准确率稽核"),
    ):
        line = next((x for x in result.stdout.splitlines() if f" {name} " in x), "")
        assert chinese in line, result.stdout
    assert all(name in result.stdout for name in METRIC_NAMES)


def test_bad_options_are_one_line_errors(
    store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def error(*args: str) -> str:
        return one_error(*run_main(monkeypatch, capsys, *args, "--db", db_url))

    message = error("analytics", "visitors", "--site", "s1")
    assert "unknown metric 'visitors'" in message and "traffic, trend" in message and "audit" in message
    assert "unknown site 'nope'" in error("analytics", "traffic", "--site", "nope", "--day", DAY)
    assert "unknown site 'nope'" in error("dashboard", "--site", "nope")
    assert "--to 2025-03-01 is before --from 2025-03-05" in error(
        "analytics", "traffic", "--site", "s1", "--from", DAY, "--to", "2025-03-01"
    )
    assert "missing option --to-zone" in error(
        "analytics", "zone-conversion", "--site", "s1", "--day", DAY, "--from-zone", "A"
    )
    assert "missing option --site" in error("analytics", "occupancy")
    assert "missing option --day" in error("analytics", "funnel", "--site", "s1")
    assert "--zone does not apply" in error(
        "analytics", "traffic", "--site", "s1", "--day", DAY, "--zone", "A"
    )
    assert "--by 'week'" in error("analytics", "trend", "--site", "s1", "--day", DAY, "--by", "week")
    assert "expected a date YYYY-MM-DD" in error("analytics", "traffic", "--day", "2025-02-30")
    assert "--to 2025-03-01 is before --from 2025-03-05" in error(
        "rollups", "refresh", "--site", "s1", "--from", DAY, "--to", "2025-03-01"
    )
    assert "unknown site 'nope'" in error("rollups", "rebuild", "--site", "nope")


# --------------------------------------------------------------------------------- import


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_imports_round_trip(store: Store, db_url: str, tmp_path: Path) -> None:
    weather = write(
        tmp_path / "weather.csv",
        "day,condition,temp_high,temp_low,precipitation_mm",
        "2025-03-04,sunny,18.5,9,",
        "2025-03-05,rain,12,8,4.2",
    )
    assert "imported 2 weather day(s)" in invoke(db_url, "import", "weather", "--site", "s1", str(weather))
    assert store.weather("s1", date(2025, 3, 1), date(2025, 3, 31)) == [
        WeatherDay(date(2025, 3, 4), "sunny", 18.5, 9.0, None),
        WeatherDay(date(2025, 3, 5), "rain", 12.0, 8.0, 4.2),
    ]
    counts = write(
        tmp_path / "counts.csv",
        "start,end,entries,camera_id,line_id,batches,note",
        "2025-03-05T14:00+08:00,2025-03-05T15:00+08:00,7,,,5,afternoon check",
        "2025-03-05T14:00:00+08:00,2025-03-05T15:00:00+08:00,4,cam1,door,,",
    )
    invoke(db_url, "import", "manual-counts", "--site", "s1", str(counts))
    assert store.manual_counts("s1", local(2025, 3, 5, 14), local(2025, 3, 5, 15)) == [
        ManualCount(local(2025, 3, 5, 14), local(2025, 3, 5, 15), 7, "", "", 5, "afternoon check"),
        ManualCount(local(2025, 3, 5, 14), local(2025, 3, 5, 15), 4, "cam1", "door", None, None),
    ]
    targets = write(
        tmp_path / "targets.csv",
        "year,month,metric,value",
        "2025,,total,12000",
        "2025,3,total,1000",
        "2025,3,deduplicated,800",
    )
    invoke(db_url, "import", "targets", "--site", "s1", str(targets))
    assert store.targets("s1", 2025) == [
        Target(2025, None, "total", 12000),
        Target(2025, 3, "deduplicated", 800),
        Target(2025, 3, "total", 1000),
    ]
    month = result(db_url, "targets", "--site", "s1", "--at", NOW_ISO)["month"]
    assert (month["target"], month["actual"], month["completion"]) == (1000, 8, 0.008)
    hours = write(tmp_path / "hours.csv", "weekday,opens,closes", "0,10:00,22:00", "sat,09:30,24:00")
    invoke(db_url, "import", "business-hours", "--site", "s1", str(hours))
    assert store.business_hours("s1") == [OpeningHours(0, 600, 1320), OpeningHours(5, 570, 1440)]
    weather_by_day = result(db_url, "peaks", "--site", "s1", "--day", DAY, "--days", "2")["weather"]
    assert sorted((w["key"], w["mean"], w["days"]) for w in weather_by_day) == [
        ("rain", 3, 1),
        ("sunny", 3, 1),
    ]


BAD_CSVS = [
    (
        "weather",
        [
            "day,condition,temp_high,temp_low,precipitation_mm",
            "2025-03-04,sunny,18,9,",
            "2025-03-05,rain,abc,8,",
        ],
        ":3: temp_high: 'abc' is not a number",
    ),
    (
        "manual-counts",
        ["start,end,entries,camera_id,line_id", "2025-03-05T10:00+08:00,2025-03-05T11:00,3,,"],
        ":2: end: '2025-03-05T11:00' has no UTC offset",
    ),
    (
        "targets",
        ["year,month,metric,value", "2025,3,total,10", "2025,13,total,10"],
        ":3: month: 13 is not a month",
    ),
    ("targets", ["year,month,metric", "2025,3,total"], ":1: header: missing column(s) value"),
    (
        "business-hours",
        ["weekday,opens,closes", "mon,10:00,22:00", "tue,24:00,02:00", "tue,09:00,21:00"],
        ":3: opens: 24:00 is the end of a day",
    ),
    (
        "business-hours",
        ["weekday,opens,closes", "mon,10:00,22:00", "mon,09:00,21:00"],
        ":3: weekday: the same",
    ),
    ("weather", ["day,condition", "2025-03-04,sunny,extra"], ":2: 3 fields, but the header has 2"),
    ("targets", ["year,month,metric,value"], ": no data lines after the header"),
]


def reference(store: Store) -> tuple[Any, ...]:
    return (
        store.weather("s1", date(2025, 1, 1), date(2025, 12, 31)),
        store.targets("s1"),
        store.business_hours("s1"),
        store.manual_counts("s1", local(2025, 1, 1, 0), local(2026, 1, 1, 0)),
    )


def test_a_bad_csv_names_file_line_and_column_and_writes_nothing(
    store: Store,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = reference(store)
    for i, (kind, lines, message) in enumerate(BAD_CSVS):
        path = write(tmp_path / f"{i}-{kind}.csv", *lines)
        code, err = run_main(monkeypatch, capsys, "import", kind, "--site", "s1", str(path), "--db", db_url)
        assert f"{path}{message}" in one_error(code, err)
        assert "nothing was imported" in err
    missing = tmp_path / "missing.csv"
    code, err = run_main(
        monkeypatch, capsys, "import", "weather", "--site", "s1", str(missing), "--db", db_url
    )
    assert f"{missing}: no such file" in one_error(code, err)
    assert reference(store) == before


# -------------------------------------------------------------------------------- rollups


def wipe_rollups(store: Store) -> None:
    with store.engine.begin() as conn:
        for table in (t.traffic_hourly, t.traffic_daily, t.traffic_monthly):
            conn.execute(sa.delete(table))


def test_rollups_rebuild_and_refresh(store: Store, db_url: str, tmp_path: Path) -> None:
    expected = plain(q.traffic(store, None, date(2024, 1, 1), D))
    wipe_rollups(store)
    assert result(db_url, "traffic", "--from", "2024-01-01", "--to", DAY)["entries"] == 0
    out = invoke(db_url, "rollups", "rebuild")
    assert "rebuilt the rollups of 2 site(s)" in out
    assert result(db_url, "traffic", "--from", "2024-01-01", "--to", DAY) == expected

    wipe_rollups(store)
    out = invoke(db_url, "rollups", "refresh", "--site", "s1", "--from", DAY, "--to", DAY)
    assert f"refreshed the rollups of site s1, {DAY} .. {DAY}: 24 hours, 1 days, 1 months" in out
    assert result(db_url, "traffic", "--site", "s1", "--day", DAY)["entries"] == 4
    assert result(db_url, "traffic", "--site", "s1", "--day", "2025-03-04")["entries"] == 0

    # new business hours restate the past after a refresh: Wednesdays from 11:00 leave out a's and b's
    # entries of 10:10 and 10:40
    hours = write(tmp_path / "hours.csv", "weekday,opens,closes", "wed,11:00,22:00")
    invoke(db_url, "import", "business-hours", "--site", "s1", str(hours))
    invoke(db_url, "rollups", "refresh", "--site", "s1", "--from", DAY, "--to", DAY)
    effect = result(db_url, "business-hours", "--site", "s1", "--day", DAY)
    assert (effect["counted_entries"], effect["uncounted_entries"]) == (2, 2)
