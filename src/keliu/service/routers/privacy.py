"""Privacy (隐私, ``/api/v1/privacy``): what keliu stores about people and for how long, and purging
appearance signatures now.

Any signed-in user reads the page for the sites they may see: that no video frame, image or crop of a
person is ever stored; each site's signature retention (the longer of its de-dup window and its
returning-visitor memory, after which ``Store.purge_expired`` drops a sighting's signature — the
resolution runs it every hour); how many encrypted signatures of each kind are stored and the age of
the oldest; how many are past their retention now. Administrators purge: the expired ones
(``Store.purge_expired``, the scheduled job run now), or with ``all_signatures`` every signature kept
for re-identification (``Store.purge_all_signatures``); staff enrolments and exclusion-class exemplars
were enrolled on purpose and are removed through their own endpoints. Every purge is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from keliu.service.audit import audit
from keliu.service.auth import CurrentUser, get_store, require_role, visible_sites
from keliu.service.models import Body
from keliu.store.accounts import User

__all__ = ["router"]

router = APIRouter(tags=["privacy"])
Admin = Annotated[User, Depends(require_role("admin"))]

STATEMENT = (
    "keliu never stores video frames, images or crops of people: cameras are analysed in memory and "
    "only counts, times, door crossings, clothing colours and encrypted appearance signatures are kept. "
    "A signature is kept only as long as its purpose needs it (de-duplication and returning-visitor "
    "recognition) and then removed by the hourly purge."
)
HOURLY = "hourly, by each site's resolution (and when a video is processed)"
_KEPT = {
    "sightings": "until the site's retention has passed after the sighting",
    "remembered": "until the visit's memory expires (returning-visitor recognition)",
    "staff_suggestions": "until a manager confirms or dismisses the suggestion",
    "staff": "while the person is enrolled as staff (removed with the enrolment)",
    "exclusion_exemplars": "while the exclusion class exists (removed with it)",
}


class SiteRetention(BaseModel):
    site_id: str
    name: str
    dedup_window_s: float
    returning_memory_days: float
    signature_retention_s: float = Field(description="how long a sighting's signature is kept")


class SignatureKind(BaseModel):
    kind: str = Field(description="sightings, remembered, staff_suggestions, staff, exclusion_exemplars")
    count: int
    oldest_at: datetime | None
    oldest_age_s: float | None
    kept: str = Field(description="how long this kind is kept")
    purged_by_all: bool = Field(description="removed by a purge of all signatures")


class Privacy(BaseModel):
    stores_frames: bool = Field(description="always false: no frame or image is ever stored")
    stores_crops: bool = Field(description="always false: no crop of a person is ever stored")
    signatures_encrypted: bool = Field(description="always true: AES-GCM with the store key")
    statement: str
    purge_schedule: str
    sites: list[SiteRetention]
    signatures: list[SignatureKind]
    expired_now: int = Field(description="signatures past their retention, removed by the next purge")
    checked_at: datetime


class PurgeIn(Body):
    all_signatures: bool = Field(
        False, description="remove every signature kept for re-identification, not only expired ones"
    )


class PurgeOut(BaseModel):
    all_signatures: bool
    removed: int
    by_kind: dict[str, int] = Field(description="with all_signatures: removed of each kind")


@router.get("/privacy", response_model=Privacy, summary="What is stored about people, and for how long")
def privacy(request: Request, user: CurrentUser) -> Privacy:
    store = get_store(request)
    now = datetime.now(UTC)
    site_ids = visible_sites(store, user)
    sites = [store.site(s) for s in site_ids]
    counts = store.signature_counts(site_ids)
    return Privacy(
        stores_frames=False,
        stores_crops=False,
        signatures_encrypted=True,
        statement=STATEMENT,
        purge_schedule=HOURLY,
        sites=[
            SiteRetention(
                site_id=s.site_id,
                name=s.name,
                dedup_window_s=s.dedup_window_s,
                returning_memory_days=s.returning_memory_days,
                signature_retention_s=s.purpose_window.total_seconds(),
            )
            for s in sites
        ],
        signatures=[
            SignatureKind(
                kind=c.kind,
                count=c.count,
                oldest_at=c.oldest,
                oldest_age_s=None if c.oldest is None else max(0.0, (now - c.oldest).total_seconds()),
                kept=_KEPT[c.kind],
                purged_by_all=c.kind in ("sightings", "remembered", "staff_suggestions"),
            )
            for c in counts
        ],
        expired_now=store.expired_signature_count(now, site_ids),
        checked_at=now,
    )


@router.post("/privacy/purge", response_model=PurgeOut, summary="Purge signatures now (administrators)")
def purge(body: PurgeIn, request: Request, user: Admin) -> PurgeOut:
    store = get_store(request)
    if body.all_signatures:
        by_kind = store.purge_all_signatures()
        removed = sum(by_kind.values())
    else:
        by_kind = {}
        removed = store.purge_expired(datetime.now(UTC))
    audit(
        request,
        user,
        "signatures_purged",
        details={"all_signatures": body.all_signatures, "removed": removed, **by_kind},
    )
    return PurgeOut(all_signatures=body.all_signatures, removed=removed, by_kind=by_kind)
