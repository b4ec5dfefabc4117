"""Visits (``/api/v1/sites/{site_id}/visits``) and their manual correction (人工干预过滤,
REQUIREMENTS I8): a day's visits as metadata only (arrival time, door and entrance, batch and its size,
上装/下装 colours, category and its reason, whether a manager corrected it), and a manager's
correction of one visit or of every visit of a batch — staff, courier, not a customer, or back to a
customer — with the reason, which is logged. Every figure follows at once (``keliu.store.corrections``:
batches, rollups, the reception brief) and the site's live stream gets a ``batch`` event for every
batch whose size changed. Undoing a correction (``DELETE /visit-corrections/{visit_id}`` or
``/batch-corrections/{batch_id}``; not a sub-path of the visit, whose id may hold any ``/``) gives the
visit back what the resolution decided.

Any user who may see the site reads its visits; administrators and managers correct them. Visit and
batch ids contain ``/``: send them as they are.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from keliu.errors import NotFound
from keliu.service.audit import audit
from keliu.service.auth import SiteScope, get_store, require_role
from keliu.service.models import Body, Page
from keliu.service.push import batch_data
from keliu.service.routers.reception import day_span
from keliu.store import Store
from keliu.store.accounts import User
from keliu.store.corrections import MAX_REASON, Correction, CorrectionCategory, VisitRecord, check_correction

__all__ = ["router"]

router = APIRouter(tags=["visits"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
DayQuery = Annotated[date | None, Query(description="local day YYYY-MM-DD (default today)")]


class CorrectionIn(Body):
    category: CorrectionCategory = Field(
        description="staff 员工, courier 快递/外卖, not_customer 非客, or customer (back to a customer)"
    )
    reason: str = Field(min_length=1, max_length=MAX_REASON, description="why (kept in the audit log)")


class CorrectionOut(BaseModel):
    category: CorrectionCategory
    reason: str
    corrected_by: str | None
    corrected_at: datetime


class VisitOut(BaseModel):
    visit_id: str
    batch_id: str | None
    arrived_at: datetime = Field(description="first entry")
    last_exit: datetime | None
    camera_id: str | None = Field(description="door of the first entry")
    line_id: str | None
    entrance: str | None = Field(description="出入口 name of that door, when the site names it")
    batch_size: int = Field(description="customers in the batch now (0: no batch)")
    upper_colour: str | None = Field(description="上装 colour")
    lower_colour: str | None = Field(description="下装 colour")
    category: str = Field(description="customer, staff or invalid (无效客流), as counted now")
    reason: str | None = Field(description="why it is not a customer (e.g. staff:…, courier, manual:courier)")
    returning: bool
    corrected: bool = Field(description="a manager corrected it (人工干预)")
    correction: CorrectionOut | None


class BatchCorrectionOut(BaseModel):
    batch_id: str
    visits: list[VisitOut]


def _correction_out(c: Correction | None) -> CorrectionOut | None:
    if c is None:
        return None
    return CorrectionOut(
        category=c.category, reason=c.reason, corrected_by=c.corrected_by, corrected_at=c.corrected_at
    )


def _visit_out(r: VisitRecord) -> VisitOut:
    return VisitOut(
        visit_id=r.visit_id,
        batch_id=r.batch_id,
        arrived_at=r.arrived_at,
        last_exit=r.last_exit,
        camera_id=r.camera_id,
        line_id=r.line_id,
        entrance=r.entrance,
        batch_size=r.batch_size,
        upper_colour=r.upper_colour,
        lower_colour=r.lower_colour,
        category=r.category,
        reason=r.reason,
        returning=r.returning,
        corrected=r.correction is not None,
        correction=_correction_out(r.correction),
    )


def _push_batches(request: Request, store: Store, site_id: str, batch_ids: list[str]) -> None:
    """A ``batch`` event for each batch a correction touched: its customers now (size 0: none left)."""
    pusher: Any = request.app.state.pusher
    for batch_id in batch_ids:
        members = [store.visit_record(site_id, visit_id) for visit_id in _members(store, site_id, batch_id)]
        customers = [m for m in members if m.category == "customer"]
        started = min((m.arrived_at for m in customers or members), default=None)
        if started is None:
            continue
        pusher.push(
            site_id,
            "batch",
            batch_data(
                batch_id, started_at=started, size=len(customers), visit_ids=[m.visit_id for m in customers]
            ),
        )


def _members(store: Store, site_id: str, batch_id: str) -> list[str]:
    try:
        return store.batch_visit_ids(site_id, batch_id)
    except NotFound:  # a batch left without visits: nothing to say
        return []


@router.get(
    "/sites/{site_id}/visits", response_model=Page[VisitOut], summary="Visits of a day (metadata only)"
)
def list_visits(
    site_id: SiteScope,
    request: Request,
    day: DayQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[VisitOut]:
    _, start, end = day_span(request, site_id, day)
    records, total = get_store(request).visit_records(site_id, start, end, limit=limit, offset=offset)
    return Page[VisitOut](items=[_visit_out(r) for r in records], total=total, limit=limit, offset=offset)


@router.patch(
    "/sites/{site_id}/visits/{visit_id:path}",
    response_model=VisitOut,
    summary="Correct who a visit was (人工干预): staff, courier, not a customer, or a customer",
)
def correct_visit(
    site_id: SiteScope, visit_id: str, body: CorrectionIn, request: Request, user: Manager
) -> VisitOut:
    store = get_store(request)
    reason = check_correction(body.category, body.reason)
    store.visit_record(site_id, visit_id)  # 404 before anything else
    batches = store.correct_visits(site_id, [visit_id], body.category, reason, by=user.username)
    audit(
        request,
        user,
        "visit_corrected",
        site_id=site_id,
        target=visit_id,
        details={"category": body.category, "reason": reason},
    )
    _push_batches(request, store, site_id, batches)
    return _visit_out(store.visit_record(site_id, visit_id))


@router.delete(
    "/sites/{site_id}/visit-corrections/{visit_id:path}",
    response_model=VisitOut,
    summary="Undo a visit's correction: it is counted as the resolution decided",
)
def undo_visit(site_id: SiteScope, visit_id: str, request: Request, user: Manager) -> VisitOut:
    store = get_store(request)
    batches = store.undo_corrections(site_id, [visit_id])
    audit(request, user, "visit_correction_undone", site_id=site_id, target=visit_id)
    _push_batches(request, store, site_id, batches)
    return _visit_out(store.visit_record(site_id, visit_id))


@router.patch(
    "/sites/{site_id}/batches/{batch_id:path}",
    response_model=BatchCorrectionOut,
    summary="Correct every visit of a batch (批次) at once",
)
def correct_batch(
    site_id: SiteScope, batch_id: str, body: CorrectionIn, request: Request, user: Manager
) -> BatchCorrectionOut:
    store = get_store(request)
    reason = check_correction(body.category, body.reason)
    ids = store.batch_visit_ids(site_id, batch_id)
    batches = store.correct_visits(site_id, ids, body.category, reason, by=user.username)
    audit(
        request,
        user,
        "batch_corrected",
        site_id=site_id,
        target=batch_id,
        details={"category": body.category, "reason": reason, "visits": ids},
    )
    _push_batches(request, store, site_id, batches)
    return BatchCorrectionOut(
        batch_id=batch_id, visits=[_visit_out(store.visit_record(site_id, i)) for i in ids]
    )


@router.delete(
    "/sites/{site_id}/batch-corrections/{batch_id:path}",
    response_model=BatchCorrectionOut,
    summary="Undo the corrections of a batch's visits",
)
def undo_batch(site_id: SiteScope, batch_id: str, request: Request, user: Manager) -> BatchCorrectionOut:
    store = get_store(request)
    members = [store.visit_record(site_id, i) for i in store.batch_visit_ids(site_id, batch_id)]
    ids = [m.visit_id for m in members if m.correction is not None]
    if not ids:
        raise NotFound(f"no visit of batch {batch_id!r} has a manual correction")
    batches = store.undo_corrections(site_id, ids)
    audit(request, user, "batch_correction_undone", site_id=site_id, target=batch_id, details={"visits": ids})
    _push_batches(request, store, site_id, batches)
    return BatchCorrectionOut(
        batch_id=batch_id, visits=[_visit_out(store.visit_record(site_id, i)) for i in ids]
    )
