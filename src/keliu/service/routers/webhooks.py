"""Webhooks (``/webhooks``): receivers of pushed events, a signed test send, and the outbox of each.

    app.include_router(build_webhooks_router(hooks, authorize=..., audit=audit), prefix="/api/v1")

Who may do what is the app's ``authorize(conn, site_id)`` hook (``keliu.service.hooks``): a webhook
of one site asks for that site, a webhook of every site (``site_id`` null) and the list of all
webhooks ask for ``None`` (organisation-wide). Changing a webhook's site asks for both. The secret is
write-only: it is shown in the answer that created or rotated it, never again.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from keliu.service.hooks import Audit, Authorize
from keliu.service.models import Page, page_params
from keliu.service.push import EventType
from keliu.service.webhooks import Webhooks
from keliu.store.webhooks import UNSET, Delivery, DeliveryStatus, Webhook

__all__ = ["DeliveryOut", "TestSendOut", "WebhookChange", "WebhookIn", "WebhookOut", "build_webhooks_router"]

SECRET_BYTES = 32
SiteId = Annotated[str, Field(min_length=1, max_length=255)]


def _check_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        shown = parts.scheme or "none"
        raise ValueError(f"the URL must start with http:// or https:// (scheme {shown!r} is not allowed)")
    if not parts.hostname:
        raise ValueError("the URL has no host name")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "the URL must not hold a user name or password (receivers check the signature instead)"
        )
    if any(c.isspace() for c in url):
        raise ValueError("the URL must not contain spaces")
    return url


class WebhookIn(BaseModel):
    """A new webhook."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http:// or https:// URL that receives the POSTs")
    event_types: list[EventType] = Field(min_length=1, max_length=20, description="events to send")
    site_id: SiteId | None = Field(None, description="only this site's events; null: every site")
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        description="signing secret; omitted: a random one is made and shown once in the answer",
    )
    description: str | None = Field(None, max_length=200)
    active: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


class WebhookChange(BaseModel):
    """Fields to change; a field left out stays as it is (``site_id: null`` means every site)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    event_types: list[EventType] | None = Field(None, min_length=1, max_length=20)
    site_id: SiteId | None = None
    secret: str | None = Field(None, min_length=16, max_length=200, description="a new signing secret")
    rotate_secret: bool = Field(False, description="make a new random secret, shown once in the answer")
    description: str | None = Field(None, max_length=200)
    active: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)


class WebhookOut(BaseModel):
    id: str
    site_id: str | None = Field(description="null: every site")
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(None, description="only in the answer that created or rotated it")
    pending: int = Field(description="deliveries waiting (retries included)")
    dead_letters: int = Field(description="deliveries given up after the maximum age")

    @classmethod
    def of(cls, hook: Webhook, hooks: Webhooks, secret: str | None = None) -> WebhookOut:
        store = hooks.store
        return cls(
            id=hook.webhook_id,
            site_id=hook.site_id,
            url=hook.url,
            event_types=list(hook.event_types),
            description=hook.description,
            active=hook.active,
            created_at=hook.created_at,
            updated_at=hook.updated_at,
            secret=secret,
            pending=store.count_deliveries(hook.webhook_id, status="pending"),
            dead_letters=store.count_deliveries(hook.webhook_id, status="dead"),
        )


class DeliveryOut(BaseModel):
    event_id: str
    webhook_id: str
    event: str
    site_id: str | None
    status: DeliveryStatus
    attempts: int
    created_at: datetime = Field(description="when it was queued")
    next_attempt_at: datetime | None = Field(description="pending only")
    delivered_at: datetime | None
    dead_at: datetime | None
    last_status: int | None = Field(description="HTTP status of the last attempt")
    last_error: str | None
    body: dict[str, Any] = Field(description="the JSON body sent (the same on every attempt)")

    @classmethod
    def of(cls, item: Delivery) -> DeliveryOut:
        return cls(
            event_id=item.event_id,
            webhook_id=item.webhook_id,
            event=item.event_type,
            site_id=item.site_id,
            status=item.status,
            attempts=item.attempts,
            created_at=item.created_at,
            next_attempt_at=item.next_attempt_at if item.status == "pending" else None,
            delivered_at=item.delivered_at,
            dead_at=item.dead_at,
            last_status=item.last_status,
            last_error=item.last_error,
            body=item.payload,
        )


class TestSendOut(BaseModel):
    event_id: str
    delivered: bool = Field(description="the receiver answered 2xx")
    status: int | None = Field(description="the receiver's HTTP status, if it answered")
    error: str | None
    duration_ms: float


Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
EventId = Annotated[str, Path(min_length=1, max_length=36)]
WebhookId = Annotated[str, Path(min_length=1, max_length=32)]


def build_webhooks_router(hooks: Webhooks, *, authorize: Authorize, audit: Audit | None = None) -> APIRouter:
    """The webhook routes over ``hooks`` (store and delivery worker); see the module docstring."""
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])
    store = hooks.store

    def record(request: Request, who: Any, action: str, hook: Webhook, **details: Any) -> None:
        if audit is not None:
            audit(request, who, action, site_id=hook.site_id, target=hook.webhook_id, details=details)

    def allowed(request: Request, webhook_id: str) -> tuple[Webhook, Any]:
        hook = store.webhook(webhook_id)
        return hook, authorize(request, hook.site_id)

    @router.get("", response_model=Page[WebhookOut], summary="Webhooks")
    def list_webhooks(
        request: Request,
        site_id: Annotated[str | None, Query(max_length=255, description="only this site's")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[WebhookOut]:
        authorize(request, site_id)
        limit, offset = page_params(limit, offset)
        items = store.webhooks(site_id, limit=limit, offset=offset)
        return Page[WebhookOut](
            items=[WebhookOut.of(h, hooks) for h in items],
            total=store.count_webhooks(site_id),
            limit=limit,
            offset=offset,
        )

    @router.post("", response_model=WebhookOut, status_code=201, summary="Create a webhook")
    def create_webhook(body: WebhookIn, request: Request) -> WebhookOut:
        who = authorize(request, body.site_id)
        secret = body.secret or secrets.token_urlsafe(SECRET_BYTES)
        hook = store.create_webhook(
            body.url,
            secret,
            body.event_types,
            site_id=body.site_id,
            description=body.description,
            active=body.active,
        )
        record(request, who, "webhook_created", hook, url=hook.url, event_types=list(hook.event_types))
        return WebhookOut.of(hook, hooks, secret=None if body.secret else secret)

    @router.get("/{webhook_id}", response_model=WebhookOut, summary="A webhook")
    def get_webhook(webhook_id: WebhookId, request: Request) -> WebhookOut:
        hook, _ = allowed(request, webhook_id)
        return WebhookOut.of(hook, hooks)

    @router.patch("/{webhook_id}", response_model=WebhookOut, summary="Change a webhook")
    def change_webhook(webhook_id: WebhookId, body: WebhookChange, request: Request) -> WebhookOut:
        hook, who = allowed(request, webhook_id)
        given = body.model_fields_set
        if "site_id" in given and body.site_id != hook.site_id:
            authorize(request, body.site_id)
        new_secret = secrets.token_urlsafe(SECRET_BYTES) if body.rotate_secret else body.secret
        changed = store.update_webhook(
            webhook_id,
            url=body.url if body.url is not None else UNSET,
            secret=new_secret if new_secret is not None else UNSET,
            event_types=body.event_types if body.event_types is not None else UNSET,
            site_id=body.site_id if "site_id" in given else UNSET,
            description=body.description if "description" in given else UNSET,
            active=body.active if body.active is not None else UNSET,
        )
        fields = sorted(k for k in given if k not in ("secret", "rotate_secret"))
        if new_secret is not None:
            fields.append("secret")
        record(request, who, "webhook_changed", changed, fields=fields)
        if changed.active:
            hooks.wake()
        return WebhookOut.of(changed, hooks, secret=new_secret if body.rotate_secret else None)

    @router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook and its outbox")
    def delete_webhook(webhook_id: WebhookId, request: Request) -> Response:
        hook, who = allowed(request, webhook_id)
        store.delete_webhook(webhook_id)
        record(request, who, "webhook_deleted", hook, url=hook.url)
        return Response(status_code=204)

    @router.post("/{webhook_id}/test", response_model=TestSendOut, summary="Send a signed test event now")
    def test_webhook(webhook_id: WebhookId, request: Request) -> TestSendOut:
        hook, who = allowed(request, webhook_id)
        event_id, result = hooks.test_send(webhook_id)
        record(request, who, "webhook_tested", hook, delivered=result.ok, status=result.status)
        return TestSendOut(
            event_id=event_id,
            delivered=result.ok,
            status=result.status,
            error=result.error,
            duration_ms=round(result.duration_ms, 1),
        )

    @router.get(
        "/{webhook_id}/deliveries", response_model=Page[DeliveryOut], summary="A webhook's deliveries"
    )
    def list_deliveries(
        webhook_id: WebhookId,
        request: Request,
        status: Annotated[DeliveryStatus | None, Query(description="only deliveries in this state")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> Page[DeliveryOut]:
        allowed(request, webhook_id)
        limit, offset = page_params(limit, offset)
        items = store.deliveries(webhook_id, status=status, limit=limit, offset=offset)
        return Page[DeliveryOut](
            items=[DeliveryOut.of(d) for d in items],
            total=store.count_deliveries(webhook_id, status=status),
            limit=limit,
            offset=offset,
        )

    @router.post(
        "/{webhook_id}/deliveries/{event_id}/retry",
        response_model=DeliveryOut,
        summary="Queue a delivery again now (a dead letter, or one to send again)",
    )
    def retry_delivery(webhook_id: WebhookId, event_id: EventId, request: Request) -> DeliveryOut:
        hook, who = allowed(request, webhook_id)
        item = store.retry_delivery(event_id, webhook_id)
        record(request, who, "webhook_delivery_retried", hook, event_id=item.event_id)
        hooks.wake()
        return DeliveryOut.of(item)

    return router
