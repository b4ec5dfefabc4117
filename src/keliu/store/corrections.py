"""Manual corrections of visits (人工干预过滤, REQUIREMENTS I8): a manager says who a visit (or every
visit of a batch) really was — staff 员工, a courier 快递/外卖, not a customer 非客, or back to a
customer — and why.

A correction is kept in ``visit_corrections`` and applied to the visit row at once: its category
(``staff``, ``invalid`` or ``customer``) and its exclusion (reason ``manual:<category>``, confidence
1), in the same transaction as the batches and rollups it changes, so every figure (dashboard,
metrics, reports, reception brief) follows. Every later save of the visit by the resolution
(``Store._save_site_visits``: a re-entry, an exit, a replay of the footage) applies it again, so it
survives re-resolution; what the resolution decided is kept in ``original_*`` (updated on each such
save) and comes back when the correction is undone. A visit corrected to a customer that the
resolution had left out of every batch (staff are) arrives as a batch of its own, named like the
resolver names batches (``b/<visit id>``).

:class:`VisitCorrections` is a mixin of :class:`keliu.store.Store`; it also lists a day's visits as
the visits page shows them (metadata only: times, door, batch, colours, category).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa

from keliu.errors import InputError, NotFound
from keliu.store import rollups
from keliu.store import schema as t
from keliu.store.engine import in_values

__all__ = [
    "CORRECTION_CATEGORIES",
    "Correction",
    "CorrectionCategory",
    "VisitCorrections",
    "VisitRecord",
]

CorrectionCategory = Literal["staff", "courier", "not_customer", "customer"]
CORRECTION_CATEGORIES: tuple[CorrectionCategory, ...] = get_args(CorrectionCategory)
MANUAL_PREFIX = "manual:"
MAX_REASON = 500
_CHUNK = 5000

# correction -> (visit category, exclusion category) of the visit row
_STORED: dict[str, tuple[str, str | None]] = {
    "staff": ("staff", "staff"),
    "courier": ("invalid", "invalid"),
    "not_customer": ("invalid", "invalid"),
    "customer": ("customer", None),
}


@dataclass(frozen=True)
class Correction:
    visit_id: str
    category: CorrectionCategory
    reason: str
    corrected_by: str | None
    corrected_at: datetime


@dataclass(frozen=True)
class VisitRecord:
    """A visit as the visits page lists it: no signature, no pixels."""

    visit_id: str
    batch_id: str | None
    arrived_at: datetime  # first entry
    last_exit: datetime | None
    camera_id: str | None  # door of the first entry
    line_id: str | None
    entrance: str | None  # its entrance name (出入口) when the site names it
    batch_size: int  # customer visits in the batch now (0: no batch, or none left)
    upper_colour: str | None
    lower_colour: str | None
    category: str  # customer | staff | invalid (PersonCategory)
    reason: str | None  # the exclusion reason (e.g. "staff:Zhang San", "courier", "manual:courier")
    returning: bool
    correction: Correction | None


def _correction(row: Any) -> Correction:
    return Correction(row.visit_id, row.category, row.reason, row.corrected_by, row.corrected_at)


def _corrected(visit_id: str, category: str, batch_id: str | None) -> dict[str, Any]:
    """The visit-row values a correction sets."""
    stored, exclusion = _STORED[category]
    if stored == "customer" and batch_id is None:
        batch_id = f"b/{visit_id}"  # a customer arrives in a batch (of one, as the resolver names it)
    return {
        "category": stored,
        "exclusion_category": exclusion,
        "exclusion_reason": None if exclusion is None else MANUAL_PREFIX + category,
        "exclusion_confidence": None if exclusion is None else 1.0,
        "batch_id": batch_id,
    }


def check_correction(category: str, reason: str) -> str:
    """The reason, stripped; InputError for an unknown category or a blank or too long reason."""
    if category not in CORRECTION_CATEGORIES:
        raise InputError(f"category must be one of {', '.join(CORRECTION_CATEGORIES)}, not {category!r}")
    text = reason.strip()
    if not text:
        raise InputError("reason: say why the visit is corrected (it is kept in the audit log)")
    if len(text) > MAX_REASON:
        raise InputError(f"reason: at most {MAX_REASON} characters")
    return text


class VisitCorrections:
    """Visit-list and correction methods of :class:`keliu.store.Store` (module docstring)."""

    # provided by Store
    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    def _refresh_batches(self, conn: sa.Connection, site_id: str, batch_ids: list[str]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------- listing

    def visit_records(
        self, site_id: str, start: datetime, end: datetime, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[VisitRecord], int]:
        """Visits whose first entry is in ``[start, end)``, in arrival order (then id), a page of
        ``limit`` from ``offset``, and how many there are in all."""
        v = t.visits.c
        where = (v.site_id == site_id, v.first_entry >= start, v.first_entry < end)
        with self._connect() as conn:
            self._site(conn, site_id)
            total = int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one())
            rows = conn.execute(
                sa.select(t.visits)
                .where(*where)
                .order_by(v.first_entry, v.visit_id)
                .limit(limit)
                .offset(offset)
            ).all()
            return self._records(conn, site_id, rows), total

    def visit_record(self, site_id: str, visit_id: str) -> VisitRecord:
        """One visit as listed; NotFound if the site has no such visit."""
        v = t.visits.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(sa.select(t.visits).where(v.site_id == site_id, v.visit_id == visit_id)).all()
            if not rows:
                raise NotFound(f"no visit {visit_id!r} at this site")
            return self._records(conn, site_id, rows)[0]

    def batch_visit_ids(self, site_id: str, batch_id: str) -> list[str]:
        """Ids of every visit of a batch (customers or not), in arrival order; NotFound if none."""
        v = t.visits.c
        with self._connect() as conn:
            self._site(conn, site_id)
            ids = list(
                conn.execute(
                    sa.select(v.visit_id)
                    .where(v.site_id == site_id, v.batch_id == batch_id)
                    .order_by(v.first_entry, v.visit_id)
                ).scalars()
            )
        if not ids:
            raise NotFound(f"no batch {batch_id!r} at this site")
        return ids

    def _records(self, conn: sa.Connection, site_id: str, rows: Sequence[Any]) -> list[VisitRecord]:
        e, b, c, n = t.entries.c, t.batches.c, t.visit_corrections.c, t.entrances.c
        ids = [r.visit_id for r in rows]
        doors: dict[str, tuple[str, str]] = {}
        corrections: dict[str, Correction] = {}
        sizes: dict[str, int] = {}
        batch_ids = sorted({r.batch_id for r in rows if r.batch_id is not None})
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            for entry in conn.execute(
                sa.select(e.visit_id, e.camera_id, e.line_id)
                .where(e.site_id == site_id, in_values(conn, e.visit_id, chunk))
                .order_by(e.at.desc(), e.camera_id.desc(), e.line_id.desc())
            ):
                doors[entry.visit_id] = (entry.camera_id, entry.line_id)  # the earliest wins
            for row in conn.execute(
                sa.select(t.visit_corrections).where(c.site_id == site_id, in_values(conn, c.visit_id, chunk))
            ):
                corrections[row.visit_id] = _correction(row)
        for i in range(0, len(batch_ids), _CHUNK):
            for batch_id, size in conn.execute(
                sa.select(b.batch_id, b.size).where(
                    b.site_id == site_id, in_values(conn, b.batch_id, batch_ids[i : i + _CHUNK])
                )
            ):
                sizes[batch_id] = int(size)
        names = {
            (r.camera_id, r.line_id): r.name
            for r in conn.execute(sa.select(n.camera_id, n.line_id, n.name).where(n.site_id == site_id))
        }
        out = []
        for r in rows:
            door = doors.get(r.visit_id)
            out.append(
                VisitRecord(
                    visit_id=r.visit_id,
                    batch_id=r.batch_id,
                    arrived_at=r.first_entry,
                    last_exit=r.last_exit,
                    camera_id=door[0] if door else None,
                    line_id=door[1] if door else None,
                    entrance=names.get(door) if door else None,
                    batch_size=sizes.get(r.batch_id, 0) if r.batch_id is not None else 0,
                    upper_colour=r.upper_colour,
                    lower_colour=r.lower_colour,
                    category=r.category,
                    reason=r.exclusion_reason,
                    returning=bool(r.is_returning),
                    correction=corrections.get(r.visit_id),
                )
            )
        return out

    # ---------------------------------------------------------------------------- correcting

    def correct_visits(
        self,
        site_id: str,
        visit_ids: Iterable[str],
        category: str,
        reason: str,
        *,
        by: str | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        """Correct every visit of ``visit_ids`` to ``category`` (staff, courier, not_customer or
        customer) for ``reason`` (required); a visit corrected before gets the new correction, its
        resolution's decision is kept. Batches and rollups follow in the same transaction. NotFound
        if a visit is unknown (nothing changes then). Returns the batch ids whose size may have
        changed."""
        text = check_correction(category, reason)
        ids = sorted(set(visit_ids))
        if not ids:
            raise InputError("no visits to correct")
        at = now or datetime.now(UTC)
        v, c = t.visits.c, t.visit_corrections.c
        with self._begin() as conn:
            site = self._site(conn, site_id)
            rows = self._visit_rows(conn, site_id, ids)
            earlier = {
                r.visit_id: r
                for i in range(0, len(ids), _CHUNK)
                for r in conn.execute(
                    sa.select(t.visit_corrections).where(
                        c.site_id == site_id, in_values(conn, c.visit_id, ids[i : i + _CHUNK])
                    )
                )
            }
            instants, batches = rollups.visit_instants(conn, site_id, ids)
            for row in rows:
                before = earlier.get(row.visit_id)
                conn.execute(
                    sa.delete(t.visit_corrections).where(c.site_id == site_id, c.visit_id == row.visit_id)
                )
                conn.execute(
                    sa.insert(t.visit_corrections),
                    {
                        "site_id": site_id,
                        "visit_id": row.visit_id,
                        "category": category,
                        "reason": text,
                        "corrected_by": by,
                        "corrected_at": at,
                        **(
                            {k: getattr(before, k) for k in _ORIGINALS}
                            if before is not None
                            else _originals(row._mapping)
                        ),
                    },
                )
                values = _corrected(row.visit_id, category, row.batch_id)
                if values["batch_id"] is not None:
                    batches.add(values["batch_id"])
                conn.execute(
                    sa.update(t.visits)
                    .where(v.site_id == site_id, v.visit_id == row.visit_id)
                    .values(**values)
                )
            self._refresh_batches(conn, site_id, sorted(batches))
            instants += rollups.batch_starts(conn, site_id, batches)
            rollups.refresh_instants(conn, site_id, site.timezone, instants)
        return sorted(batches)

    def undo_corrections(self, site_id: str, visit_ids: Iterable[str]) -> list[str]:
        """Remove the corrections of ``visit_ids``: each visit gets back what the resolution decided.
        NotFound if one of them has no correction (nothing changes then). Returns the batch ids whose
        size may have changed."""
        ids = sorted(set(visit_ids))
        v, c = t.visits.c, t.visit_corrections.c
        with self._begin() as conn:
            site = self._site(conn, site_id)
            found = {
                r.visit_id: r
                for i in range(0, len(ids), _CHUNK)
                for r in conn.execute(
                    sa.select(t.visit_corrections).where(
                        c.site_id == site_id, in_values(conn, c.visit_id, ids[i : i + _CHUNK])
                    )
                )
            }
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFound(f"visit {missing[0]!r} has no manual correction at this site")
            instants, batches = rollups.visit_instants(conn, site_id, ids)
            for visit_id, row in found.items():
                restored = {k.removeprefix("original_"): getattr(row, k) for k in _ORIGINALS}
                if restored["batch_id"] is not None:
                    batches.add(restored["batch_id"])
                conn.execute(
                    sa.update(t.visits).where(v.site_id == site_id, v.visit_id == visit_id).values(**restored)
                )
                conn.execute(
                    sa.delete(t.visit_corrections).where(c.site_id == site_id, c.visit_id == visit_id)
                )
            self._refresh_batches(conn, site_id, sorted(batches))
            instants += rollups.batch_starts(conn, site_id, batches)
            rollups.refresh_instants(conn, site_id, site.timezone, instants)
        return sorted(batches)

    def _visit_rows(self, conn: sa.Connection, site_id: str, ids: Sequence[str]) -> list[Any]:
        v = t.visits.c
        rows = [
            r
            for i in range(0, len(ids), _CHUNK)
            for r in conn.execute(
                sa.select(t.visits).where(
                    v.site_id == site_id, in_values(conn, v.visit_id, ids[i : i + _CHUNK])
                )
            )
        ]
        known = {r.visit_id for r in rows}
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFound(f"no visit {missing[0]!r} at this site")
        return rows

    def _apply_corrections(self, conn: sa.Connection, site_id: str, rows: list[dict[str, Any]]) -> None:
        """For the visit rows the resolution is about to save (``_save_site_visits``): keep what the
        resolution decided as the corrections' ``original_*`` and put the corrections into the rows."""
        c = t.visit_corrections.c
        if (
            not rows
            or conn.execute(sa.select(c.visit_id).where(c.site_id == site_id).limit(1)).first() is None
        ):
            return
        ids = [r["visit_id"] for r in rows]
        found: dict[str, str] = {}
        for i in range(0, len(ids), _CHUNK):
            for r in conn.execute(
                sa.select(c.visit_id, c.category).where(
                    c.site_id == site_id, in_values(conn, c.visit_id, ids[i : i + _CHUNK])
                )
            ):
                found[r.visit_id] = r.category
        for row in rows:
            category = found.get(row["visit_id"])
            if category is None:
                continue
            conn.execute(
                sa.update(t.visit_corrections)
                .where(c.site_id == site_id, c.visit_id == row["visit_id"])
                .values(**_originals(row))
            )
            row.update(_corrected(row["visit_id"], category, row["batch_id"]))


_ORIGINALS = (
    "original_category",
    "original_exclusion_category",
    "original_exclusion_reason",
    "original_exclusion_confidence",
    "original_batch_id",
)


def _originals(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k.removeprefix("original_")] for k in _ORIGINALS}
