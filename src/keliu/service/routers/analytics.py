"""Every metric of the analytics catalogue (``keliu.analytics.catalogue``) over the API:
``GET /api/v1/metrics`` lists them, ``GET /api/v1/sites/{site_id}/metrics/{name}`` computes one for a
site, ``GET /api/v1/metrics/{name}`` one over the whole chain (administrators: a chain figure
includes every store). Parameters are the catalogue's; one a metric does not take is refused."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from keliu.analytics.catalogue import METRIC_NAMES, METRICS, run_metric
from keliu.analytics.jsonable import to_jsonable
from keliu.errors import ConfigError
from keliu.service.auth import CurrentUser, SiteScope, get_store, require_role
from keliu.store.accounts import User

router = APIRouter(tags=["analytics"])
MetricName = Literal[METRIC_NAMES]  # type: ignore[valid-type]
Text = Annotated[str | None, Query(max_length=100)]
Day = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="local day YYYY-MM-DD")]


class MetricInfo(BaseModel):
    name: str
    zh: str = Field(description="Chinese name, e.g. 区域对比")
    en: str
    description: str
    site: Literal["optional", "required", "none"] = Field(
        description="whether the metric needs a site, may cover the whole chain, or always does"
    )
    params: list[str]


class MetricResult(BaseModel):
    metric: str
    site: str | None
    params: dict[str, Any]
    result: Any


class Params:
    """The catalogue's parameters as query parameters (``from``/``to`` are local days, inclusive)."""

    def __init__(
        self,
        day: Day = None,
        date_from: Annotated[str | None, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
        date_to: Annotated[str | None, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
        metric: Text = None,
        at: Text = None,
        by: Text = None,
        top: Text = None,
        days: Text = None,
        year: Text = None,
        month: Text = None,
        level: Text = None,
        zone: Text = None,
        other_zone: Text = None,
        from_zone: Text = None,
        to_zone: Text = None,
    ) -> None:
        self.values = {
            "day": day,
            "from": date_from,
            "to": date_to,
            "metric": metric,
            "at": at,
            "by": by,
            "top": top,
            "days": days,
            "year": year,
            "month": month,
            "level": level,
            "zone": zone,
            "other_zone": other_zone,
            "from_zone": from_zone,
            "to_zone": to_zone,
        }


def _run(request: Request, name: str, site: str | None, params: Params) -> MetricResult:
    values = {k: v for k, v in params.values.items() if v is not None}
    run = run_metric(get_store(request), name, {"site": site, **values})
    return MetricResult(
        metric=run.metric, site=run.site, params=to_jsonable(run.params), result=to_jsonable(run.result)
    )


@router.get("/metrics", response_model=list[MetricInfo], summary="The metric catalogue (指标目录)")
def catalogue(_: CurrentUser) -> list[MetricInfo]:
    return [
        MetricInfo(
            name=m.name, zh=m.zh, en=m.en, description=m.description, site=m.site, params=list(m.params)
        )
        for m in METRICS.values()
    ]


@router.get("/sites/{site_id}/metrics/{name}", response_model=MetricResult, summary="A metric of a site")
def site_metric(
    site_id: SiteScope, name: MetricName, request: Request, params: Annotated[Params, Depends()]
) -> MetricResult:
    if METRICS[name].site == "none":
        raise ConfigError(f"metric {name}: it covers every store; use /api/v1/metrics/{name}")
    return _run(request, name, site_id, params)


@router.get(
    "/metrics/{name}", response_model=MetricResult, summary="A metric over the whole chain (administrators)"
)
def chain_metric(
    name: MetricName,
    request: Request,
    _: Annotated[User, Depends(require_role("admin"))],
    params: Annotated[Params, Depends()],
) -> MetricResult:
    if METRICS[name].site == "required":
        raise ConfigError(f"metric {name}: it needs a site; use /api/v1/sites/{{site_id}}/metrics/{name}")
    return _run(request, name, None, params)
