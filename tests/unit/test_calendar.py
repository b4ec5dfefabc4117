"""The Chinese business calendar (营业日历) against dates published by the State Council and lunar dates."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest

from keliu.analytics.calendar import (
    FESTIVALS,
    OFFICIAL_YEARS,
    day_info,
    day_kind_function,
    days,
    festival_dates,
    holiday_periods,
    normal_days,
    period_of,
    previous_period,
    same_period_last_year,
)


def span(start: str, end: str) -> list[date]:
    a, b = date.fromisoformat(start), date.fromisoformat(end)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


def test_spring_festival_2025_break_and_makeup_working_days() -> None:
    for d in span("2025-01-28", "2025-02-04"):
        info = day_info(d)
        assert info.kind == "holiday", d
        assert info.holiday == "春节" and info.holiday_en == "Spring Festival"
        assert not info.is_working_day
    assert day_info(date(2025, 1, 27)).kind == "workday"
    assert day_info(date(2025, 2, 5)).kind == "workday"
    for d in (date(2025, 1, 26), date(2025, 2, 8)):  # a Sunday and a Saturday worked (调休上班)
        info = day_info(d)
        assert d.weekday() >= 5
        assert info.kind == "makeup_workday" and info.is_working_day
        assert info.holiday == "春节"
    assert "除夕" in day_info(date(2025, 1, 28)).festivals
    assert "春节" in day_info(date(2025, 1, 29)).festivals


def test_qingming_2025() -> None:
    info = day_info(date(2025, 4, 4))
    assert info.kind == "holiday" and info.holiday == "清明节"
    assert "清明节" in info.festivals
    [period] = [p for p in holiday_periods(2025) if p.key == "qingming"]
    assert (period.start, period.end) == (date(2025, 4, 4), date(2025, 4, 6))


def test_national_day_2025_merges_mid_autumn() -> None:
    [period] = [p for p in holiday_periods(2025) if "national_day" in p.keys]
    assert (period.start, period.end) == (date(2025, 10, 1), date(2025, 10, 8))
    assert period.keys == ("national_day", "mid_autumn")
    assert period.length == 8
    assert period.makeup_workdays == (date(2025, 9, 28), date(2025, 10, 11))
    for d in span("2025-10-01", "2025-10-08"):
        assert day_info(d).kind == "holiday", d
        assert day_info(d).holiday == period.name
    assert "中秋节" in day_info(date(2025, 10, 6)).festivals
    assert "国庆节" in day_info(date(2025, 10, 1)).festivals
    assert day_info(date(2025, 9, 28)).kind == "makeup_workday"
    assert day_info(date(2025, 10, 9)).kind == "workday"


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2025-02-12", "元宵节"),  # lunar 1-15
        ("2025-08-29", "七夕"),  # lunar 7-7
        ("2025-10-29", "重阳节"),  # lunar 9-9
        ("2025-01-07", "腊八节"),  # lunar 12-8 of the previous lunar year
        ("2024-02-24", "元宵节"),
        ("2024-08-10", "七夕"),
        ("2024-09-17", "中秋节"),
        ("2023-06-22", "端午节"),
        ("2025-02-14", "情人节"),
        ("2025-03-08", "妇女节"),
        ("2025-05-20", "520"),
        ("2025-11-11", "双十一"),
        ("2025-12-24", "平安夜"),
        ("2025-12-25", "圣诞节"),
        ("2025-05-11", "母亲节"),  # 2nd Sunday of May
        ("2025-06-15", "父亲节"),  # 3rd Sunday of June
        ("2026-02-16", "除夕"),
    ],
)
def test_festival_days(day: str, name: str) -> None:
    assert name in day_info(date.fromisoformat(day)).festivals


def test_festivals_are_not_days_off_by_themselves() -> None:
    valentines = day_info(date(2025, 2, 14))  # a Friday
    assert valentines.kind == "workday" and valentines.holiday is None
    assert valentines.festivals_en == ("Valentine's Day",)
    womens_day = day_info(date(2025, 3, 8))  # a Saturday
    assert womens_day.kind == "weekend" and not womens_day.is_working_day


def test_every_festival_has_a_date_each_year() -> None:
    found = {f.key for fs in festival_dates(2025).values() for f in fs}
    assert found == {f.key for f in FESTIVALS}
    assert all(f.name and f.name_en for f in FESTIVALS)


def test_official_years_agree_with_chinesecalendar() -> None:
    for d in days(date(2024, 1, 1), date(2025, 12, 31)):
        assert d.is_working_day == chinese_calendar.is_workday(d.date), d
        if d.kind == "makeup_workday":
            assert d.date.weekday() >= 5
        if d.kind == "weekend":
            assert d.date.weekday() >= 5 and d.holiday is None


def test_holiday_periods_2025() -> None:
    names = [(p.name, p.start.isoformat(), p.end.isoformat()) for p in holiday_periods(2025)]
    assert names == [
        ("元旦", "2025-01-01", "2025-01-01"),
        ("春节", "2025-01-28", "2025-02-04"),
        ("清明节", "2025-04-04", "2025-04-06"),
        ("劳动节", "2025-05-01", "2025-05-05"),
        ("端午节", "2025-05-31", "2025-06-02"),
        ("国庆节·中秋节", "2025-10-01", "2025-10-08"),
    ]


def test_breaks_take_in_adjacent_weekends() -> None:
    # chinesecalendar lists 2015-04-05/06 only; the official Qingming break was 4-4 .. 4-6
    [period] = [p for p in holiday_periods(2015) if p.key == "qingming"]
    assert (period.start, period.end) == (date(2015, 4, 4), date(2015, 4, 6))


def test_years_outside_chinesecalendar_fall_back_to_holidays_package() -> None:
    assert max(OFFICIAL_YEARS) < 2027
    info = day_info(date(2027, 2, 6))  # 春节 2027 (lunar 1-1)
    assert info.kind == "holiday" and info.holiday == "春节" and info.source == "holidays"
    assert "春节" in info.festivals
    national = [p for p in holiday_periods(2027) if p.key == "national_day"]
    assert national and national[0].start == date(2027, 10, 1)
    old = [p for p in holiday_periods(2003) if p.key == "national_day"]
    assert old and date(2003, 9, 27) in old[0].makeup_workdays  # parsed from "substituted from"
    assert day_info(date(2003, 9, 27)).kind == "makeup_workday"


@pytest.mark.parametrize("day", [date(1800, 6, 1), date(2150, 2, 1), date(1, 1, 1), date(9999, 12, 31)])
def test_any_date_is_answered(day: date) -> None:
    info = day_info(day)
    assert info.kind in ("workday", "weekend")
    assert info.source == "weekdays"


def test_previous_and_last_year_periods() -> None:
    [national] = [p for p in holiday_periods(2025) if p.key == "national_day"]
    previous = previous_period(national)
    assert previous is not None and previous.key == "dragon_boat" and previous.start == date(2025, 5, 31)
    last_year = same_period_last_year(national)
    assert last_year is not None and (last_year.start, last_year.end) == (
        date(2024, 10, 1),
        date(2024, 10, 7),
    )
    [new_year] = [p for p in holiday_periods(2025) if p.key == "new_year"]
    before = previous_period(new_year)
    assert before is not None and before.key == "national_day" and before.end == date(2024, 10, 7)
    assert period_of(date(2025, 2, 8)) == next(p for p in holiday_periods(2025) if p.key == "spring_festival")
    assert period_of(date(2025, 3, 3)) is None


def test_normal_days_before_a_break_are_ordinary_days() -> None:
    """The comparison days of A13 (the metric itself is ``keliu.analytics.metrics.holiday_stats``)."""
    [national] = [p for p in holiday_periods(2025) if p.key == "national_day"]
    normal = normal_days(national.start)
    assert normal and all(n.kind in ("workday", "weekend") and not n.festivals for n in normal)
    assert date(2025, 9, 28) not in {n.date for n in normal}  # a make-up working day is not normal
    assert max(n.date for n in normal) < national.start


def test_days_range() -> None:
    out = days(date(2025, 1, 26), date(2025, 2, 8))
    assert [d.date for d in out] == span("2025-01-26", "2025-02-08")
    assert days(date(2025, 2, 8), date(2025, 1, 26)) == []


def test_day_kind_function_for_other_calendars() -> None:
    nz = day_kind_function("NZ-AUK")
    assert nz(date(2025, 1, 27)) == "holiday"  # Auckland Anniversary Day
    assert nz(date(2025, 1, 28)) == "workday"  # 春节 is not a holiday in Auckland
    plain = day_kind_function("none")
    assert plain(date(2025, 10, 1)) == "workday" and plain(date(2025, 10, 4)) == "weekend"
    cn = day_kind_function("CN")
    assert cn(date(2025, 10, 1)) == "holiday" and cn(date(2025, 9, 28)) == "makeup_workday"
    with pytest.raises(ValueError, match="unknown holiday calendar"):
        day_kind_function("XX")
