"""Users and roles (``/api/v1/users``): administrators only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from keliu.errors import Conflict
from keliu.service.audit import audit
from keliu.service.auth import get_store, hash_password, require_role
from keliu.service.models import Body, IdPath, Page, UserOut, page_params, user_out
from keliu.store.accounts import Role, User

router = APIRouter(prefix="/users", tags=["users"])
Admin = Annotated[User, Depends(require_role("admin"))]
USERNAME = r"^[A-Za-z0-9_.@-]{1,64}$"


class NewUser(Body):
    username: str = Field(pattern=USERNAME)
    display_name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=10, max_length=200)
    role: Role
    sites: list[str] = Field(default_factory=list, max_length=1000)


class UserChange(Body):
    display_name: str | None = Field(None, min_length=1, max_length=200)
    password: str | None = Field(None, min_length=10, max_length=200)
    role: Role | None = None
    sites: list[str] | None = Field(None, max_length=1000)
    disabled: bool | None = None


@router.get("", response_model=Page[UserOut], summary="Users")
def list_users(
    request: Request,
    _: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[UserOut]:
    limit, offset = page_params(limit, offset)
    users = get_store(request).users()
    return Page[UserOut](
        items=[user_out(u) for u in users[offset : offset + limit]],
        total=len(users),
        limit=limit,
        offset=offset,
    )


@router.post("", response_model=UserOut, status_code=201, summary="Create a user")
def create_user(body: NewUser, request: Request, admin: Admin) -> UserOut:
    user = get_store(request).create_user(
        body.username,
        body.display_name,
        hash_password(body.password),
        body.role,
        body.sites,
        must_change_password=True,
    )
    audit(
        request, admin, "user_created", target=user.username, details={"role": user.role, "sites": body.sites}
    )
    return user_out(user)


@router.get("/{user_id}", response_model=UserOut, summary="A user")
def get_user(user_id: IdPath, request: Request, _: Admin) -> UserOut:
    return user_out(get_store(request).user(user_id))


@router.patch("/{user_id}", response_model=UserOut, summary="Change a user")
def change_user(user_id: IdPath, body: UserChange, request: Request, admin: Admin) -> UserOut:
    if user_id == admin.id and (body.disabled or (body.role is not None and body.role != "admin")):
        raise Conflict("you cannot disable yourself or remove your own administrator role")
    user = get_store(request).update_user(
        user_id,
        display_name=body.display_name,
        password_hash=None if body.password is None else hash_password(body.password),
        role=body.role,
        sites=body.sites,
        disabled=body.disabled,
        must_change_password=True if body.password is not None else None,
    )
    changed = sorted(k for k, v in body.model_dump().items() if v is not None and k != "password")
    audit(request, admin, "user_changed", target=user.username, details={"fields": changed})
    return user_out(user)


@router.delete("/{user_id}", status_code=204, summary="Delete a user")
def delete_user(user_id: IdPath, request: Request, admin: Admin) -> Response:
    if user_id == admin.id:
        raise Conflict("you cannot delete yourself")
    store = get_store(request)
    name = store.user(user_id).username
    store.delete_user(user_id)
    audit(request, admin, "user_deleted", target=name)
    return Response(status_code=204)
