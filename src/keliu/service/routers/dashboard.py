"""The home dashboard (首页) of a site: 客流简报 brief, today by hour, funnel, entrances, KPIs,
targets (``/api/v1/sites/{site_id}/dashboard``). The same query as `keliu dashboard`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from keliu.analytics import queries
from keliu.analytics.jsonable import to_jsonable
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
