"""The home dashboard (首页) of a site: 客流简报 brief, today by hour, funnel, entrances, KPIs,
targets (``/api/v1/sites/{site_id}/dashboard``), the same query as `keliu dashboard`; and next week's
forecast 客流预测 with early warnings (``/forecast``), the same as `keliu forecast --site`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from keliu.analytics import queries
from keliu.analytics.jsonable import to_jsonable
from keliu.analytics.site_forecast import site_forecast
from keliu.domain.bounds import FIRST_DAY, LAST_DAY, day_in_bounds
from keliu.errors import InputError
from keliu.service.auth import SiteScope, get_store

router = APIRouter(tags=["dashboard"])


@router.get(
    "/sites/{site_id}/dashboard",
    summary="首页 home dashboard of a site at a moment (default now)",
    response_model=dict[str, Any],
)
def site_dashboard(
    site_id: SiteScope,
    request: Request,
    at: Annotated[datetime | None, Query(description="ISO date-time with offset; default now")] = None,
) -> dict[str, Any]:
    now = datetime.now(UTC) if at is None else at
    if now.tzinfo is None:
        raise InputError("at: give a UTC offset, e.g. 2026-03-07T11:30:00+08:00")
    if not day_in_bounds(now.date()):
        raise InputError(f"at: {now.date()} is outside {FIRST_DAY}..{LAST_DAY}")
    result: dict[str, Any] = to_jsonable(queries.home_dashboard(get_store(request), site_id, now))
    return result


@router.get(
    "/sites/{site_id}/forecast",
    summary="预测 the coming days' traffic (80 % interval) and early warnings 预警",
    response_model=dict[str, Any],
)
def forecast(
    site_id: SiteScope,
    request: Request,
    metric: Annotated[Literal["deduplicated", "total"], Query()] = "deduplicated",
    days: Annotated[int, Query(ge=1, le=28)] = 7,
) -> dict[str, Any]:
    result: dict[str, Any] = to_jsonable(site_forecast(get_store(request), site_id, metric, days))
    return result
