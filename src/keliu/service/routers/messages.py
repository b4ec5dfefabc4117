"""消息规则 message rules and 消息 messages of a site (REQUIREMENTS O4, O9).

``/sites/{site_id}/message-rules`` lists the site's rules (anyone who may see the site), and
administrators and managers create, change (threshold, on/off, comparison, severity, name) and
remove them; ``/sites/{site_id}/messages`` lists what the rules fired, newest first. The kinds and
what each measures: ``keliu.store.messages`` and ``keliu.service.messages`` (evaluated every minute
by the service; a message is stored and pushed as an ``alert`` to live streams and webhooks). Every
change is in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool, field_validator, model_validator

from keliu.errors import NotFound
from keliu.service.audit import audit
from keliu.service.auth import CurrentUser, SiteScope, get_store, require_role
from keliu.service.models import Body, Page
from keliu.store.accounts import User
from keliu.store.messages import (
    MAX_COUNT,
    MAX_NAME,
    Compare,
    Direction,
    Message,
    MessageRule,
    RuleKind,
    Severity,
)

router = APIRouter(tags=["messages"])
Manager = Annotated[User, Depends(require_role("admin", "manager"))]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
RuleKey = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Threshold = Annotated[
    float,
    Field(
        gt=0,
        le=MAX_COUNT,
        allow_inf_nan=False,
        description="people (occupancy, hourly_entries: 1 or more) or per cent (traffic_change)",
    ),
]
MinCount = Annotated[int, Field(ge=1, le=MAX_COUNT)]


class MessageRuleOut(BaseModel):
    id: str
    kind: RuleKind
    threshold: float
    enabled: bool
    compare: Compare | None = Field(description="traffic_change: against the previous day, week or month")
    direction: Direction | None = Field(description="traffic_change: a rise, a fall or either")
    min_count: int | None = Field(description="traffic_change: judged once the previous figure reached it")
    severity: Severity
    name: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    last_fired_at: datetime | None = Field(description="when it last fired (at most once per hour or day)")


class MessageOut(BaseModel):
    id: str
    rule_id: str | None = Field(description="the rule that fired it (it may have been removed since)")
    kind: str
    at: datetime
    severity: Severity
    text: str = Field(description="one line, Chinese and English")
    details: dict[str, Any] = Field(description="the figures: value, threshold, period, …")


def _check_name(value: str | None) -> str | None:
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("a name has no control characters")
    return value


class MessageRuleIn(Body):
    """A new rule of the site."""

    kind: RuleKind
    threshold: Threshold
    enabled: StrictBool = True
    compare: Compare | None = Field(None, description="traffic_change only (default day)")
    direction: Direction | None = Field(None, description="traffic_change only (default both)")
    min_count: MinCount | None = Field(None, description="traffic_change only (default 20)")
    severity: Severity = "warning"
    name: str | None = Field(None, max_length=MAX_NAME)

    _name = field_validator("name")(_check_name)


class MessageRulePatch(Body):
    """What to change of a rule; what is left out stays as it is (the kind never changes)."""

    threshold: Threshold | None = None
    enabled: StrictBool | None = None
    compare: Compare | None = None
    direction: Direction | None = None
    min_count: MinCount | None = None
    severity: Severity | None = None
    name: str | None = Field(None, max_length=MAX_NAME)

    _name = field_validator("name")(_check_name)

    @model_validator(mode="after")
    def _something(self) -> MessageRulePatch:
        given = self.model_fields_set
        if not given:
            raise ValueError("give threshold, enabled, compare, direction, min_count, severity and/or name")
        for key in ("threshold", "enabled", "severity"):
            if key in given and getattr(self, key) is None:
                raise ValueError(f"{key} may not be null")
        return self


def _rule_out(rule: MessageRule) -> MessageRuleOut:
    return MessageRuleOut(
        id=rule.rule_id,
        kind=rule.kind,
        threshold=rule.threshold,
        enabled=rule.enabled,
        compare=rule.compare,
        direction=rule.direction,
        min_count=rule.min_count,
        severity=rule.severity,
        name=rule.name,
        created_by=rule.created_by,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
        last_fired_at=rule.last_fired_at,
    )


def _message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.message_id,
        rule_id=message.rule_id,
        kind=message.kind,
        at=message.at,
        severity=message.severity,
        text=message.text,
        details=message.details,
    )


@router.get(
    "/sites/{site_id}/message-rules",
    response_model=Page[MessageRuleOut],
    summary="Message rules (消息规则) of the site",
)
def list_message_rules(
    site_id: SiteScope, request: Request, _: CurrentUser, limit: Limit = 100, offset: Offset = 0
) -> Page[MessageRuleOut]:
    rules = get_store(request).message_rules(site_id)
    items = [_rule_out(r) for r in rules[offset : offset + limit]]
    return Page[MessageRuleOut](items=items, total=len(rules), limit=limit, offset=offset)


@router.post(
    "/sites/{site_id}/message-rules",
    response_model=MessageRuleOut,
    status_code=201,
    summary="Add a message rule: occupancy, hourly entries or a traffic change above a threshold",
)
def create_message_rule(
    site_id: SiteScope, body: MessageRuleIn, request: Request, user: Manager
) -> MessageRuleOut:
    rule = get_store(request).add_message_rule(
        site_id,
        body.kind,
        body.threshold,
        enabled=body.enabled,
        compare=body.compare,
        direction=body.direction,
        min_count=body.min_count,
        severity=body.severity,
        name=body.name,
        created_by=user.username,
    )
    audit(
        request,
        user,
        "message_rule_created",
        site_id=site_id,
        target=rule.rule_id,
        details=body.model_dump(mode="json"),
    )
    return _rule_out(rule)


@router.patch(
    "/sites/{site_id}/message-rules/{rule_id}",
    response_model=MessageRuleOut,
    summary="Change a message rule (threshold, on/off, comparison, severity, name)",
)
def change_message_rule(
    site_id: SiteScope, rule_id: RuleKey, body: MessageRulePatch, request: Request, user: Manager
) -> MessageRuleOut:
    changes = body.model_dump(mode="json", include=body.model_fields_set)
    rule = get_store(request).update_message_rule(site_id, rule_id, **changes)
    audit(request, user, "message_rule_changed", site_id=site_id, target=rule_id, details=changes)
    return _rule_out(rule)


@router.delete(
    "/sites/{site_id}/message-rules/{rule_id}",
    status_code=204,
    summary="Remove a message rule (the messages it fired stay)",
)
def remove_message_rule(site_id: SiteScope, rule_id: RuleKey, request: Request, user: Manager) -> Response:
    if not get_store(request).remove_message_rule(site_id, rule_id):
        raise NotFound(f"no message rule {rule_id!r} at this site")
    audit(request, user, "message_rule_removed", site_id=site_id, target=rule_id)
    return Response(status_code=204)


@router.get(
    "/sites/{site_id}/messages",
    response_model=Page[MessageOut],
    summary="Messages (消息) the site's rules fired, newest first",
)
def list_messages(
    site_id: SiteScope, request: Request, _: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> Page[MessageOut]:
    messages, total = get_store(request).messages(site_id, limit=limit, offset=offset)
    return Page[MessageOut](
        items=[_message_out(x) for x in messages], total=total, limit=limit, offset=offset
    )
