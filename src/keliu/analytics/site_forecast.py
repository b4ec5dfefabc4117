"""A stored site's forecast (客流预测): its history from the store's rollups, the next days'
forecast and early warnings (预警), for `keliu forecast --site`, the API and the web UI.

The forecasting itself is :mod:`keliu.analytics.forecast`; this module only reads the history and
shapes the answer. Must not touch video or signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from keliu.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from keliu.store import Store

__all__ = ["HISTORY_DAYS", "DayForecast", "SiteForecast", "site_forecast", "site_history"]

HISTORY_DAYS = 84  # 12 weeks: what the default profile model averages


def site_history(store: Store, site_id: str, freq: str, metric: str, today: date | None = None) -> pd.Series:
    """The site's last ``HISTORY_DAYS`` whole local days (ending yesterday) of ``metric`` from the
    store's rollups, hourly (``"h"``) or daily (``"D"``), on naive local timestamps.

    The history starts no earlier than the site's first day with data: the days before it are
    unknown (the site was not counting yet), not days without customers. Fewer than ``MIN_WEEKS``
    whole weeks of it is an :class:`InputError` ``not enough history: N days of data …, need M``."""
    import pandas as pd

    from keliu.analytics.forecast import MIN_WEEKS
    from keliu.analytics.queries import data_span, trend

    need = MIN_WEEKS * 7
    zone = ZoneInfo(store.site(site_id).timezone)
    last = (today or datetime.now(UTC).astimezone(zone).date()) - timedelta(days=1)
    first = last - timedelta(days=HISTORY_DAYS - 1)
    span = data_span(store, site_id)
    first = last + timedelta(days=1) if span is None else max(first, span[0])
    days = max((last - first).days + 1, 0)
    if days < need:
        since = f" ({first.isoformat()} .. {last.isoformat()})" if days else ""
        raise InputError(
            f"site {site_id}: not enough history: {days} whole day{'' if days == 1 else 's'} of data"
            f"{since}, need {need} ({MIN_WEEKS} weeks); the days before a site's first data are "
            "unknown, not zero"
        )
    result = trend(store, site_id, first, last, metric, by="hour" if freq == "h" else "day")  # type: ignore[arg-type]
    stamps = pd.DatetimeIndex([pd.Timestamp(label) for label, _ in result.points])
    return pd.Series([float(v) for _, v in result.points], index=stamps, name="value", dtype=float)


@dataclass(frozen=True)
class DayForecast:
    day: date
    expected: float
    low: float
    high: float
    warning: str | None  # surge / drop, with the reason, when the day looks unusual


@dataclass(frozen=True)
class SiteForecast:
    site_id: str
    metric: str
    level: int
    history_first: date
    history_last: date
    days: tuple[DayForecast, ...]


def site_forecast(
    store: Store, site_id: str, metric: str = "deduplicated", days: int = 7, today: date | None = None
) -> SiteForecast:
    """The next ``days`` days (from today) of a stored site, daily totals with an 80 % interval."""
    from keliu.analytics.forecast import early_warnings, forecast

    history = site_history(store, site_id, "D", metric, today)
    result = forecast(history, days, freq="D", level=80)
    warnings = {
        w.day: f"{w.kind}: {w.reason}" for w in early_warnings(history, result) if w.kind != "capacity"
    }
    return SiteForecast(
        site_id=site_id,
        metric=metric,
        level=result.level,
        history_first=history.index[0].date(),
        history_last=history.index[-1].date(),
        days=tuple(
            DayForecast(
                p.ts.date(), round(p.yhat, 1), round(p.lo, 1), round(p.hi, 1), warnings.get(p.ts.date())
            )
            for p in result.points
        ),
    )
