"""`keliu serve`: first-start set-up and the server process.

First start (an empty store): the data directory and the database are created and migrated, the
signature key is created (or taken from ``KELIU_SIGNATURE_KEY[_FILE]``), the organisation is named,
and an administrator is created whose one-time password is printed once — or taken from
``KELIU_ADMIN_PASSWORD``; they must change it at first sign-in. Later starts change none of this.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable

from keliu.service.auth import hash_password
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store
from keliu.store.crypto import load_signature_key

__all__ = ["bootstrap", "serve"]

log = logging.getLogger(__name__)


def bootstrap(store: Store, settings: ServiceSettings, say: Callable[[str], None]) -> None:
    """Make a new installation usable (see the module docstring); a no-op once it is."""
    load_signature_key()  # created on first start, checked on every start
    if store.organisation_name() is None:
        store.set_organisation_name(settings.organisation)
    if store.users():
        return
    password = settings.admin_password or secrets.token_urlsafe(12)
    store.create_user(
        settings.admin_username,
        "Administrator 管理员",
        hash_password(password),
        "admin",
        must_change_password=settings.admin_password is None,
    )
    store.audit("user_created", username=None, target=settings.admin_username, details={"role": "admin"})
    if settings.admin_password is None:
        say(
            f"first start: administrator {settings.admin_username!r} created with the one-time password "
            f"{password}  (shown only now; change it after signing in)"
        )
    else:
        say(
            f"first start: administrator {settings.admin_username!r} created "
            "(password from KELIU_ADMIN_PASSWORD)"
        )


def serve(settings: ServiceSettings, *, say: Callable[[str], None] | None = None) -> None:
    """Open the store, set up a new installation, and serve until Ctrl-C or SIGTERM."""
    import uvicorn

    from keliu.service.app import create_app

    def _say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    say = say or _say
    store = open_store(settings.database_url)
    try:
        bootstrap(store, settings, say)
        app = create_app(settings, store)
        say(
            f"keliu serving on http://{settings.host}:{settings.port}  (API: /api/v1, OpenAPI: /openapi.json)"
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    finally:
        store.close()
