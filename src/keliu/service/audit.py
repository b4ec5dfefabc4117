"""The audit log's one entry point for routers: who (user), what (action), where (site, target), from
which address. Never pass passwords, tokens or signatures in ``details``."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from keliu.service.auth import client_ip, get_store
from keliu.store.accounts import User

__all__ = ["audit"]


def audit(
    conn: HTTPConnection,
    user: User | None,
    action: str,
    *,
    site_id: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    username: str | None = None,
) -> None:
    get_store(conn).audit(
        action,
        username=user.username if user is not None else username,
        site_id=site_id,
        target=target,
        details=details,
        ip=client_ip(conn),
    )
