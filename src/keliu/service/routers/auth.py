"""Sign in and out, the current user, password changes and API tokens (``/api/v1/auth``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from keliu.errors import Forbidden, InputError, Unauthenticated
from keliu.service.audit import audit
from keliu.service.auth import (
    _DUMMY_HASH,
    SESSION_COOKIE,
    CurrentUser,
    client_ip,
    get_store,
    hash_password,
    new_token,
    token_hash,
    verify_password,
)
from keliu.service.models import ApiTokenOut, Body, IdPath, Page, UserOut, user_out
from keliu.store import Store

router = APIRouter(prefix="/auth", tags=["auth"])


class Login(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class PasswordChange(Body):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=10, max_length=200)


class TokenRequest(Body):
    name: str = Field(min_length=1, max_length=200, description="what the token is for, e.g. 'DMS'")


class NewToken(ApiTokenOut):
    token: str = Field(description="shown once: store it now; keliu keeps only its hash")


@router.post("/login", response_model=UserOut, summary="Sign in; sets the session cookie")
def login(body: Login, request: Request, response: Response) -> UserOut:
    store: Store = get_store(request)
    throttle = request.app.state.login_throttle
    ip = client_ip(request)
    throttle.check(body.username, ip)
    user = store.user_by_name(body.username)
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, body.password)
    if user is None or not ok or user.disabled:
        throttle.failed(body.username, ip)
        audit(request, None, "login_failed", username=body.username[:64])
        raise Unauthenticated("wrong user name or password")
    throttle.succeeded(body.username, ip)
    token = new_token()
    hours = request.app.state.settings.session_hours
    store.create_session(user.id, token_hash(token), datetime.now(UTC) + timedelta(hours=hours))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
        path="/",
    )
    audit(request, user, "login")
    return user_out(user)


@router.post("/logout", status_code=204, summary="Sign out (ends the session)")
def logout(request: Request, response: Response, user: CurrentUser) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        get_store(request).delete_session(token_hash(cookie))
    audit(request, user, "logout")
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/me", response_model=UserOut, summary="The signed-in user")
def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.post("/password", status_code=204, summary="Change your password (signs out other sessions)")
def change_password(body: PasswordChange, request: Request, user: CurrentUser) -> Response:
    if not verify_password(user.password_hash, body.current_password):
        raise Unauthenticated("the current password is wrong")
    if body.new_password == body.current_password:
        raise InputError("the new password must differ from the current one")
    get_store(request).update_user(
        user.id, password_hash=hash_password(body.new_password), must_change_password=False
    )
    audit(request, user, "password_changed")
    return Response(status_code=204)


def _machine_forbidden(request: Request) -> None:
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        raise Forbidden("API tokens cannot create or revoke API tokens; sign in as the user")


@router.get("/tokens", response_model=Page[ApiTokenOut], summary="Your API tokens")
def list_tokens(request: Request, user: CurrentUser) -> Page[ApiTokenOut]:
    items = [ApiTokenOut.of(t) for t in get_store(request).api_tokens(user.id)]
    return Page[ApiTokenOut](items=items, total=len(items), limit=len(items), offset=0)


@router.post("/tokens", response_model=NewToken, status_code=201, summary="Create an API token")
def create_token(
    body: TokenRequest, request: Request, user: CurrentUser, _: Annotated[None, Depends(_machine_forbidden)]
) -> NewToken:
    token = new_token()
    created = get_store(request).create_api_token(user.id, body.name, token_hash(token))
    audit(request, user, "api_token_created", target=body.name)
    return NewToken(**ApiTokenOut.of(created).model_dump(), token=token)


@router.delete("/tokens/{token_id}", response_model=ApiTokenOut, summary="Revoke one of your API tokens")
def revoke_token(
    token_id: IdPath, request: Request, user: CurrentUser, _: Annotated[None, Depends(_machine_forbidden)]
) -> ApiTokenOut:
    store = get_store(request)
    if token_id not in {t.id for t in store.api_tokens(user.id)}:
        from keliu.errors import NotFound

        raise NotFound(f"unknown API token {token_id}")
    revoked = store.revoke_api_token(token_id)
    audit(request, user, "api_token_revoked", target=str(token_id))
    return ApiTokenOut.of(revoked)
