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
from pathlib import Path

from keliu.config import SiteConfig
from keliu.errors import ConfigError
from keliu.service.auth import hash_password
from keliu.service.settings import ServiceSettings
from keliu.store import Entrance, Store, open_store
from keliu.store.crypto import load_signature_key

__all__ = ["bootstrap", "seed_demo_organisation", "serve"]

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


def seed_demo_organisation(store: Store, say: Callable[[str], None]) -> None:
    """`make run`: a store with no sites gets a simulated chain of 4 stores with 60 days of history
    up to now: today's history stops at the moment of seeding (docs/demo-data.md); a store with sites
    is left as it is."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from keliu.demo.load import seed_demo

    if store.sites():
        return
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    today = now.date()
    say("demo: seeding 4 stores with 60 days of simulated history (about half a minute, once)")
    report = seed_demo(store, 4, 60, today, seed=2026, until=now)
    say(f"demo: {len(report.sites)} stores, {report.visits} visits")


DEMO_LINE = {"id": "demo-door", "a": (0.5, 0.05), "b": (0.5, 0.95), "inside": (0.75, 0.5)}


def demo_camera_site(store: Store, video: Path) -> SiteConfig:
    """The first store of the demo chain with one camera, ``demo-door``, on ``video``: the camera and
    its door line are added to the store (the store's seeded settings are kept), so its arrivals land
    in that store's figures, reception and live stream."""
    if not Path(video).is_file():
        raise ConfigError(f"demo video {video}: no such file (install Debian's opencv-doc or give VIDEO=)")
    record = store.sites()[0]
    site = SiteConfig.model_validate(
        {
            "site": {"id": record.site_id, "name": record.name, "timezone": record.timezone},
            "cameras": [
                {"id": "demo-door", "name": "演示门口 Demo door", "source": str(video), "lines": [DEMO_LINE]}
            ],
        }
    )
    camera = site.cameras[0]
    store.upsert_camera(record.site_id, camera.id, camera.name)
    for line in camera.lines:
        store.upsert_line(record.site_id, camera.id, line.id, line.a, line.b, line.to_line().inside)
    known = {(e.camera_id, e.line_id) for e in store.entrances(record.site_id)}
    if (camera.id, "demo-door") not in known:
        store.set_entrances(
            record.site_id,
            [
                *store.entrances(record.site_id),
                Entrance(camera.id, "demo-door", "演示门 Demo door", None, False),
            ],
        )
    return site


def serve(settings: ServiceSettings, *, say: Callable[[str], None] | None = None) -> None:
    """Open the store, set up a new installation, and serve until Ctrl-C or SIGTERM."""
    import uvicorn

    from keliu.service.app import create_app

    def _say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    say = say or _say
    from keliu.config import load_site_config
    from keliu.processing import register_site
    from keliu.service.runtime import ServiceRuntime
    from keliu.wiring import build_signature_extractor

    store = open_store(settings.database_url)
    try:
        bootstrap(store, settings, say)
        sites = [load_site_config(path, check_sources=True) for path in settings.sites_config]
        # every camera the service may run — a site config's, the demo's, or a device added through the
        # API at any time — gets appearance signatures: the model is loaded now (a missing one fails here)
        runtime = ServiceRuntime(store, extractor=build_signature_extractor())
        if settings.demo:
            seed_demo_organisation(store, say)
        for site in sites:
            register_site(store, site)
            runtime.add_site(site)
            say(f"site {site.site.id}: {len(site.cameras)} live camera(s)")
        if settings.demo_video is not None:
            demo = demo_camera_site(store, settings.demo_video)
            runtime.add_site(demo, replay=True)
            say(f"demo: {settings.demo_video} plays in a loop as camera 'demo-door' of {demo.site.id}")
        if ran := runtime.add_stored_devices():  # the cameras added through the API, again
            say(f"{ran} device(s) added through the API run live")
        app = create_app(settings, store, runtime)
        if settings.ui:
            from keliu.ui import mount_ui

            mount_ui(app)
        say(
            f"keliu serving on http://{settings.host}:{settings.port}  (API: /api/v1, OpenAPI: /openapi.json)"
        )
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    finally:
        store.close()
