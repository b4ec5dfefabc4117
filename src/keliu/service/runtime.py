"""What runs behind the API: the event bus, the camera supervisor, one resolution worker per site with
live cameras, live push, the webhook outbox and the bridge between them (docs/architecture.md,
"Events through the running product").

    runtime = ServiceRuntime(store)               # hub, webhooks, bridge: always (reception pushes)
    runtime.add_site(site_config)                 # its cameras run live, its sightings resolved
    runtime.start(); ...; runtime.stop()          # stop flushes everything already counted

Stopping is ordered so nothing counted is lost: cameras end their tracks and publish what they
completed, the resolution workers drain and commit it, the bridge pushes the last arrivals, and only
then do live streams close and the webhook worker stop (its outbox is on disk). Staff suggestions are
stored by the resolution workers themselves for a manager to confirm (``/staff-suggestions``).

Must not hold counting or resolution rules; it composes ``keliu.runtime`` and the push pieces.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from keliu.config import CameraConfig, SiteConfig
from keliu.errors import KeliuError
from keliu.runtime.bus import EventBus
from keliu.runtime.resolution import ResolutionWorker
from keliu.runtime.supervisor import CameraInfo, Supervisor
from keliu.service.live import LiveHub
from keliu.service.push_bridge import PushBridge, Pusher
from keliu.service.webhooks import Webhooks
from keliu.store import Store

if TYPE_CHECKING:
    from keliu.vision.signature import SignatureExtractor

__all__ = ["ServiceRuntime"]

log = logging.getLogger(__name__)


class ServiceRuntime:
    """The running parts of one `keliu serve` process (see the module docstring)."""

    def __init__(self, store: Store, *, extractor: SignatureExtractor | None = None) -> None:
        self.store = store
        self.bus = EventBus()
        self.hub = LiveHub()
        self.webhooks = Webhooks(store)
        self.pusher = Pusher(self.hub, self.webhooks)
        self.bridge = PushBridge(self.bus, store, self.pusher)
        self.supervisor = Supervisor(self.bus, extractor=extractor, sightings=True)
        self.workers: dict[str, ResolutionWorker] = {}
        self._started = False
        self._lock = threading.Lock()

    # ---------------------------------------------------------------------------- sites and cameras

    def add_site(self, site: SiteConfig, *, replay: bool = False) -> None:
        """Run every camera of ``site`` live and resolve its sightings (the site must be stored)."""
        with self._lock:
            site_id = site.site.id
            if site_id not in self.workers:
                worker = ResolutionWorker(site, self.store, self.bus)
                self.workers[site_id] = worker
                if self._started:
                    worker.start()
        for camera in site.cameras:
            self.supervisor.add_camera(site_id, camera, replay=replay)

    def update_camera(self, site_id: str, camera: CameraConfig) -> bool:
        return self.supervisor.update_camera(site_id, camera)

    def camera_status(self, site_id: str, camera_id: str) -> CameraInfo | None:
        try:
            return self.supervisor.camera(site_id, camera_id)
        except KeliuError:
            return None

    # ------------------------------------------------------------------------------------- lifetime

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            for worker in self.workers.values():
                worker.start()
        self.bridge.start()
        self.webhooks.start()

    def stop(self) -> None:
        """Stop in the order that loses nothing (module docstring)."""
        self.supervisor.stop()
        for worker in self.workers.values():
            if worker.is_alive():
                worker.stop()
        self.bridge.stop()
        self.hub.close()
        self.webhooks.stop()
        self.bus.close()
