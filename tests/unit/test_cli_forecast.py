"""`keliu forecast` and the forecaster behind it, on synthetic series whose truth is known."""

from __future__ import annotations

import itertools
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from keliu.analytics.calendar import day_info, day_kind_function
from keliu.analytics.forecast import early_warnings, forecast
from keliu.cli import app
from keliu.errors import ConfigError, InputError, KeliuError

RUNNER = CliRunner()
NO_HOLIDAYS = day_kind_function("none")


def invoke(*args: str) -> Result:
    return RUNNER.invoke(app, ["forecast", *args])


def hourly_mean(index: pd.DatetimeIndex, holiday_factor: float | None = None) -> np.ndarray:
    """Known expected counts: lunch and evening peaks on workdays, a flatter afternoon at weekends.

    With ``holiday_factor``, days the Chinese calendar marks as holidays get that many times the
    Sunday level, and make-up working days look like workdays.
    """
    hours = index.hour.to_numpy()
    weekday_shape = 5 + 60 * np.exp(-((hours - 12) ** 2) / 4) + 80 * np.exp(-((hours - 18) ** 2) / 3)
    weekend_shape = 5 + 70 * np.exp(-((hours - 15) ** 2) / 10)
    kinds = np.array([NO_HOLIDAYS(t.date()) for t in index])
    if holiday_factor is not None:
        kinds = np.array([day_info(t.date()).kind for t in index])
    dow = index.dayofweek.to_numpy()
    out = np.where(
        np.isin(kinds, ["workday", "makeup_workday"]), weekday_shape * (1 + 0.05 * dow), weekend_shape
    )
    out = np.where((kinds == "weekend") & (dow == 5), out * 1.3, out)
    if holiday_factor is not None:
        out = np.where(kinds == "holiday", weekend_shape * holiday_factor, out)
    return out


def noisy(index: pd.DatetimeIndex, seed: int, **kwargs: float) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.poisson(hourly_mean(index, **kwargs)).astype(float), index=index)


def write_csv(path: Path, series: pd.Series) -> Path:
    lines = ["ts,value"] + [f"{t.isoformat()},{'' if np.isnan(v) else f'{v:g}'}" for t, v in series.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def jsonl(result: Result) -> list[dict[str, object]]:
    assert result.exit_code == 0, (result.output, result.exception)
    return [json.loads(line) for line in result.output.splitlines()]


# a summer stretch with no Chinese public holiday: 2025-06-09 (Mon) .. 2025-08-24
START = pd.Timestamp("2025-06-09")


def test_jsonl_contract(tmp_path: Path) -> None:
    history = noisy(pd.date_range(START, periods=8 * 168, freq="h"), seed=1)
    rows = jsonl(invoke("--input", str(write_csv(tmp_path / "c.csv", history)), "--horizon", "50", "--jsonl"))
    assert len(rows) == 50
    stamps = [pd.Timestamp(str(r["ts"])) for r in rows]
    assert stamps[0] == history.index[-1] + pd.Timedelta(hours=1)
    assert all(b - a == pd.Timedelta(hours=1) for a, b in itertools.pairwise(stamps))
    for r in rows:
        assert set(r) == {"ts", "yhat", "lo", "hi"}
        lo, yhat, hi = float(r["lo"]), float(r["yhat"]), float(r["hi"])  # type: ignore[arg-type]
        assert 0 <= lo <= yhat <= hi
    assert any(float(r["hi"]) > float(r["lo"]) for r in rows)  # type: ignore[arg-type]


def test_default_horizon_is_one_week_and_daily_frequency(tmp_path: Path) -> None:
    hourly = noisy(pd.date_range(START, periods=8 * 168, freq="h"), seed=2)
    assert len(jsonl(invoke("--input", str(write_csv(tmp_path / "h.csv", hourly)), "--jsonl"))) == 168
    daily = hourly.resample("D").sum()
    rows = jsonl(
        invoke(
            "--input", str(write_csv(tmp_path / "d.csv", daily)), "--freq", "D", "--horizon", "10", "--jsonl"
        )
    )
    stamps = [pd.Timestamp(str(r["ts"])) for r in rows]
    assert len(rows) == 10 and stamps[0] == daily.index[-1] + pd.Timedelta(days=1)
    assert all(b - a == pd.Timedelta(days=1) for a, b in itertools.pairwise(stamps))
    # weekly pattern kept: the forecast Saturday is busier than the forecast Sunday, as in the data
    by_day = {s.dayofweek: float(r["yhat"]) for s, r in zip(stamps, rows, strict=True)}  # type: ignore[arg-type]
    assert by_day[5] > by_day[6]


def mase(actual: np.ndarray, predicted: np.ndarray, train: np.ndarray) -> float:
    scale = np.mean(np.abs(train[168:] - train[:-168]))
    return float(np.mean(np.abs(actual - predicted)) / scale)


def test_beats_seasonal_naive_on_noisy_weekly_series(tmp_path: Path) -> None:
    ours, naive = [], []
    for seed in range(4):
        index = pd.date_range(START, periods=10 * 168, freq="h")
        series = noisy(index, seed=seed)
        train, actual = series.iloc[: 9 * 168], series.iloc[9 * 168 :].to_numpy()
        rows = jsonl(invoke("--input", str(write_csv(tmp_path / f"s{seed}.csv", train)), "--jsonl"))
        yhat = np.array([float(r["yhat"]) for r in rows])  # type: ignore[arg-type]
        ours.append(mase(actual, yhat, train.to_numpy()))
        naive.append(mase(actual, train.to_numpy()[-168:], train.to_numpy()))
    assert np.mean(ours) < 0.85 * np.mean(naive), (ours, naive)


def test_interval_coverage_is_near_the_level() -> None:
    inside = []
    for seed in range(3):
        index = pd.date_range(START, periods=10 * 168, freq="h")
        series = noisy(index, seed=100 + seed)
        result = forecast(series.iloc[: 9 * 168], day_kind=NO_HOLIDAYS)
        actual = series.iloc[9 * 168 :].to_numpy()
        lo = np.array([p.lo for p in result.points])
        hi = np.array([p.hi for p in result.points])
        inside.append(np.mean((actual >= lo) & (actual <= hi)))
    assert 0.65 <= float(np.mean(inside)) <= 0.95, inside


def test_holidays_and_makeup_days_in_the_horizon() -> None:
    # history ends Saturday 2025-09-27; the horizon holds 9-28 (Sunday worked, 调休) and 国庆 10-01..
    index = pd.date_range("2025-07-07", "2025-09-27 23:00", freq="h")
    history = pd.Series(hourly_mean(index), index=index)
    result = forecast(history, 168)
    yhat = pd.Series([p.yhat for p in result.points], index=[p.ts for p in result.points])
    plain = forecast(history, 168, day_kind=NO_HOLIDAYS)
    plain_yhat = pd.Series([p.yhat for p in plain.points], index=[p.ts for p in plain.points])
    # at 15:00 a workday is quiet (between the peaks) and a rest day is at its busiest
    makeup, workday, holiday = (
        pd.Timestamp(f"{d} 15:00") for d in ("2025-09-28", "2025-09-29", "2025-10-01")
    )
    assert yhat[makeup] < 0.4 * plain_yhat[makeup]  # a worked Sunday (调休) looks like a workday
    assert yhat[makeup] == pytest.approx(yhat[workday], rel=0.2)
    assert yhat[holiday] > 3 * plain_yhat[holiday]  # a holiday Wednesday looks like a rest day
    assert yhat[holiday] > 3 * yhat[workday]
    assert result.holiday_multiplier == 1.0  # no past holiday in this history to learn from


def test_holiday_burst_is_learned_and_warned_about() -> None:
    # 清明 and 劳动节 in the history run at 2.5x a Sunday; 端午 (5-31 .. 6-2) is in the horizon
    index = pd.date_range("2025-03-03", "2025-05-25 23:00", freq="h")
    history = pd.Series(hourly_mean(index, holiday_factor=2.5), index=index)
    result = forecast(history, 8 * 24)
    assert result.holiday_multiplier == pytest.approx(2.5, rel=0.1)
    yhat = pd.Series([p.yhat for p in result.points], index=[p.ts for p in result.points])
    sunday_level = float(hourly_mean(pd.DatetimeIndex([pd.Timestamp("2025-05-25 15:00")]))[0])
    for day in ("2025-05-31", "2025-06-01", "2025-06-02"):  # Saturday, Sunday and Monday of the break
        assert yhat[pd.Timestamp(f"{day} 15:00")] == pytest.approx(2.5 * sunday_level, rel=0.15)
    warnings = early_warnings(history, result)
    surge_days = {w.day for w in warnings if w.kind == "surge"}
    assert date(2025, 6, 2) in surge_days  # a Monday off at 2.5x a Sunday
    assert date(2025, 5, 28) not in surge_days  # an ordinary Wednesday
    [monday] = [w for w in warnings if w.day == date(2025, 6, 2) and w.kind == "surge"]
    assert "端午节" in monday.reason and "above the normal Monday" in monday.reason


def test_level_shift_drop_and_capacity_warnings() -> None:
    index = pd.date_range(START, periods=8 * 168, freq="h")
    values = hourly_mean(index)
    values[-168:] *= 0.2  # the last week collapsed (e.g. road works outside)
    history = pd.Series(values, index=index)
    result = forecast(history, day_kind=NO_HOLIDAYS)
    warnings = early_warnings(history, result, day_kind=NO_HOLIDAYS)
    drops = [w for w in warnings if w.kind == "drop"]
    assert len(drops) == 7 and all(w.change < -0.3 for w in drops)
    assert "below the normal" in drops[0].reason
    peak = max(p.hi for p in result.points)
    capped = early_warnings(history, result, capacity=peak * 0.9, day_kind=NO_HOLIDAYS)
    capacity = [w for w in capped if w.kind == "capacity"]
    assert capacity and all(w.forecast >= peak * 0.9 for w in capacity)
    assert "capacity" in capacity[0].reason
    calm = forecast(pd.Series(hourly_mean(index), index=index), day_kind=NO_HOLIDAYS)
    assert early_warnings(pd.Series(hourly_mean(index), index=index), calm, day_kind=NO_HOLIDAYS) == []


def test_missing_hours_are_unknown_not_zero(tmp_path: Path) -> None:
    index = pd.date_range(START, periods=8 * 168, freq="h")
    series = pd.Series(hourly_mean(index), index=index)
    gappy = series.drop(series.index[-168:-1])  # the last week not reported but its last hour
    unknown = forecast(gappy, day_kind=NO_HOLIDAYS)
    zero = forecast(gappy, day_kind=NO_HOLIDAYS, missing="zero")
    full = forecast(series, day_kind=NO_HOLIDAYS)
    y_unknown, y_zero, y_full = (np.array([p.yhat for p in r.points]) for r in (unknown, zero, full))
    assert np.allclose(y_unknown, y_full, rtol=0.02)  # unknown hours are skipped: the level stays
    assert y_zero.sum() < 0.5 * y_full.sum()  # a closed week (zeros) pulls the level down
    blanks = series.copy()
    blanks.iloc[-200:-190] = np.nan  # empty values in the CSV are missing too
    rows = jsonl(
        invoke("--input", str(write_csv(tmp_path / "b.csv", blanks)), "--holidays", "none", "--jsonl")
    )
    assert len(rows) == 168


@pytest.mark.parametrize("model", ["seasonal_naive", "mstl"])
def test_statsforecast_models(tmp_path: Path, model: str) -> None:
    history = noisy(pd.date_range(START, periods=4 * 168, freq="h"), seed=5)
    rows = jsonl(invoke("--input", str(write_csv(tmp_path / "m.csv", history)), "--model", model, "--jsonl"))
    assert len(rows) == 168
    assert all(float(r["lo"]) <= float(r["yhat"]) <= float(r["hi"]) for r in rows)  # type: ignore[arg-type]
    if model == "seasonal_naive":
        assert [float(r["yhat"]) for r in rows] == pytest.approx(history.to_numpy()[-168:].tolist())  # type: ignore[arg-type]


def test_readable_table(tmp_path: Path) -> None:
    history = noisy(pd.date_range(START, periods=3 * 168, freq="h"), seed=3)
    result = invoke("--input", str(write_csv(tmp_path / "t.csv", history)), "--horizon", "24")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["ts", "yhat", "lo", "hi"]
    assert len([line for line in lines if line.startswith("2025-")]) == 24
    assert any("预警" in line for line in lines)


def error_of(result: Result) -> KeliuError:
    assert result.exit_code != 0
    assert isinstance(result.exception, KeliuError), result.exception
    return result.exception


def good_lines(n: int = 400) -> list[str]:
    return ["ts,value"] + [
        f"{t.isoformat()},{i % 50}" for i, t in enumerate(pd.date_range(START, periods=n, freq="h"))
    ]


@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        ([], "empty"),
        (["ts,value"], "no data rows"),
        (["time,value", "2025-01-01T00:00,1"], "missing column(s) ts"),
        (["ts,count", "2025-01-01T00:00,1"], "missing column(s) value"),
        (["ts,value", "2025-01-01T00:00,1", "yesterday,2"], ":3: ts 'yesterday' is not an ISO 8601"),
        (
            ["ts,value", "2025-01-01T00:00,1", "2025-01-01T01:00,1", "2025-01-01T02:00,lots"],
            ":4: value 'lots'",
        ),
        (["ts,value", "2025-01-01T00:00,1", "2025-01-01T01:00,-3"], ":3: value '-3' is negative"),
        (
            ["ts,value", "2025-01-01T00:00,1", "2025-01-01T00:00,2"],
            ":3: ts '2025-01-01T00:00' repeats line 2",
        ),
        (
            ["ts,value", "2025-01-01T00:00,1", "2025-01-01T00:30,2"],
            ":3: ts '2025-01-01T00:30' is not on the hour",
        ),
        (
            ["ts,value", "2025-01-01T00:00+08:00,1", "2025-01-01T01:00,2"],
            ":3: ts '2025-01-01T01:00' has a different UTC",
        ),
        (good_lines(300), "too few points for weekly seasonality"),
    ],
)
def test_bad_csv_is_one_clear_input_error(tmp_path: Path, lines: list[str], needle: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    error = error_of(invoke("--input", str(path), "--jsonl"))
    assert isinstance(error, InputError)
    assert needle in str(error), str(error)
    assert "bad.csv" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    error = error_of(invoke("--input", str(tmp_path / "nope.csv")))
    assert isinstance(error, InputError) and "nope.csv: no such file" in str(error)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--horizon", "0"], "--horizon 0: must be a positive"),
        (["--horizon", "-5"], "--horizon -5"),
        (["--freq", "weekly"], "--freq 'weekly'"),
        (["--level", "100"], "--level 100"),
        (["--model", "prophet"], "--model 'prophet'"),
        (["--holidays", "XX"], "unknown holiday calendar"),
    ],
)
def test_bad_options_are_config_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("\n".join(good_lines()) + "\n")
    error = error_of(invoke("--input", str(path), *args, "--jsonl"))
    assert isinstance(error, ConfigError) and needle in str(error), str(error)


def test_daily_needs_dates_and_two_weeks(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("ts,value\n2025-06-01,5\n2025-06-02T13:00,6\n")
    assert ":3: ts '2025-06-02T13:00' is not a date" in str(
        error_of(invoke("--input", str(path), "--freq", "D"))
    )
    path.write_text("ts,value\n" + "".join(f"2025-06-{d:02d},{d}\n" for d in range(1, 11)))
    error = error_of(invoke("--input", str(path), "--freq", "D"))
    assert "needs at least 14 consecutive daily steps" in str(error) and "got 10" in str(error)
