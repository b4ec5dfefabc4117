"""The footage ledger (录像台账), setting sources, and the one-writer-per-site lock.

* **Footage ledger**: a recorded file of a camera, named by a fingerprint of its content, with the
  time span it covers and how far it has been ingested. ``keliu process`` commits each segment's
  sightings together with the ledger's progress (:meth:`FootageLedger.save_segment`) and marks the
  footage resolved in the transaction that saves its visits, so running the same footage again
  changes nothing and a killed run resumes where it stopped. Two different files claiming overlapping
  time on one camera are refused: counting them both would double the traffic.
* **Setting sources**: who last set a site setting ("config", "import", "api"); the config never
  overwrites what an import or the API set (docs/configuration.md, "Which source wins").
* **Writer lock**: one ``keliu process`` per site and database at a time. SQLite files use an OS
  file lock beside the database, PostgreSQL a session advisory lock; both are released by the
  operating system or the server when the process dies, so a killed run never leaves a stale lock.

:class:`FootageLedger` is a mixin of :class:`keliu.store.Store` (like ``ReferenceData``). It must not
run pipelines or read video: the caller computes fingerprints and spans.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from keliu.errors import InputError
from keliu.store import schema as t
from keliu.store.errors import StoreError

__all__ = ["Footage", "FootageLedger", "SettingSource", "StoreBusy", "file_fingerprint"]

SettingSource = Literal["config", "import", "api"]

_FINGERPRINT_BLOCK = 1 << 20  # bytes hashed from the start and the end of a file


class StoreBusy(StoreError):
    """Another keliu process is writing the same site of the same database right now."""

    code = "site_busy"


def file_fingerprint(path: Path) -> str:
    """A content fingerprint of a video file: SHA-256 of its size, first and last MiB.

    Cheap on multi-GB recordings, and unchanged by renaming, copying or touching the file; two
    different recordings share the first and last MiB and the size only by construction."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        digest.update(f.read(_FINGERPRINT_BLOCK))
        if size > _FINGERPRINT_BLOCK:
            f.seek(max(_FINGERPRINT_BLOCK, size - _FINGERPRINT_BLOCK))
            digest.update(f.read(_FINGERPRINT_BLOCK))
    return digest.hexdigest()


@dataclass(frozen=True)
class Footage:
    """One recorded file of a camera in the ledger (see the module docstring)."""

    site_id: str
    camera_id: str
    fingerprint: str
    source: str
    started_at: datetime
    ended_at: datetime
    segment_s: float
    segments_done: int = 0
    vision_done: bool = False
    resolved: bool = False


def _footage(row: Any) -> Footage:
    return Footage(
        site_id=row.site_id,
        camera_id=row.camera_id,
        fingerprint=row.fingerprint,
        source=row.source,
        started_at=row.started_at,
        ended_at=row.ended_at,
        segment_s=row.segment_s,
        segments_done=row.segments_done,
        vision_done=bool(row.vision_done),
        resolved=bool(row.resolved),
    )


def _key(f: Footage) -> tuple[Any, ...]:
    c = t.footage.c
    return (c.site_id == f.site_id, c.camera_id == f.camera_id, c.fingerprint == f.fingerprint)


class FootageLedger:
    """Ledger, setting-source and writer-lock methods of :class:`keliu.store.Store`."""

    # provided by Store
    _engine: sa.Engine

    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    def _write_sightings(self, conn: sa.Connection, sightings: Any) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------------------ footage

    def footage(self, site_id: str) -> list[Footage]:
        """The site's footage in the ledger, by camera and start."""
        c = t.footage.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(t.footage).where(c.site_id == site_id).order_by(c.camera_id, c.started_at)
            ).all()
        return [_footage(r) for r in rows]

    def claim_footage(self, footage: Footage) -> Footage:
        """The ledger's entry for this file: the stored one when the same content was seen before
        (whatever its path now), else ``footage`` recorded as new. A different file of the same camera
        whose span overlaps raises :class:`InputError` naming both, and nothing is written."""
        c = t.footage.c
        with self._begin() as conn:
            self._site(conn, footage.site_id)
            row = conn.execute(sa.select(t.footage).where(*_key(footage))).one_or_none()
            if row is not None:
                return _footage(row)
            clash = conn.execute(
                sa.select(t.footage)
                .where(
                    c.site_id == footage.site_id,
                    c.camera_id == footage.camera_id,
                    c.started_at < footage.ended_at,
                    c.ended_at > footage.started_at,
                )
                .order_by(c.started_at)
                .limit(1)
            ).one_or_none()
            if clash is not None:
                raise InputError(
                    f"camera {footage.camera_id!r}: {footage.source} covers "
                    f"{footage.started_at:%Y-%m-%d %H:%M:%S}–{footage.ended_at:%H:%M:%S} UTC, which overlaps "
                    f"footage already ingested from {clash.source} "
                    f"({clash.started_at:%Y-%m-%d %H:%M:%S}–{clash.ended_at:%H:%M:%S} UTC); counting both "
                    "would double the traffic: check the camera's recorded_at, or use another camera id"
                )
            conn.execute(
                sa.insert(t.footage),
                {
                    "site_id": footage.site_id,
                    "camera_id": footage.camera_id,
                    "fingerprint": footage.fingerprint,
                    "source": footage.source[:1000],
                    "started_at": footage.started_at,
                    "ended_at": footage.ended_at,
                    "segment_s": footage.segment_s,
                    "segments_done": 0,
                    "vision_done": False,
                    "resolved": False,
                    "updated_at": datetime.now(UTC),
                },
            )
        return footage

    def save_segment(
        self, footage: Footage, segment: int, sightings: Any, *, ended_at: datetime | None = None
    ) -> Footage:
        """Save one segment's sightings and advance the footage's progress, in one transaction.
        ``ended_at``: the file ended in this segment (the exact end of its span). Segments must come
        in order; a segment already saved raises :class:`StoreError` (another writer got there)."""
        values: dict[str, Any] = {"segments_done": segment + 1, "updated_at": datetime.now(UTC)}
        if ended_at is not None:
            values |= {"vision_done": True, "ended_at": ended_at}
        with self._begin() as conn:
            done = conn.execute(
                sa.update(t.footage)
                .where(*_key(footage), t.footage.c.segments_done == segment)
                .values(**values)
            ).rowcount
            if done != 1:
                raise StoreError(
                    f"footage {footage.source}: segment {segment} was already saved by another writer"
                )
            self._write_sightings(conn, sightings)
        return Footage(
            **{
                **footage.__dict__,
                "segments_done": segment + 1,
                "vision_done": ended_at is not None,
                "ended_at": ended_at or footage.ended_at,
            }
        )

    def _mark_resolved(self, conn: sa.Connection, footage: list[Footage]) -> None:
        for f in footage:
            conn.execute(
                sa.update(t.footage).where(*_key(f)).values(resolved=True, updated_at=datetime.now(UTC))
            )

    # -------------------------------------------------------------------- camera outages

    def record_outage(
        self,
        site_id: str,
        camera_id: str,
        started_at: datetime,
        ended_at: datetime | None,
        attempts: int,
        reason: str,
    ) -> None:
        """Store (or update, by its start) an outage of a live camera (设备离线)."""
        c = t.camera_outages.c
        key = (c.site_id == site_id, c.camera_id == camera_id, c.started_at == started_at)
        with self._begin() as conn:
            self._site(conn, site_id)
            conn.execute(sa.delete(t.camera_outages).where(*key))
            conn.execute(
                sa.insert(t.camera_outages),
                {
                    "site_id": site_id,
                    "camera_id": camera_id,
                    "started_at": started_at,
                    "ended_at": ended_at,
                    "attempts": attempts,
                    "reason": reason[:500],
                },
            )

    def outages(self, site_id: str) -> list[tuple[str, datetime, datetime | None, int, str]]:
        """The site's camera outages (camera, started, ended, attempts, reason), oldest first."""
        c = t.camera_outages.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(c.camera_id, c.started_at, c.ended_at, c.attempts, c.reason)
                .where(c.site_id == site_id)
                .order_by(c.started_at, c.camera_id)
            ).all()
        return [tuple(r) for r in rows]

    # ------------------------------------------------------------------- setting sources

    def setting_source(self, site_id: str, setting: str) -> SettingSource | None:
        """Who last set ``setting`` of the site ("config", "import", "api"), or None if nobody did."""
        c = t.setting_sources.c
        with self._connect() as conn:
            found = conn.execute(
                sa.select(c.source).where(c.site_id == site_id, c.setting == setting)
            ).scalar_one_or_none()
        return found

    def _record_setting_source(
        self, conn: sa.Connection, site_id: str, setting: str, source: SettingSource
    ) -> None:
        c = t.setting_sources.c
        where = (c.site_id == site_id, c.setting == setting)
        if conn.execute(sa.select(c.source).where(*where)).scalar_one_or_none() == source:
            return  # updated_at says since when this source owns the setting
        conn.execute(sa.delete(t.setting_sources).where(*where))
        conn.execute(
            sa.insert(t.setting_sources),
            {"site_id": site_id, "setting": setting, "source": source, "updated_at": datetime.now(UTC)},
        )

    # ------------------------------------------------------------------------ writer lock

    @contextmanager
    def writer_lock(self, site_id: str) -> Iterator[None]:
        """Hold the site's writer lock for the block; :class:`StoreBusy` at once if another process
        holds it. Released when the block ends or the process dies."""
        url = self._engine.url
        if url.get_backend_name() == "postgresql":
            with self._advisory_lock(site_id):
                yield
        elif url.database and url.database != ":memory:":
            with _file_lock(Path(url.database), site_id):
                yield
        else:  # an in-memory database belongs to this process alone
            yield

    @contextmanager
    def _advisory_lock(self, site_id: str) -> Iterator[None]:
        key = int.from_bytes(
            hashlib.sha256(f"keliu-writer:{site_id}".encode()).digest()[:8], "big", signed=True
        )
        with self._connect() as conn:
            if not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                raise StoreBusy(
                    f"site {site_id!r} is being written by another keliu process on this database; "
                    "wait for it to finish (or stop it) and run again"
                )
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


@contextmanager
def _file_lock(database: Path, site_id: str) -> Iterator[None]:
    tag = hashlib.sha256(site_id.encode()).hexdigest()[:12]
    path = database.with_name(f"{database.name}.writer-{tag}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise StoreBusy(
                f"site {site_id!r} is being written by another keliu process ({holder}); "
                "wait for it to finish (or stop it) and run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock; the file stays (removing it would race a waiter)
