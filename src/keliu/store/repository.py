"""The repository: what keliu reads from and writes to its database, in domain types.

Every write is one transaction. Every method that takes a ``site_id`` raises
:class:`keliu.errors.InputError` when that site was never added with :meth:`Store.upsert_site`, and
every time argument must be timezone-aware (naive times are an :class:`InputError` too). Database
outages surface as :class:`keliu.store.errors.StoreUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import EllipsisType
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from keliu.domain.crossings import Exit, PassbyCrossing
from keliu.domain.geometry import Line, Point, Zone
from keliu.domain.visits import (
    COLOUR_NAMES,
    ColourName,
    ColourRule,
    Entry,
    Exclusion,
    ExclusionClass,
    PersonCategory,
    RememberedPerson,
    Sighting,
    SightingCrossing,
    SightingZone,
    StaffMember,
    Visit,
)
from keliu.errors import ConfigError, Conflict, InputError, NotFound
from keliu.store import rollups
from keliu.store import schema as t
from keliu.store.accounts import Accounts
from keliu.store.corrections import VisitCorrections
from keliu.store.crossings import CrossingData, PassbyWatch
from keliu.store.crypto import SignatureCipher
from keliu.store.devices import DeviceStore
from keliu.store.engine import in_values, insert_rows, unavailable_as_store_error
from keliu.store.footage import Footage, FootageLedger
from keliu.store.messages import MessageStore
from keliu.store.privacy import PrivacyStore
from keliu.store.reception import ReceptionDesk
from keliu.store.reference import PassbyCount, ReferenceData, ZoneStay, zone_stay_rows
from keliu.store.regroup import BatchRegrouping
from keliu.store.summary import Bucket, SummaryRow, local_buckets
from keliu.store.types import UTCDateTime
from keliu.store.webhooks import WebhookOutboxStore

__all__ = ["CameraRecord", "SiteRecord", "Store"]

T = TypeVar("T")
_CHUNK = 5000  # ids or buckets per statement: under SQLite's 32 766 bound parameters and PG's 65 535
_CUSTOMER = PersonCategory.CUSTOMER.value
_STAFF = PersonCategory.STAFF.value
_INVALID = PersonCategory.INVALID.value

# kinds named in the associated data of encrypted blobs
_KIND_SIGHTING = "sighting"
_KIND_REMEMBERED = "remembered"
_KIND_STAFF = "staff"
_KIND_EXEMPLARS = "exclusion_exemplars"


@dataclass(frozen=True)
class SiteRecord:
    """A stored site: its IANA time zone and how long signatures are kept for their purposes."""

    site_id: str
    name: str
    timezone: str
    dedup_window_s: float
    returning_memory_days: float

    @property
    def purpose_window(self) -> timedelta:
        """How long a sighting's signature is needed: the longer of the de-dup window and the
        returning-visitor memory."""
        return timedelta(seconds=max(self.dedup_window_s, self.returning_memory_days * 86400.0))


@dataclass(frozen=True)
class CameraRecord:
    """A stored camera with its lines and zones (frame fractions), in id order; ``passby_lines``
    names the pass-by lines among ``lines`` (the others are door lines)."""

    site_id: str
    camera_id: str
    name: str | None
    lines: tuple[Line, ...]
    zones: tuple[Zone, ...]
    passby_lines: tuple[str, ...] = ()  # ids of the lines that are pass-by lines (过店线)


# ------------------------------------------------------------------------------------------ helpers


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return _aware(value, "time").isoformat()


def _from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _point(value: Sequence[float]) -> Point:
    return (float(value[0]), float(value[1]))


def _colour(value: str | None) -> ColourName | None:
    if value is None:
        return None
    if value not in COLOUR_NAMES:
        raise ValueError(f"unknown colour {value!r}")
    return value


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT with ON CONFLICT support (SQLite and PostgreSQL spell it the same)."""
    if conn.dialect.name == "postgresql":
        return pg_dialect.insert(table)
    return sqlite_dialect.insert(table)


def _upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    keep: Sequence[str] = (),
) -> None:
    """Insert ``rows`` or, where ``key`` exists, update every other column but those in ``keep``."""
    if not rows:
        return
    stmt = _insert(conn, table)
    update = {c: stmt.excluded[c] for c in rows[0] if c not in key and c not in keep}
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_=update)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt, list(rows))


def _crossings_json(crossings: Iterable[SightingCrossing]) -> list[dict[str, Any]]:
    return [
        {"line_id": c.line_id, "direction": c.direction, "at": _iso(c.at), "point": list(c.point)}
        for c in crossings
    ]


def _zones_json(zones: Iterable[SightingZone]) -> list[dict[str, Any]]:
    return [
        {
            "zone_id": z.zone_id,
            "entered_at": _iso(z.entered_at),
            "left_at": None if z.left_at is None else _iso(z.left_at),
        }
        for z in zones
    ]


def _colour_rule_json(rule: ColourRule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    return {
        "upper_colours": list(rule.upper_colours),
        "lower_colours": list(rule.lower_colours),
        "max_stay_s": rule.max_stay_s,
    }


def _colour_rule(data: dict[str, Any] | None) -> ColourRule | None:
    if data is None:
        return None
    return ColourRule(
        upper_colours=tuple(cast(ColourName, _colour(c)) for c in data["upper_colours"]),
        lower_colours=tuple(cast(ColourName, _colour(c)) for c in data["lower_colours"]),
        max_stay_s=None if data["max_stay_s"] is None else float(data["max_stay_s"]),
    )


def _sighting_row_key(camera_id: str, track_id: int, first_seen: datetime) -> str:
    return f"{camera_id}/{track_id}/{_iso(first_seen)}"


def _buckets_cte(buckets: Sequence[Bucket]) -> Any:
    """The buckets as a ``WITH buckets(idx, lo, hi) AS (VALUES ...)`` table (SQLite and PostgreSQL)."""
    values = sa.values(
        sa.column("idx", sa.Integer()),
        sa.column("lo", UTCDateTime()),
        sa.column("hi", UTCDateTime()),
        name="buckets",
    ).data([(i, b.lo, b.hi) for i, b in enumerate(buckets)])
    return values.cte("buckets")


# ---------------------------------------------------------------------------------------- the store


class Store(
    ReferenceData,
    FootageLedger,
    Accounts,
    WebhookOutboxStore,
    CrossingData,
    ReceptionDesk,
    DeviceStore,
    VisitCorrections,
    BatchRegrouping,
    PrivacyStore,
    MessageStore,
):
    """keliu's persistence: sites and their cameras, sightings, visits (and the batches and entries
    derived from them), remembered signatures, staff enrolments and exclusion classes; analytics
    reference data and zone stays (:class:`keliu.store.reference.ReferenceData`); exits and pass-by
    crossings (:class:`keliu.store.crossings.CrossingData`); and the traffic
    rollups, kept current by every write that changes what they count (``keliu.store.rollups``).

    Build it with :func:`keliu.store.open_store`. Signatures are encrypted with ``cipher`` before they
    reach the database and decrypted on the way out. Thread-safe as far as the engine's pool is (one
    connection per call). ``close()`` (or ``with``) releases the connections.
    """

    def __init__(self, engine: sa.Engine, cipher: SignatureCipher | None = None) -> None:
        self._engine = engine
        self._cipher = cipher or SignatureCipher()

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (for maintenance and tests; the methods below are the API)."""
        return self._engine

    def close(self) -> None:
        """Close all pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------- transactions

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with unavailable_as_store_error(), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        with unavailable_as_store_error(), self._engine.connect() as conn:
            yield conn

    def _site(self, conn: sa.Connection, site_id: str) -> SiteRecord:
        row = conn.execute(sa.select(t.sites).where(t.sites.c.id == site_id)).one_or_none()
        if row is None:
            known = sorted(conn.execute(sa.select(t.sites.c.id)).scalars())
            listed = f"known sites: {', '.join(known)}" if known else "no sites yet"
            raise NotFound(f"unknown site {site_id!r} ({listed}; `keliu process --config` adds a site)")
        return SiteRecord(
            site_id=row.id,
            name=row.name,
            timezone=row.timezone,
            dedup_window_s=row.dedup_window_s,
            returning_memory_days=row.returning_memory_days,
        )

    def _require_camera(self, conn: sa.Connection, site_id: str, camera_id: str) -> None:
        self._site(conn, site_id)
        found = conn.execute(
            sa.select(t.cameras.c.camera_id).where(
                t.cameras.c.site_id == site_id, t.cameras.c.camera_id == camera_id
            )
        ).first()
        if found is None:
            raise InputError(
                f"unknown camera {camera_id!r} of site {site_id!r}: add it first (upsert_camera)"
            )

    # ---------------------------------------------------------------------------- sites

    def upsert_site(
        self,
        site_id: str,
        name: str,
        timezone: str = "Asia/Shanghai",
        *,
        dedup_window_s: float = 4 * 3600.0,
        returning_memory_days: float = 180.0,
    ) -> None:
        """Add or update a site. ``timezone`` is an IANA name (reports bucket in it);
        ``dedup_window_s`` and ``returning_memory_days`` bound how long signatures are kept
        (:meth:`purge_expired`). Raises :class:`keliu.errors.ConfigError` for an unknown time zone or
        a negative window."""
        if not site_id or site_id == t.GLOBAL_SCOPE:
            raise ConfigError(f"invalid site id {site_id!r}")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"site {site_id!r}: unknown time zone {timezone!r} (expected an IANA name)"
            ) from None
        if dedup_window_s < 0 or returning_memory_days < 0:
            raise ConfigError(f"site {site_id!r}: the de-dup window and the returning memory must be >= 0")
        row = {
            "id": site_id,
            "name": name,
            "timezone": timezone,
            "dedup_window_s": float(dedup_window_s),
            "returning_memory_days": float(returning_memory_days),
        }
        with self._begin() as conn:
            _upsert(conn, t.sites, [row], ["id"])

    def site(self, site_id: str) -> SiteRecord:
        """The stored site; :class:`keliu.errors.InputError` if unknown."""
        with self._connect() as conn:
            return self._site(conn, site_id)

    def sites(self) -> list[SiteRecord]:
        """All sites, in id order."""
        with self._connect() as conn:
            ids = conn.execute(sa.select(t.sites.c.id).order_by(t.sites.c.id)).scalars().all()
            return [self._site(conn, i) for i in ids]

    def upsert_camera(self, site_id: str, camera_id: str, name: str | None = None) -> None:
        """Add or rename a camera of a site."""
        with self._begin() as conn:
            self._site(conn, site_id)
            _upsert(
                conn,
                t.cameras,
                [{"site_id": site_id, "camera_id": camera_id, "name": name}],
                ["site_id", "camera_id"],
            )

    def upsert_line(
        self,
        site_id: str,
        camera_id: str,
        line_id: str,
        a: Point,
        b: Point,
        inside: Point,
        *,
        kind: Literal["door", "passby"] = "door",
    ) -> None:
        """Add or move a line of a camera: end points ``a``, ``b`` and a point on the ``inside``
        (store side), all as (x, y) fractions of the frame; ``kind`` "passby" marks a pass-by line
        (过店线). Invalid geometry is an InputError."""
        if kind not in ("door", "passby"):
            raise InputError(f"line kind {kind!r}: use door or passby")
        try:
            line = Line(line_id, _point(a), _point(b), _point(inside))
        except ValueError as exc:
            raise InputError(str(exc)) from None
        geometry: dict[str, Any] = {"a": list(line.a), "b": list(line.b), "inside": list(line.inside)}
        if kind == "passby":
            geometry["kind"] = kind
        with self._begin() as conn:
            self._require_camera(conn, site_id, camera_id)
            _upsert(
                conn,
                t.lines,
                [{"site_id": site_id, "camera_id": camera_id, "line_id": line_id, "geometry": geometry}],
                ["site_id", "camera_id", "line_id"],
            )

    def upsert_zone(self, site_id: str, camera_id: str, zone_id: str, polygon: Sequence[Point]) -> None:
        """Add or reshape a zone of a camera: its corners as (x, y) frame fractions, in order."""
        try:
            zone = Zone(zone_id, tuple(_point(p) for p in polygon))
        except ValueError as exc:
            raise InputError(str(exc)) from None
        geometry = {"polygon": [list(p) for p in zone.polygon]}
        with self._begin() as conn:
            self._require_camera(conn, site_id, camera_id)
            _upsert(
                conn,
                t.zones,
                [{"site_id": site_id, "camera_id": camera_id, "zone_id": zone_id, "geometry": geometry}],
                ["site_id", "camera_id", "zone_id"],
            )

    def remove_line(self, site_id: str, camera_id: str, line_id: str) -> bool:
        """Delete a door line; False if there was none. Stored entries keep naming it."""
        return self._remove(t.lines, site_id, camera_id=camera_id, line_id=line_id)

    def remove_zone(self, site_id: str, camera_id: str, zone_id: str) -> bool:
        """Delete a zone; False if there was none."""
        return self._remove(t.zones, site_id, camera_id=camera_id, zone_id=zone_id)

    def remove_camera(self, site_id: str, camera_id: str) -> bool:
        """Delete a camera with its lines and zones; its sightings and visits stay. False if none."""
        return self._remove(t.cameras, site_id, camera_id=camera_id)

    def _remove(self, table: sa.Table, site_id: str, **key: str) -> bool:
        with self._begin() as conn:
            self._site(conn, site_id)
            where = [table.c.site_id == site_id, *(table.c[k] == v for k, v in key.items())]
            return conn.execute(sa.delete(table).where(*where)).rowcount > 0

    def cameras(self, site_id: str) -> list[CameraRecord]:
        """The site's cameras with their lines and zones, in id order."""
        with self._connect() as conn:
            self._site(conn, site_id)
            lines: dict[str, list[Line]] = {}
            passby: dict[str, list[str]] = {}
            for row in conn.execute(
                sa.select(t.lines).where(t.lines.c.site_id == site_id).order_by(t.lines.c.line_id)
            ):
                g = row.geometry
                lines.setdefault(row.camera_id, []).append(
                    Line(row.line_id, _point(g["a"]), _point(g["b"]), _point(g["inside"]))
                )
                if g.get("kind") == "passby":
                    passby.setdefault(row.camera_id, []).append(row.line_id)
            zones: dict[str, list[Zone]] = {}
            for row in conn.execute(
                sa.select(t.zones).where(t.zones.c.site_id == site_id).order_by(t.zones.c.zone_id)
            ):
                polygon = tuple(_point(p) for p in row.geometry["polygon"])
                zones.setdefault(row.camera_id, []).append(Zone(row.zone_id, polygon))
            return [
                CameraRecord(
                    site_id=site_id,
                    camera_id=row.camera_id,
                    name=row.name,
                    lines=tuple(lines.get(row.camera_id, ())),
                    zones=tuple(zones.get(row.camera_id, ())),
                    passby_lines=tuple(passby.get(row.camera_id, ())),
                )
                for row in conn.execute(
                    sa.select(t.cameras).where(t.cameras.c.site_id == site_id).order_by(t.cameras.c.camera_id)
                )
            ]

    # ------------------------------------------------------------------------ sightings

    def save_sightings(self, sightings: Iterable[Sighting]) -> int:
        """Store sightings (no pixels; the signature encrypted). A sighting is identified by site,
        camera, track id and ``first_seen``: saving it again (e.g. a track cut at a time limit and
        re-emitted longer) replaces it. Returns how many were given."""
        with self._begin() as conn:
            return self._write_sightings(conn, sightings)

    def _write_sightings(self, conn: sa.Connection, sightings: Iterable[Sighting]) -> int:
        rows: dict[tuple[str, str, int, datetime], dict[str, Any]] = {}
        for s in sightings:
            first_seen = _aware(s.first_seen, "first_seen")
            signature = None
            if s.signature is not None:
                signature = self._cipher.seal(
                    [s.signature],
                    kind=_KIND_SIGHTING,
                    site_id=s.site_id,
                    row=_sighting_row_key(s.camera_id, s.track_id, first_seen),
                )
            rows[(s.site_id, s.camera_id, s.track_id, first_seen)] = {
                "site_id": s.site_id,
                "camera_id": s.camera_id,
                "track_id": int(s.track_id),
                "first_seen": first_seen,
                "last_seen": _aware(s.last_seen, "last_seen"),
                "crossings": _crossings_json(s.crossings),
                "zones": _zones_json(s.zones),
                "signature": signature,
            }
        for site_id in sorted({key[0] for key in rows}):
            self._site(conn, site_id)
        _upsert(conn, t.sightings, list(rows.values()), ["site_id", "camera_id", "track_id", "first_seen"])
        return len(rows)

    def sightings(self, site_id: str, start: datetime, end: datetime) -> list[Sighting]:
        """Sightings of the site that began in ``[start, end)``, in time order. A signature that was
        purged (:meth:`purge_expired`) comes back as ``None``."""
        start, end = _aware(start, "start"), _aware(end, "end")
        c = t.sightings.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(t.sightings)
                .where(c.site_id == site_id, c.first_seen >= start, c.first_seen < end)
                .order_by(c.first_seen, c.camera_id, c.track_id)
            ).all()
        out: list[Sighting] = []
        for row in rows:
            signature = None
            if row.signature is not None:
                (signature,) = self._cipher.open(
                    row.signature,
                    kind=_KIND_SIGHTING,
                    site_id=site_id,
                    row=_sighting_row_key(row.camera_id, row.track_id, row.first_seen),
                )
            out.append(
                Sighting(
                    site_id=site_id,
                    camera_id=row.camera_id,
                    track_id=row.track_id,
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                    crossings=tuple(
                        SightingCrossing(
                            line_id=x["line_id"],
                            direction=x["direction"],
                            at=_from_iso(x["at"]),
                            point=_point(x["point"]),
                        )
                        for x in row.crossings
                    ),
                    zones=tuple(
                        SightingZone(
                            zone_id=z["zone_id"],
                            entered_at=_from_iso(z["entered_at"]),
                            left_at=None if z["left_at"] is None else _from_iso(z["left_at"]),
                        )
                        for z in row.zones
                    ),
                    signature=signature,
                )
            )
        return out

    # --------------------------------------------------------------------------- visits

    def save_visits(self, visits: Iterable[Visit], *, refresh_rollups: bool = True) -> int:
        """Store visits as the resolver emits them: upsert by (site, ``visit_id``); the visit's entries
        *replace* its stored entries, so saving a visit again (re-entry, exit, batch, exclusion) never
        double-counts. Within one call a later copy of the same visit wins. Batches (``batches`` table)
        are recomputed for every batch id a saved visit had before or has now: size = its customer
        visits, started_at = their earliest first entry; a batch left without customers is deleted.
        In the same transaction, the traffic rollups of every hour the visits counted in before or
        count in now are recomputed (``keliu.store.rollups``); ``refresh_rollups=False`` skips that
        for bulk loads, which must then call ``keliu.analytics.rollups.refresh_rollups`` themselves.
        Returns how many distinct visits were saved."""
        latest: dict[tuple[str, str], Visit] = {}
        for v in visits:
            latest[(v.site_id, v.visit_id)] = v
        by_site: dict[str, list[Visit]] = {}
        for (site_id, _), v in latest.items():
            by_site.setdefault(site_id, []).append(v)
        with self._begin() as conn:
            for site_id in sorted(by_site):
                if refresh_rollups:
                    self._ingest_site(conn, site_id, {v.visit_id: v for v in by_site[site_id]}, [], ())
                else:
                    self._site(conn, site_id)
                    self._save_site_visits(conn, site_id, by_site[site_id])
        return len(latest)

    def ingest(
        self,
        site_id: str,
        visits: Iterable[Visit],
        zone_stays: Iterable[ZoneStay] = (),
        passby: Iterable[PassbyCount] = (),
        *,
        resolved_footage: Iterable[Footage] = (),
        exits: Iterable[Exit] = (),
        passby_crossings: Iterable[PassbyCrossing] = (),
        passby_watched: Iterable[PassbyWatch] = (),
    ) -> int:
        """Save a site's new or changed visits, the complete zone stays of the visits named in
        ``zone_stays``, pass-by counts, exits and pass-by crossings, in one transaction, and refresh
        the rollups of every hour any of them touched once (not once per kind, as the separate save
        methods would). Same semantics as ``save_visits``, ``save_visit_zones``, ``save_passby`` and
        ``save_crossings``; returns the number of distinct visits saved. ``resolved_footage`` is
        marked resolved in the same transaction (the footage ledger, ``keliu.store.footage``)."""
        latest = {v.visit_id: v for v in visits}
        if any(v.site_id != site_id for v in latest.values()):
            raise InputError(f"ingest for site {site_id!r} got visits of another site")
        stay_rows = zone_stay_rows(site_id, zone_stays)
        with self._begin() as conn:
            self._ingest_site(
                conn, site_id, latest, stay_rows, passby, exits, passby_crossings, passby_watched
            )
            self._mark_resolved(conn, list(resolved_footage))
        return len(latest)

    def _ingest_site(
        self,
        conn: sa.Connection,
        site_id: str,
        latest: Mapping[str, Visit],
        stay_rows: list[dict[str, Any]],
        passby: Iterable[PassbyCount],
        exits: Iterable[Exit] = (),
        passby_crossings: Iterable[PassbyCrossing] = (),
        passby_watched: Iterable[PassbyWatch] = (),
    ) -> None:
        """The one write path with rollups for visits, zone stays, pass-by and exits (``ingest``,
        ``save_visits``): save them, then refresh every hour they counted in before or count in now."""
        site = self._site(conn, site_id)
        stay_ids = sorted({r["visit_id"] for r in stay_rows})
        stored = rollups.stored_visits(conn, site_id, sorted(set(latest) | set(stay_ids)))
        missing = [i for i in stay_ids if i not in stored and i not in latest]
        if missing:
            raise InputError(f"unknown visits of site {site_id!r}: {', '.join(missing[:5])}")
        # only stored visits counted anywhere before; new ones are read from the objects below
        before, batch_ids = rollups.visit_instants(conn, site_id, sorted(stored))
        if latest:
            touched, starts_before = self._save_site_visits(
                conn, site_id, list(latest.values()), stored=stored
            )
            batch_ids |= touched
            before += starts_before
        if stay_ids:
            self._write_visit_zones(conn, site_id, stay_ids, stay_rows, stored=stored.keys())
        hours = self._write_passby(conn, site_id, passby)
        hours += self._write_exits(conn, site_id, exits, known_visits=latest.keys())
        hours += self._write_passby_crossings(conn, site_id, site.timezone, passby_crossings, passby_watched)
        after = [_aware(v.first_entry, "first_entry") for v in latest.values()]
        after += [_aware(e.at, "entry time") for v in latest.values() for e in v.entries]
        batch_ids |= {v.batch_id for v in latest.values() if v.batch_id is not None}
        after += rollups.batch_starts(conn, site_id, batch_ids)
        rollups.refresh_instants(conn, site_id, site.timezone, [*before, *after, *hours])

    def delete_visits(self, site_id: str, visit_ids: Iterable[str]) -> int:
        """Delete visits (with their entries and zone stays; their exits stay, unlinked), recompute
        their batches and the rollups of the hours they counted in. Returns how many were deleted."""
        ids = sorted(set(visit_ids))
        with self._begin() as conn:
            site = self._site(conn, site_id)
            instants, batch_ids = rollups.visit_instants(conn, site_id, ids)
            self._unlink_exits(conn, site_id, ids)
            deleted = 0
            for chunk in _chunks(ids):
                deleted += conn.execute(
                    sa.delete(t.visits).where(
                        t.visits.c.site_id == site_id, in_values(conn, t.visits.c.visit_id, chunk)
                    )
                ).rowcount
            self._refresh_batches(conn, site_id, sorted(batch_ids))
            rollups.refresh_instants(conn, site_id, site.timezone, instants)
        return deleted

    def _save_site_visits(
        self,
        conn: sa.Connection,
        site_id: str,
        site_visits: list[Visit],
        stored: Mapping[str, str | None] | None = None,
    ) -> tuple[set[str], list[datetime]]:
        """Upsert ``site_visits`` with their entries and batches. ``stored``: which of them are already
        stored, with their stored batch id, when the caller has read that already. Returns the batch
        ids the visits were in before or are in now, merges and corrections applied, and those batches'
        start times before the save: a late member of a merged batch may move the batch's start to an
        earlier hour, whose rollup and the old one's both change."""
        ids = [v.visit_id for v in site_visits]
        if stored is None:
            stored = rollups.stored_visits(conn, site_id, ids)
        touched_batches: set[str] = {v.batch_id for v in site_visits if v.batch_id is not None}
        touched_batches.update(b for b in stored.values() if b is not None)
        rows = []
        entry_rows: dict[tuple[str, datetime, str, str], dict[str, Any]] = {}
        for v in site_visits:
            category = PersonCategory(v.category).value
            exclusion = v.exclusion
            rows.append(
                {
                    "site_id": site_id,
                    "visit_id": v.visit_id,
                    "category": category,
                    "first_entry": _aware(v.first_entry, "first_entry"),
                    "last_exit": None if v.last_exit is None else _aware(v.last_exit, "last_exit"),
                    "exclusion_category": None
                    if exclusion is None
                    else PersonCategory(exclusion.category).value,
                    "exclusion_reason": None if exclusion is None else exclusion.reason,
                    "exclusion_confidence": None if exclusion is None else float(exclusion.confidence),
                    "batch_id": v.batch_id,
                    "is_returning": bool(v.returning),
                    "since_previous_s": None if v.since_previous_s is None else float(v.since_previous_s),
                    "upper_colour": v.upper_colour,
                    "lower_colour": v.lower_colour,
                }
            )
            for e in v.entries:
                at = _aware(e.at, "entry time")
                entry_rows[(v.visit_id, at, e.camera_id, e.line_id)] = {
                    "site_id": site_id,
                    "visit_id": v.visit_id,
                    "at": at,
                    "camera_id": e.camera_id,
                    "line_id": e.line_id,
                }
        self._apply_batch_assignments(conn, site_id, rows)  # merges and splits survive re-resolution
        self._apply_corrections(conn, site_id, rows)  # a manager's corrections survive re-resolution
        touched_batches.update(str(r["batch_id"]) for r in rows if r["batch_id"] is not None)
        insert_rows(conn, t.visits, [r for r in rows if r["visit_id"] not in stored])  # new: plain insert
        _upsert(conn, t.visits, [r for r in rows if r["visit_id"] in stored], ["site_id", "visit_id"])
        for chunk in _chunks([i for i in ids if i in stored]):  # new visits have no entries to replace
            conn.execute(
                sa.delete(t.entries).where(
                    t.entries.c.site_id == site_id, in_values(conn, t.entries.c.visit_id, chunk)
                )
            )
        if entry_rows:
            insert_rows(conn, t.entries, list(entry_rows.values()))
        starts_before = rollups.batch_starts(conn, site_id, touched_batches)
        self._refresh_batches(conn, site_id, sorted(touched_batches))
        return touched_batches, starts_before

    def _refresh_batches(self, conn: sa.Connection, site_id: str, batch_ids: list[str]) -> None:
        c = t.visits.c
        for chunk in _chunks(batch_ids):
            found = conn.execute(
                sa.select(c.batch_id, sa.func.count(), sa.func.min(c.first_entry))
                .where(c.site_id == site_id, in_values(conn, c.batch_id, chunk), c.category == _CUSTOMER)
                .group_by(c.batch_id)
            ).all()
            rows = [
                {"site_id": site_id, "batch_id": batch_id, "started_at": started_at, "size": size}
                for batch_id, size, started_at in found
            ]
            _upsert(conn, t.batches, rows, ["site_id", "batch_id"])
            gone = set(chunk) - {r["batch_id"] for r in rows}
            if gone:
                conn.execute(
                    sa.delete(t.batches).where(
                        t.batches.c.site_id == site_id, in_values(conn, t.batches.c.batch_id, sorted(gone))
                    )
                )

    def visits(self, site_id: str, start: datetime, end: datetime) -> list[Visit]:
        """Visits of the site whose first entry is in ``[start, end)``, ordered by first entry then id,
        each with its entries in time order."""
        start, end = _aware(start, "start"), _aware(end, "end")
        v, e = t.visits.c, t.entries.c
        in_range = (v.site_id == site_id, v.first_entry >= start, v.first_entry < end)
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(t.visits).where(*in_range).order_by(v.first_entry, v.visit_id)
            ).all()
            entry_rows = conn.execute(
                sa.select(e.visit_id, e.at, e.camera_id, e.line_id)
                .select_from(
                    t.entries.join(t.visits, sa.and_(v.site_id == e.site_id, v.visit_id == e.visit_id))
                )
                .where(*in_range)
                .order_by(e.visit_id, e.at, e.camera_id, e.line_id)
            ).all()
        entries: dict[str, list[Entry]] = {}
        for r in entry_rows:
            entries.setdefault(r.visit_id, []).append(
                Entry(at=r.at, camera_id=r.camera_id, line_id=r.line_id)
            )
        return [
            Visit(
                visit_id=r.visit_id,
                site_id=site_id,
                category=PersonCategory(r.category),
                first_entry=r.first_entry,
                entries=entries.get(r.visit_id, []),
                last_exit=r.last_exit,
                exclusion=None
                if r.exclusion_category is None
                else Exclusion(
                    category=PersonCategory(r.exclusion_category),
                    reason=r.exclusion_reason or "",
                    confidence=float(r.exclusion_confidence or 0.0),
                ),
                batch_id=r.batch_id,
                returning=bool(r.is_returning),
                since_previous_s=r.since_previous_s,
                upper_colour=_colour(r.upper_colour),
                lower_colour=_colour(r.lower_colour),
            )
            for r in rows
        ]

    def batch_sizes(self, site_id: str) -> dict[str, int]:
        """Every stored batch of the site with its size (customer visits in it)."""
        b = t.batches.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(sa.select(b.batch_id, b.size).where(b.site_id == site_id)).all()
        return {row.batch_id: row.size for row in rows}

    # ---------------------------------------------------------------- remembered people

    def remember(self, site_id: str, person: RememberedPerson, expires_at: datetime) -> None:
        """Keep a past visit's signature (encrypted) until ``expires_at`` (the resolver's
        ``expires_at(person)``); saving the same visit again replaces it."""
        if person.site_id != site_id:
            raise InputError(
                f"remembered visit {person.visit_id!r} is of site {person.site_id!r}, not {site_id!r}"
            )
        blob = self._cipher.seal(
            [person.signature], kind=_KIND_REMEMBERED, site_id=site_id, row=person.visit_id
        )
        row = {
            "site_id": site_id,
            "visit_id": person.visit_id,
            "last_seen": _aware(person.last_seen, "last_seen"),
            "category": PersonCategory(person.category).value,
            "signature": blob,
            "expires_at": _aware(expires_at, "expires_at"),
        }
        with self._begin() as conn:
            self._site(conn, site_id)
            _upsert(conn, t.remembered, [row], ["site_id", "visit_id"])

    def remembered_people(self, site_id: str, now: datetime) -> list[RememberedPerson]:
        """The site's remembered people that have not expired at ``now`` (``expires_at > now``),
        ordered by last seen then visit id, signatures decrypted."""
        now = _aware(now, "now")
        r = t.remembered.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(t.remembered)
                .where(r.site_id == site_id, r.expires_at > now)
                .order_by(r.last_seen, r.visit_id)
            ).all()
        out = []
        for row in rows:
            (signature,) = self._cipher.open(
                row.signature, kind=_KIND_REMEMBERED, site_id=site_id, row=row.visit_id
            )
            out.append(
                RememberedPerson(
                    visit_id=row.visit_id,
                    site_id=site_id,
                    last_seen=row.last_seen,
                    signature=signature,
                    category=PersonCategory(row.category),
                )
            )
        return out

    # ---------------------------------------------------------------------------- staff

    def enrol_staff(self, site_id: str, member: StaffMember, *, now: datetime | None = None) -> None:
        """Enrol (or re-enrol: new name and signatures) a member of staff; their signatures are
        encrypted. ``created_at`` is ``now`` (default: the wall clock) on first enrolment and kept
        after."""
        created_at = datetime.now(UTC) if now is None else _aware(now, "now")
        blob = self._cipher.seal(member.signatures, kind=_KIND_STAFF, site_id=site_id, row=member.staff_id)
        row = {
            "site_id": site_id,
            "staff_id": member.staff_id,
            "name": member.name,
            "signatures": blob,
            "created_at": created_at,
        }
        with self._begin() as conn:
            self._site(conn, site_id)
            _upsert(conn, t.staff, [row], ["site_id", "staff_id"], keep=["created_at"])

    def staff(self, site_id: str) -> list[StaffMember]:
        """The site's enrolled staff, in id order, signatures decrypted."""
        s = t.staff.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(sa.select(t.staff).where(s.site_id == site_id).order_by(s.staff_id)).all()
        return [
            StaffMember(
                staff_id=row.staff_id,
                name=row.name,
                signatures=self._cipher.open(
                    row.signatures, kind=_KIND_STAFF, site_id=site_id, row=row.staff_id
                ),
            )
            for row in rows
        ]

    def remove_staff(self, site_id: str, staff_id: str) -> bool:
        """Delete an enrolment and its signatures; False if there was none."""
        return self._remove(t.staff, site_id, staff_id=staff_id)

    # ---------------------------------------------------------------- exclusion classes

    def save_exclusion_class(self, site_id: str | None, cls: ExclusionClass) -> None:
        """Add or replace an exclusion class (无效客流) of a site, or a global one (``site_id=None``)
        that every site uses. Exemplar signatures are encrypted."""
        row = self._exclusion_row(site_id, cls)
        with self._begin() as conn:
            if site_id is not None:
                self._site(conn, site_id)
            _upsert(conn, t.exclusion_classes, [row], ["scope", "class_id"])

    def _exclusion_row(self, site_id: str | None, cls: ExclusionClass) -> dict[str, Any]:
        scope = t.GLOBAL_SCOPE if site_id is None else site_id
        blob = (
            self._cipher.seal(cls.exemplars, kind=_KIND_EXEMPLARS, site_id=scope, row=cls.class_id)
            if cls.exemplars
            else None
        )
        return {
            "scope": scope,
            "class_id": cls.class_id,
            "site_id": site_id,
            "name": cls.name,
            "colour_rule": _colour_rule_json(cls.colour_rule),
            "exemplars": blob,
            "enabled": bool(cls.enabled),
        }

    def add_exclusion_class(self, site_id: str, cls: ExclusionClass) -> None:
        """Add a new class of the site's own (the API's create; ``save_exclusion_class`` replaces).
        :class:`Conflict` when a class of that id applies to the site already, its own or a global
        one; :class:`NotFound` for an unknown site."""
        x = t.exclusion_classes.c
        taken = f"the site has an exclusion class {cls.class_id!r} already"
        try:
            with self._begin() as conn:
                self._site(conn, site_id)
                scopes = set(
                    conn.execute(
                        sa.select(x.scope).where(
                            x.class_id == cls.class_id, x.scope.in_([t.GLOBAL_SCOPE, site_id])
                        )
                    ).scalars()
                )
                if site_id in scopes:
                    raise Conflict(taken)
                if t.GLOBAL_SCOPE in scopes:
                    raise Conflict(
                        f"exclusion class {cls.class_id!r} is global (it applies to every site and is "
                        "managed with keliu exclusion); choose another id"
                    )
                conn.execute(sa.insert(t.exclusion_classes), [self._exclusion_row(site_id, cls)])
        except sa.exc.IntegrityError:  # added at the same moment by another request
            raise Conflict(taken) from None

    def update_exclusion_class(
        self,
        site_id: str,
        class_id: str,
        *,
        name: str | None = None,
        enabled: bool | None = None,
        colour_rule: ColourRule | EllipsisType | None = ...,
    ) -> None:
        """Change one of the site's own classes: its name, whether it is on, its colour rule (``None``
        removes it; ``name``/``enabled`` None and ``colour_rule`` ``...`` leave them as they are); its
        exemplars are kept. A global class can only be switched on or off *for this site*: that stores
        the site's copy of it (exemplars sealed again under the site), which then replaces it there
        (``keliu exclusion add --site S --disabled`` does the same; removing the copy brings the global
        class back). :class:`NotFound` when no class of that id applies to the site, :class:`Conflict`
        for any other change of a global one (``keliu exclusion`` manages those),
        :class:`InputError` when it would be left with neither a colour rule nor exemplars."""
        x = t.exclusion_classes.c
        with self._begin() as conn:
            self._site(conn, site_id)
            where = sa.and_(x.scope == site_id, x.class_id == class_id)
            row = conn.execute(
                sa.select(x.exemplars.is_not(None).label("has_exemplars"), x.colour_rule).where(where)
            ).one_or_none()
            if row is None:
                is_global = conn.execute(
                    sa.select(x.class_id).where(x.scope == t.GLOBAL_SCOPE, x.class_id == class_id)
                ).first()
                if is_global is None:
                    raise NotFound(f"no exclusion class {class_id!r} at this site")
                if enabled is None or name is not None or not isinstance(colour_rule, EllipsisType):
                    raise Conflict(
                        f"exclusion class {class_id!r} is global (it applies to every site): a site can "
                        "only switch it on or off for itself; change it with keliu exclusion add"
                    )
                conn.execute(
                    sa.insert(t.exclusion_classes),
                    [
                        self._exclusion_row(
                            site_id, replace(self._global_class(conn, class_id), enabled=enabled)
                        )
                    ],
                )
                return
            values: dict[str, Any] = {}
            if name is not None:
                values["name"] = name
            if enabled is not None:
                values["enabled"] = enabled
            if not isinstance(colour_rule, EllipsisType):
                if colour_rule is None and not row.has_exemplars:
                    raise InputError(
                        f"exclusion class {class_id!r} has no exemplars: without a colour rule it "
                        "would match nobody (switch it off with enabled false instead)"
                    )
                values["colour_rule"] = _colour_rule_json(colour_rule)
            if values:
                conn.execute(sa.update(t.exclusion_classes).where(where).values(**values))

    def exclusion_classes(self, site_id: str) -> list[ExclusionClass]:
        """The classes that apply to the site, disabled ones included: the global classes and the
        site's own; a site class with the same ``class_id`` as a global one replaces it. In id order."""
        x = t.exclusion_classes.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(t.exclusion_classes).where(x.scope.in_([t.GLOBAL_SCOPE, site_id]))
            ).all()
        chosen: dict[str, Any] = {}
        for row in sorted(rows, key=lambda r: r.scope != t.GLOBAL_SCOPE):  # globals first, site's override
            chosen[row.class_id] = row
        return [self._exclusion_class_of(chosen[class_id]) for class_id in sorted(chosen)]

    def _exclusion_class_of(self, row: Any) -> ExclusionClass:
        exemplars = (
            self._cipher.open(row.exemplars, kind=_KIND_EXEMPLARS, site_id=row.scope, row=row.class_id)
            if row.exemplars is not None
            else ()
        )
        return ExclusionClass(
            class_id=row.class_id,
            name=row.name,
            exemplars=exemplars,
            colour_rule=_colour_rule(row.colour_rule),
            enabled=bool(row.enabled),
        )

    def own_exclusion_class_ids(self, site_id: str) -> set[str]:
        """Ids of the site's own exclusion classes (the ones ``remove_exclusion_class(site_id, …)``
        removes); the global classes are not among them, but the site's copy of one (a global class
        replaced or switched on or off for the site) is."""
        x = t.exclusion_classes.c
        with self._connect() as conn:
            self._site(conn, site_id)
            return set(conn.execute(sa.select(x.class_id).where(x.scope == site_id)).scalars())

    def _global_class(self, conn: sa.Connection, class_id: str) -> ExclusionClass:
        row = conn.execute(
            sa.select(t.exclusion_classes).where(
                t.exclusion_classes.c.scope == t.GLOBAL_SCOPE, t.exclusion_classes.c.class_id == class_id
            )
        ).one()
        return self._exclusion_class_of(row)

    def remove_exclusion_class(self, site_id: str | None, class_id: str) -> bool:
        """Delete a site's (or, with ``site_id=None``, a global) exclusion class; False if none."""
        scope = t.GLOBAL_SCOPE if site_id is None else site_id
        x = t.exclusion_classes.c
        with self._begin() as conn:
            deleted = conn.execute(
                sa.delete(t.exclusion_classes).where(x.scope == scope, x.class_id == class_id)
            ).rowcount
        return deleted > 0

    # ----------------------------------------------------------------------------- purge

    def analyze(self) -> None:
        """Refresh the query planner's statistics (``ANALYZE``), e.g. after a bulk load: without them
        PostgreSQL may scan a whole site instead of looking visits up by id."""
        with self._begin() as conn:
            conn.execute(sa.text("ANALYZE"))

    def purge_expired(self, now: datetime) -> int:
        """The scheduled privacy job (run it at least hourly): delete remembered signatures whose
        ``expires_at`` is at or before ``now``, and drop (set to NULL) the signatures of sightings
        that ended longer ago than their site's purpose window (the longer of the de-dup window and
        the returning-visitor memory). Sightings themselves (times, crossings) stay. Staff and
        exclusion-class signatures are kept: they were enrolled on purpose. Returns how many
        signatures were removed in all."""
        now = _aware(now, "now")
        removed = 0
        with self._begin() as conn:
            removed += conn.execute(sa.delete(t.remembered).where(t.remembered.c.expires_at <= now)).rowcount
            s = t.sightings.c
            for site_id in conn.execute(sa.select(t.sites.c.id)).scalars().all():
                cutoff = now - self._site(conn, site_id).purpose_window
                removed += conn.execute(
                    sa.update(t.sightings)
                    .where(s.site_id == site_id, s.last_seen < cutoff, s.signature.is_not(None))
                    .values(signature=None)
                ).rowcount
        if removed and self._engine.dialect.name == "sqlite":
            # with secure_delete the freed pages are zeroed; checkpointing moves them into the main
            # file and empties the write-ahead log, so no old copy of a blob stays on disk
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    # --------------------------------------------------------------------------- summary

    def traffic_summary(
        self, site_id: str, start: datetime, end: datetime, by: Literal["hour", "day"] = "day"
    ) -> list[SummaryRow]:
        """Traffic of ``[start, end)`` per local hour or day of the site (see :class:`SummaryRow` for
        each number). Every bucket overlapping the range has a row, zeros included; a bucket cut by
        ``start``/``end`` counts only what lies inside the range. Counting is SQL aggregation over a
        ``VALUES`` table of the buckets' UTC bounds, identical on SQLite and PostgreSQL."""
        start, end = _aware(start, "start"), _aware(end, "end")
        if by not in ("hour", "day"):
            raise InputError(f"by must be 'hour' or 'day', not {by!r}")
        out: list[SummaryRow] = []
        with self._connect() as conn:
            site = self._site(conn, site_id)
            buckets = local_buckets(start, end, by, site.timezone)
            for chunk in _chunks(buckets):
                out.extend(self._summarise(conn, site_id, chunk))
        return out

    def _summarise(self, conn: sa.Connection, site_id: str, buckets: Sequence[Bucket]) -> list[SummaryRow]:
        b = _buckets_cte(buckets)
        v, e, bt = t.visits.c, t.entries.c, t.batches.c
        rows = [SummaryRow(bucket=bucket.start, invalid_by_reason={}) for bucket in buckets]
        counts: list[dict[str, int]] = [{} for _ in buckets]

        def add(idx: int, key: str, n: int) -> None:
            counts[idx][key] = counts[idx].get(key, 0) + int(n)

        per_visit = conn.execute(
            sa.select(b.c.idx, v.category, v.is_returning, v.exclusion_reason, sa.func.count())
            .select_from(
                b.join(
                    t.visits, sa.and_(v.site_id == site_id, v.first_entry >= b.c.lo, v.first_entry < b.c.hi)
                )
            )
            .group_by(b.c.idx, v.category, v.is_returning, v.exclusion_reason)
        ).all()
        for idx, category, returning, reason, n in per_visit:
            if category == _CUSTOMER:
                add(idx, "deduplicated", n)
                add(idx, "returning" if returning else "new", n)
            elif category == _STAFF:
                add(idx, "staff", n)
            elif category == _INVALID:
                add(idx, "invalid", n)
                by_reason = rows[idx].invalid_by_reason
                by_reason[reason or "unknown"] = by_reason.get(reason or "unknown", 0) + int(n)

        total = conn.execute(
            sa.select(b.c.idx, sa.func.count())
            .select_from(
                b.join(t.entries, sa.and_(e.site_id == site_id, e.at >= b.c.lo, e.at < b.c.hi)).join(
                    t.visits, sa.and_(v.site_id == e.site_id, v.visit_id == e.visit_id)
                )
            )
            .where(v.category == _CUSTOMER)
            .group_by(b.c.idx)
        ).all()
        for idx, n in total:
            add(idx, "total", n)

        started = conn.execute(
            sa.select(b.c.idx, sa.func.count())
            .select_from(
                b.join(
                    t.batches, sa.and_(bt.site_id == site_id, bt.started_at >= b.c.lo, bt.started_at < b.c.hi)
                )
            )
            .where(bt.size >= 1)
            .group_by(b.c.idx)
        ).all()
        for idx, n in started:
            add(idx, "batches", n)

        x = t.exits.c
        left = conn.execute(
            sa.select(b.c.idx, sa.func.count())
            .select_from(
                b.join(t.exits, sa.and_(x.site_id == site_id, x.at >= b.c.lo, x.at < b.c.hi)).join(
                    t.visits, sa.and_(v.site_id == x.site_id, v.visit_id == x.visit_id)
                )
            )
            .where(v.category == _CUSTOMER)
            .group_by(b.c.idx)
        ).all()
        for idx, n in left:
            add(idx, "exits", n)

        return [
            SummaryRow(
                bucket=row.bucket,
                total=c.get("total", 0),
                deduplicated=c.get("deduplicated", 0),
                staff=c.get("staff", 0),
                invalid=c.get("invalid", 0),
                invalid_by_reason=dict(sorted(row.invalid_by_reason.items())),
                batches=c.get("batches", 0),
                new=c.get("new", 0),
                returning=c.get("returning", 0),
                exits=c.get("exits", 0),
            )
            for row, c in zip(rows, counts, strict=True)
        ]
