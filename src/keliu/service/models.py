"""Request and response models shared by the routers (pydantic v2); resource-specific ones live in
their router module."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from keliu.store.accounts import ApiToken, Role, User

__all__ = ["ApiTokenOut", "Body", "IdPath", "Page", "UserOut", "page_params", "user_out"]

T = TypeVar("T")

MAX_PAGE = 500


class Body(BaseModel):
    """Base of every request body: strict types (``"5"`` is not a number, ``0`` not a boolean) and no
    unknown fields, so a client's mistake is a 422 that names the field, never a silent guess."""

    model_config = ConfigDict(strict=True, extra="forbid")


IdPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="a numeric id")]


class Page(BaseModel, Generic[T]):
    """A page of a list: ``items`` from ``offset``, at most ``limit``, of ``total``."""

    items: list[T]
    total: int
    limit: int
    offset: int


def page_params(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(limit, MAX_PAGE)), max(0, offset)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    sites: list[str] = Field(description="sites a manager or staff user may see; an admin sees all")
    disabled: bool
    must_change_password: bool
    created_at: datetime


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        sites=list(user.sites),
        disabled=user.disabled,
        must_change_password=user.must_change_password,
        created_at=user.created_at,
    )


class ApiTokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> ApiTokenOut:
        return cls(
            id=token.id,
            name=token.name,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )
