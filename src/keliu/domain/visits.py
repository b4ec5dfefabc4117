"""Sightings, signatures and visits: the types visitor resolution reads and writes.

A *sighting* is what one camera saw of one track (times, crossings, zones, appearance signature); it
carries no pixels. A *visit* is one person's stay at a site after resolution (see docs/visitors.md).
Times are timezone-aware UTC ``datetime``s everywhere in these types; local time (business hours,
report days) is applied by the resolver and the reports with the site's time zone.

Stdlib + numpy only. Must not know about cameras, models, storage or frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "COLOUR_NAMES",
    "EMBEDDING_WEIGHT",
    "ColourName",
    "ColourRule",
    "Entry",
    "Exclusion",
    "ExclusionClass",
    "PersonCategory",
    "RememberedPerson",
    "Sighting",
    "SightingCrossing",
    "SightingZone",
    "Signature",
    "StaffMember",
    "Visit",
    "similarity",
]

Vector = npt.NDArray[np.float32]

# Named clothing colours (the seeds' words): 红 red, 橙 orange, 黄 yellow, 绿 green, 青 cyan, 蓝 blue,
# 紫 purple, 粉 pink, 棕 brown, 黑 black, 白 white, 灰 grey.
ColourName = Literal[
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "black", "white", "grey"
]
COLOUR_NAMES: tuple[ColourName, ...] = (
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "brown", "black", "white", "grey",
)  # fmt: skip


# Share of the embedding in the combined similarity (the rest is the colour histogram); chosen by
# measurement in bench/reid.py (docs/signatures.md).
EMBEDDING_WEIGHT = 0.5


@dataclass(frozen=True)
class Signature:
    """An anonymous appearance signature of one track; never an image, never a face.

    ``embedding`` is the L2-normalised MobileNetV2 vector (mean of the best shots' embeddings,
    renormalised); ``colour`` the L2-normalised part-based (upper/lower body) colour histogram.
    Similarity between two signatures is defined once, in ``keliu.vision.signature``.
    """

    embedding: Vector
    colour: Vector
    upper_colour: ColourName | None = None
    lower_colour: ColourName | None = None
    shots: int = 1
    gender: Literal["unknown"] = "unknown"  # no model can tell at CCTV distance; never invented
    age: Literal["unknown"] = "unknown"

    def vector(self) -> Vector:
        """One unit vector whose dot product with another's is `similarity` of the two signatures."""
        return np.concatenate(
            [self.embedding * np.sqrt(EMBEDDING_WEIGHT), self.colour * np.sqrt(1.0 - EMBEDDING_WEIGHT)]
        ).astype(np.float32)


def similarity(a: Signature, b: Signature) -> float:
    """Combined appearance similarity in [-1, 1]: weighted cosine of embeddings and colour histograms."""
    return float(
        EMBEDDING_WEIGHT * float(a.embedding @ b.embedding)
        + (1.0 - EMBEDDING_WEIGHT) * float(a.colour @ b.colour)
    )


@dataclass(frozen=True)
class SightingCrossing:
    line_id: str
    direction: Literal["in", "out"]
    at: datetime
    point: tuple[float, float]  # where on the frame (fractions 0–1) the crossing happened


@dataclass(frozen=True)
class SightingZone:
    zone_id: str
    entered_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class Sighting:
    """One camera's view of one track, emitted when the track ends (or is cut at a time limit)."""

    site_id: str
    camera_id: str
    track_id: int
    first_seen: datetime
    last_seen: datetime
    crossings: tuple[SightingCrossing, ...] = ()
    zones: tuple[SightingZone, ...] = ()
    signature: Signature | None = None  # None: no usable view (too small, always truncated)

    @property
    def entries(self) -> tuple[SightingCrossing, ...]:
        return tuple(c for c in self.crossings if c.direction == "in")

    @property
    def exits(self) -> tuple[SightingCrossing, ...]:
        return tuple(c for c in self.crossings if c.direction == "out")


class PersonCategory(StrEnum):
    """Who a visit is. Only customers count in customer traffic; the rest count by reason."""

    CUSTOMER = "customer"
    STAFF = "staff"  # 员工
    INVALID = "invalid"  # 无效客流: couriers, delivery riders, other configured exclusion classes


@dataclass(frozen=True)
class Exclusion:
    """Why a visit is not customer traffic, with how sure we are (0–1)."""

    category: PersonCategory
    reason: str  # e.g. "staff:Zhang San", "courier:meituan"
    confidence: float


@dataclass(frozen=True)
class Entry:
    """One entry (one 'in' crossing of an entrance line): the unit of total traffic (总客流)."""

    at: datetime
    camera_id: str
    line_id: str


@dataclass
class Visit:
    """One person's stay at a site: first entry to last exit; re-entries within the de-dup window
    continue it. The unit of de-duplicated traffic (去重客流)."""

    visit_id: str
    site_id: str
    category: PersonCategory
    first_entry: datetime
    entries: list[Entry] = field(default_factory=list)
    last_exit: datetime | None = None
    exclusion: Exclusion | None = None
    batch_id: str | None = None
    returning: bool = False  # 回头客: seen on an earlier visit within the site's memory
    since_previous_s: float | None = None  # interval since that earlier visit
    upper_colour: ColourName | None = None
    lower_colour: ColourName | None = None


@dataclass(frozen=True)
class RememberedPerson:
    """A past visit's signature kept for de-dup and returning-visitor matching until it expires."""

    visit_id: str
    site_id: str
    last_seen: datetime
    signature: Signature
    category: PersonCategory = PersonCategory.CUSTOMER


@dataclass(frozen=True)
class StaffMember:
    """An enrolled member of staff (员工): their appearance (uniform) as one or more signatures."""

    staff_id: str
    name: str
    signatures: tuple[Signature, ...]


@dataclass(frozen=True)
class ColourRule:
    """A colour-based exclusion rule (e.g. Meituan riders' yellow jackets); colour alone is not enough:
    ``max_stay_s`` and the other conditions cut false positives on ordinary clothing."""

    upper_colours: tuple[ColourName, ...]
    lower_colours: tuple[ColourName, ...] = ()  # empty: any
    max_stay_s: float | None = None  # only visits at most this long (couriers drop off and leave)


@dataclass(frozen=True)
class ExclusionClass:
    """A class of invalid traffic (无效客流), e.g. couriers: exemplar signatures and/or a colour rule."""

    class_id: str
    name: str
    exemplars: tuple[Signature, ...] = ()
    colour_rule: ColourRule | None = None
    enabled: bool = True
