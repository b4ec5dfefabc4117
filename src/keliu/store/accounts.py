"""Accounts of the service: the organisation, users and their sites, sessions, API tokens, audit log.

:class:`Accounts` is a mixin of :class:`keliu.store.Store` (like ``ReferenceData``). It stores what
the service gives it: password hashes (argon2, made by ``keliu.service.auth``), SHA-256 hashes of
session and API tokens, never a password or a token itself. It decides nothing about who may do
what: that is ``keliu.service.auth``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from keliu.errors import Conflict, InputError, NotFound
from keliu.store import schema as t

__all__ = ["ROLES", "Accounts", "ApiToken", "AuditEntry", "Role", "User"]

Role = Literal["admin", "manager", "staff"]
ROLES: tuple[Role, ...] = ("admin", "manager", "staff")


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    sites: tuple[str, ...]  # the sites a manager or staff user may see (an admin sees all)
    disabled: bool
    must_change_password: bool
    created_at: datetime
    password_hash: str  # argon2; never leaves the service


@dataclass(frozen=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    username: str | None
    action: str
    site_id: str | None
    target: str | None
    details: dict[str, Any]
    ip: str | None


def _now() -> datetime:
    return datetime.now(UTC)


class Accounts:
    """Account methods of :class:`keliu.store.Store` (see the module docstring)."""

    # provided by Store
    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    # ------------------------------------------------------------------------ organisation

    def organisation_name(self) -> str | None:
        with self._connect() as conn:
            return conn.execute(sa.select(t.organisation.c.name)).scalar_one_or_none()

    def set_organisation_name(self, name: str) -> None:
        if not name.strip():
            raise InputError("the organisation name must not be empty")
        with self._begin() as conn:
            conn.execute(sa.delete(t.organisation))
            conn.execute(sa.insert(t.organisation), {"id": 1, "name": name.strip(), "created_at": _now()})

    # ------------------------------------------------------------------------------- users

    def _users(self, conn: sa.Connection, *where: Any) -> list[User]:
        rows = conn.execute(sa.select(t.users).where(*where).order_by(t.users.c.username)).all()
        sites: dict[int, list[str]] = {}
        if rows:
            us = t.user_sites.c
            for user_id, site_id in conn.execute(
                sa.select(us.user_id, us.site_id)
                .where(us.user_id.in_([r.id for r in rows]))
                .order_by(us.site_id)
            ):
                sites.setdefault(user_id, []).append(site_id)
        return [
            User(
                id=r.id,
                username=r.username,
                display_name=r.display_name,
                role=r.role,
                sites=tuple(sites.get(r.id, ())),
                disabled=bool(r.disabled),
                must_change_password=bool(r.must_change_password),
                created_at=r.created_at,
                password_hash=r.password_hash,
            )
            for r in rows
        ]

    def users(self) -> list[User]:
        with self._connect() as conn:
            return self._users(conn)

    def user(self, user_id: int) -> User:
        with self._connect() as conn:
            found = self._users(conn, t.users.c.id == user_id)
        if not found:
            raise NotFound(f"unknown user {user_id}")
        return found[0]

    def user_by_name(self, username: str) -> User | None:
        with self._connect() as conn:
            found = self._users(conn, t.users.c.username == username)
        return found[0] if found else None

    def _check_sites(self, conn: sa.Connection, sites: Iterable[str]) -> list[str]:
        wanted = sorted(set(sites))
        if wanted:
            known = set(conn.execute(sa.select(t.sites.c.id).where(t.sites.c.id.in_(wanted))).scalars())
            missing = [s for s in wanted if s not in known]
            if missing:
                raise NotFound(f"unknown site(s): {', '.join(missing)}")
        return wanted

    def create_user(
        self,
        username: str,
        display_name: str,
        password_hash: str,
        role: Role,
        sites: Sequence[str] = (),
        *,
        must_change_password: bool = False,
    ) -> User:
        if role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        with self._begin() as conn:
            if conn.execute(sa.select(t.users.c.id).where(t.users.c.username == username)).first():
                raise Conflict(f"a user named {username!r} exists already")
            wanted = self._check_sites(conn, sites)
            user_id = conn.execute(
                sa.insert(t.users).values(
                    username=username,
                    display_name=display_name,
                    password_hash=password_hash,
                    role=role,
                    disabled=False,
                    must_change_password=must_change_password,
                    created_at=_now(),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            if wanted:
                conn.execute(sa.insert(t.user_sites), [{"user_id": user_id, "site_id": s} for s in wanted])
            return self._users(conn, t.users.c.id == user_id)[0]

    def update_user(
        self,
        user_id: int,
        *,
        display_name: str | None = None,
        password_hash: str | None = None,
        role: Role | None = None,
        sites: Sequence[str] | None = None,
        disabled: bool | None = None,
        must_change_password: bool | None = None,
    ) -> User:
        if role is not None and role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        values: dict[str, Any] = {
            k: v
            for k, v in {
                "display_name": display_name,
                "password_hash": password_hash,
                "role": role,
                "disabled": disabled,
                "must_change_password": must_change_password,
            }.items()
            if v is not None
        }
        with self._begin() as conn:
            if not self._users(conn, t.users.c.id == user_id):
                raise NotFound(f"unknown user {user_id}")
            if values:
                conn.execute(sa.update(t.users).where(t.users.c.id == user_id).values(**values))
            if sites is not None:
                wanted = self._check_sites(conn, sites)
                conn.execute(sa.delete(t.user_sites).where(t.user_sites.c.user_id == user_id))
                if wanted:
                    conn.execute(
                        sa.insert(t.user_sites), [{"user_id": user_id, "site_id": s} for s in wanted]
                    )
            if password_hash is not None or disabled:  # a new password or a disabled user: sign out
                conn.execute(sa.delete(t.sessions).where(t.sessions.c.user_id == user_id))
            return self._users(conn, t.users.c.id == user_id)[0]

    def delete_user(self, user_id: int) -> None:
        with self._begin() as conn:
            if not conn.execute(sa.delete(t.users).where(t.users.c.id == user_id)).rowcount:
                raise NotFound(f"unknown user {user_id}")

    # ---------------------------------------------------------------------------- sessions

    def create_session(self, user_id: int, token_hash: str, expires_at: datetime) -> None:
        with self._begin() as conn:
            conn.execute(sa.delete(t.sessions).where(t.sessions.c.expires_at < _now()))
            conn.execute(
                sa.insert(t.sessions),
                {
                    "token_hash": token_hash,
                    "user_id": user_id,
                    "created_at": _now(),
                    "expires_at": expires_at,
                },
            )

    def session_user(self, token_hash: str) -> User | None:
        """The user of a live session (not expired, user not disabled), else None."""
        s = t.sessions.c
        with self._connect() as conn:
            user_id = conn.execute(
                sa.select(s.user_id).where(s.token_hash == token_hash, s.expires_at > _now())
            ).scalar_one_or_none()
            if user_id is None:
                return None
            found = self._users(conn, t.users.c.id == user_id, t.users.c.disabled.is_(False))
        return found[0] if found else None

    def delete_session(self, token_hash: str) -> None:
        with self._begin() as conn:
            conn.execute(sa.delete(t.sessions).where(t.sessions.c.token_hash == token_hash))

    # -------------------------------------------------------------------------- API tokens

    def create_api_token(self, user_id: int, name: str, token_hash: str) -> ApiToken:
        with self._begin() as conn:
            token_id = conn.execute(
                sa.insert(t.api_tokens).values(
                    user_id=user_id, name=name, token_hash=token_hash, created_at=_now()
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return self._token(token_id)

    def _token(self, token_id: int) -> ApiToken:
        c = t.api_tokens.c
        with self._connect() as conn:
            row = conn.execute(
                sa.select(c.id, c.user_id, c.name, c.created_at, c.last_used_at, c.revoked_at).where(
                    c.id == token_id
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"unknown API token {token_id}")
        return ApiToken(*row)

    def api_tokens(self, user_id: int | None = None) -> list[ApiToken]:
        c = t.api_tokens.c
        query = sa.select(c.id, c.user_id, c.name, c.created_at, c.last_used_at, c.revoked_at).order_by(c.id)
        if user_id is not None:
            query = query.where(c.user_id == user_id)
        with self._connect() as conn:
            return [ApiToken(*row) for row in conn.execute(query)]

    def token_user(self, token_hash: str) -> User | None:
        """The user of a live API token (not revoked, user not disabled); records its last use."""
        c = t.api_tokens.c
        with self._begin() as conn:
            row = conn.execute(
                sa.select(c.id, c.user_id).where(c.token_hash == token_hash, c.revoked_at.is_(None))
            ).one_or_none()
            if row is None:
                return None
            conn.execute(sa.update(t.api_tokens).where(c.id == row.id).values(last_used_at=_now()))
            found = self._users(conn, t.users.c.id == row.user_id, t.users.c.disabled.is_(False))
        return found[0] if found else None

    def revoke_api_token(self, token_id: int) -> ApiToken:
        c = t.api_tokens.c
        with self._begin() as conn:
            if (
                not conn.execute(
                    sa.update(t.api_tokens)
                    .where(c.id == token_id, c.revoked_at.is_(None))
                    .values(revoked_at=_now())
                ).rowcount
                and not conn.execute(sa.select(c.id).where(c.id == token_id)).first()
            ):
                raise NotFound(f"unknown API token {token_id}")
        return self._token(token_id)

    # ---------------------------------------------------------------------------- audit log

    def audit(
        self,
        action: str,
        *,
        username: str | None = None,
        site_id: str | None = None,
        target: str | None = None,
        details: dict[str, Any] | None = None,
        ip: str | None = None,
    ) -> None:
        """Append to the audit log (审计日志). ``details`` must not hold secrets."""
        with self._begin() as conn:
            conn.execute(
                sa.insert(t.audit_log),
                {
                    "at": _now(),
                    "username": username,
                    "action": action,
                    "site_id": site_id,
                    "target": None if target is None else target[:500],
                    "details": details or {},
                    "ip": ip,
                },
            )

    def audit_entries(
        self, *, site_ids: Sequence[str] | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[AuditEntry], int]:
        """Newest first, with the total; ``site_ids`` restricts to entries of those sites."""
        c = t.audit_log.c
        where = [] if site_ids is None else [c.site_id.in_(list(site_ids))]
        with self._connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(t.audit_log).where(*where)
            ).scalar_one()
            rows = conn.execute(
                sa.select(t.audit_log).where(*where).order_by(c.id.desc()).limit(limit).offset(offset)
            ).all()
        return [
            AuditEntry(r.id, r.at, r.username, r.action, r.site_id, r.target, dict(r.details), r.ip)
            for r in rows
        ], int(total)
