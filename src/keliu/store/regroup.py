"""Merging and splitting arrival batches (批次 合并/拆分) by hand, as the reception desk does when the
resolution grouped people wrongly: two families who came in together, or strangers who happened to
enter a few seconds apart.

* **Merge** several batches into one: the earliest batch (by start, then id) keeps its id and every
  visit of the others moves into it. Its reception decision (接待: class, advisor) is kept; if it had
  none, the first of the others that had one (in the same order) moves to it; the others' decisions are
  dropped (and returned, so the caller can log them).
* **Split** some customers off a batch: they leave into a new batch, ``s/<visit id of the earliest
  of them>`` (``~2``, ``~3``… if that id was ever used at the site), which keeps that id for good; the
  rest stay in the batch with its id and reception decision. The new batch has no decision yet.

Each visit of the batches involved is kept in ``batch_assignments`` with the batch it belongs to now
and is put into that batch at once, and again every time the resolution saves the visit
(``Store._save_site_visits``: a re-entry, an exit, a replay of the footage), before any manual
correction of the visit (``keliu.store.corrections``) is applied — so the merge or split survives
re-resolution the way corrections do. ``original_batch_id`` keeps the batch the resolution gave the
visit last; a visit the resolution adds later to such a batch (someone who joins a merged group a few
seconds late) follows the others if every assigned visit of that batch went to the same batch.
Batches (their sizes and starts), the rollups of the hours where a batch started before or starts now
(the ``batches`` figure) and so the reception brief follow in the same transaction.

:class:`BatchRegrouping` is a mixin of :class:`keliu.store.Store`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from keliu.domain.visits import PersonCategory
from keliu.errors import InputError, NotFound
from keliu.store import rollups
from keliu.store import schema as t
from keliu.store.engine import in_values
from keliu.store.reception import Reception

__all__ = ["MAX_MERGE", "BatchMerge", "BatchRegrouping", "BatchSplit", "RegroupRefused"]

MAX_MERGE = 50  # batches in one merge
_CHUNK = 5000
_CUSTOMER = PersonCategory.CUSTOMER.value
_SPLIT_PREFIX = "s/"


class RegroupRefused(InputError):
    """The merge or split asked for cannot be done as asked (one batch, all or none of its visits)."""

    code = "invalid_request"


@dataclass(frozen=True)
class BatchMerge:
    batch_id: str  # the batch that was kept (the earliest)
    merged: tuple[str, ...]  # the batches merged into it, now gone
    merged_started_at: tuple[datetime, ...]  # when each of those had started
    visit_ids: tuple[str, ...]  # every visit of the merged batch now (customers or not)
    reception: Reception | None  # its reception decision now
    moved_reception: bool  # the decision came from one of the merged batches
    dropped: tuple[Reception, ...]  # the decisions of the merged batches that were given up


@dataclass(frozen=True)
class BatchSplit:
    batch_id: str  # the batch split (keeps its id and reception decision)
    new_batch_id: str  # where the visits went
    visit_ids: tuple[str, ...]  # the visits that left


def _reception(row: Any) -> Reception:
    return Reception(row.batch_id, row.category, row.advisor, row.note, row.updated_by, row.updated_at)


class BatchRegrouping:
    """Batch merge and split methods of :class:`keliu.store.Store` (module docstring)."""

    # provided by Store
    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    def _refresh_batches(self, conn: sa.Connection, site_id: str, batch_ids: list[str]) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------------------------- merge

    def merge_batches(
        self,
        site_id: str,
        batch_ids: Sequence[str],
        *,
        by: str | None = None,
        now: datetime | None = None,
    ) -> BatchMerge:
        """Merge the batches ``batch_ids`` (at least two different ones) into the earliest of them.
        NotFound if one is not a batch of the site; RegroupRefused for fewer than two or more than
        :data:`MAX_MERGE`. Nothing changes when it fails."""
        ids = list(dict.fromkeys(batch_ids))
        if len(ids) < 2:
            raise RegroupRefused("batch_ids: name at least two different batches to merge")
        if len(ids) > MAX_MERGE:
            raise RegroupRefused(f"batch_ids: at most {MAX_MERGE} batches in one merge")
        at = now or datetime.now(UTC)
        b, v, r = t.batches.c, t.visits.c, t.receptions.c
        with self._begin() as conn:
            site = self._site(conn, site_id)
            found = {
                row.batch_id: row
                for row in conn.execute(
                    sa.select(b.batch_id, b.started_at)
                    .where(b.site_id == site_id, in_values(conn, b.batch_id, ids))
                    .with_for_update()
                )
            }
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFound(f"no batch {missing[0]!r} at this site")
            ordered = [
                row.batch_id for row in sorted(found.values(), key=lambda x: (x.started_at, x.batch_id))
            ]
            target, others = ordered[0], ordered[1:]
            members = list(
                conn.execute(
                    sa.select(v.visit_id)
                    .where(v.site_id == site_id, in_values(conn, v.batch_id, ids))
                    .order_by(v.first_entry, v.visit_id)
                ).scalars()
            )
            instants = rollups.batch_starts(conn, site_id, ids)
            self._assign(conn, site_id, members, target, by=by, at=at)

            decisions = {
                row.batch_id: _reception(row)
                for row in conn.execute(
                    sa.select(t.receptions).where(r.site_id == site_id, in_values(conn, r.batch_id, ids))
                )
            }
            kept = decisions.get(target) or next((decisions[i] for i in others if i in decisions), None)
            dropped = tuple(decisions[i] for i in ordered if i in decisions and decisions[i] is not kept)
            conn.execute(
                sa.delete(t.receptions).where(r.site_id == site_id, in_values(conn, r.batch_id, others))
            )
            moved = kept is not None and kept.batch_id != target
            if kept is not None and moved:
                kept = Reception(
                    target, kept.category, kept.advisor, kept.note, kept.updated_by, kept.updated_at
                )
                conn.execute(sa.insert(t.receptions), {"site_id": site_id, **kept.__dict__})

            self._refresh_batches(conn, site_id, ordered)
            instants += rollups.batch_starts(conn, site_id, ordered)
            rollups.refresh_instants(conn, site_id, site.timezone, instants)
        return BatchMerge(
            target,
            tuple(others),
            tuple(found[i].started_at for i in others),
            tuple(members),
            kept,
            moved,
            dropped,
        )

    # --------------------------------------------------------------------------------- split

    def split_batch(
        self,
        site_id: str,
        batch_id: str,
        visit_ids: Sequence[str],
        *,
        by: str | None = None,
        now: datetime | None = None,
    ) -> BatchSplit:
        """Move the customers ``visit_ids`` of batch ``batch_id`` into a new batch. NotFound if the
        site has no such batch; RegroupRefused if none is named, one is not a customer of the batch,
        or every customer of the batch is named (nothing would be left). Nothing changes when it
        fails."""
        ids = list(dict.fromkeys(visit_ids))
        if not ids:
            raise RegroupRefused("visit_ids: name the visits that leave the batch")
        at = now or datetime.now(UTC)
        b, v = t.batches.c, t.visits.c
        with self._begin() as conn:
            site = self._site(conn, site_id)
            if (
                conn.execute(
                    sa.select(b.batch_id)
                    .where(b.site_id == site_id, b.batch_id == batch_id)
                    .with_for_update()
                ).first()
                is None
            ):
                raise NotFound(f"no batch {batch_id!r} at this site")
            members = conn.execute(
                sa.select(v.visit_id, v.category)
                .where(v.site_id == site_id, v.batch_id == batch_id)
                .order_by(v.first_entry, v.visit_id)
            ).all()
            customers = [m.visit_id for m in members if m.category == _CUSTOMER]
            strangers = [i for i in ids if i not in customers]
            if strangers:
                raise RegroupRefused(
                    f"visit_ids: {strangers[0]!r} is not a customer of batch {batch_id!r} "
                    f"(its customers: {', '.join(customers)})"
                )
            if len(ids) == len(customers):
                raise RegroupRefused(
                    "visit_ids: a split must leave at least one customer in the batch "
                    "(name only the visits that leave)"
                )
            leaving = [i for i in customers if i in ids]  # in arrival order
            staying = [m.visit_id for m in members if m.visit_id not in ids]
            new_id = self._new_batch_id(conn, site_id, leaving[0])
            instants = rollups.batch_starts(conn, site_id, [batch_id])
            self._assign(conn, site_id, staying, batch_id, by=by, at=at)
            self._assign(conn, site_id, leaving, new_id, by=by, at=at)
            self._refresh_batches(conn, site_id, [batch_id, new_id])
            instants += rollups.batch_starts(conn, site_id, [batch_id, new_id])
            rollups.refresh_instants(conn, site_id, site.timezone, instants)
        return BatchSplit(batch_id, new_id, tuple(leaving))

    # ------------------------------------------------------------------------------- helpers

    def _new_batch_id(self, conn: sa.Connection, site_id: str, first_visit: str) -> str:
        """``s/<visit id>``, or with ``~2``, ``~3``… if a batch, a visit, an assignment or a reception
        decision of the site ever used it (a stale decision must not pass to the new batch)."""
        base = _SPLIT_PREFIX + first_visit
        if len(base) > t.ID - 8:
            base = _SPLIT_PREFIX + hashlib.sha256(first_visit.encode()).hexdigest()[:32]
        for n in range(1, 10_000):
            candidate = base if n == 1 else f"{base}~{n}"
            if not any(
                conn.execute(
                    sa.select(sa.literal(1)).where(table.c.site_id == site_id, table.c.batch_id == candidate)
                ).first()
                for table in (t.batches, t.visits, t.batch_assignments, t.receptions)
            ):
                return candidate
        raise RegroupRefused(f"no free batch id left for a split of {first_visit!r}")  # pragma: no cover

    def _assign(
        self,
        conn: sa.Connection,
        site_id: str,
        visit_ids: Sequence[str],
        batch_id: str,
        *,
        by: str | None,
        at: datetime,
    ) -> None:
        """Put ``visit_ids`` into ``batch_id`` for good (their rows, their assignments, and what undoing
        a manual correction of them gives back)."""
        a, v, c = t.batch_assignments.c, t.visits.c, t.visit_corrections.c
        for i in range(0, len(visit_ids), _CHUNK):
            chunk = list(visit_ids[i : i + _CHUNK])
            # what the resolution decided: kept by an earlier assignment, else by a correction, else
            # the visit row itself
            original: dict[str, str | None] = {
                row.visit_id: row.batch_id
                for row in conn.execute(
                    sa.select(v.visit_id, v.batch_id).where(
                        v.site_id == site_id, in_values(conn, v.visit_id, chunk)
                    )
                )
            }
            for row in conn.execute(
                sa.select(c.visit_id, c.original_batch_id).where(
                    c.site_id == site_id, in_values(conn, c.visit_id, chunk)
                )
            ):
                original[row.visit_id] = row.original_batch_id
            for row in conn.execute(
                sa.select(a.visit_id, a.original_batch_id).where(
                    a.site_id == site_id, in_values(conn, a.visit_id, chunk)
                )
            ):
                original[row.visit_id] = row.original_batch_id
            conn.execute(
                sa.delete(t.batch_assignments).where(a.site_id == site_id, in_values(conn, a.visit_id, chunk))
            )
            conn.execute(
                sa.insert(t.batch_assignments),
                [
                    {
                        "site_id": site_id,
                        "visit_id": visit_id,
                        "batch_id": batch_id,
                        "original_batch_id": original.get(visit_id),
                        "assigned_by": by,
                        "assigned_at": at,
                    }
                    for visit_id in chunk
                ],
            )
            conn.execute(
                sa.update(t.visits)
                .where(v.site_id == site_id, in_values(conn, v.visit_id, chunk))
                .values(batch_id=batch_id)
            )
            conn.execute(
                sa.update(t.visit_corrections)
                .where(c.site_id == site_id, in_values(conn, c.visit_id, chunk))
                .values(original_batch_id=batch_id)
            )

    def _apply_batch_assignments(self, conn: sa.Connection, site_id: str, rows: list[dict[str, Any]]) -> None:
        """For the visit rows the resolution is about to save (``_save_site_visits``), before the
        manual corrections: keep what the resolution decided as the assignments' ``original_batch_id``
        and put the assigned batches into the rows; a row of a batch whose assigned visits all went to
        one batch goes there too."""
        a = t.batch_assignments.c
        if (
            not rows
            or conn.execute(sa.select(a.visit_id).where(a.site_id == site_id).limit(1)).first() is None
        ):
            return
        ids = [r["visit_id"] for r in rows]
        assigned: dict[str, str] = {}
        for i in range(0, len(ids), _CHUNK):
            for pin in conn.execute(
                sa.select(a.visit_id, a.batch_id).where(
                    a.site_id == site_id, in_values(conn, a.visit_id, ids[i : i + _CHUNK])
                )
            ):
                assigned[pin.visit_id] = pin.batch_id
        labels = sorted(
            {r["batch_id"] for r in rows if r["visit_id"] not in assigned and r["batch_id"] is not None}
        )
        went: dict[str, set[str]] = {}
        for i in range(0, len(labels), _CHUNK):
            for found in conn.execute(
                sa.select(a.original_batch_id, a.batch_id).where(
                    a.site_id == site_id, in_values(conn, a.original_batch_id, labels[i : i + _CHUNK])
                )
            ):
                went.setdefault(found.original_batch_id, set()).add(found.batch_id)
        for row in rows:
            batch_id = assigned.get(row["visit_id"])
            if batch_id is not None:
                conn.execute(
                    sa.update(t.batch_assignments)
                    .where(a.site_id == site_id, a.visit_id == row["visit_id"])
                    .values(original_batch_id=row["batch_id"])
                )
                row["batch_id"] = batch_id
            elif row["batch_id"] is not None and len(went.get(row["batch_id"], ())) == 1:
                (row["batch_id"],) = went[row["batch_id"]]
