"""接待 the reception desk (``/api/v1/sites/{site_id}/arrivals``, ``/reception``) and the staff-suggestion
inbox (``/staff-suggestions``): live arrivals of a day, merging batches and splitting one (批次
合并/拆分, ``keliu.store.regroup``), classifying a batch (看车/订单/售后/非客/店员) and assigning a
sales advisor, the brief 到店客流/看车客户/订单客户/售后客户/非客, and confirming or dismissing people
who looked like staff. Whoever may classify a batch may merge and split batches."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field, StringConstraints

from keliu.domain.bounds import FIRST_DAY, LAST_DAY, day_in_bounds
from keliu.errors import InputError
from keliu.service.audit import audit
from keliu.service.auth import CurrentUser, SiteScope, get_store, require_role
from keliu.service.models import Body, Page
from keliu.service.push import batch_data, reception_data
from keliu.store import Store
from keliu.store.accounts import User
from keliu.store.reception import Arrival, Reception, ReceptionCategory
from keliu.store.regroup import MAX_MERGE, RegroupRefused

router = APIRouter(tags=["reception"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
DayQuery = Annotated[date | None, Query(description="local day YYYY-MM-DD (default today)")]
AnId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
MAX_SPLIT = 500


class ReceptionIn(Body):
    category: ReceptionCategory | None = Field(
        None, description="browsing 看车, order 订单, after_sales 售后, not_customer 非客, staff 店员"
    )
    advisor: str | None = Field(None, max_length=200, description="销售顾问 assigned to the batch")
    note: str | None = Field(None, max_length=1000)


class ReceptionOut(BaseModel):
    batch_id: str
    category: ReceptionCategory | None
    advisor: str | None
    note: str | None
    updated_by: str | None
    updated_at: datetime


class ArrivalOut(BaseModel):
    batch_id: str
    started_at: datetime
    size: int = Field(description="customers in the batch (批次人数)")
    visit_ids: list[str]
    upper_colours: list[str | None] = Field(description="上装 colour of each person")
    lower_colours: list[str | None] = Field(description="下装 colour of each person")
    camera_id: str | None
    line_id: str | None
    reception: ReceptionOut | None


class MergeIn(Body):
    batch_ids: list[AnId] = Field(
        min_length=2,
        max_length=MAX_MERGE,
        description="the batches to merge, two or more (the earliest keeps its id)",
    )


class SplitIn(Body):
    visit_ids: list[AnId] = Field(
        min_length=1,
        max_length=MAX_SPLIT,
        description="the customers (of the batch's visit_ids) who leave into a new batch; not all of them",
    )


class MergeOut(BaseModel):
    batch: ArrivalOut = Field(description="the merged batch, with the earliest batch's id")
    merged: list[str] = Field(description="the batches merged into it (gone now)")
    dropped_receptions: list[ReceptionOut] = Field(
        description="reception decisions of merged batches that were given up (the kept batch had one)"
    )


class SplitOut(BaseModel):
    batch: ArrivalOut = Field(description="the batch split, with the visits that stayed")
    new_batch: ArrivalOut = Field(description="the new batch of the visits that left (not classified yet)")


class Brief(BaseModel):
    day: date
    arrivals: int = Field(description="到店客流: batches that arrived")
    people: int = Field(description="customers in those batches")
    browsing: int = Field(description="看车客户")
    order: int = Field(description="订单客户")
    after_sales: int = Field(description="售后客户")
    not_customer: int = Field(description="非客")
    staff: int = Field(description="店员")
    unclassified: int


class SuggestionOut(BaseModel):
    person_key: str
    day: date
    share: float = Field(description="share of the day's business hours present")
    present_s: float
    reasons: list[str]
    visit_ids: list[str]
    status: Literal["pending", "confirmed", "dismissed"]
    decided_by: str | None
    can_confirm: bool = Field(description="a signature was kept, so confirming can enrol them")


class Confirm(Body):
    staff_id: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[\w.@-]+$")
    name: str | None = Field(None, min_length=1, max_length=200)


class Enrolled(BaseModel):
    staff_id: str


def _reception_out(r: Reception) -> ReceptionOut:
    return ReceptionOut(**r.__dict__)


def _arrival_out(a: Arrival) -> ArrivalOut:
    return ArrivalOut(
        batch_id=a.batch_id,
        started_at=a.started_at,
        size=a.size,
        visit_ids=list(a.visit_ids),
        upper_colours=list(a.upper_colours),
        lower_colours=list(a.lower_colours),
        camera_id=a.camera_id,
        line_id=a.line_id,
        reception=None if a.reception is None else _reception_out(a.reception),
    )


def day_span(request: Request, site_id: str, day: date | None) -> tuple[date, datetime, datetime]:
    """The site's local ``day`` (default today) as a UTC range."""
    zone = ZoneInfo(get_store(request).site(site_id).timezone)
    day = day or datetime.now(zone).date()
    if not day_in_bounds(day):
        raise InputError(f"day: {day} is outside {FIRST_DAY}..{LAST_DAY}")
    start = datetime.combine(day, time(0), zone)
    return day, start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


@router.get("/sites/{site_id}/arrivals", response_model=Page[ArrivalOut], summary="Arrivals (批次) of a day")
def arrivals(
    site_id: SiteScope,
    request: Request,
    day: DayQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Page[ArrivalOut]:
    _, start, end = day_span(request, site_id, day)
    store = get_store(request)
    items = [_arrival_out(a) for a in store.arrivals(site_id, start, end, limit=limit)]
    total = store.reception_brief(site_id, start, end)["arrivals"]
    return Page[ArrivalOut](items=items, total=total, limit=limit, offset=0)


@router.put(
    "/sites/{site_id}/arrivals/{batch_id:path}/reception",
    response_model=ReceptionOut,
    summary="Classify a batch and assign its advisor (batch ids contain '/': send them as they are)",
)
def set_reception(
    site_id: SiteScope, batch_id: str, body: ReceptionIn, request: Request, user: CurrentUser
) -> ReceptionOut:
    saved = get_store(request).set_reception(
        site_id, batch_id, category=body.category, advisor=body.advisor, note=body.note, by=user.username
    )
    audit(request, user, "reception_set", site_id=site_id, target=batch_id, details=body.model_dump())
    request.app.state.pusher.push(site_id, "reception", reception_data(saved))  # live desks and webhooks
    return _reception_out(saved)


def _refused(exc: RegroupRefused) -> HTTPException:
    return HTTPException(status_code=422, detail=str(exc))


def _push_batch(request: Request, site_id: str, arrival: Arrival) -> None:
    request.app.state.pusher.push(
        site_id,
        "batch",
        batch_data(
            arrival.batch_id, started_at=arrival.started_at, size=arrival.size, visit_ids=arrival.visit_ids
        ),
    )


def _arrival(store: Store, site_id: str, batch_id: str) -> Arrival:
    (found,) = store.arrivals_by_id(site_id, [batch_id])
    return found


@router.post(
    "/sites/{site_id}/arrivals/merge",
    response_model=MergeOut,
    summary="Merge batches (批次合并): the earliest keeps its id, the others' visits move into it",
)
def merge_batches(site_id: SiteScope, body: MergeIn, request: Request, user: CurrentUser) -> MergeOut:
    store = get_store(request)
    try:
        merge = store.merge_batches(site_id, body.batch_ids, by=user.username)
    except RegroupRefused as exc:
        raise _refused(exc) from None
    audit(
        request,
        user,
        "batches_merged",
        site_id=site_id,
        target=merge.batch_id,
        details={
            "batches": [merge.batch_id, *merge.merged],
            "visits": list(merge.visit_ids),
            "reception": None if merge.reception is None else merge.reception.category,
            "dropped_receptions": [
                {"batch_id": d.batch_id, "category": d.category, "advisor": d.advisor} for d in merge.dropped
            ],
        },
    )
    kept = _arrival(store, site_id, merge.batch_id)
    _push_batch(request, site_id, kept)
    for gone, started_at in zip(merge.merged, merge.merged_started_at, strict=True):
        request.app.state.pusher.push(site_id, "batch", batch_data(gone, started_at=started_at, size=0))
    if merge.moved_reception and merge.reception is not None:
        request.app.state.pusher.push(site_id, "reception", reception_data(merge.reception))
    return MergeOut(
        batch=_arrival_out(kept),
        merged=list(merge.merged),
        dropped_receptions=[_reception_out(d) for d in merge.dropped],
    )


@router.post(
    "/sites/{site_id}/arrivals/{batch_id:path}/split",
    response_model=SplitOut,
    summary="Split a batch (批次拆分): the visits named leave into a new batch (batch ids contain '/')",
)
def split_batch(
    site_id: SiteScope, batch_id: str, body: SplitIn, request: Request, user: CurrentUser
) -> SplitOut:
    store = get_store(request)
    try:
        split = store.split_batch(site_id, batch_id, body.visit_ids, by=user.username)
    except RegroupRefused as exc:
        raise _refused(exc) from None
    audit(
        request,
        user,
        "batch_split",
        site_id=site_id,
        target=batch_id,
        details={"new_batch": split.new_batch_id, "visits": list(split.visit_ids)},
    )
    stayed, left = _arrival(store, site_id, split.batch_id), _arrival(store, site_id, split.new_batch_id)
    _push_batch(request, site_id, stayed)
    _push_batch(request, site_id, left)
    return SplitOut(batch=_arrival_out(stayed), new_batch=_arrival_out(left))


@router.get("/sites/{site_id}/reception/brief", response_model=Brief, summary="The reception brief of a day")
def reception_brief(site_id: SiteScope, request: Request, day: DayQuery = None) -> Brief:
    local_day, start, end = day_span(request, site_id, day)
    return Brief(day=local_day, **get_store(request).reception_brief(site_id, start, end))


@router.get(
    "/sites/{site_id}/staff-suggestions",
    response_model=Page[SuggestionOut],
    summary="People who looked like staff, waiting for a decision",
)
def staff_suggestions(
    site_id: SiteScope,
    request: Request,
    _: Manager,
    status: Annotated[Literal["pending", "confirmed", "dismissed"], Query()] = "pending",
) -> Page[SuggestionOut]:
    items = [
        SuggestionOut(
            person_key=s.person_key,
            day=s.day,
            share=s.share,
            present_s=s.present_s,
            reasons=list(s.reasons),
            visit_ids=list(s.visit_ids),
            status=s.status,
            decided_by=s.decided_by,
            can_confirm=s.has_signature and s.status == "pending",
        )
        for s in get_store(request).staff_suggestions(site_id, (status,))
    ]
    return Page[SuggestionOut](items=items, total=len(items), limit=max(len(items), 1), offset=0)


@router.post(
    "/sites/{site_id}/staff-suggestions/{person_key}/{day}/confirm",
    response_model=Enrolled,
    summary="Confirm: enrol this person as staff from their kept signature",
)
def confirm_suggestion(
    site_id: SiteScope, person_key: str, day: date, body: Confirm, request: Request, user: Manager
) -> Enrolled:
    staff_id = get_store(request).decide_staff_suggestion(
        site_id, person_key, day, confirm=True, staff_id=body.staff_id, name=body.name, by=user.username
    )
    assert staff_id is not None
    audit(request, user, "staff_suggestion_confirmed", site_id=site_id, target=f"{person_key}/{day}")
    request.app.state.runtime.staff_changed(site_id)  # the running resolver knows them from now on
    return Enrolled(staff_id=staff_id)


@router.post(
    "/sites/{site_id}/staff-suggestions/{person_key}/{day}/dismiss",
    status_code=204,
    summary="Dismiss: not a member of staff",
)
def dismiss_suggestion(
    site_id: SiteScope, person_key: str, day: date, request: Request, user: Manager
) -> Response:
    get_store(request).decide_staff_suggestion(site_id, person_key, day, confirm=False, by=user.username)
    audit(request, user, "staff_suggestion_dismissed", site_id=site_id, target=f"{person_key}/{day}")
    return Response(status_code=204)
