"""Reception (接待) and staff suggestions (员工建议): what the reception desk and a manager decide.

* **Reception**: each arrival batch (批次) can be classified — 看车 ``browsing``, 订单 ``order``, 售后
  ``after_sales``, 非客 ``not_customer``, 店员 ``staff`` — and given a sales advisor (销售顾问). The
  live brief counts 到店客流 arrivals and each class. Classifying changes no traffic figure: correcting
  who a visit was is a separate, logged action.
* **Staff suggestions**: people the resolver found present for most of the business hours (or in a
  staff zone) on a day, kept with their signature (encrypted like every signature) until a manager
  confirms — which enrols them as staff from that signature — or dismisses them. Never automatic.

:class:`ReceptionDesk` is a mixin of :class:`keliu.store.Store`; it stores decisions, it does not
resolve visits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa

from keliu.domain.visits import Signature, StaffMember
from keliu.errors import Conflict, InputError, NotFound
from keliu.store import schema as t

__all__ = [
    "RECEPTION_CATEGORIES",
    "Arrival",
    "Reception",
    "ReceptionCategory",
    "ReceptionDesk",
    "StoredSuggestion",
]

ReceptionCategory = Literal["browsing", "order", "after_sales", "not_customer", "staff"]
RECEPTION_CATEGORIES: tuple[ReceptionCategory, ...] = get_args(ReceptionCategory)
SuggestionStatus = Literal["pending", "confirmed", "dismissed"]
_KIND_SUGGESTION = "staff_suggestion"


@dataclass(frozen=True)
class Reception:
    batch_id: str
    category: ReceptionCategory | None
    advisor: str | None
    note: str | None
    updated_by: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Arrival:
    """A batch as the reception desk sees it: when, how many, what they wore, which door."""

    batch_id: str
    started_at: datetime
    size: int  # customer visits in the batch
    visit_ids: tuple[str, ...]
    upper_colours: tuple[str | None, ...]
    lower_colours: tuple[str | None, ...]
    camera_id: str | None
    line_id: str | None
    reception: Reception | None


@dataclass(frozen=True)
class StoredSuggestion:
    site_id: str
    person_key: str
    day: date
    share: float
    present_s: float
    reasons: tuple[str, ...]
    visit_ids: tuple[str, ...]
    status: SuggestionStatus
    decided_by: str | None
    has_signature: bool


def _reception(row: Any) -> Reception:
    return Reception(row.batch_id, row.category, row.advisor, row.note, row.updated_by, row.updated_at)


def _arrivals(conn: sa.Connection, site_id: str, batches: Sequence[Any]) -> list[Arrival]:
    """``batches`` (rows of batch_id, started_at, size) with their customers, doors and reception."""
    v, e, r = t.visits.c, t.entries.c, t.receptions.c
    ids = [row.batch_id for row in batches]
    members: dict[str, list[Any]] = {}
    first_door: dict[str, tuple[str, str]] = {}
    receptions: dict[str, Reception] = {}
    if ids:
        for member in conn.execute(
            sa.select(v.batch_id, v.visit_id, v.upper_colour, v.lower_colour, v.first_entry)
            .where(v.site_id == site_id, v.batch_id.in_(ids), v.category == "customer")
            .order_by(v.first_entry, v.visit_id)
        ):
            members.setdefault(member.batch_id, []).append(member)
        visit_ids = [m.visit_id for rows in members.values() for m in rows]
        for entry in conn.execute(
            sa.select(e.visit_id, e.camera_id, e.line_id)
            .where(e.site_id == site_id, e.visit_id.in_(visit_ids))
            .order_by(e.at.desc())
        ):
            first_door[entry.visit_id] = (entry.camera_id, entry.line_id)  # the earliest wins
        for row in conn.execute(sa.select(t.receptions).where(r.site_id == site_id, r.batch_id.in_(ids))):
            receptions[row.batch_id] = _reception(row)
    out = []
    for row in batches:
        rows = members.get(row.batch_id, [])
        door = first_door.get(rows[0].visit_id) if rows else None
        out.append(
            Arrival(
                batch_id=row.batch_id,
                started_at=row.started_at,
                size=int(row.size),
                visit_ids=tuple(m.visit_id for m in rows),
                upper_colours=tuple(m.upper_colour for m in rows),
                lower_colours=tuple(m.lower_colour for m in rows),
                camera_id=door[0] if door else None,
                line_id=door[1] if door else None,
                reception=receptions.get(row.batch_id),
            )
        )
    return out


class ReceptionDesk:
    """Reception and staff-suggestion methods of :class:`keliu.store.Store`."""

    # provided by Store
    _cipher: Any

    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    def enrol_staff(self, site_id: str, member: StaffMember, *, now: datetime | None = None) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------------------- reception

    def set_reception(
        self,
        site_id: str,
        batch_id: str,
        *,
        category: ReceptionCategory | None,
        advisor: str | None,
        note: str | None = None,
        by: str | None = None,
    ) -> Reception:
        """Classify a batch and/or assign its advisor (replaces the previous decision)."""
        if category is not None and category not in RECEPTION_CATEGORIES:
            raise InputError(f"category must be one of {', '.join(RECEPTION_CATEGORIES)}, not {category!r}")
        c = t.receptions.c
        with self._begin() as conn:
            self._site(conn, site_id)
            b = t.batches.c
            if not conn.execute(
                sa.select(b.batch_id).where(b.site_id == site_id, b.batch_id == batch_id)
            ).first():
                raise NotFound(f"unknown batch {batch_id!r} of site {site_id!r}")
            conn.execute(sa.delete(t.receptions).where(c.site_id == site_id, c.batch_id == batch_id))
            conn.execute(
                sa.insert(t.receptions),
                {
                    "site_id": site_id,
                    "batch_id": batch_id,
                    "category": category,
                    "advisor": advisor,
                    "note": note,
                    "updated_by": by,
                    "updated_at": datetime.now(UTC),
                },
            )
            row = conn.execute(
                sa.select(t.receptions).where(c.site_id == site_id, c.batch_id == batch_id)
            ).one()
        return _reception(row)

    def arrivals(self, site_id: str, start: datetime, end: datetime, *, limit: int = 500) -> list[Arrival]:
        """Batches that started in ``[start, end)``, newest first, with their visits and reception."""
        b = t.batches.c
        with self._connect() as conn:
            self._site(conn, site_id)
            batches = conn.execute(
                sa.select(b.batch_id, b.started_at, b.size)
                .where(b.site_id == site_id, b.started_at >= start, b.started_at < end)
                .order_by(b.started_at.desc(), b.batch_id)
                .limit(limit)
            ).all()
            return _arrivals(conn, site_id, batches)

    def arrivals_by_id(self, site_id: str, batch_ids: Sequence[str]) -> list[Arrival]:
        """The stored batches among ``batch_ids``, in that order (a batch no longer stored is left
        out), as :meth:`arrivals` gives them."""
        b = t.batches.c
        with self._connect() as conn:
            self._site(conn, site_id)
            found = {
                row.batch_id: row
                for row in conn.execute(
                    sa.select(b.batch_id, b.started_at, b.size).where(
                        b.site_id == site_id, b.batch_id.in_(list(batch_ids))
                    )
                )
            }
            return _arrivals(conn, site_id, [found[i] for i in dict.fromkeys(batch_ids) if i in found])

    def reception_brief(self, site_id: str, start: datetime, end: datetime) -> dict[str, int]:
        """到店客流 (batches and people arrived) and how many batches of each reception class, in
        ``[start, end)``; ``unclassified`` is what the desk has not classified yet."""
        b, r = t.batches.c, t.receptions.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(b.batch_id, b.size, r.category)
                .select_from(
                    t.batches.outerjoin(
                        t.receptions, sa.and_(r.site_id == b.site_id, r.batch_id == b.batch_id)
                    )
                )
                .where(b.site_id == site_id, b.started_at >= start, b.started_at < end)
            ).all()
        brief = {"arrivals": len(rows), "people": sum(int(x.size) for x in rows), "unclassified": 0}
        brief |= {category: 0 for category in RECEPTION_CATEGORIES}
        for row in rows:
            brief[row.category or "unclassified"] += 1
        return brief

    # --------------------------------------------------------------------- staff suggestions

    def save_staff_suggestions(self, site_id: str, suggestions: Iterable[Any]) -> int:
        """Keep new suggestions (``keliu.resolve.StaffSuggestion``) as pending; one already decided
        stays decided. Returns how many are new."""
        s = t.staff_suggestions.c
        new = 0
        with self._begin() as conn:
            self._site(conn, site_id)
            for item in suggestions:
                key = (s.site_id == site_id, s.person_key == item.person_key, s.day == item.day)
                if conn.execute(sa.select(s.status).where(*key)).first():
                    continue
                blob = None
                if item.signature is not None:
                    blob = self._cipher.seal(
                        [item.signature],
                        kind=_KIND_SUGGESTION,
                        site_id=site_id,
                        row=f"{item.person_key}/{item.day}",
                    )
                conn.execute(
                    sa.insert(t.staff_suggestions),
                    {
                        "site_id": site_id,
                        "person_key": item.person_key,
                        "day": item.day,
                        "share": float(item.share),
                        "present_s": float(item.present_s),
                        "reasons": list(item.reasons),
                        "visit_ids": list(item.visit_ids),
                        "signature": blob,
                        "status": "pending",
                        "decided_by": None,
                        "created_at": datetime.now(UTC),
                    },
                )
                new += 1
        return new

    def staff_suggestions(
        self, site_id: str, status: Sequence[SuggestionStatus] = ("pending",)
    ) -> list[StoredSuggestion]:
        s = t.staff_suggestions.c
        with self._connect() as conn:
            self._site(conn, site_id)
            rows = conn.execute(
                sa.select(t.staff_suggestions)
                .where(s.site_id == site_id, s.status.in_(list(status)))
                .order_by(s.day.desc(), s.share.desc(), s.person_key)
            ).all()
        return [
            StoredSuggestion(
                site_id,
                r.person_key,
                r.day,
                r.share,
                r.present_s,
                tuple(r.reasons),
                tuple(r.visit_ids),
                r.status,
                r.decided_by,
                r.signature is not None,
            )
            for r in rows
        ]

    def decide_staff_suggestion(
        self,
        site_id: str,
        person_key: str,
        day: date,
        *,
        confirm: bool,
        staff_id: str | None = None,
        name: str | None = None,
        by: str | None = None,
    ) -> str | None:
        """Confirm (enrol as staff ``staff_id``/``name`` from the kept signature; returns the staff id)
        or dismiss a pending suggestion. The signature is dropped from the suggestion either way."""
        s = t.staff_suggestions.c
        key = (s.site_id == site_id, s.person_key == person_key, s.day == day)
        with self._connect() as conn:
            self._site(conn, site_id)
            row = conn.execute(sa.select(s.status, s.signature).where(*key)).one_or_none()
        if row is None:
            raise NotFound(f"no staff suggestion {person_key!r} on {day} at site {site_id!r}")
        if row.status != "pending":
            raise Conflict(f"staff suggestion {person_key!r} on {day} was already {row.status}")
        enrolled = None
        if confirm:
            if row.signature is None:
                raise Conflict(
                    "this suggestion has no usable signature; enrol the person from a clip instead"
                )
            (signature,) = self._cipher.open(
                row.signature, kind=_KIND_SUGGESTION, site_id=site_id, row=f"{person_key}/{day}"
            )
            assert isinstance(signature, Signature)
            enrolled = staff_id or f"staff-{person_key}"
            self.enrol_staff(site_id, StaffMember(enrolled, name or enrolled, (signature,)))
        with self._begin() as conn:
            conn.execute(
                sa.update(t.staff_suggestions)
                .where(*key)
                .values(status="confirmed" if confirm else "dismissed", decided_by=by, signature=None)
            )
        return enrolled
