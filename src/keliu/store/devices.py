"""Devices (设备) managed through the API: a camera's whole configuration, kept so that it runs again
after a restart of the service.

A device is a camera of a site — the ``cameras`` row that analytics and the device list read, with
its ``lines`` and ``zones`` rows — plus a ``devices`` row with everything else its camera loop needs:
the configuration as JSON (opaque here; ``keliu.service`` validates it as a ``CameraConfig``: rates,
lines with their kinds, zones, detector, tracker and counting settings) and the source, sealed with
the store key (``SignatureCipher.seal_secret``, bound to its site and camera) because an rtsp:// URL
may carry the camera's user name and password. Every write changes these tables in one transaction,
so the camera rows never disagree with the stored configuration.

Cameras written from a site config file (``keliu process``, ``keliu serve --sites-config``) or by the
demo have no ``devices`` row: they are not API devices (:meth:`DeviceStore.device` is NotFound for
them) and a device cannot take their id (Conflict).

:class:`DeviceStore` is a mixin of :class:`keliu.store.Store`. It knows no ``CameraConfig`` (the store
never imports the config) and starts nothing: ``keliu.service.runtime`` runs the devices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from keliu.domain.geometry import Line, Zone
from keliu.errors import Conflict, InputError, NotFound
from keliu.store import schema as t
from keliu.store.crypto import SignatureCipher

__all__ = ["Device", "DeviceLine", "DeviceStore"]

_SOURCE_KIND = "device_source"  # associated data of a sealed source: (kind, site, camera)


@dataclass(frozen=True)
class DeviceLine:
    """A counting line of a device as the ``lines`` table keeps it: a door line (进店线) or a pass-by
    line (过店线)."""

    line: Line
    kind: Literal["door", "passby"] = "door"


@dataclass(frozen=True)
class Device:
    """A stored API device. ``source`` is decrypted: never show it without masking its credentials
    (``keliu.vision.sources.mask_credentials``). ``config``: the camera's configuration as JSON, its
    source left out."""

    site_id: str
    camera_id: str
    name: str | None
    source: str
    config: dict[str, Any]
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class DeviceStore:
    """Device methods of :class:`keliu.store.Store` (see the module docstring)."""

    # provided by Store
    _cipher: SignatureCipher

    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ writes

    def add_device(
        self,
        site_id: str,
        camera_id: str,
        *,
        name: str | None,
        source: str,
        config: Mapping[str, Any],
        lines: Sequence[DeviceLine] = (),
        zones: Sequence[Zone] = (),
        created_by: str | None = None,
    ) -> Device:
        """Add a device: its camera, lines and zones rows and its configuration, in one transaction.
        :class:`Conflict` when the site has a camera of that id already (a device, or a camera of a
        site config); :class:`NotFound` for an unknown site."""
        if not source:
            raise InputError("a device needs a source")
        now = datetime.now(UTC)
        try:
            with self._begin() as conn:
                self._site(conn, site_id)
                if self._camera_exists(conn, site_id, camera_id):
                    raise Conflict(f"site {site_id!r} has a camera {camera_id!r} already")
                conn.execute(sa.insert(t.cameras), {"site_id": site_id, "camera_id": camera_id, "name": name})
                self._write_geometry(conn, site_id, camera_id, lines, zones)
                conn.execute(
                    sa.insert(t.devices),
                    {
                        "site_id": site_id,
                        "camera_id": camera_id,
                        "source": self._seal_source(site_id, camera_id, source),
                        "config": dict(config),
                        "created_by": created_by,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                return self._device(conn, site_id, camera_id)
        except sa.exc.IntegrityError:  # added at the same moment by another request
            raise Conflict(f"site {site_id!r} has a camera {camera_id!r} already") from None

    def update_device(
        self,
        site_id: str,
        camera_id: str,
        *,
        name: str | None,
        source: str,
        config: Mapping[str, Any],
        lines: Sequence[DeviceLine] = (),
        zones: Sequence[Zone] = (),
    ) -> Device:
        """Replace a device's configuration, name, source, lines and zones (lines and zones it no
        longer has are deleted; stored entries keep naming them). :class:`NotFound` if the site has
        no such API device."""
        if not source:
            raise InputError("a device needs a source")
        with self._begin() as conn:
            self._device(conn, site_id, camera_id)
            key = (t.cameras.c.site_id == site_id, t.cameras.c.camera_id == camera_id)
            conn.execute(sa.update(t.cameras).where(*key).values(name=name))
            for table in (t.lines, t.zones):
                conn.execute(
                    sa.delete(table).where(table.c.site_id == site_id, table.c.camera_id == camera_id)
                )
            self._write_geometry(conn, site_id, camera_id, lines, zones)
            conn.execute(
                sa.update(t.devices)
                .where(t.devices.c.site_id == site_id, t.devices.c.camera_id == camera_id)
                .values(
                    source=self._seal_source(site_id, camera_id, source),
                    config=dict(config),
                    updated_at=datetime.now(UTC),
                )
            )
            return self._device(conn, site_id, camera_id)

    def remove_device(self, site_id: str, camera_id: str) -> bool:
        """Delete an API device with its camera, lines and zones rows (its sightings, visits, entries
        and outages stay); False if the site has no such device. A camera of a site config is never
        deleted here."""
        with self._begin() as conn:
            self._site(conn, site_id)
            found = conn.execute(
                sa.select(t.devices.c.camera_id).where(
                    t.devices.c.site_id == site_id, t.devices.c.camera_id == camera_id
                )
            ).first()
            if found is None:
                return False
            conn.execute(
                sa.delete(t.cameras).where(t.cameras.c.site_id == site_id, t.cameras.c.camera_id == camera_id)
            )  # its lines, zones and devices rows go with it (ON DELETE CASCADE) …
            for table in (t.devices, t.lines, t.zones):  # … also where foreign keys are not enforced
                conn.execute(
                    sa.delete(table).where(table.c.site_id == site_id, table.c.camera_id == camera_id)
                )
            return True

    # ------------------------------------------------------------------------------------- reads

    def device(self, site_id: str, camera_id: str) -> Device:
        """The API device; :class:`NotFound` if the site has none of that id."""
        with self._connect() as conn:
            return self._device(conn, site_id, camera_id)

    def devices(self, site_id: str | None = None) -> list[Device]:
        """API devices (of ``site_id`` only when given), by site and camera id."""
        c = t.devices.c
        query = sa.select(t.devices).order_by(c.site_id, c.camera_id)
        if site_id is not None:
            query = query.where(c.site_id == site_id)
        with self._connect() as conn:
            rows = conn.execute(query).all()
            names = self._camera_names(conn, site_id)
        return [self._row_device(row, names.get((row.site_id, row.camera_id))) for row in rows]

    def is_device(self, site_id: str, camera_id: str) -> bool:
        """Whether the site's camera ``camera_id`` is an API device (not one of a site config)."""
        c = t.devices.c
        with self._connect() as conn:
            found = conn.execute(
                sa.select(c.camera_id).where(c.site_id == site_id, c.camera_id == camera_id)
            ).first()
        return found is not None

    # ----------------------------------------------------------------------------------- helpers

    def _seal_source(self, site_id: str, camera_id: str, source: str) -> bytes:
        return self._cipher.seal_secret(
            source.encode("utf-8"), kind=_SOURCE_KIND, site_id=site_id, row=camera_id
        )

    def _device(self, conn: sa.Connection, site_id: str, camera_id: str) -> Device:
        self._site(conn, site_id)
        c = t.devices.c
        row = conn.execute(
            sa.select(t.devices).where(c.site_id == site_id, c.camera_id == camera_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"site {site_id!r} has no device {camera_id!r} managed through the API")
        name = conn.execute(
            sa.select(t.cameras.c.name).where(
                t.cameras.c.site_id == site_id, t.cameras.c.camera_id == camera_id
            )
        ).scalar_one_or_none()
        return self._row_device(row, name)

    def _row_device(self, row: Any, name: str | None) -> Device:
        source = self._cipher.open_secret(
            row.source, kind=_SOURCE_KIND, site_id=row.site_id, row=row.camera_id
        )
        return Device(
            site_id=row.site_id,
            camera_id=row.camera_id,
            name=name,
            source=source.decode("utf-8"),
            config=dict(row.config),
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    def _camera_names(conn: sa.Connection, site_id: str | None) -> dict[tuple[str, str], str | None]:
        c = t.cameras.c
        query = sa.select(c.site_id, c.camera_id, c.name)
        if site_id is not None:
            query = query.where(c.site_id == site_id)
        return {(r.site_id, r.camera_id): r.name for r in conn.execute(query)}

    @staticmethod
    def _camera_exists(conn: sa.Connection, site_id: str, camera_id: str) -> bool:
        c = t.cameras.c
        found = conn.execute(
            sa.select(c.camera_id).where(c.site_id == site_id, c.camera_id == camera_id)
        ).first()
        return found is not None

    @staticmethod
    def _write_geometry(
        conn: sa.Connection, site_id: str, camera_id: str, lines: Sequence[DeviceLine], zones: Sequence[Zone]
    ) -> None:
        """The camera's lines and zones rows, in the form ``Store.upsert_line``/``upsert_zone`` write."""
        key = {"site_id": site_id, "camera_id": camera_id}
        line_rows = []
        for item in lines:
            line = item.line
            geometry: dict[str, Any] = {"a": list(line.a), "b": list(line.b), "inside": list(line.inside)}
            if item.kind == "passby":
                geometry["kind"] = "passby"
            line_rows.append({**key, "line_id": line.id, "geometry": geometry})
        if line_rows:
            conn.execute(sa.insert(t.lines), line_rows)
        zone_rows = [
            {**key, "zone_id": z.id, "geometry": {"polygon": [list(p) for p in z.polygon]}} for z in zones
        ]
        if zone_rows:
            conn.execute(sa.insert(t.zones), zone_rows)
