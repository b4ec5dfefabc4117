"""Drawing a camera's counting geometry onto one frame, for installers (`keliu camera snapshot`).

Door lines (进店线) are drawn in green with their end points ``A`` and ``B``, an arrow from the
line's middle into the store labelled ``IN`` (the side of the configured inside point, which is
marked with a dot) and ``OUT`` on the street side; pass-by lines (过店线, no inside) in orange;
zones (区域) as cyan outlines over a light cyan tint. :func:`draw_grid` adds a grey 0.1 grid of frame
fractions, to read the coordinates a line needs off the picture. Coordinates are frame fractions, as in the
site config. Labels are ASCII (OpenCV's fonts have no Chinese glyphs): an id that is not plain ASCII
is drawn as ``#N`` and :func:`legend` says which is which.

Pure: takes a BGR frame, returns a new one. Must not read or write files, keep frames, or know about
config files (keliu.cli.camera maps the config onto these types and writes the PNG the user asked for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from keliu.domain.geometry import Line

__all__ = [
    "DOOR_COLOUR_BGR",
    "PASSBY_COLOUR_BGR",
    "ZONE_COLOUR_BGR",
    "OverlayLine",
    "OverlayZone",
    "draw_grid",
    "draw_overlay",
    "label_of",
    "legend",
]

DOOR_COLOUR_BGR = (0, 255, 0)  # door lines, their arrow and the inside point
PASSBY_COLOUR_BGR = (0, 140, 255)  # pass-by lines
ZONE_COLOUR_BGR = (255, 255, 0)  # zone outlines
OUTSIDE_COLOUR_BGR = (0, 0, 255)  # the OUT label
_GRID_COLOUR_BGR = (200, 200, 200)
_TEXT_OUTLINE = (0, 0, 0)
_ZONE_TINT = 0.18

Point = tuple[float, float]
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class OverlayLine:
    """A line in frame fractions; ``inside`` is None for a pass-by line (it has no store side)."""

    id: str
    a: Point
    b: Point
    inside: Point | None = None
    kind: Literal["door", "passby"] = "door"
    name: str | None = None  # e.g. the entrance name (出入口); shown in the legend only


@dataclass(frozen=True)
class OverlayZone:
    id: str
    polygon: tuple[Point, ...]


def _ascii_label(ident: str) -> bool:
    return ident.isascii() and ident.isprintable()


def label_of(ident: str, number: int) -> str:
    """What the picture shows for item ``number`` (1-based): its id, or ``#N`` when not plain ASCII."""
    return ident if _ascii_label(ident) else f"#{number}"


def legend(lines: Sequence[OverlayLine], zones: Sequence[OverlayZone]) -> list[str]:
    """One human-readable line per drawn item (what each colour and label is), for the terminal."""
    out: list[str] = []
    for i, line in enumerate(lines, 1):
        colour = "green" if line.kind == "door" else "orange"
        what = "door line 进店线" if line.kind == "door" else "pass-by line 过店线"
        named = f" ({line.name})" if line.name else ""
        where = f"A={_fmt(line.a)} B={_fmt(line.b)}"
        if line.inside is not None:
            where += f" inside={_fmt(line.inside)}"
        out.append(f"{what} {label_of(line.id, i)} = {line.id}{named}, {colour}: {where}")
    for i, zone in enumerate(zones, 1):
        out.append(f"zone 区域 {label_of(zone.id, i)} = {zone.id}, cyan: {len(zone.polygon)} corners")
    return out


def _fmt(p: Point) -> str:
    return f"({p[0]:.2f}, {p[1]:.2f})"


def _px(p: Point, wh: tuple[int, int]) -> tuple[int, int]:
    return (round(p[0] * (wh[0] - 1)), round(p[1] * (wh[1] - 1)))


def _text(image: Image, text: str, org: tuple[int, int], colour: tuple[int, int, int], scale: float) -> None:
    """Text with a dark outline, kept inside the frame."""
    thickness = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    h, w = image.shape[:2]
    x = min(max(org[0], 2), max(2, w - tw - 2))
    y = min(max(org[1], th + 2), max(th + 2, h - base - 2))
    cv2.putText(
        image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_OUTLINE, thickness + 2, cv2.LINE_AA
    )
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def _draw_zone(image: Image, zone: OverlayZone, label: str, stroke: int, scale: float) -> None:
    wh = (image.shape[1], image.shape[0])
    pts = np.array([_px(p, wh) for p in zone.polygon], dtype=np.int32).reshape(-1, 1, 2)
    tint = image.copy()
    cv2.fillPoly(tint, [pts], ZONE_COLOUR_BGR)
    cv2.addWeighted(tint, _ZONE_TINT, image, 1.0 - _ZONE_TINT, 0, dst=image)
    cv2.polylines(image, [pts], isClosed=True, color=ZONE_COLOUR_BGR, thickness=stroke, lineType=cv2.LINE_8)
    top = min(range(len(zone.polygon)), key=lambda i: (zone.polygon[i][1], zone.polygon[i][0]))
    x, y = _px(zone.polygon[top], wh)
    _text(image, f"zone {label}", (x + 4, y + round(22 * scale)), ZONE_COLOUR_BGR, scale)


def _draw_line(image: Image, line: OverlayLine, label: str, stroke: int, scale: float) -> None:
    wh = (image.shape[1], image.shape[0])
    a, b = _px(line.a, wh), _px(line.b, wh)
    colour = DOOR_COLOUR_BGR if line.kind == "door" else PASSBY_COLOUR_BGR
    cv2.line(image, a, b, colour, stroke, cv2.LINE_8)
    for end, name in ((a, "A"), (b, "B")):
        cv2.circle(image, end, stroke + 2, colour, -1, cv2.LINE_8)
        _text(image, name, (end[0] + stroke + 4, end[1] - stroke - 4), colour, scale * 0.8)
    mid = ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)
    if line.inside is None:
        _text(image, f"{label} pass-by", (round(mid[0]) + 6, round(mid[1]) - 8), colour, scale)
        return
    # the unit normal pointing to the inside point's side, in pixels (fractions scale x and y differently)
    pixel_line = Line(line.id, line.a, line.b, line.inside).scaled(wh[0] - 1, wh[1] - 1)
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = max((dx * dx + dy * dy) ** 0.5, 1e-9)
    nx, ny = -dy / length, dx / length
    if pixel_line.signed_distance((mid[0] + nx, mid[1] + ny)) < 0:
        nx, ny = -nx, -ny
    arrow = max(24.0, 0.08 * min(wh))
    tip = (round(mid[0] + nx * arrow), round(mid[1] + ny * arrow))
    cv2.arrowedLine(image, (round(mid[0]), round(mid[1])), tip, colour, stroke, cv2.LINE_8, tipLength=0.3)
    inside_px = _px(line.inside, wh)
    cv2.circle(image, inside_px, stroke + 3, colour, -1, cv2.LINE_8)
    cv2.circle(image, inside_px, stroke + 3, _TEXT_OUTLINE, 1, cv2.LINE_AA)
    _text_beside(image, f"IN {label}", tip, (nx, ny), colour, scale)
    tail = (round(mid[0] - nx * arrow * 0.3), round(mid[1] - ny * arrow * 0.3))
    _text_beside(image, "OUT", tail, (-nx, -ny), OUTSIDE_COLOUR_BGR, scale * 0.8)


def _text_beside(
    image: Image,
    text: str,
    anchor: tuple[int, int],
    direction: tuple[float, float],
    colour: tuple[int, int, int],
    scale: float,
) -> None:
    """Text whose box lies just beyond ``anchor`` in ``direction`` (a unit vector), never across it."""
    thickness = max(1, round(scale * 2))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    reach = abs(direction[0]) * tw / 2 + abs(direction[1]) * th / 2 + 6
    cx, cy = anchor[0] + direction[0] * reach, anchor[1] + direction[1] * reach
    _text(image, text, (round(cx - tw / 2), round(cy + th / 2)), colour, scale)


def draw_overlay(frame_bgr: Image, lines: Sequence[OverlayLine], zones: Sequence[OverlayZone] = ()) -> Image:
    """A copy of ``frame_bgr`` (H×W×3 uint8) with zones, then lines, drawn on it."""
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 BGR frame, got {frame_bgr.shape} {frame_bgr.dtype}")
    image = np.ascontiguousarray(frame_bgr).copy()
    short_side = min(image.shape[:2])
    stroke = max(2, round(short_side / 240))
    scale = max(0.45, short_side / 900)
    for i, zone in enumerate(zones, 1):
        _draw_zone(image, zone, label_of(zone.id, i), stroke, scale)
    for i, line in enumerate(lines, 1):
        _draw_line(image, line, label_of(line.id, i), stroke, scale)
    return image


def draw_grid(frame_bgr: Image, step: float = 0.1) -> Image:
    """A copy of ``frame_bgr`` with a thin grey grid every ``step`` of width and height, labelled."""
    image = np.ascontiguousarray(frame_bgr).copy()
    h, w = image.shape[:2]
    scale = max(0.4, min(h, w) / 1100)
    n = round(1 / step)
    for i in range(1, n):
        f = i * step
        x, y = round(f * (w - 1)), round(f * (h - 1))
        cv2.line(image, (x, 0), (x, h - 1), _GRID_COLOUR_BGR, 1, cv2.LINE_8)
        cv2.line(image, (0, y), (w - 1, y), _GRID_COLOUR_BGR, 1, cv2.LINE_8)
        _text(image, f"{f:.1f}", (x + 3, 0), _GRID_COLOUR_BGR, scale)
        _text(image, f"{f:.1f}", (3, y - 3), _GRID_COLOUR_BGR, scale)
    return image
