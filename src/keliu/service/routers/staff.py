"""员工与无效客流 enrolled staff and exclusion classes of a site (administrators and managers).

``/sites/{site_id}/staff`` lists the enrolled staff — id, name and how many signatures each has, never
the signatures — and removes one (its signatures are deleted). ``/sites/{site_id}/exclusion-classes``
lists the 无效客流 classes that apply to the site (couriers, delivery riders …: the global ones and
the site's own, with their colour rules) and removes one of the site's own; a global class applies to
every site and is removed from the command line (``keliu exclusion remove``). Enrolling is
``keliu staff enrol``, ``keliu exclusion add`` or a confirmed staff suggestion
(``/staff-suggestions``). Every removal is in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from keliu.errors import Conflict, NotFound
from keliu.service.audit import audit
from keliu.service.auth import SiteScope, get_store, require_role
from keliu.service.models import Page
from keliu.store.accounts import User

router = APIRouter(tags=["staff"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Key = Annotated[str, Path(min_length=1, max_length=200)]


class StaffOut(BaseModel):
    id: str
    name: str
    signatures: int = Field(description="how many appearance signatures are enrolled (never the signatures)")


class ColourRuleOut(BaseModel):
    upper_colours: list[str] = Field(description="上装 colours")
    lower_colours: list[str] = Field(description="下装 colours (empty: any)")
    max_stay_s: float | None = Field(description="only stays at most this long")


class ExclusionClassOut(BaseModel):
    id: str
    name: str
    enabled: bool
    scope: Literal["site", "global"] = Field(description="the site's own, or one every site uses")
    colour_rule: ColourRuleOut | None
    exemplars: int = Field(description="how many exemplar signatures it has (never the signatures)")


@router.get("/sites/{site_id}/staff", response_model=Page[StaffOut], summary="Enrolled staff (员工)")
def list_staff(
    site_id: SiteScope, request: Request, _: Manager, limit: Limit = 100, offset: Offset = 0
) -> Page[StaffOut]:
    members = get_store(request).staff(site_id)
    items = [
        StaffOut(id=m.staff_id, name=m.name, signatures=len(m.signatures))
        for m in members[offset : offset + limit]
    ]
    return Page[StaffOut](items=items, total=len(members), limit=limit, offset=offset)


@router.delete(
    "/sites/{site_id}/staff/{staff_id}", status_code=204, summary="Remove an enrolment and its signatures"
)
def remove_staff(site_id: SiteScope, staff_id: Key, request: Request, user: Manager) -> Response:
    if not get_store(request).remove_staff(site_id, staff_id):
        raise NotFound(f"no staff {staff_id!r} enrolled at this site")
    audit(request, user, "staff_removed", site_id=site_id, target=staff_id)
    return Response(status_code=204)


@router.get(
    "/sites/{site_id}/exclusion-classes",
    response_model=Page[ExclusionClassOut],
    summary="Exclusion classes (无效客流) that apply to the site",
)
def list_exclusion_classes(
    site_id: SiteScope, request: Request, _: Manager, limit: Limit = 100, offset: Offset = 0
) -> Page[ExclusionClassOut]:
    store = get_store(request)
    classes = store.exclusion_classes(site_id)
    own = store.own_exclusion_class_ids(site_id)
    items = [
        ExclusionClassOut(
            id=c.class_id,
            name=c.name,
            enabled=c.enabled,
            scope="site" if c.class_id in own else "global",
            colour_rule=None
            if c.colour_rule is None
            else ColourRuleOut(
                upper_colours=list(c.colour_rule.upper_colours),
                lower_colours=list(c.colour_rule.lower_colours),
                max_stay_s=c.colour_rule.max_stay_s,
            ),
            exemplars=len(c.exemplars),
        )
        for c in classes[offset : offset + limit]
    ]
    return Page[ExclusionClassOut](items=items, total=len(classes), limit=limit, offset=offset)


@router.delete(
    "/sites/{site_id}/exclusion-classes/{class_id}",
    status_code=204,
    summary="Remove one of the site's own exclusion classes",
)
def remove_exclusion_class(site_id: SiteScope, class_id: Key, request: Request, user: Manager) -> Response:
    store = get_store(request)
    if not store.remove_exclusion_class(site_id, class_id):
        if any(c.class_id == class_id for c in store.exclusion_classes(site_id)):
            raise Conflict(
                f"exclusion class {class_id!r} is global (it applies to every site); "
                "remove it with keliu exclusion remove"
            )
        raise NotFound(f"no exclusion class {class_id!r} at this site")
    audit(request, user, "exclusion_class_removed", site_id=site_id, target=class_id)
    return Response(status_code=204)
