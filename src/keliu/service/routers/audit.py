"""The audit log (审计日志, ``/api/v1/audit``): administrators see everything, managers the entries
of their sites; store staff see none."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from keliu.service.auth import get_store, require_role
from keliu.service.models import Page
from keliu.store.accounts import User

router = APIRouter(tags=["audit"])


class AuditOut(BaseModel):
    id: int
    at: datetime
    username: str | None
    action: str
    site_id: str | None
    target: str | None
    details: dict[str, Any]
    ip: str | None


@router.get("/audit", response_model=Page[AuditOut], summary="The audit log, newest first")
def audit_log(
    request: Request,
    user: Annotated[User, Depends(require_role("admin", "manager"))],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[AuditOut]:
    sites = None if user.role == "admin" else list(user.sites)
    entries, total = get_store(request).audit_entries(site_ids=sites, limit=limit, offset=offset)
    return Page[AuditOut](
        items=[AuditOut(**e.__dict__) for e in entries], total=total, limit=limit, offset=offset
    )
