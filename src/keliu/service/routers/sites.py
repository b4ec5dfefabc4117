"""The organisation and its sites (``/api/v1/organisation``, ``/api/v1/sites``): name, time zone,
business hours (营业时间), de-dup window (去重时间), business cycle (营业周期) and multi-store profile.
The site's cameras (设备) are ``keliu.service.routers.devices``, included here under
``/sites/{site_id}/devices``. Every site route is scoped: a user sees only their sites, others are 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator

from keliu.errors import Conflict, InputError
from keliu.service.audit import audit
from keliu.service.auth import CurrentUser, SiteScope, get_store, require_role, visible_sites
from keliu.service.models import Body, Page
from keliu.service.routers import devices
from keliu.store import OpeningHours, SiteProfile
from keliu.store.accounts import User

router = APIRouter(tags=["sites"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
Admin = Annotated[User, Depends(require_role("admin"))]
HHMM = r"^([01]\d|2[0-4]):[0-5]\d$"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Organisation(Body):
    name: str = Field(min_length=1, max_length=200)


class Hours(Body):
    """Opening hours of one weekday; a closing at or before the opening is on the next day (overnight,
    counted for the day it opens on); equal times: open 24 h."""

    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    opens: str = Field(pattern=HHMM, examples=["09:00"])
    closes: str = Field(pattern=HHMM, examples=["21:00"])


class SiteOut(BaseModel):
    id: str
    name: str
    timezone: str
    dedup_window_s: float = Field(description="去重时间: a person re-entering within it is the same visit")
    returning_memory_days: float
    week_start: int = Field(description="营业周期: first day of the business week, 0 = Monday")
    region: str | None
    store_type: str | None
    weight: float
    area_m2: float | None
    hours: list[Hours] = Field(
        description="营业时间 per weekday; a missing weekday is closed; none: always open"
    )
    hours_source: str | None = Field(description="who set the hours last: config, import or api")


class SiteChange(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    dedup_window_s: float | None = Field(None, ge=0, le=7 * 86400)
    returning_memory_days: float | None = Field(None, ge=0, le=3660)
    week_start: int | None = Field(None, ge=0, le=6)
    region: str | None = Field(None, max_length=200)
    store_type: str | None = Field(None, max_length=100)
    weight: float | None = Field(None, ge=0, le=1e6)
    area_m2: float | None = Field(None, gt=0, le=1e7)
    hours: list[Hours] | None = Field(None, max_length=7)

    @field_validator("hours")
    @classmethod
    def _one_per_weekday(cls, value: list[Hours] | None) -> list[Hours] | None:
        if value is not None and len({h.weekday for h in value}) != len(value):
            raise ValueError("each weekday at most once")
        return value


def _hhmm(minutes: int) -> str:
    minutes %= 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def site_out(request: Request, site_id: str) -> SiteOut:
    store = get_store(request)
    site = store.site(site_id)
    profile = store.site_profile(site_id)
    hours = [
        Hours(weekday=h.weekday, opens=_hhmm(h.opens_min), closes=_hhmm(h.closes_min))
        for h in store.business_hours(site_id)
    ]
    return SiteOut(
        id=site.site_id,
        name=site.name,
        timezone=site.timezone,
        dedup_window_s=site.dedup_window_s,
        returning_memory_days=site.returning_memory_days,
        week_start=profile.week_start,
        region=profile.region,
        store_type=profile.store_type,
        weight=profile.weight,
        area_m2=profile.area_m2,
        hours=hours,
        hours_source=store.setting_source(site_id, "business_hours"),
    )


@router.get("/organisation", response_model=Organisation, summary="The organisation (组织)")
def get_organisation(request: Request, _: CurrentUser) -> Organisation:
    return Organisation(name=get_store(request).organisation_name() or "keliu")


@router.put("/organisation", response_model=Organisation, summary="Rename the organisation")
def put_organisation(body: Organisation, request: Request, admin: Admin) -> Organisation:
    get_store(request).set_organisation_name(body.name)
    audit(request, admin, "organisation_changed", target=body.name)
    return body


@router.get("/sites", response_model=Page[SiteOut], summary="The sites you may see")
def list_sites(request: Request, user: CurrentUser) -> Page[SiteOut]:
    items = [site_out(request, s) for s in visible_sites(get_store(request), user)]
    return Page[SiteOut](items=items, total=len(items), limit=max(len(items), 1), offset=0)


class NewSite(Body):
    """A new site (the setup wizard's first step): its cameras, lines, hours and staff follow."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.-]*$")
    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field("Asia/Shanghai", min_length=1, max_length=64)
    store_type: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=200)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import available_timezones

        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)")
        return value


@router.post("/sites", response_model=SiteOut, status_code=201, summary="Create a site (administrators)")
def create_site(body: NewSite, request: Request, admin: Admin) -> SiteOut:
    store = get_store(request)
    if body.id in {s.site_id for s in store.sites()}:
        raise Conflict(f"site {body.id!r} exists already")
    store.upsert_site(body.id, body.name, body.timezone)
    if body.store_type is not None or body.region is not None:
        old = store.site_profile(body.id)
        profile = {**old.__dict__, "store_type": body.store_type, "region": body.region}
        store.set_site_profile(body.id, SiteProfile(**profile))
    audit(request, admin, "site_created", site_id=body.id, target=body.name)
    return site_out(request, body.id)


@router.get("/sites/{site_id}", response_model=SiteOut, summary="A site")
def get_site(site_id: SiteScope, request: Request) -> SiteOut:
    return site_out(request, site_id)


@router.patch("/sites/{site_id}", response_model=SiteOut, summary="Change a site's settings")
def change_site(site_id: SiteScope, body: SiteChange, request: Request, user: Manager) -> SiteOut:
    store = get_store(request)
    site = store.site(site_id)
    if body.name is not None or body.dedup_window_s is not None or body.returning_memory_days is not None:
        store.upsert_site(
            site_id,
            body.name or site.name,
            site.timezone,
            dedup_window_s=site.dedup_window_s if body.dedup_window_s is None else body.dedup_window_s,
            returning_memory_days=site.returning_memory_days
            if body.returning_memory_days is None
            else body.returning_memory_days,
        )
    profile_fields = ("week_start", "region", "store_type", "weight", "area_m2")
    changes = {k: getattr(body, k) for k in profile_fields if getattr(body, k) is not None}
    if changes:
        old = store.site_profile(site_id)
        store.set_site_profile(site_id, SiteProfile(**{**old.__dict__, **changes}))
    if body.hours is not None:
        try:
            hours = [OpeningHours.parse(h.weekday, h.opens, h.closes) for h in body.hours]
        except (ValueError, InputError) as exc:
            raise InputError(f"hours: {exc}") from None
        store.set_business_hours(site_id, hours, source="api")
    audit(
        request,
        user,
        "site_changed",
        site_id=site_id,
        details={"fields": sorted(k for k, v in body.model_dump().items() if v is not None)},
    )
    return site_out(request, site_id)


router.include_router(devices.router)  # /sites/{site_id}/devices: cameras, status, changes
