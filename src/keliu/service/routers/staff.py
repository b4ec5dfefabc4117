"""员工与无效客流 enrolled staff and exclusion classes of a site (administrators and managers).

``/sites/{site_id}/staff`` lists the enrolled staff — id, name and how many signatures each has, never
the signatures — and removes one (its signatures are deleted). ``/sites/{site_id}/exclusion-classes``
lists the 无效客流 classes that apply to the site (couriers, delivery riders …: the global ones and
the site's own, with their colour rules) with the colour names a rule may use, creates one of the
site's own with a colour rule, changes it (name, on/off, colour rule) and removes it; a global class
applies to every site and is changed and removed from the command line (``keliu exclusion``).
Exemplar images never travel over the API (``keliu exclusion add --images``). Every change is in the
audit log and reaches the site's running resolver before its next sighting. Enrolling is
``keliu staff enrol`` or a confirmed staff suggestion (``/staff-suggestions``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from keliu.domain.visits import COLOUR_NAMES, ColourName, ColourRule, ExclusionClass
from keliu.errors import Conflict, NotFound
from keliu.service.audit import audit
from keliu.service.auth import SiteScope, get_store, require_role
from keliu.service.models import Page
from keliu.service.runtime import ServiceRuntime
from keliu.store.accounts import User

router = APIRouter(tags=["staff"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Key = Annotated[str, Path(min_length=1, max_length=200)]
ClassKey = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


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


class ExclusionClassPage(Page[ExclusionClassOut]):
    colours: list[str] = Field(description="the colour names a colour rule may use (上装/下装)")


# what a class may not be called: the resolver's and the corrections' own exclusion reasons
_RESERVED_IDS = ("outside_hours",)
_RESERVED_PREFIXES = ("staff:", "manual:")
_NO_IMAGES = "exemplar images are never sent over the API: add them with keliu exclusion add --images"


def _colour_names(names: list[str]) -> list[str]:
    """The names in order, each once; ValueError naming any that is not a colour (as the CLI)."""
    unknown = [n for n in names if n not in COLOUR_NAMES]
    if unknown:
        raise ValueError(f"unknown colour(s) {', '.join(unknown)}; use {', '.join(COLOUR_NAMES)}")
    return list(dict.fromkeys(names))


class ColourRuleIn(BaseModel):
    """A colour rule: 上装 colours (at least one), 下装 colours (none: any), the longest stay."""

    model_config = ConfigDict(extra="forbid")

    upper_colours: list[str] = Field(min_length=1, max_length=len(COLOUR_NAMES), examples=[["yellow"]])
    lower_colours: list[str] = Field(default_factory=list, max_length=len(COLOUR_NAMES))
    max_stay_s: float | None = Field(
        None, gt=0, le=86_400, description="only stays at most this long (couriers drop off and leave)"
    )

    _names = field_validator("upper_colours", "lower_colours")(_colour_names)

    def rule(self) -> ColourRule:
        upper = tuple(cast(ColourName, c) for c in self.upper_colours)  # checked: _colour_names
        lower = tuple(cast(ColourName, c) for c in self.lower_colours)
        return ColourRule(upper, lower, self.max_stay_s)


def _class_name(value: str | None) -> str | None:
    """The name without surrounding spaces; ValueError for a blank one or control characters."""
    if value is None:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("a name has no control characters")
    if not value.strip():
        raise ValueError("a class needs a name")
    return value.strip()


def _no_exemplars(data: Any) -> Any:
    if isinstance(data, dict) and "exemplars" in data:
        raise ValueError(_NO_IMAGES)
    return data


class ExclusionClassIn(BaseModel):
    """A new class of the site's own."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-\u4e00-\u9fff]+$", examples=["courier:sf"]
    )
    name: str = Field(min_length=1, max_length=200, examples=["顺丰 SF"])
    colour_rule: ColourRuleIn = Field(
        description="required: a class the API creates has no exemplars, so its colour rule is what matches"
    )
    enabled: StrictBool = True

    _before = model_validator(mode="before")(_no_exemplars)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in _RESERVED_IDS or value.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"{value!r} is an exclusion reason keliu gives itself; choose another id")
        return value

    _name = field_validator("name")(_class_name)


class ExclusionClassPatch(BaseModel):
    """What to change of one of the site's own classes; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    enabled: StrictBool | None = None
    colour_rule: ColourRuleIn | None = Field(
        None, description="the new rule; null removes it (only from a class with exemplars)"
    )

    _before = model_validator(mode="before")(_no_exemplars)

    _name = field_validator("name")(_class_name)

    @model_validator(mode="after")
    def _something(self) -> ExclusionClassPatch:
        if not self.model_fields_set:
            raise ValueError("give name, enabled and/or colour_rule to change")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name: a class needs a name")
        if "enabled" in self.model_fields_set and self.enabled is None:
            raise ValueError("enabled: true or false")
        return self


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
    runtime: ServiceRuntime = request.app.state.runtime
    runtime.staff_changed(site_id)
    return Response(status_code=204)


def _rule_out(rule: ColourRule | None) -> ColourRuleOut | None:
    if rule is None:
        return None
    return ColourRuleOut(
        upper_colours=list(rule.upper_colours),
        lower_colours=list(rule.lower_colours),
        max_stay_s=rule.max_stay_s,
    )


def _class_out(cls: ExclusionClass, own: set[str]) -> ExclusionClassOut:
    return ExclusionClassOut(
        id=cls.class_id,
        name=cls.name,
        enabled=cls.enabled,
        scope="site" if cls.class_id in own else "global",
        colour_rule=_rule_out(cls.colour_rule),
        exemplars=len(cls.exemplars),
    )


def _one_class(request: Request, site_id: str, class_id: str) -> ExclusionClassOut:
    store = get_store(request)
    own = store.own_exclusion_class_ids(site_id)
    for cls in store.exclusion_classes(site_id):
        if cls.class_id == class_id:
            return _class_out(cls, own)
    raise NotFound(f"no exclusion class {class_id!r} at this site")  # removed meanwhile


def _changed(request: Request, site_id: str) -> None:
    """The site's running resolver takes the store's classes from its next sighting on."""
    runtime: ServiceRuntime = request.app.state.runtime
    runtime.exclusion_classes_changed(site_id)


def _rule_json(rule: ColourRuleIn | None) -> dict[str, Any] | None:
    return None if rule is None else rule.model_dump()


@router.get(
    "/sites/{site_id}/exclusion-classes",
    response_model=ExclusionClassPage,
    summary="Exclusion classes (无效客流) that apply to the site, and the colour names a rule may use",
)
def list_exclusion_classes(
    site_id: SiteScope, request: Request, _: Manager, limit: Limit = 100, offset: Offset = 0
) -> ExclusionClassPage:
    store = get_store(request)
    classes = store.exclusion_classes(site_id)
    own = store.own_exclusion_class_ids(site_id)
    items = [_class_out(c, own) for c in classes[offset : offset + limit]]
    return ExclusionClassPage(
        items=items, total=len(classes), limit=limit, offset=offset, colours=list(COLOUR_NAMES)
    )


@router.post(
    "/sites/{site_id}/exclusion-classes",
    response_model=ExclusionClassOut,
    status_code=201,
    summary="Create one of the site's own exclusion classes (a colour rule; exemplar images: CLI only)",
)
def create_exclusion_class(
    site_id: SiteScope, body: ExclusionClassIn, request: Request, user: Manager
) -> ExclusionClassOut:
    store = get_store(request)
    store.add_exclusion_class(
        site_id, ExclusionClass(body.id, body.name, colour_rule=body.colour_rule.rule(), enabled=body.enabled)
    )
    audit(
        request,
        user,
        "exclusion_class_created",
        site_id=site_id,
        target=body.id,
        details={"name": body.name, "enabled": body.enabled, "colour_rule": _rule_json(body.colour_rule)},
    )
    _changed(request, site_id)
    return _one_class(request, site_id, body.id)


@router.patch(
    "/sites/{site_id}/exclusion-classes/{class_id}",
    response_model=ExclusionClassOut,
    summary="Rename, switch on or off, or change the colour rule of one of the site's own classes; "
    "switch a global class on or off for this site only",
)
def change_exclusion_class(
    site_id: SiteScope, class_id: ClassKey, body: ExclusionClassPatch, request: Request, user: Manager
) -> ExclusionClassOut:
    given = body.model_fields_set
    rule = body.colour_rule.rule() if body.colour_rule is not None else None
    get_store(request).update_exclusion_class(
        site_id,
        class_id,
        name=body.name,
        enabled=body.enabled,
        colour_rule=rule if "colour_rule" in given else ...,
    )
    details: dict[str, Any] = {}
    if "name" in given:
        details["name"] = body.name
    if "enabled" in given:
        details["enabled"] = body.enabled
    if "colour_rule" in given:
        details["colour_rule"] = _rule_json(body.colour_rule)
    audit(request, user, "exclusion_class_changed", site_id=site_id, target=class_id, details=details)
    _changed(request, site_id)
    return _one_class(request, site_id, class_id)


@router.delete(
    "/sites/{site_id}/exclusion-classes/{class_id}",
    status_code=204,
    summary="Remove one of the site's own exclusion classes",
)
def remove_exclusion_class(
    site_id: SiteScope, class_id: ClassKey, request: Request, user: Manager
) -> Response:
    store = get_store(request)
    if not store.remove_exclusion_class(site_id, class_id):
        if any(c.class_id == class_id for c in store.exclusion_classes(site_id)):
            raise Conflict(
                f"exclusion class {class_id!r} is global (it applies to every site); "
                "remove it with keliu exclusion remove"
            )
        raise NotFound(f"no exclusion class {class_id!r} at this site")
    audit(request, user, "exclusion_class_removed", site_id=site_id, target=class_id)
    _changed(request, site_id)
    return Response(status_code=204)
