"""What runs behind the API: the event bus, the camera supervisor, one resolution worker per site with
live cameras, live push, the webhook outbox and the bridge between them (docs/architecture.md,
"Events through the running product").

    runtime = ServiceRuntime(store)               # hub, webhooks, bridge: always (reception pushes)
    runtime.add_site(site_config)                 # its cameras run live, its sightings resolved
    runtime.start(); ...; runtime.stop()          # stop flushes everything already counted

Devices (设备) managed through the API (``keliu.service.devices``, ``keliu.store.devices``) are stored
with their whole configuration; :meth:`ServiceRuntime.add_stored_devices` runs every stored device
(``keliu serve`` calls it at start, so a restart runs them again), and while the runtime runs every
change is applied at once: :meth:`~ServiceRuntime.add_device`
starts the camera (a site without a resolution worker gets one, built from the stored site),
:meth:`~ServiceRuntime.update_device` hands new lines and zones to the running camera at its next
frame (a new source restarts that camera alone), :meth:`~ServiceRuntime.remove_device` stops only it.
Exclusion classes and staff changed through the API reach the site's running resolver
(:meth:`~ServiceRuntime.exclusion_classes_changed`, :meth:`~ServiceRuntime.staff_changed`) before
its next sighting.
Video files are played in a loop in real time, like a live camera. Other cameras never notice.

Stopping is ordered so nothing counted is lost: cameras end their tracks and publish what they
completed, the resolution workers drain and commit it, the bridge pushes the last arrivals, and only
then do live streams close and the webhook worker stop (its outbox is on disk). Staff suggestions are
stored by the resolution workers themselves for a manager to confirm (``/staff-suggestions``).
Message rules (消息规则) are evaluated every minute by ``keliu.service.messages.MessageChecker``, which
stores what fires and pushes it as an ``alert``; it stops before live streams close. Every minute the
memory the process freed is handed back to the system (``keliu.service.heap``), so a server that runs
for months keeps a flat footprint.

Starting also catches up (``PushBridge.catch_up``): the arrival webhooks of visits that an earlier
process committed but was killed before queuing are queued now, for every site resolved live
(docs/api.md, "Delivery guarantees").

Must not hold counting or resolution rules; it composes ``keliu.runtime`` and the push pieces.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from keliu.config import CameraConfig, SiteConfig
from keliu.errors import Conflict, KeliuError
from keliu.runtime.bus import EventBus
from keliu.runtime.resolution import ResolutionWorker
from keliu.runtime.supervisor import CameraInfo, Supervisor
from keliu.service.devices import camera_of, device_fields, is_file_source, stored_site_config
from keliu.service.heap import TRIM_EVERY_S, HeapTrimmer
from keliu.service.live import LiveHub
from keliu.service.messages import MessageChecker
from keliu.service.push_bridge import PushBridge, Pusher
from keliu.service.webhooks import DeliverySettings, Webhooks
from keliu.store import Store
from keliu.store.devices import Device

if TYPE_CHECKING:
    from keliu.vision.signature import SignatureExtractor

__all__ = ["ServiceRuntime"]

log = logging.getLogger(__name__)


class ServiceRuntime:
    """The running parts of one `keliu serve` process (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        extractor: SignatureExtractor | None = None,
        delivery: DeliverySettings | None = None,
        heap_trim_every_s: float = TRIM_EVERY_S,
    ) -> None:
        self.store = store
        self.bus = EventBus()
        self.hub = LiveHub()
        self.webhooks = Webhooks(store, delivery)
        self.pusher = Pusher(self.hub, self.webhooks)
        self.bridge = PushBridge(self.bus, store, self.pusher)
        self.messages = MessageChecker(store, self.pusher)  # 消息规则, evaluated every minute
        self.heap = HeapTrimmer(heap_trim_every_s)  # freed memory back to the system
        self.supervisor = Supervisor(self.bus, extractor=extractor, sightings=True)
        self.workers: dict[str, ResolutionWorker] = {}
        self._started = False
        self._lock = threading.Lock()
        self._devices_lock = threading.RLock()  # one device change at a time
        self._classes_lock = threading.Lock()  # classes and staff handed to a worker one at a time
        self._cameras: dict[str, dict[str, CameraConfig]] = {}  # site → camera id → what it runs
        self._devices: set[tuple[str, str]] = set()  # (site, camera) of the API devices it runs

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
            self._cameras.setdefault(site_id, {}).update({c.id: c for c in site.cameras})
        for camera in site.cameras:
            self.supervisor.add_camera(site_id, camera, replay=replay)

    def update_camera(self, site_id: str, camera: CameraConfig) -> bool:
        return self.supervisor.update_camera(site_id, camera)

    # ------------------------------------------------------------------------ devices (API-managed)

    def add_device(self, site_id: str, camera: CameraConfig, *, created_by: str | None = None) -> Device:
        """Store a new device (Conflict if the site has a camera of that id) and, while the runtime
        runs, start it."""
        with self._devices_lock:
            device = self.store.add_device(site_id, camera.id, created_by=created_by, **device_fields(camera))
            if self._started:
                self._run_device(site_id, camera)
            return device

    def update_device(self, site_id: str, camera: CameraConfig) -> Device:
        """Store the device's new configuration (NotFound if it is not an API device) and hand it to
        the running camera: lines, zones, counting and tracker settings at its next frame; a new
        source or rate restarts that camera alone."""
        with self._devices_lock:
            device = self.store.update_device(site_id, camera.id, **device_fields(camera))
            if not self._started:
                return device
            running = self._cameras.get(site_id, {}).get(camera.id)
            if (site_id, camera.id) not in self._devices:
                if running is None:  # not run yet (it could not start): now
                    self._run_device(site_id, camera)
                return device  # else shadowed by a config camera of the same id: stored only
            if running is None or is_file_source(running.source) != is_file_source(camera.source):
                self._stop_device(site_id, camera.id)  # a file loops, a stream does not: a new runner
                self._run_device(site_id, camera)
            else:
                with self._lock:
                    self._cameras[site_id][camera.id] = camera
                self._use_passby_lines(site_id)
                self.supervisor.update_camera(site_id, camera)
            return device

    def remove_device(self, site_id: str, camera_id: str) -> bool:
        """Delete the device from the store and stop its camera (what it counted is kept); False if
        the site has no such API device."""
        with self._devices_lock:
            if not self.store.remove_device(site_id, camera_id):
                return False
            self._stop_device(site_id, camera_id)
            return True

    def _run_device(self, site_id: str, camera: CameraConfig) -> None:
        with self._lock:
            if site_id not in self.workers:
                cameras = [*self._cameras.get(site_id, {}).values(), camera]
                worker = ResolutionWorker(
                    stored_site_config(self.store, site_id, cameras), self.store, self.bus
                )
                self.workers[site_id] = worker
                if self._started:
                    worker.start()
            self._cameras.setdefault(site_id, {})[camera.id] = camera
            self._devices.add((site_id, camera.id))
        self._use_passby_lines(site_id)
        try:
            self.supervisor.add_camera(site_id, camera, replay=is_file_source(camera.source))
        except Conflict as exc:  # shutting down: it is stored and runs at the next start
            log.warning("device %s/%s not started: %s", site_id, camera.id, exc)
            with self._lock:
                self._cameras[site_id].pop(camera.id, None)
                self._devices.discard((site_id, camera.id))

    def _stop_device(self, site_id: str, camera_id: str) -> None:
        with self._lock:
            if (site_id, camera_id) not in self._devices:
                return  # not run (or a config camera of the same id runs: left alone)
            self._devices.discard((site_id, camera_id))
            self._cameras.get(site_id, {}).pop(camera_id, None)
        try:
            self.supervisor.remove_camera(site_id, camera_id)
        except KeliuError as exc:  # not running any more (the supervisor forgot it)
            log.info("device %s/%s: %s", site_id, camera_id, exc)
        self._use_passby_lines(site_id)

    def _use_passby_lines(self, site_id: str) -> None:
        """The site's resolution worker learns which of its cameras' lines are pass-by lines (过店)."""
        with self._lock:
            worker = self.workers.get(site_id)
            cameras = list(self._cameras.get(site_id, {}).values())
        if worker is not None:
            passby = {(c.id, line.id) for c in cameras for line in c.lines if line.kind == "passby"}
            worker.resolution.use_passby_lines(frozenset(passby))

    def exclusion_classes_changed(self, site_id: str) -> None:
        """A class of the site was created, changed or removed (the API): the site's running
        resolution, if any, takes the store's classes from its next sighting on. A global class
        changed by ``keliu exclusion`` (another process) is taken at the next start."""
        with self._lock:
            worker = self.workers.get(site_id)
        if worker is None:
            return  # not resolved live: its resolver reads the store when it starts
        with self._classes_lock:  # read and handed over in order: the last change wins
            worker.resolution.use_exclusion_classes(self.store.exclusion_classes(site_id))

    def staff_changed(self, site_id: str) -> None:
        """A member of the site's staff was removed or enrolled (the API): the site's running
        resolution, if any, takes the store's staff from its next sighting on (as
        :meth:`exclusion_classes_changed`). ``keliu staff enrol`` (another process) is taken at the
        next start."""
        with self._lock:
            worker = self.workers.get(site_id)
        if worker is None:
            return
        with self._classes_lock:
            worker.resolution.use_staff(self.store.staff(site_id))

    def add_stored_devices(self) -> int:
        """Run every device of the store (``keliu serve`` at start, after the sites of its config files:
        a device with the id of a config camera is left out); one that cannot run is logged and left
        out. Returns how many run."""
        ran = 0
        with self._devices_lock:
            for device in self.store.devices():
                ran += self._run_stored_device(device)
        return ran

    def _run_stored_device(self, device: Device) -> bool:
        if device.camera_id in self._cameras.get(device.site_id, {}):
            log.warning(
                "device %s/%s is not run: a camera of the site config has the same id",
                device.site_id,
                device.camera_id,
            )
            return False
        try:
            self._run_device(device.site_id, camera_of(device))
        except KeliuError as exc:
            log.error("device %s/%s not started: %s", device.site_id, device.camera_id, exc)
            return False
        return True

    def running_camera(self, site_id: str, camera_id: str) -> CameraConfig | None:
        """The configuration the runtime runs for that camera (config file or API device), if any."""
        with self._lock:
            return self._cameras.get(site_id, {}).get(camera_id)

    def latest_frame(self, site_id: str, camera_id: str, max_age_s: float = 5.0) -> Any | None:
        """The running camera's last analysed frame (in memory) if recent enough, else None."""
        return self.supervisor.latest_frame(site_id, camera_id, max_age_s)

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
        self.messages.start()
        self.heap.start()
        with self._lock:
            live_sites = list(self.workers)
        self.bridge.catch_up_later(live_sites)  # after a crash: arrivals committed, never queued

    def stop(self) -> None:
        """Stop in the order that loses nothing (module docstring)."""
        self.supervisor.stop()
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            if worker.is_alive():
                worker.stop()
        self.bridge.stop()
        self.messages.stop()  # its last messages are pushed before live streams close
        self.hub.close()
        self.webhooks.stop()
        self.bus.close()
        self.heap.stop()
