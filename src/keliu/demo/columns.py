"""Simulated visits as columns (numpy arrays): the generator's output and the bulk loader's input.

:class:`SimulatedVisits` holds one site's visits over some days in first-entry order, with their
entries, zone stays and pass-by counts; ``to_visits()`` and ``zone_stays()`` turn them into the
domain objects the normal store path takes, so both paths can be compared row for row.

Must not: generate anything (``keliu.demo.simulate`` does) or touch storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from keliu.domain.visits import COLOUR_NAMES, Entry, Exclusion, PersonCategory, Visit

__all__ = ["CATEGORY_CODES", "SimulatedVisits", "ZoneStay", "concat_visits", "utc_from_us"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# codes of SimulatedVisits.category
CATEGORY_CODES: tuple[PersonCategory, ...] = (
    PersonCategory.CUSTOMER,
    PersonCategory.STAFF,
    PersonCategory.INVALID,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_from_us(us: int) -> datetime:
    """The UTC instant ``us`` microseconds after the epoch (exact, no float rounding)."""
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True)
class ZoneStay:
    """One stay of a visit in a zone (shop or area), as the visit_zones table keeps it."""

    site_id: str
    visit_id: str
    zone_id: str
    entered_at: datetime
    left_at: datetime | None


# --------------------------------------------------------------------------- columnar visits


@dataclass(frozen=True)
class SimulatedVisits:
    """One site's simulated visits over some days, column by column (numpy), in first-entry order.

    Times are UTC microseconds since the epoch. Visits: ``category`` (codes of ``CATEGORY_CODES``),
    ``reason`` (index into ``reasons``, -1 none), ``leader`` (index of the batch's first visit, -1
    none), ``last_exit_us`` (-1: the exit was not seen), ``since_previous_s`` (NaN: none), colours
    (index into ``COLOUR_NAMES``). Entries (``entry_*``) are grouped by visit in time order, with
    ``entry_out_before_us`` the time the visitor had gone out before a further entry (-1 for a
    visit's first entry; only the last exit is stored, this is what ``until`` needs); zone stays
    (``zone_*``, ``zone_out_us`` -1: still in the zone) likewise; pass-by counts are per local hour
    and entrance.
    """

    site_id: str
    visit_id: npt.NDArray[np.str_]
    first_us: I64
    last_exit_us: I64
    category: npt.NDArray[np.int8]
    reason: npt.NDArray[np.int16]
    confidence: F64
    leader: I64
    returning: npt.NDArray[np.bool_]
    since_previous_s: F64
    upper: npt.NDArray[np.int8]
    lower: npt.NDArray[np.int8]
    entry_visit: I64
    entry_us: I64
    entry_entrance: npt.NDArray[np.int16]
    entry_out_before_us: I64
    zone_visit: I64
    zone_area: npt.NDArray[np.int16]
    zone_in_us: I64
    zone_out_us: I64
    passby_hour_us: I64
    passby_entrance: npt.NDArray[np.int16]
    passby_count: I64
    reasons: tuple[str, ...]
    entrances: tuple[tuple[str, str], ...]  # (camera_id, line_id) by entrance index
    passby_lines: tuple[tuple[str, str], ...]  # (camera_id, pass-by line_id) by entrance index
    zone_ids: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.first_us)

    def batch_ids(self) -> list[str | None]:
        """``b/<visit id of the batch's first visit>`` per visit (None for staff)."""
        ids = self.visit_id.tolist()
        return [None if k < 0 else f"b/{ids[k]}" for k in self.leader.tolist()]

    def until(self, until_us: int) -> SimulatedVisits:
        """What a live system would hold at ``until_us`` (UTC microseconds): visits whose first entry
        is later are dropped with their entries, zone stays and batch membership; a kept visit keeps
        only its entries up to then and, if it had gone out again by then, that exit as its last
        exit, otherwise none (still inside, or its exit was not seen); zone stays entered later are
        dropped, one still open then has no ``left_at`` (or ends when the visit went out); pass-by
        counts of later hours are dropped and the count of the hour under way is its elapsed part.
        The rows up to ``until_us`` are those of the whole simulation, in the same order."""
        keep = self.first_us <= until_us
        new_index = np.cumsum(keep) - 1
        on_kept = keep[self.entry_visit]
        keep_e = on_kept & (self.entry_us <= until_us)
        # a kept visit whose further entry comes later: out since before that entry, or still in
        later = np.flatnonzero(on_kept & ~keep_e)
        later_visit, first_later = np.unique(self.entry_visit[later], return_index=True)
        gone = self.entry_out_before_us[later[first_later]]
        last_exit = np.where(self.last_exit_us > until_us, -1, self.last_exit_us)
        last_exit[later_visit] = np.where((gone >= 0) & (gone <= until_us), gone, -1)
        keep_z = keep[self.zone_visit] & (self.zone_in_us <= until_us)
        zone_exit = last_exit[self.zone_visit]
        open_then = self.zone_out_us > until_us
        zone_out = np.where(
            open_then,
            np.where(
                zone_exit >= 0, np.maximum(self.zone_in_us, np.minimum(self.zone_out_us, zone_exit)), -1
            ),
            self.zone_out_us,
        )
        hour_us = 3600 * 1_000_000
        keep_p = self.passby_hour_us < until_us
        elapsed = np.clip(until_us - self.passby_hour_us, 0, hour_us)
        passby = np.where(
            elapsed < hour_us, (self.passby_count * elapsed) // hour_us, self.passby_count
        ).astype(np.int64)
        leader = self.leader[keep]
        if (leader >= 0).any() and not keep[leader[leader >= 0]].all():
            raise AssertionError("a batch's first visit is later than one of its members")
        return replace(
            self,
            visit_id=self.visit_id[keep],
            first_us=self.first_us[keep],
            last_exit_us=last_exit[keep],
            category=self.category[keep],
            reason=self.reason[keep],
            confidence=self.confidence[keep],
            leader=np.where(leader >= 0, new_index[np.maximum(leader, 0)], -1),
            returning=self.returning[keep],
            since_previous_s=self.since_previous_s[keep],
            upper=self.upper[keep],
            lower=self.lower[keep],
            entry_visit=new_index[self.entry_visit[keep_e]],
            entry_us=self.entry_us[keep_e],
            entry_entrance=self.entry_entrance[keep_e],
            entry_out_before_us=self.entry_out_before_us[keep_e],
            zone_visit=new_index[self.zone_visit[keep_z]],
            zone_area=self.zone_area[keep_z],
            zone_in_us=self.zone_in_us[keep_z],
            zone_out_us=zone_out[keep_z],
            passby_hour_us=self.passby_hour_us[keep_p],
            passby_entrance=self.passby_entrance[keep_p],
            passby_count=passby[keep_p],
        )

    def to_visits(self) -> list[Visit]:
        """The domain visits, as the resolver would hand them to ``Store.save_visits``."""
        entries: list[list[Entry]] = [[] for _ in range(len(self))]
        cams = self.entrances
        for v, at, ent in zip(
            self.entry_visit.tolist(), self.entry_us.tolist(), self.entry_entrance.tolist(), strict=True
        ):
            entries[v].append(Entry(at=utc_from_us(at), camera_id=cams[ent][0], line_id=cams[ent][1]))
        out: list[Visit] = []
        batch_ids = self.batch_ids()
        for i, vid in enumerate(self.visit_id.tolist()):
            category = CATEGORY_CODES[int(self.category[i])]
            reason = int(self.reason[i])
            exit_us = int(self.last_exit_us[i])
            since = float(self.since_previous_s[i])
            out.append(
                Visit(
                    visit_id=vid,
                    site_id=self.site_id,
                    category=category,
                    first_entry=utc_from_us(int(self.first_us[i])),
                    entries=entries[i],
                    last_exit=None if exit_us < 0 else utc_from_us(exit_us),
                    exclusion=None
                    if reason < 0
                    else Exclusion(category, self.reasons[reason], float(self.confidence[i])),
                    batch_id=batch_ids[i],
                    returning=bool(self.returning[i]),
                    since_previous_s=None if math.isnan(since) else since,
                    upper_colour=COLOUR_NAMES[int(self.upper[i])],
                    lower_colour=COLOUR_NAMES[int(self.lower[i])],
                )
            )
        return out

    def zone_stays(self) -> list[ZoneStay]:
        """The visits' zone stays in visit then time order."""
        ids = self.visit_id.tolist()
        return [
            ZoneStay(
                self.site_id, ids[v], self.zone_ids[z], utc_from_us(a), None if b < 0 else utc_from_us(b)
            )
            for v, z, a, b in zip(
                self.zone_visit.tolist(),
                self.zone_area.tolist(),
                self.zone_in_us.tolist(),
                self.zone_out_us.tolist(),
                strict=True,
            )
        ]

    def passby(self) -> list[tuple[datetime, str, str, int]]:
        """Pass-by counts: (UTC hour start, camera id, pass-by line id, people)."""
        return [
            (utc_from_us(h), self.passby_lines[e][0], self.passby_lines[e][1], c)
            for h, e, c in zip(
                self.passby_hour_us.tolist(),
                self.passby_entrance.tolist(),
                self.passby_count.tolist(),
                strict=True,
            )
        ]


def concat_visits(parts: list[SimulatedVisits]) -> SimulatedVisits:
    """One site's visits of several days (given in day order) as one set of columns."""
    if not parts:
        raise ValueError("nothing to concatenate")
    first = parts[0]
    visit_off = np.cumsum([0, *[len(p) for p in parts[:-1]]])

    def cat(name: str, offset: bool = False) -> Any:
        arrays = [getattr(p, name) for p in parts]
        if offset:
            arrays = [np.where(a >= 0, a + o, a) for a, o in zip(arrays, visit_off, strict=True)]
        return np.concatenate(arrays)

    return SimulatedVisits(
        site_id=first.site_id,
        visit_id=cat("visit_id"),
        first_us=cat("first_us"),
        last_exit_us=cat("last_exit_us"),
        category=cat("category"),
        reason=cat("reason"),
        confidence=cat("confidence"),
        leader=cat("leader", offset=True),
        returning=cat("returning"),
        since_previous_s=cat("since_previous_s"),
        upper=cat("upper"),
        lower=cat("lower"),
        entry_visit=cat("entry_visit", offset=True),
        entry_us=cat("entry_us"),
        entry_entrance=cat("entry_entrance"),
        entry_out_before_us=cat("entry_out_before_us"),
        zone_visit=cat("zone_visit", offset=True),
        zone_area=cat("zone_area"),
        zone_in_us=cat("zone_in_us"),
        zone_out_us=cat("zone_out_us"),
        passby_hour_us=cat("passby_hour_us"),
        passby_entrance=cat("passby_entrance"),
        passby_count=cat("passby_count"),
        reasons=first.reasons,
        entrances=first.entrances,
        passby_lines=first.passby_lines,
        zone_ids=first.zone_ids,
    )
