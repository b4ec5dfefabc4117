"""The `keliu forecast` command: forecast one site's traffic (客流预测) from a CSV of counts (A18).

    keliu forecast --input counts.csv [--horizon 168] [--freq h|D] [--level 80] [--jsonl]

Input: a CSV with a header and at least the columns ``ts`` (ISO 8601 timestamp, local time) and
``value`` (a count); an empty value is a missing count (unknown, not zero). Rows may come in any
order; extra columns are ignored.

Contract (stable; an external benchmark relies on it): with ``--jsonl``, stdout carries exactly one
JSON object per forecast step, in time order, ``{"ts": ISO 8601, "yhat": float, "lo": float,
"hi": float}`` with ``lo <= yhat <= hi`` (the ``--level`` % prediction interval), and nothing
else. Without it, a readable table followed by the early warnings (预警). Bad input raises a
:class:`keliu.errors.KeliuError` (``InputError`` for the CSV and its values, ``ConfigError`` for
option values) that ``keliu.cli.main`` prints as one line, exiting with code 2.

This module parses and prints only; the forecasting lives in :mod:`keliu.analytics.forecast`. It must
not touch video, signatures or stores.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keliu.cli.options import DbOpt, open_existing_store
from keliu.errors import ConfigError, InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["app", "read_series_csv", "stored_series"]

app = typer.Typer()  # top-level commands: keliu.cli adds them to `keliu` without a group name

_FREQS = {"h": "h", "hourly": "h", "d": "D", "daily": "D"}
_MODELS = ("profile", "mstl", "seasonal_naive")


def _parse_freq(text: str) -> str:
    freq = _FREQS.get(text.strip().lower())
    if freq is None:
        raise ConfigError(f"--freq {text!r}: use h (hourly) or D (daily)")
    return freq


def read_series_csv(path: Path, freq: str | None = None) -> pd.Series:
    """Read ``ts,value`` rows into a float Series on a DatetimeIndex (NaN = missing count).

    With ``freq`` ("h" or "D") every timestamp must lie on that grid (on the hour / at midnight).
    Errors name the file and the line: ``counts.csv:7: value 'abc' is not a number``.
    """
    import pandas as pd

    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    stamps: list[datetime] = []
    values: list[float] = []
    seen: dict[datetime, int] = {}
    with handle:
        try:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or not any(cell.strip() for cell in header):
                raise InputError(f"{path}: the CSV is empty (expected a header line 'ts,value')")
            names = [cell.strip().lower() for cell in header]
            missing = [c for c in ("ts", "value") if c not in names]
            if missing:
                raise InputError(
                    f"{path}:1: missing column(s) {', '.join(missing)}; the header must name ts and value "
                    f"(found: {', '.join(cell.strip() for cell in header)})"
                )
            i_ts, i_value = names.index("ts"), names.index("value")
            aware: bool | None = None
            offset = None
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) <= max(i_ts, i_value):
                    raise InputError(f"{path}:{line}: expected {len(header)} columns, got {len(row)}")
                ts_text, value_text = row[i_ts].strip(), row[i_value].strip()
                try:
                    ts = datetime.fromisoformat(ts_text.replace("Z", "+00:00"))
                except ValueError:
                    raise InputError(
                        f"{path}:{line}: ts {ts_text!r} is not an ISO 8601 timestamp (e.g. 2025-01-28T10:00)"
                    ) from None
                if freq == "h" and (ts.minute, ts.second, ts.microsecond) != (0, 0, 0):
                    raise InputError(f"{path}:{line}: ts {ts_text!r} is not on the hour, as --freq h needs")
                if freq == "D" and (ts.hour, ts.minute, ts.second, ts.microsecond) != (0, 0, 0, 0):
                    raise InputError(
                        f"{path}:{line}: ts {ts_text!r} is not a date (midnight), as --freq D needs"
                    )
                if aware is None:
                    aware, offset = ts.tzinfo is not None, ts.utcoffset()
                elif (ts.tzinfo is not None) != aware or ts.utcoffset() != offset:
                    raise InputError(
                        f"{path}:{line}: ts {ts_text!r} has a different UTC offset from the first row; "
                        "give all timestamps in one local time"
                    )
                if value_text == "" or value_text.lower() == "nan":
                    value = math.nan
                else:
                    try:
                        value = float(value_text)
                    except ValueError:
                        raise InputError(f"{path}:{line}: value {value_text!r} is not a number") from None
                    if not math.isfinite(value):
                        raise InputError(f"{path}:{line}: value {value_text!r} is not a finite number")
                    if value < 0:
                        raise InputError(f"{path}:{line}: value {value_text!r} is negative; counts cannot be")
                if ts in seen:
                    raise InputError(f"{path}:{line}: ts {ts_text!r} repeats line {seen[ts]}")
                seen[ts] = line
                stamps.append(ts)
                values.append(value)
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a UTF-8 text CSV") from None
        except csv.Error as exc:
            raise InputError(f"{path}: not a valid CSV ({exc})") from None
    if not stamps:
        raise InputError(f"{path}: no data rows after the header")
    return pd.Series(values, index=pd.DatetimeIndex(stamps), name="value", dtype=float)




def stored_series(
    site_id: str, freq: str, metric: str, db: str | None, today: date | None = None
) -> pd.Series:
    """The site's stored history (:func:`keliu.analytics.site_forecast.site_history`) from ``--db``."""
    from keliu.analytics.site_forecast import site_history

    with open_existing_store(db) as store:  # a mistyped --db is refused, not created
        return site_history(store, site_id, freq, metric, today)


@app.command("forecast")
def forecast_command(
    input_csv: Annotated[
        Path | None,
        typer.Option("--input", help="CSV with columns ts,value (ISO timestamps, one series)."),
    ] = None,
    site: Annotated[
        str | None,
        typer.Option(
            "--site",
            help="Instead of --input: a stored site's last 12 weeks of traffic (from its first day of "
            "data; at least 2 weeks).",
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="With --site: deduplicated (去重, default) or total.")
    ] = "deduplicated",
    db: DbOpt = None,
    horizon: Annotated[
        int | None,
        typer.Option("--horizon", help="Steps to forecast (default one week: 168 hourly or 7 daily)."),
    ] = None,
    freq: Annotated[str, typer.Option("--freq", help="h (hourly) or D (daily).")] = "h",
    level: Annotated[int, typer.Option("--level", help="Prediction interval, percent.")] = 80,
    model: Annotated[str, typer.Option("--model", help="profile (default), mstl or seasonal_naive.")] = (
        "profile"
    ),
    holidays: Annotated[
        str,
        typer.Option(
            "--holidays",
            help="Holiday calendar: CN (default, with 调休), none, or a country code like NZ-AUK.",
        ),
    ] = "CN",
    missing: Annotated[
        str,
        typer.Option("--missing", help="Absent timestamps are 'unknown' (default) or 'zero' (closed)."),
    ] = "unknown",
    capacity: Annotated[
        float | None,
        typer.Option("--capacity", help="Warn where the upper bound reaches this count/step."),
    ] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON object per step: ts, yhat, lo, hi.")
    ] = False,
) -> None:
    """Forecast a site's traffic (客流预测) with prediction intervals and early warnings (预警)."""
    from keliu.analytics.calendar import day_kind_function
    from keliu.analytics.forecast import early_warnings, forecast

    freq_code = _parse_freq(freq)
    if horizon is not None and horizon <= 0:
        raise ConfigError(f"--horizon {horizon}: must be a positive number of steps")
    if not 1 <= level <= 99:
        raise ConfigError(f"--level {level}: must be a percentage between 1 and 99")
    if model not in _MODELS:
        raise ConfigError(f"--model {model!r}: use one of {', '.join(_MODELS)}")
    if missing not in ("unknown", "zero"):
        raise ConfigError(f"--missing {missing!r}: use unknown or zero")
    try:
        day_kind = day_kind_function(holidays)
    except ValueError as exc:
        raise ConfigError(f"--holidays: {exc}") from None
    if (input_csv is None) == (site is None):
        raise ConfigError("give either --input CSV or --site ID")
    if input_csv is not None:
        series = read_series_csv(input_csv, freq_code)
    else:
        if metric not in ("deduplicated", "total"):
            raise ConfigError(f"--metric {metric!r}: use deduplicated or total")
        series = stored_series(str(site), freq_code, metric, db)
    source = input_csv if input_csv is not None else f"site {site}"
    try:
        result = forecast(
            series,
            horizon,
            freq=freq_code,  # type: ignore[arg-type]
            level=level,
            model=model,  # type: ignore[arg-type]
            day_kind=None if holidays.upper() == "CN" else day_kind,
            missing=missing,  # type: ignore[arg-type]
        )
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    out = sys.stdout
    if jsonl:
        for p in result.points:
            record = {
                "ts": p.ts.isoformat(),
                "yhat": round(p.yhat, 3),
                "lo": round(p.lo, 3),
                "hi": round(p.hi, 3),
            }
            out.write(json.dumps(record) + "\n")
        out.flush()
        return
    out.write(
        f"# model {result.model}, {result.level} % interval, history "
        f"{result.history_start.isoformat()} .. {result.history_end.isoformat()} "
        f"({result.observed} values)\n"
    )
    out.write(f"{'ts':<26}{'yhat':>12}{'lo':>12}{'hi':>12}\n")
    for p in result.points:
        out.write(f"{p.ts.isoformat():<26}{p.yhat:>12.1f}{p.lo:>12.1f}{p.hi:>12.1f}\n")
    warnings = early_warnings(
        series, result, capacity=capacity, day_kind=None if holidays.upper() == "CN" else day_kind
    )
    out.write(f"\n预警 early warnings: {len(warnings) or 'none'}\n")
    for w in warnings:
        out.write(f"  [{w.kind}] {w.reason}\n")
    out.flush()
