"""Traffic forecasting (客流预测) and early warning (预警) for one site's series (A18).

Input is one hourly or daily series of counts (a pandas Series on a DatetimeIndex, local time);
output is a typed forecast with a prediction interval per step, and warnings when the coming days
look unusual. This module must not query stores, touch video or signatures, or use the network;
statsforecast is imported lazily, inside the functions that need it.

Models (``model=``), chosen by measurement (``bench/forecast_akl.py``, ``docs/forecasting.md``):

``"profile"`` (default) — robust weekly profile with level adaptation and holiday handling:

1. The last ``PROFILE_WEEKS`` (12) weeks are laid out as rows of one week (168 hours or 7 days),
   aligned so that the forecast starts a new row. Days that are public holidays (法定节假日) or
   make-up working days (调休上班日) are blanked first: they are not ordinary days of their weekday.
2. The profile of each slot of the week is a trimmed, recency-weighted mean over the weeks
   (drop the ``TRIM`` (2) highest and lowest, weight ``DECAY`` (0.85) per week of age). This is
   what beats the seasonal-naive forecast: it averages out the week-to-week noise that seasonal
   naive copies, and a holiday or an event in one week barely moves it.
3. The level of the last week relative to the profile is the median of its days' ratios; the
   forecast is ``profile * (1 + LEVEL_WEIGHT * (level - 1))`` (``LEVEL_WEIGHT`` = 0.7).
4. Calendar: a holiday in the horizon takes the Sunday profile (a rest day) times a holiday
   multiplier learned from the site's own past holidays in the given history (median of
   holiday-day total / total of the Sundays before it; 1.0 with fewer than two past holidays); a
   make-up working day takes the mean Monday-Friday profile. The calendar is pluggable
   (``day_kind``); the default is the Chinese one of :mod:`keliu.analytics.calendar`.
5. Prediction intervals: the same model is re-run on the history at the ``BACKTEST_WEEKS`` (4)
   previous weekly origins; the residuals, divided by ``sqrt(yhat + 1)`` (counts vary more where
   they are larger), give empirical quantiles for the requested level. Beyond one week ahead the
   same quantiles are reused, so far horizons are likely too narrow.

``"mstl"`` — statsforecast's MSTL (seasons 24 and 168, or 7 for daily) with an AutoETS trend,
for comparison: on the real benchmark it is worse than seasonal naive on average (a single unusual
last hour, such as New Year's Eve, moves its level), so it is not the default.

``"seasonal_naive"`` — statsforecast's SeasonalNaive (same hour last week), the baseline.

statsforecast's model classes are called directly on the one series (no ``StatsForecast`` object,
so no process pool: the ``n_jobs=1`` question does not arise).

Missing data: a timestamp absent from the input, or a NaN value, is *unknown*, never zero: the
profile statistics skip it. A site whose export leaves out closed hours should say so with
``missing="zero"``, which fills absent timestamps with 0 (a closed store counts nobody). The
statsforecast models need a gap-free series: their gaps are filled from the profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from keliu.analytics.calendar import DayKind, day_info
from keliu.errors import InputError

__all__ = [
    "BACKTEST_WEEKS",
    "DECAY",
    "LEVEL_WEIGHT",
    "PROFILE_WEEKS",
    "TRIM",
    "EarlyWarning",
    "Forecast",
    "ForecastPoint",
    "Freq",
    "Model",
    "early_warnings",
    "forecast",
    "season_length",
]

Freq = Literal["h", "D"]
Model = Literal["profile", "mstl", "seasonal_naive"]
DayKindFn = Callable[[dt.date], DayKind]

PROFILE_WEEKS = 12
TRIM = 2
DECAY = 0.85
LEVEL_WEIGHT = 0.7
BACKTEST_WEEKS = 4
MIN_WEEKS = 2


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    """One forecast step: expected count and its prediction interval (lo <= yhat <= hi)."""

    ts: pd.Timestamp
    yhat: float
    lo: float
    hi: float


@dataclass(frozen=True, slots=True)
class Forecast:
    points: tuple[ForecastPoint, ...]
    freq: Freq
    level: int
    model: Model
    history_start: pd.Timestamp
    history_end: pd.Timestamp
    observed: int  # history points with a value (not missing)
    holiday_multiplier: float  # learned holiday/Sunday ratio used for holidays in the horizon


def season_length(freq: Freq) -> int:
    """Steps in one week: 168 hours or 7 days."""
    return 168 if freq == "h" else 7


def _steps_per_day(freq: Freq) -> int:
    return 24 if freq == "h" else 1


def _offset(freq: Freq) -> pd.Timedelta:
    return pd.Timedelta(hours=1) if freq == "h" else pd.Timedelta(days=1)


def _default_day_kind(d: dt.date) -> DayKind:
    return day_info(d).kind


def _regularise(series: pd.Series, freq: Freq, missing: Literal["unknown", "zero"]) -> pd.Series:
    if not isinstance(series.index, pd.DatetimeIndex):
        raise InputError("the series needs a DatetimeIndex of timestamps")
    if series.index.has_duplicates:
        first = series.index[series.index.duplicated()][0]
        raise InputError(f"timestamp {first.isoformat()} appears more than once")
    s = series.sort_index().astype(float)
    step = _offset(freq)
    unit = "h" if freq == "h" else "D"
    off_grid = s.index[s.index != s.index.floor(unit)]
    if len(off_grid):
        what = "on the hour" if freq == "h" else "at midnight"
        raise InputError(f"timestamp {off_grid[0].isoformat()} is not {what} (freq {freq})")
    if (s < 0).any():
        raise InputError("counts cannot be negative")
    if not np.isfinite(s.fillna(0.0).to_numpy()).all():
        raise InputError("values must be finite numbers")
    if len(s) == 0:
        raise InputError("the series is empty")
    full = pd.date_range(s.index[0], s.index[-1], freq=step)
    out = s.reindex(full)
    if missing == "zero":
        absent = ~full.isin(s.index)
        out[absent] = 0.0
    return out


def _weekly_weighted_trimmed_mean(rows: np.ndarray, trim: int, decay: float) -> np.ndarray:
    """Per column: drop ``trim`` highest and lowest values, weight by ``decay**age`` (last row newest)."""
    k = rows.shape[0]
    present = ~np.isnan(rows)
    n = present.sum(axis=0)
    order = np.argsort(np.where(present, rows, np.inf), axis=0, kind="stable")
    rank = np.argsort(order, axis=0, kind="stable")
    cut = np.where(n > 2 * trim, trim, np.maximum((n - 1) // 2, 0))
    keep = present & (rank >= cut) & (rank < n - cut)
    weights = (decay ** np.arange(k)[::-1])[:, None] * keep
    total = weights.sum(axis=0)
    values = np.where(keep, rows, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (values * weights).sum(axis=0) / total, np.nan)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the slots of a week fall: weekday and time-of-day of each column."""

    weekday: np.ndarray  # (P,)
    tod: np.ndarray  # (P,) hour of day (0 for daily)


def _layout(origin: pd.Timestamp, freq: Freq) -> _Layout:
    stamps = pd.date_range(origin, periods=season_length(freq), freq=_offset(freq))
    tod = stamps.hour.to_numpy() if freq == "h" else np.zeros(len(stamps), dtype=int)
    return _Layout(weekday=stamps.dayofweek.to_numpy(), tod=tod)


def _fill_profile(profile: np.ndarray, layout: _Layout) -> np.ndarray:
    """Slots never observed take the median of the same time of day on other days, else 0."""
    out = profile.copy()
    for slot in np.where(np.isnan(out))[0]:
        same = profile[layout.tod == layout.tod[slot]]
        same = same[~np.isnan(same)]
        out[slot] = float(np.median(same)) if len(same) else 0.0
    return out


def _kinds(index: pd.DatetimeIndex, day_kind: DayKindFn) -> np.ndarray:
    dates = index.normalize()
    unique = dates.unique()
    table = {d: day_kind(d.date()) for d in unique}
    return np.array([table[d] for d in dates], dtype=object)


def _holiday_multiplier(y: pd.Series, kinds: np.ndarray, freq: Freq) -> float:
    """Median over past holidays of (holiday-day total / median total of the ordinary Sundays in the
    five weeks before it); 1.0 when fewer than two past holidays can be measured."""
    per_day = _steps_per_day(freq)
    frame = pd.DataFrame({"y": y.to_numpy(), "kind": kinds}, index=y.index)
    days = frame.groupby(frame.index.normalize()).agg(
        total=("y", lambda v: v.sum(min_count=1) if v.notna().all() else np.nan),
        n=("y", "size"),
        kind=("kind", "first"),
    )
    days = days[days["n"] == per_day]
    sundays = days[(days.index.dayofweek == 6) & days["kind"].isin(["weekend", "workday"])]["total"].dropna()
    ratios = []
    for day, row in days[days["kind"] == "holiday"].iterrows():
        if not (row["total"] >= 0):
            continue
        ref = sundays[(sundays.index < day) & (sundays.index >= day - pd.Timedelta(weeks=5))]
        if len(ref) >= 2 and ref.median() > 0:
            ratios.append(row["total"] / ref.median())
    if len(ratios) < 2:
        return 1.0
    return float(np.clip(np.median(ratios), 0.2, 5.0))


def _profile_point_forecast(
    y: np.ndarray,
    kinds_hist: np.ndarray,
    origin: pd.Timestamp,
    horizon_kinds: np.ndarray,
    freq: Freq,
    multiplier: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Point forecast of the profile model; returns (forecast, filled profile)."""
    period = season_length(freq)
    per_day = _steps_per_day(freq)
    weeks = min(PROFILE_WEEKS, len(y) // period)
    recent = y[len(y) - weeks * period :].copy()
    recent_kinds = kinds_hist[len(y) - weeks * period :]
    recent[np.isin(recent_kinds, ["holiday", "makeup_workday"])] = np.nan
    rows = recent.reshape(weeks, period)
    layout = _layout(origin, freq)
    profile = _fill_profile(_weekly_weighted_trimmed_mean(rows, TRIM, DECAY), layout)
    # level of the last week: median over its days of (day total / profile total)
    last = rows[-1].reshape(7, per_day)
    prof_days = profile.reshape(7, per_day)
    ratios = [
        last[i].sum() / prof_days[i].sum()
        for i in range(7)
        if not np.isnan(last[i]).any() and prof_days[i].sum() > 0
    ]
    level = float(np.median(ratios)) if ratios else 1.0
    adjusted = profile * max(0.0, 1.0 + LEVEL_WEIGHT * (level - 1.0))
    horizon = len(horizon_kinds)
    slots = np.arange(horizon) % period
    out = adjusted[slots].copy()
    sunday = {int(t): int(np.where((layout.weekday == 6) & (layout.tod == t))[0][0]) for t in set(layout.tod)}
    weekday_mean = {
        int(t): float(adjusted[(layout.weekday < 5) & (layout.tod == t)].mean()) for t in set(layout.tod)
    }
    for j in np.where(horizon_kinds == "holiday")[0]:
        out[j] = adjusted[sunday[int(layout.tod[slots[j]])]] * multiplier
    for j in np.where(horizon_kinds == "makeup_workday")[0]:
        out[j] = weekday_mean[int(layout.tod[slots[j]])]
    return np.maximum(out, 0.0), profile


def _profile_forecast(
    y: pd.Series, horizon: int, level: int, freq: Freq, day_kind: DayKindFn
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    period = season_length(freq)
    step = _offset(freq)
    values = y.to_numpy()
    kinds = _kinds(y.index, day_kind)
    multiplier = _holiday_multiplier(y, kinds, freq)
    origin = y.index[-1] + step
    future = pd.date_range(origin, periods=horizon, freq=step)
    yhat, _ = _profile_point_forecast(values, kinds, origin, _kinds(future, day_kind), freq, multiplier)
    # empirical residuals from one-week-ahead re-runs at the previous weekly origins
    weeks = len(values) // period
    scaled: list[np.ndarray] = []
    for back in range(1, min(BACKTEST_WEEKS, weeks - 1) + 1):
        cut = len(values) - back * period
        past_origin = y.index[cut]
        fc, _ = _profile_point_forecast(
            values[:cut], kinds[:cut], past_origin, kinds[cut : cut + period], freq, multiplier
        )
        actual = values[cut : cut + period]
        ok = ~np.isnan(actual)
        scaled.append((actual[ok] - fc[ok]) / np.sqrt(fc[ok] + 1.0))
    resid = np.concatenate(scaled) if scaled else np.zeros(1)
    if len(resid) == 0:
        resid = np.zeros(1)
    alpha = (100 - level) / 200
    q_lo = min(float(np.quantile(resid, alpha)), 0.0)
    q_hi = max(float(np.quantile(resid, 1 - alpha)), 0.0)
    spread = np.sqrt(yhat + 1.0)
    lo = np.maximum(yhat + q_lo * spread, 0.0)
    hi = yhat + q_hi * spread
    return yhat, lo, hi, multiplier


def _statsforecast(
    y: pd.Series, horizon: int, level: int, freq: Freq, model: Model
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from statsforecast.models import MSTL, AutoETS, SeasonalNaive

    values = y.to_numpy().copy()
    if np.isnan(values).any():  # statsforecast needs a gap-free series: fill gaps from the profile
        period = season_length(freq)
        pad = (-len(values)) % period
        padded = np.concatenate([np.full(pad, np.nan), values])
        rows = padded.reshape(-1, period)
        layout = _layout(y.index[0] - pad * _offset(freq), freq)
        profile = _fill_profile(_weekly_weighted_trimmed_mean(rows, TRIM, DECAY), layout)
        values = np.where(np.isnan(padded), np.tile(profile, rows.shape[0]), padded)[pad:]
    if model == "seasonal_naive":
        out = SeasonalNaive(season_length=season_length(freq)).forecast(
            y=values.astype(float), h=horizon, level=[level]
        )
    else:
        seasons = [24, 168] if freq == "h" else [7]
        mstl = MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"))
        out = mstl.forecast(y=values.astype(float), h=horizon, level=[level])
    yhat = np.maximum(np.asarray(out["mean"], dtype=float), 0.0)
    lo = np.maximum(np.minimum(np.asarray(out[f"lo-{level}"], dtype=float), yhat), 0.0)
    hi = np.maximum(np.asarray(out[f"hi-{level}"], dtype=float), yhat)
    return yhat, lo, hi


def forecast(
    series: pd.Series,
    horizon: int | None = None,
    *,
    freq: Freq = "h",
    level: int = 80,
    model: Model = "profile",
    day_kind: DayKindFn | None = None,
    missing: Literal["unknown", "zero"] = "unknown",
) -> Forecast:
    """Forecast the next ``horizon`` steps (default one week: 168 hours or 7 days) of one site.

    ``series``: counts on a DatetimeIndex, hourly (``freq="h"``) or daily (``"D"``); naive local
    time or one time zone. Needs at least two weeks of span. ``day_kind`` maps a date to its kind
    (default: the Chinese calendar with 调休); pass :func:`keliu.analytics.calendar.day_kind_function`
    of another country, or ``"none"`` to ignore holidays. Raises :class:`InputError` on bad input.
    """
    if freq not in ("h", "D"):
        raise InputError(f"freq must be 'h' (hourly) or 'D' (daily), got {freq!r}")
    period = season_length(freq)
    if horizon is None:
        horizon = period
    if horizon <= 0:
        raise InputError(f"horizon must be a positive number of steps, got {horizon}")
    if not 1 <= level <= 99:
        raise InputError(f"level must be between 1 and 99 (percent), got {level}")
    kind_of = day_kind or _default_day_kind
    y = _regularise(series, freq, missing)
    unit = "hourly" if freq == "h" else "daily"
    if len(y) < MIN_WEEKS * period:
        raise InputError(
            f"too few points for weekly seasonality: {unit} forecasting needs at least "
            f"{MIN_WEEKS * period} consecutive {unit} steps ({MIN_WEEKS} weeks), got {len(y)}"
        )
    observed = int(y.notna().sum())
    if observed < period:
        raise InputError(f"too few values: at least {period} {unit} values are needed, got {observed}")
    multiplier = 1.0
    if model == "profile":
        yhat, lo, hi, multiplier = _profile_forecast(y, horizon, level, freq, kind_of)
    elif model in ("mstl", "seasonal_naive"):
        yhat, lo, hi = _statsforecast(y, horizon, level, freq, model)
    else:
        raise InputError(f"unknown model {model!r}: use profile, mstl or seasonal_naive")
    stamps = pd.date_range(y.index[-1] + _offset(freq), periods=horizon, freq=_offset(freq))
    points = tuple(
        ForecastPoint(ts=ts, yhat=float(a), lo=float(min(b, a)), hi=float(max(c, a)))
        for ts, a, b, c in zip(stamps, yhat, lo, hi, strict=True)
    )
    return Forecast(
        points=points,
        freq=freq,
        level=level,
        model=model,
        history_start=y.index[0],
        history_end=y.index[-1],
        observed=observed,
        holiday_multiplier=multiplier,
    )


# ---------------------------------------------------------------- early warning (预警)

WarningKind = Literal["surge", "drop", "capacity"]


@dataclass(frozen=True, slots=True)
class EarlyWarning:
    """One early warning for a forecast day (or hour, for capacity)."""

    kind: WarningKind  # surge 客流激增, drop 客流骤降, capacity 超出容量
    day: dt.date
    ts: pd.Timestamp | None  # the hour, for capacity warnings on hourly forecasts
    forecast: float
    reference: float  # the normal level or the capacity it was compared with
    change: float  # forecast / reference - 1
    reason: str


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def early_warnings(
    history: pd.Series,
    result: Forecast,
    *,
    threshold: float = 0.3,
    weeks: int = 4,
    capacity: float | None = None,
    day_kind: DayKindFn | None = None,
) -> list[EarlyWarning]:
    """Warn about forecast days that differ from the site's normal level, and about capacity.

    Rule (documented in docs/forecasting.md):

    * For each whole day in the forecast, its total (sum of ``yhat``) is compared with the normal
      level: the mean total of the same weekday over the last ``weeks`` weeks of ``history``, using
      only whole, ordinary days (no holiday, no make-up working day) — at least two are needed.
      ``surge`` when the forecast is at least ``threshold`` (30 %) above it, ``drop`` when at least
      ``threshold`` below it. The reason names the day's holiday or festival, if any.
    * With ``capacity`` (people per step: per hour for hourly forecasts, per day for daily), every
      step whose upper bound ``hi`` reaches it gives a ``capacity`` warning (hours of one day are
      merged into one warning carrying the peak).
    """
    kind_of = day_kind or _default_day_kind
    freq = result.freq
    per_day = _steps_per_day(freq)
    y = _regularise(history, freq, "unknown")
    frame = pd.DataFrame({"y": y.to_numpy()}, index=y.index)
    daily = frame.groupby(frame.index.normalize())["y"].agg(["sum", "count", "size"])
    daily = daily[(daily["count"] == per_day) & (daily["size"] == per_day)]["sum"]
    cutoff = y.index[-1].normalize() - pd.Timedelta(weeks=weeks)
    daily = daily[daily.index > cutoff]
    ordinary = daily[[kind_of(d.date()) in ("workday", "weekend") for d in daily.index]]

    fc = pd.DataFrame(
        {"yhat": [p.yhat for p in result.points], "hi": [p.hi for p in result.points]},
        index=pd.DatetimeIndex([p.ts for p in result.points]),
    )
    warnings: list[EarlyWarning] = []
    grouped = fc.groupby(fc.index.normalize())
    for day, rows in grouped:
        date = pd.Timestamp(day).date()
        note = ""
        if day_kind is None:  # name the Chinese holiday/festival only with the Chinese calendar
            info = day_info(date)
            label = ", ".join(dict.fromkeys(x for x in (info.holiday, *info.festivals) if x))
            note = f" ({label})" if label else ""
        if len(rows) == per_day:
            same = ordinary[ordinary.index.dayofweek == date.weekday()]
            if len(same) >= 2 and same.mean() > 0:
                total = float(rows["yhat"].sum())
                normal = float(same.mean())
                change = total / normal - 1.0
                if abs(change) >= threshold:
                    kind: WarningKind = "surge" if change > 0 else "drop"
                    word = "above" if change > 0 else "below"
                    warnings.append(
                        EarlyWarning(
                            kind=kind,
                            day=date,
                            ts=None,
                            forecast=total,
                            reference=normal,
                            change=change,
                            reason=(
                                f"{_WEEKDAYS[date.weekday()]} {date.isoformat()}{note}: forecast "
                                f"{total:,.0f} is {abs(change):.0%} {word} the normal "
                                f"{_WEEKDAYS[date.weekday()]} ({normal:,.0f}, mean of the last "
                                f"{len(same)} ordinary {_WEEKDAYS[date.weekday()]}s)"
                            ),
                        )
                    )
        if capacity is not None and capacity > 0:
            over = rows[rows["hi"] >= capacity]
            if len(over):
                peak_ts = over["hi"].idxmax()
                peak = float(over["hi"].max())
                unit = "hour" if freq == "h" else "day"
                when = f" at {peak_ts:%H:%M}" if freq == "h" else ""
                warnings.append(
                    EarlyWarning(
                        kind="capacity",
                        day=date,
                        ts=pd.Timestamp(peak_ts) if freq == "h" else None,
                        forecast=peak,
                        reference=float(capacity),
                        change=peak / capacity - 1.0,
                        reason=(
                            f"{date.isoformat()}{note}: the upper {result.level} % bound reaches "
                            f"{peak:,.0f}/{unit}{when} ({len(over)} {unit}(s) at or over the capacity "
                            f"{capacity:,.0f}/{unit})"
                        ),
                    )
                )
    return warnings
