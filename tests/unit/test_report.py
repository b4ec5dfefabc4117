"""Reports (A14, O8): periods, validation, the builder, and that HTML, XLSX and CSV hold the same numbers."""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from tests.support.report_data import GENERATED_AT, sample_input

from keliu.analytics import charts
from keliu.analytics.report import (
    ColumnKind,
    EntranceCounts,
    KpiCard,
    Label,
    PeriodKind,
    Report,
    ReportInput,
    Table,
    TrafficCounts,
    build_report_from_input,
    custom_period,
    export_report,
    last_complete_period,
    parse_date_range,
    period_containing,
    render_html,
    write_csv,
    write_xlsx,
)
from keliu.analytics.report.htmlpage import format_cell
from keliu.errors import InputError

SH = "Asia/Shanghai"
BERLIN = "Europe/Berlin"


def report_for(kind: str, day: date = date(2024, 5, 12), tz: str = SH, **kw: object) -> Report:
    period = period_containing(kind, day, tz)
    return build_report_from_input(sample_input(period, **kw), GENERATED_AT)  # type: ignore[arg-type]


# ---------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("kind", "day", "first", "last"),
    [
        ("day", date(2024, 5, 12), date(2024, 5, 12), date(2024, 5, 12)),
        ("week", date(2024, 5, 12), date(2024, 5, 6), date(2024, 5, 12)),  # a Sunday: its Monday-Sunday week
        ("week", date(2024, 5, 13), date(2024, 5, 13), date(2024, 5, 19)),  # a Monday starts a week
        ("week", date(2024, 12, 31), date(2024, 12, 30), date(2025, 1, 5)),  # across the new year
        ("month", date(2024, 2, 10), date(2024, 2, 1), date(2024, 2, 29)),  # leap February
        ("month", date(2023, 12, 31), date(2023, 12, 1), date(2023, 12, 31)),
        ("year", date(2024, 7, 1), date(2024, 1, 1), date(2024, 12, 31)),
    ],
)
def test_calendar_periods_in_shanghai(kind: str, day: date, first: date, last: date) -> None:
    p = period_containing(kind, day, SH)
    assert (p.first_day, p.last_day) == (first, last)
    # Shanghai is UTC+8 all year: local midnight is 16:00 UTC the day before
    assert p.start_utc == datetime(first.year, first.month, first.day, tzinfo=UTC) - timedelta(hours=8)
    assert p.end_utc - p.start_utc == timedelta(days=p.n_days)
    assert p.duration_h == 24 * p.n_days


def test_previous_periods() -> None:
    assert period_containing("day", date(2024, 3, 1), SH).previous().first_day == date(2024, 2, 29)
    week = period_containing("week", date(2024, 5, 12), SH).previous()
    assert (week.first_day, week.last_day) == (date(2024, 4, 29), date(2024, 5, 5))
    month = period_containing("month", date(2024, 3, 15), SH).previous()
    assert (month.first_day, month.last_day) == (date(2024, 2, 1), date(2024, 2, 29))
    year = period_containing("year", date(2024, 3, 15), SH).previous()
    assert (year.first_day, year.last_day) == (date(2023, 1, 1), date(2023, 12, 31))
    custom = custom_period(date(2024, 5, 1), date(2024, 5, 10), SH).previous()
    assert (custom.first_day, custom.last_day, custom.kind) == (
        date(2024, 4, 21),
        date(2024, 4, 30),
        "custom",
    )


def test_dst_days_and_weeks_in_berlin() -> None:
    spring = period_containing("day", date(2024, 3, 31), BERLIN)
    assert spring.start_utc == datetime(2024, 3, 30, 23, tzinfo=UTC)  # CET midnight
    assert spring.end_utc == datetime(2024, 3, 31, 22, tzinfo=UTC)  # CEST midnight
    assert spring.duration_h == 23
    autumn = period_containing("day", date(2024, 10, 27), BERLIN)
    assert autumn.duration_h == 25
    week = period_containing("week", date(2024, 3, 28), BERLIN)
    assert (week.first_day, week.last_day) == (date(2024, 3, 25), date(2024, 3, 31))
    assert week.duration_h == 7 * 24 - 1
    assert period_containing("month", date(2024, 10, 1), BERLIN).duration_h == 31 * 24 + 1
    assert period_containing("year", date(2024, 10, 1), BERLIN).duration_h == 366 * 24
    # the instant just before the CEST midnight belongs to the 31st, the midnight itself does not
    assert spring.contains(datetime(2024, 3, 31, 21, 59, 59, tzinfo=UTC))
    assert not spring.contains(datetime(2024, 3, 31, 22, tzinfo=UTC))


def test_last_complete_period_uses_site_local_date() -> None:
    # 2024-05-13 17:30 UTC is already Tuesday 01:30 in Shanghai but still Monday in Berlin
    now = datetime(2024, 5, 13, 17, 30, tzinfo=UTC)
    assert last_complete_period("day", now, SH).first_day == date(2024, 5, 13)
    assert last_complete_period("day", now, BERLIN).first_day == date(2024, 5, 12)
    assert last_complete_period("week", now, SH).first_day == date(2024, 5, 6)
    assert last_complete_period("month", now, SH).first_day == date(2024, 4, 1)
    assert last_complete_period("year", now, SH).first_day == date(2023, 1, 1)


def test_period_labels() -> None:
    assert period_containing("day", date(2024, 5, 12), SH).label("zh") == "2024年5月12日 周日"
    assert period_containing("day", date(2024, 5, 12), SH).label("en") == "Sun 12 May 2024"
    assert period_containing("week", date(2024, 5, 12), SH).label("zh") == "2024年第19周（5月6日–5月12日）"
    assert period_containing("month", date(2024, 5, 12), SH).label("en") == "May 2024"
    assert (
        custom_period(date(2024, 5, 1), date(2024, 5, 3), SH).label("zh")
        == "2024年5月1日 – 2024年5月3日（3天）"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: custom_period(date(2024, 5, 10), date(2024, 5, 1), SH), "inverted date range"),
        (lambda: parse_date_range("", SH), "empty date range"),
        (lambda: parse_date_range("   ", SH), "empty date range"),
        (lambda: parse_date_range("2024-05-10..2024-05-01", SH), "inverted date range"),
        (lambda: parse_date_range("2024-05-01", SH), "cannot read date range"),
        (lambda: parse_date_range("2024-02-30..2024-03-01", SH), "invalid date"),
        (lambda: custom_period(date(2000, 1, 1), date(2024, 1, 1), SH), "too long"),
        (lambda: period_containing("day", date(2024, 5, 1), "Mars/Olympus"), "unknown time zone"),
        (lambda: period_containing("fortnight", date(2024, 5, 1), SH), "unknown report period"),
        (lambda: period_containing("custom", date(2024, 5, 1), SH), "custom_period"),
    ],
)
def test_bad_ranges_raise_input_error(make: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        make()  # type: ignore[operator]


def test_parse_date_range_accepts_common_separators() -> None:
    for text in (
        "2024-05-01..2024-05-20",
        "2024-05-01/2024-05-20",
        "2024-05-01 to 2024-05-20",
        "2024-05-01至2024-05-20",
    ):
        p = parse_date_range(text, SH)
        assert (p.kind, p.first_day, p.last_day, p.n_days) == (
            PeriodKind.CUSTOM,
            date(2024, 5, 1),
            date(2024, 5, 20),
            20,
        )
    assert parse_date_range("2024-05-01..2024-05-01", SH).n_days == 1


# ---------------------------------------------------------------- model and builder


def test_builder_totals_are_sums_of_days_and_kpis_compare_with_previous() -> None:
    period = period_containing("week", date(2024, 5, 12), SH)
    data = sample_input(period)
    report = build_report_from_input(data, GENERATED_AT)
    daily = next(t for t in report.tables if t.key == "daily")
    assert len(daily.rows) == 7
    assert [r[0] for r in daily.rows] == period.days
    customers = report.kpi("customers")
    assert customers.value == sum(r[1] for r in daily.rows) == daily.total[1]  # type: ignore[index,misc]
    assert customers.previous == data.previous_totals.customers  # type: ignore[union-attr]
    expected = round((customers.value - customers.previous) / customers.previous * 100, 1)  # type: ignore[operator]
    assert customers.change_pct == expected
    assert report.kpi("entries").value == sum(c.entries for c in data.days.values())
    # peak hour: the hour of day with most customers over the week
    by_hour = [sum(h[i] for h in data.hourly_customers.values()) for i in range(24)]
    peak = report.kpi("peak_hour")
    assert peak.value == max(by_hour)
    assert peak.detail == f"{by_hour.index(max(by_hour)):02d}:00–{by_hour.index(max(by_hour)) + 1:02d}:00"
    peak_day = report.kpi("peak_day")
    assert peak_day.value == max(r[1] for r in daily.rows)  # type: ignore[type-var]
    assert [s.key for s in report.sections] == ["overview", "trend", "entrances", "detail", "definitions"]


def test_day_report_has_hourly_table_and_today_vs_yesterday() -> None:
    report = report_for("day", with_forecast=True)
    hourly = next(t for t in report.tables if t.key == "hourly")
    assert len(hourly.rows) == 24 and [c.key for c in hourly.columns] == [
        "hour",
        "customers",
        "previous_customers",
    ]
    chart = report.charts[0]
    assert chart.key == "hourly" and len(chart.series) == 2 and chart.band is not None
    assert "peak_day" not in [c.key for c in report.kpis]


def test_year_report_has_monthly_table() -> None:
    report = report_for("year")
    monthly = next(t for t in report.tables if t.key == "monthly")
    daily = next(t for t in report.tables if t.key == "daily")
    assert len(monthly.rows) == 12 and len(daily.rows) == 366
    assert sum(r[1] for r in monthly.rows) == sum(r[1] for r in daily.rows) == report.kpi("customers").value  # type: ignore[misc]


def test_report_input_validation() -> None:
    period = period_containing("day", date(2024, 5, 12), SH)
    counts = TrafficCounts(customers=10, entries=12, batches=8)
    with pytest.raises(ValueError, match="outside the period"):
        ReportInput("s", period, {date(2024, 5, 13): counts})
    with pytest.raises(ValueError, match="sum to 9"):
        ReportInput("s", period, {period.first_day: counts}, {period.first_day: [9] + [0] * 23})
    with pytest.raises(ValueError, match="expected 24"):
        ReportInput("s", period, {period.first_day: counts}, {period.first_day: [10]})
    with pytest.raises(ValueError, match="exceeds customers"):
        TrafficCounts(customers=3, entries=3, batches=3, new=2, returning=2)
    with pytest.raises(ValueError, match="non-negative"):
        TrafficCounts(customers=-1, entries=0, batches=0)
    with pytest.raises(ValueError, match="previous period"):
        ReportInput("s", period, {}, previous_daily_customers=[1, 2])


def test_unknown_new_returning_shows_as_dash_and_empty_cells(tmp_path: Path) -> None:
    period = period_containing("day", date(2024, 5, 12), SH)
    data = ReportInput(
        "无记忆门店",
        period,
        {period.first_day: TrafficCounts(customers=5, entries=6, batches=4)},
        {period.first_day: [0] * 10 + [5] + [0] * 13},
        entrances=[EntranceCounts("正门", 6)],
    )
    report = build_report_from_input(data, GENERATED_AT)
    assert report.kpi("new").value is None and report.kpi("customers").change_pct is None
    html = render_html(report)
    assert re.search(r'data-kpi="new">.*?<span class="kpi-value">—</span>', html)
    write_xlsx(report, tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx").worksheets[0]
    row = next(r for r in ws.iter_rows(min_row=2, values_only=True) if r[0] == "新客")
    assert row[1] is None


def test_model_rejects_inconsistent_tables_and_cards() -> None:
    from keliu.analytics.report import Column

    cols = (Column("a", Label("甲", "A")), Column("n", Label("数", "N"), ColumnKind.INT))
    with pytest.raises(ValueError, match="expected 2"):
        Table("t", Label("表", "T"), cols, (("x",),))
    with pytest.raises(ValueError, match="expected int"):
        Table("t", Label("表", "T"), cols, (("x", "12"),))
    with pytest.raises(ValueError, match="first cell of the total row"):
        Table("t", Label("表", "T"), cols, (("x", 1),), total=("合计", 1))
    with pytest.raises(ValueError, match="finite"):
        KpiCard("k", Label("k", "k"), float("nan"))


# ---------------------------------------------------------------- HTML and SVG

_SVG_RE = re.compile(r"<svg\b.*?</svg>", re.S)


def svgs(html: str) -> dict[str, ET.Element]:
    """Each chart's SVG parsed as XML, by the chart key of its figure."""
    out = {}
    for match in re.finditer(r'<figure class="chart-figure" data-chart="([^"]+)">(.*?)</figure>', html, re.S):
        svg = _SVG_RE.search(match.group(2))
        assert svg is not None
        out[match.group(1)] = ET.fromstring(svg.group(0))
    return out


@pytest.mark.parametrize("kind", ["day", "week", "month", "year"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_is_self_contained(kind: str, lang: str) -> None:
    html = render_html(report_for(kind, with_forecast=True), lang)
    lowered = html.lower()
    for forbidden in (
        "http://",
        "https://",
        "//",
        "<script",
        "src=",
        "href=",
        "url(",
        "@import",
        "<link",
        "<img",
    ):
        assert forbidden not in lowered, forbidden
    assert "content-security-policy" in lowered and "default-src 'none'" in html
    assert html == render_html(report_for(kind, with_forecast=True), lang)  # deterministic


def test_html_escapes_every_text() -> None:
    period = period_containing("week", date(2024, 5, 12), SH)
    evil = '<b onmouseover="x">&\'门店</b>'
    report = build_report_from_input(sample_input(period, site_name=evil), GENERATED_AT)
    html = render_html(report)
    assert evil not in html and "<b onmouseover" not in html
    assert "&lt;b onmouseover=&quot;x&quot;&gt;&amp;&#x27;门店&lt;/b&gt;" in html
    svg = charts.bar_chart(["<&>"], [charts.Series("a&b", [1.0])], title="<t>")
    ET.fromstring(svg)  # still well-formed XML


def test_html_languages() -> None:
    report = report_for("week")
    zh, en = render_html(report, "zh"), render_html(report, "en")
    assert '<html lang="zh-CN">' in zh and "客流周报" in zh and "客流量（去重）" in zh
    assert '<html lang="en">' in en and "Weekly traffic report" in en and "Customers (de-duplicated)" in en
    with pytest.raises(ValueError, match="unknown report language"):
        render_html(report, "fr")


def test_day_report_svg_has_a_point_per_hour_and_a_bar_per_entrance() -> None:
    report = report_for("day", with_forecast=True)
    parsed = svgs(render_html(report))
    assert set(parsed) == {"hourly", "entrances_rank"}
    line = parsed["hourly"]
    series = line.findall("g[@class='series']")
    assert len(series) == 2
    assert [len(s.findall("circle[@class='pt']")) for s in series] == [24, 24]
    assert len(line.findall("path[@class='band']")) == 1
    assert len(parsed["entrances_rank"].findall(".//rect[@class='bar']")) == 4
    texts = "".join(t.text or "" for t in line.iter("text"))
    assert "当日" in texts and "前一日" in texts and "00:00" in texts


def test_week_and_year_svgs() -> None:
    week = svgs(render_html(report_for("week")))
    assert [len(s.findall("circle[@class='pt']")) for s in week["daily"].findall("g[@class='series']")] == [
        7,
        7,
    ]
    assert len(week["hour_profile"].findall(".//rect[@class='bar']")) == sum(
        1 for v in report_for("week").charts[1].series[0].values if v is not None
    )
    year = svgs(render_html(report_for("year")))
    assert len(year["monthly"].findall(".//rect[@class='bar']")) == 12
    path = year["daily"].find("g[@class='series']/path[@class='line']")
    assert path is not None and path.get("d", "").count(",") == 366  # one vertex per day, no markers
    assert not year["daily"].findall(".//circle")


def test_standalone_chart_and_gaps() -> None:
    svg = charts.line_chart(
        ["a", "b", "c", "d"], [charts.Series("s", [1, None, 3, 4])], title="t", standalone=True
    )
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    path = root.find(f"{ns}g/{ns}path")
    assert path is not None and path.get("d", "").count("M") == 2  # the gap splits the line
    assert len(root.findall(f".//{ns}circle")) == 3
    with pytest.raises(ValueError, match="expected 4"):
        charts.line_chart(["a", "b", "c", "d"], [charts.Series("s", [1, 2])], title="t")


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 0, [0, 1, 2, 3, 4, 5]),
        (0, 7, [0, 2, 4, 6, 8]),
        (0, 130, [0, 25, 50, 75, 100, 125, 150]),
        (0, 1, [0, 1]),
    ],
)
def test_nice_ticks(lo: float, hi: float, expected: list[float]) -> None:
    assert charts.nice_ticks(lo, hi) == expected


# ---------------------------------------------------------------- XLSX and CSV


def _cell_equal(sheet_value: object, report_value: object) -> bool:
    """A re-read XLSX cell equals the report's cell: same number, text, or date (read back as datetime)."""
    if isinstance(sheet_value, datetime):
        return isinstance(report_value, date) and sheet_value.date() == report_value
    if isinstance(report_value, int | float) and not isinstance(report_value, bool):
        return isinstance(sheet_value, int | float) and sheet_value == report_value
    return sheet_value == report_value


@pytest.mark.parametrize("kind", ["day", "month"])
def test_xlsx_holds_exactly_the_report_numbers(kind: str, tmp_path: Path) -> None:
    report = report_for(kind)
    path = write_xlsx(report, tmp_path / "report.xlsx")
    wb = openpyxl.load_workbook(path)
    summary = wb.worksheets[0]
    assert summary.title == "汇总" and summary.freeze_panes == "A2"
    assert [c.value for c in summary[1]] == ["指标", "数值", "单位", "上期", "环比", "说明"]
    assert summary["A1"].font.bold
    rows = list(summary.iter_rows(min_row=2, max_row=1 + len(report.kpis), values_only=True))
    for card, row in zip(report.kpis, rows, strict=True):
        assert row[0] == card.label.zh
        assert row[1] == card.value and row[3] == card.previous and row[4] == card.change_pct, card.key
        assert row[2] == (card.unit.zh if card.unit else None)
        assert row[5] == (card.detail or None)
    customers = summary.cell(2, 2)
    assert customers.data_type == "n" and isinstance(customers.value, int)
    assert summary.column_dimensions["A"].width > 8

    assert len(wb.worksheets) == 1 + len(report.tables)
    for table, ws in zip(report.tables, wb.worksheets[1:], strict=True):
        assert ws.title == table.title.zh and ws.freeze_panes == "A2"
        assert [c.value for c in ws[1]] == [c.label.zh for c in table.columns]
        body = list(ws.iter_rows(min_row=2, values_only=True))
        expected = [*table.rows, *([("合计", *table.total[1:])] if table.total else [])]
        assert len(body) == len(expected)
        for got, want in zip(body, expected, strict=True):
            for g, w in zip(got, want, strict=True):
                assert _cell_equal(g, w), (table.key, got, want)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_csv_round_trip(lang: str, tmp_path: Path) -> None:
    report = report_for("week")
    files = write_csv(report, tmp_path, lang)
    stem = "keliu-week-2024-05-06_2024-05-12"
    assert [f.name for f in files] == [f"{stem}-summary.csv", f"{stem}-info.csv"] + [
        f"{stem}-{t.key}.csv" for t in report.tables
    ]
    assert all(f.read_bytes().startswith(b"\xef\xbb\xbf") for f in files)  # BOM: Excel reads UTF-8

    def read(path: Path) -> list[list[str]]:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return list(csv.reader(fh))

    summary = read(files[0])
    assert summary[0][0] == ("指标" if lang == "zh" else "Indicator")
    for card, row in zip(report.kpis, summary[1:], strict=True):
        assert row[0] == card.label.get(lang)
        assert (float(row[1]) if row[1] else None) == card.value
        assert (float(row[3]) if row[3] else None) == card.previous
        assert (float(row[4]) if row[4] else None) == card.change_pct
    info = dict((r[0], r[1]) for r in read(files[1])[1:])
    assert info["门店" if lang == "zh" else "Site"] == "上海浦东旗舰店"
    for table, path in zip(report.tables, files[2:], strict=True):
        rows = read(path)
        assert rows[0] == [c.label.get(lang) for c in table.columns]
        for got, want in zip(rows[1:-1] if table.total else rows[1:], table.rows, strict=True):
            for col, g, w in zip(table.columns, got, want, strict=True):
                if col.kind is ColumnKind.DATE:
                    assert date.fromisoformat(g) == w
                elif col.kind is ColumnKind.TEXT:
                    assert g == w
                else:
                    assert (float(g) if g else None) == w
        assert rows[-1][0] == ("合计" if lang == "zh" else "Total")


def test_csv_to_a_file_path(tmp_path: Path) -> None:
    report = report_for("day")
    files = write_csv(report, tmp_path / "out" / "daily.csv")
    assert files[0] == tmp_path / "out" / "daily.csv"
    assert {f.name for f in files[1:]} == {"daily-info.csv", "daily-hourly.csv", "daily-entrances.csv"}


def test_export_report_writes_each_format(tmp_path: Path) -> None:
    report = report_for("month")
    files = export_report(report, tmp_path, formats=("html", "xlsx"))
    assert [f.name for f in files] == [
        "keliu-month-2024-05-01_2024-05-31.html",
        "keliu-month-2024-05-01_2024-05-31.xlsx",
    ]
    assert files[0].read_text(encoding="utf-8") == render_html(report)
    with pytest.raises(InputError, match="unknown report format"):
        export_report(report, tmp_path, formats=("pdf",))


def test_screen_text_of_cells() -> None:
    from keliu.analytics.report import Column

    assert format_cell(1234, Column("n", Label("n", "n"), ColumnKind.INT)) == "1,234"
    assert format_cell(12.5, Column("p", Label("p", "p"), ColumnKind.PERCENT)) == "12.5%"
    assert (
        format_cell(date(2024, 5, 12), Column("d", Label("d", "d"), ColumnKind.DATE), "en")
        == "2024-05-12 Sun"
    )
    assert format_cell(None, Column("n", Label("n", "n"), ColumnKind.INT)) == "—"


def test_the_site_id_names_the_files_and_titles(tmp_path: Path) -> None:
    """Reports of several sites share a folder: the (file-safe) site id is in every name."""
    from dataclasses import replace

    from keliu.analytics.report import default_basename

    report = report_for("day")
    assert default_basename(report) == "keliu-day-2024-05-12"  # built by hand, no site id
    north = replace(report, site_id="north")
    odd = replace(report, site_id="东区/2 号 店")
    assert default_basename(north) == "keliu-north-day-2024-05-12"
    assert default_basename(odd) == "keliu-东区_2_号_店-day-2024-05-12"
    assert north.site_label == f"{report.site_name} (north)"
    names = {p.name for r in (north, odd) for p in export_report(r, tmp_path, formats=("html", "csv"))}
    assert {p.name for p in tmp_path.iterdir()} == names and len(names) == 2 * (2 + len(report.tables) + 1)
    assert f"<title>{report.title.zh} · {report.site_name} (north) · " in (
        tmp_path / "keliu-north-day-2024-05-12.html"
    ).read_text(encoding="utf-8")
