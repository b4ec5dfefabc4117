"""Plane geometry of counting: door lines with an inside side, zone polygons, foot points.

Pure and unit-agnostic: works in pixels or in frame fractions alike. Must not know about frames,
trackers or config files.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Line", "Point", "Zone", "segment_crossing"]

Point = tuple[float, float]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


@dataclass(frozen=True)
class Line:
    """A counting line from ``a`` to ``b``; ``inside`` is any point on the inside (store) side."""

    id: str
    a: Point
    b: Point
    inside: Point

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("Line: id must not be empty")
        if self.a == self.b:
            raise ValueError(f"Line {self.id!r}: end points must differ, got a == b == {self.a}")
        if _cross(self.a, self.b, self.inside) == 0:
            raise ValueError(f"Line {self.id!r}: the inside point {self.inside} lies on the line itself")

    @property
    def length(self) -> float:
        return float(((self.b[0] - self.a[0]) ** 2 + (self.b[1] - self.a[1]) ** 2) ** 0.5)

    def signed_distance(self, p: Point) -> float:
        """Distance of ``p`` from the (infinite) line: positive on the inside, negative outside."""
        d = _cross(self.a, self.b, p) / self.length
        return d if _cross(self.a, self.b, self.inside) > 0 else -d

    def side(self, p: Point) -> int:
        """+1 inside, -1 outside, 0 exactly on the line."""
        d = self.signed_distance(p)
        return (d > 0) - (d < 0)

    def reversed(self) -> Line:
        """The same line with the inside point mirrored to the other side."""
        ax, ay = self.a
        bx, by = self.b
        px, py = self.inside
        dx, dy = bx - ax, by - ay
        t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)
        fx, fy = ax + t * dx, ay + t * dy
        return Line(self.id, self.a, self.b, (2 * fx - px, 2 * fy - py))

    def scaled(self, sx: float, sy: float) -> Line:
        """The line with all coordinates multiplied (e.g. frame fractions → pixels)."""
        return Line(
            self.id,
            (self.a[0] * sx, self.a[1] * sy),
            (self.b[0] * sx, self.b[1] * sy),
            (self.inside[0] * sx, self.inside[1] * sy),
        )


def segment_crossing(line: Line, p: Point, q: Point, *, extend: float = 0.0) -> bool:
    """Whether the move ``p → q`` crosses the segment ``line.a–line.b``.

    A point exactly on the line counts as outside, so a walk that touches the line crosses once.
    ``extend`` lengthens the segment by that fraction of its length at each end, so that a step
    passing just beside a door post still counts.
    """
    dp = line.signed_distance(p)
    dq = line.signed_distance(q)
    if (dp > 0) == (dq > 0):  # a point exactly on the line counts as outside
        return False
    # where p→q meets the infinite line, as a fraction along a→b
    s = dp / (dp - dq)
    x = p[0] + s * (q[0] - p[0])
    y = p[1] + s * (q[1] - p[1])
    ax, ay = line.a
    bx, by = line.b
    dx, dy = bx - ax, by - ay
    t = ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)
    return -extend <= t <= 1.0 + extend


@dataclass(frozen=True)
class Zone:
    """A polygon area (shop floor, counter, window display) given by its corners in order."""

    id: str
    polygon: tuple[Point, ...]

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("Zone: id must not be empty")
        if len(self.polygon) < 3:
            raise ValueError(f"Zone {self.id!r}: expected at least 3 corners, got {len(self.polygon)}")
        area2 = sum(
            self.polygon[i][0] * self.polygon[i - 1][1] - self.polygon[i - 1][0] * self.polygon[i][1]
            for i in range(len(self.polygon))
        )
        if area2 == 0:
            raise ValueError(f"Zone {self.id!r}: the polygon has zero area")

    def contains(self, p: Point) -> bool:
        """Even-odd rule; points on an edge may fall either way."""
        x, y = p
        inside = False
        n = len(self.polygon)
        for i in range(n):
            x1, y1 = self.polygon[i - 1]
            x2, y2 = self.polygon[i]
            if (y1 > y) != (y2 > y):
                x_at_y = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
                if x < x_at_y:
                    inside = not inside
        return inside

    def scaled(self, sx: float, sy: float) -> Zone:
        return Zone(self.id, tuple((x * sx, y * sy) for x, y in self.polygon))
