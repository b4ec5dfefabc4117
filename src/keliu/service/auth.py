"""Who is asking and what they may see: passwords, sessions, API tokens, roles, site scoping,
login throttling and the audit log's request context.

Roles: ``admin`` (系统管理员: every site, users, organisation), ``manager`` (区域经理: their sites —
settings, staff, imports, exports, reception) and ``staff`` (门店员工: their sites — dashboards,
reception). A user asking for a site they may not see gets the same 404 as for a site that does not
exist, on every endpoint, stream and export: the API never confirms that a site exists.

Passwords are argon2id hashes (argon2-cffi); session cookies and API tokens are random 256-bit
tokens of which only the SHA-256 is stored. Must not decide counting or metrics.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from keliu.errors import Forbidden, NotFound, TooManyAttempts, Unauthenticated
from keliu.store import Store
from keliu.store.accounts import Role, User

__all__ = [
    "SESSION_COOKIE",
    "CurrentUser",
    "LoginThrottle",
    "SiteScope",
    "authenticate",
    "client_ip",
    "get_store",
    "hash_password",
    "new_token",
    "require_role",
    "token_hash",
    "verify_password",
    "visible_sites",
]

SESSION_COOKIE = "keliu_session"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("keliu: a password nobody has")  # equal work for unknown user names


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """At most ``attempts`` failed logins per (user name, address) within ``window_s``; after that
    the pair is refused (429) until the oldest failure leaves the window. In memory: a restart
    forgets it, which only helps a legitimate user."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts, self.window_s = attempts, window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        return failures

    def check(self, username: str, ip: str) -> None:
        now = time.monotonic()
        with self._lock:
            failures = self._recent((username.lower(), ip), now)
            if len(failures) >= self.attempts:
                wait = int(self.window_s - (now - failures[0])) + 1
                raise TooManyAttempts(f"too many failed logins; try again in {wait} s")

    def failed(self, username: str, ip: str) -> None:
        with self._lock:
            self._recent((username.lower(), ip), time.monotonic()).append(time.monotonic())
            if len(self._failures) > 10_000:  # bounded: forget the quietest pairs
                for key in [k for k, v in self._failures.items() if not v][:5000]:
                    del self._failures[key]

    def succeeded(self, username: str, ip: str) -> None:
        with self._lock:
            self._failures.pop((username.lower(), ip), None)


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client is not None else "unknown"


def get_store(conn: HTTPConnection) -> Store:
    store: Store = conn.app.state.store
    return store


def authenticate(conn: HTTPConnection) -> User:
    """The user of the request's session cookie or ``Authorization: Bearer`` API token."""
    store = get_store(conn)
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = store.token_user(token_hash(header[7:].strip()))
        if user is None:
            raise Unauthenticated("the API token is not valid (revoked, or its user is disabled)")
        return user
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        user = store.session_user(token_hash(cookie))
        if user is not None:
            return user
    raise Unauthenticated("sign in first (POST /api/v1/auth/login) or send an API token")


def _current_user(request: Request) -> User:
    return authenticate(request)


CurrentUser = Annotated[User, Depends(_current_user)]


def require_role(*roles: Role) -> Callable[[User], User]:
    """A dependency: the current user, if their role is one of ``roles`` (else 403)."""

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"your role ({user.role}) may not do this; it needs: {', '.join(roles)}")
        return user

    return check


def visible_sites(store: Store, user: User) -> list[str]:
    """The site ids the user may see, in id order."""
    known = [s.site_id for s in store.sites()]
    return known if user.role == "admin" else [s for s in known if s in user.sites]


def check_site(store: Store, user: User, site_id: str) -> str:
    """``site_id`` if the user may see it and it exists; else the same 404 either way."""
    if user.role != "admin" and site_id not in user.sites:
        raise NotFound(f"unknown site {site_id!r}")
    if site_id not in {s.site_id for s in store.sites()}:
        raise NotFound(f"unknown site {site_id!r}")
    return site_id


def _site_scope(site_id: str, request: Request, user: CurrentUser) -> str:
    return check_site(get_store(request), user, site_id)


SiteScope = Annotated[str, Depends(_site_scope)]
