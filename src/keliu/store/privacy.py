"""What the store keeps that could single a person out, for the privacy page: how many appearance
signatures (外观特征, always AES-GCM encrypted) of each kind are stored and since when, how many a
purge would remove now, and removing them all on request.

The scheduled purge itself is :meth:`keliu.store.Store.purge_expired` (the resolution runs it every
hour); :meth:`PrivacyStore.purge_all_signatures` removes every signature kept for re-identification
(sightings, remembered visitors, pending staff suggestions) at once. Staff enrolments and exclusion
class exemplars were enrolled on purpose by a manager and are removed with them (the staff and
exclusion-class endpoints), not here. No frame, image or crop is ever stored, so there is none to
count. :class:`PrivacyStore` is a mixin of :class:`keliu.store.Store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from keliu.store import schema as t

__all__ = ["PrivacyStore", "SignatureCount"]


@dataclass(frozen=True)
class SignatureCount:
    """``count`` signatures of one kind; ``oldest``: when the oldest was taken (sightings: the end of
    the sighting; remembered: the visit's last sighting; suggestions and staff: when stored), None
    when unknown or none. A staff row holds all of that member's signatures; it counts once."""

    kind: str
    count: int
    oldest: datetime | None


class PrivacyStore:
    """Privacy methods of :class:`keliu.store.Store` (module docstring)."""

    _engine: sa.Engine

    # provided by Store
    def _begin(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _connect(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _site(self, conn: sa.Connection, site_id: str) -> Any:
        raise NotImplementedError

    def signature_counts(self, site_ids: Sequence[str]) -> list[SignatureCount]:
        """Stored signatures of the sites ``site_ids`` by kind (the global exclusion classes count
        for every site): sightings, remembered, staff_suggestions, staff, exclusion_exemplars."""
        ids = list(site_ids)
        s, r, g = t.sightings.c, t.remembered.c, t.staff_suggestions.c
        st, x = t.staff.c, t.exclusion_classes.c
        queries = (
            (
                "sightings",
                sa.select(sa.func.count(), sa.func.min(s.last_seen)).where(
                    s.site_id.in_(ids), s.signature.is_not(None)
                ),
            ),
            ("remembered", sa.select(sa.func.count(), sa.func.min(r.last_seen)).where(r.site_id.in_(ids))),
            (
                "staff_suggestions",
                sa.select(sa.func.count(), sa.func.min(g.created_at)).where(
                    g.site_id.in_(ids), g.signature.is_not(None)
                ),
            ),
            ("staff", sa.select(sa.func.count(), sa.func.min(st.created_at)).where(st.site_id.in_(ids))),
            (
                "exclusion_exemplars",
                sa.select(sa.func.count(), sa.null()).where(
                    x.exemplars.is_not(None), sa.or_(x.site_id.in_(ids), x.scope == t.GLOBAL_SCOPE)
                ),
            ),
        )
        out = []
        with self._connect() as conn:
            for kind, query in queries:
                count, oldest = conn.execute(query).one()
                out.append(SignatureCount(kind, int(count), oldest))
        return out

    def expired_signature_count(self, now: datetime, site_ids: Sequence[str]) -> int:
        """How many signatures of ``site_ids`` :meth:`purge_expired` would remove at ``now``."""
        s, r = t.sightings.c, t.remembered.c
        with self._connect() as conn:
            n = int(
                conn.execute(
                    sa.select(sa.func.count()).where(r.site_id.in_(list(site_ids)), r.expires_at <= now)
                ).scalar_one()
            )
            for site_id in site_ids:
                site = self._site(conn, site_id)
                cutoff = now - site.purpose_window
                n += int(
                    conn.execute(
                        sa.select(sa.func.count()).where(
                            s.site_id == site_id, s.last_seen < cutoff, s.signature.is_not(None)
                        )
                    ).scalar_one()
                )
        return n

    def purge_all_signatures(self) -> dict[str, int]:
        """Remove every signature kept for re-identification, of every site, now: sightings keep their
        times and crossings (signature set to NULL), remembered visitors are deleted, pending staff
        suggestions lose theirs (they can then only be dismissed). Returns how many of each kind."""
        s, g = t.sightings.c, t.staff_suggestions.c
        with self._begin() as conn:
            removed = {
                "sightings": conn.execute(
                    sa.update(t.sightings).where(s.signature.is_not(None)).values(signature=None)
                ).rowcount,
                "remembered": conn.execute(sa.delete(t.remembered)).rowcount,
                "staff_suggestions": conn.execute(
                    sa.update(t.staff_suggestions).where(g.signature.is_not(None)).values(signature=None)
                ).rowcount,
            }
        if any(removed.values()) and self._engine.dialect.name == "sqlite":
            # as purge_expired: zeroed pages checkpointed into the file, the write-ahead log emptied
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed
