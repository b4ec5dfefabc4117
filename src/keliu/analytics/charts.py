"""Server-side SVG charts for reports (报表图表): line and bar charts drawn by our own code.

The output is a plain SVG string: axes, ticks, grid, labels and a legend, with every piece of text
XML-escaped. It is deterministic (same input, same bytes) so reports can be compared and cached.

What this module must not do: run or emit JavaScript, reference anything outside the SVG (no URL,
no external font, no image, no ``<use href>``), or know about report semantics; it draws the numbers
and already-localised strings it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = [
    "FONT_FAMILY",
    "PALETTE",
    "Band",
    "Series",
    "bar_chart",
    "line_chart",
    "nice_ticks",
]

FONT_FAMILY = "Noto Sans CJK SC, WenQuanYi Micro Hei, Microsoft YaHei, sans-serif"
# Series colours, in order: primary blue, warm grey-orange for the comparison series, then others.
PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#0ea5e9")
_BAND_FILL = "#93c5fd"
_AXIS = "#64748b"
_GRID = "#e2e8f0"
_TEXT = "#334155"
_FONT_PX = 12
_MARKERS_MAX = 62  # beyond this many points a line is drawn without point markers
_SVG_NS = "http://www.w3.org/2000/svg"


@dataclass(frozen=True)
class Series:
    """One named series of values, one per category (``None`` = no data: a gap, no bar)."""

    name: str
    values: Sequence[float | None]
    colour: str | None = None
    dashed: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded range (e.g. a forecast's prediction interval 预测区间), one (lower, upper) per category."""

    name: str
    lower: Sequence[float]
    upper: Sequence[float]


def nice_ticks(lo: float, hi: float, max_ticks: int = 6, integer: bool = True) -> list[float]:
    """Round tick values covering ``[lo, hi]`` with steps of 1, 2, 2.5 or 5 × 10^k (at most ``max_ticks``+1).

    With ``integer`` the step is at least 1 (counts of people have no fractions).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got [{lo}, {hi}]")
    lo, hi = min(lo, hi), max(lo, hi)
    if hi - lo <= 0:
        hi = lo + (5 if integer else 1)
    raw = (hi - lo) / max(1, max_ticks)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude + 1e-12:
            step = factor * magnitude
            break
    if integer:
        step = max(1.0, float(math.ceil(step)))
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    count = round((stop - start) / step)
    return [start + i * step for i in range(count + 1)]


def _fmt_number(value: float) -> str:
    """Thousands separators; at most one decimal, dropped when whole."""
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    return f"{value:,.1f}"


def _text_width(text: str, font_px: float = _FONT_PX) -> float:
    """Approximate rendered width: CJK and other wide characters take a full em, others about half."""
    return sum(font_px if ord(ch) > 0x2E7F else font_px * 0.58 for ch in text)


def _n(value: float) -> str:
    """A coordinate with two decimals at most, so the output is stable and compact."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _attr(value: str) -> str:
    return escape(value, quote=True)


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom


def _open_svg(frame: _Frame, title: str, kind: str, standalone: bool) -> list[str]:
    ns = f' xmlns="{_SVG_NS}"' if standalone else ""
    return [
        f'<svg{ns} class="chart chart-{kind}" width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" font-family="{_attr(FONT_FAMILY)}" '
        f'font-size="{_FONT_PX}">',
        f"<title>{escape(title)}</title>",
        f'<rect class="bg" x="0" y="0" width="{frame.width}" height="{frame.height}" fill="#ffffff"/>',
    ]


def _legend(entries: Sequence[tuple[str, str, str]], frame: _Frame) -> list[str]:
    """Legend swatches right-aligned above the plot; entries are (name, colour, kind: line|bar|band)."""
    if not entries:
        return []
    widths = [18 + 6 + _text_width(name) + 16 for name, _, _ in entries]
    x = frame.width - frame.right - sum(widths)
    y = frame.top - 14
    out = ['<g class="legend">']
    for (name, colour, kind), w in zip(entries, widths, strict=True):
        if kind == "line":
            out.append(
                f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + 18)}" y2="{_n(y)}" stroke="{colour}" '
                f'stroke-width="2.5"/>'
            )
        else:
            opacity = ' fill-opacity="0.35"' if kind == "band" else ""
            out.append(
                f'<rect x="{_n(x)}" y="{_n(y - 5)}" width="18" height="10" rx="2" fill="{colour}"{opacity}/>'
            )
        out.append(f'<text x="{_n(x + 24)}" y="{_n(y + 4)}" fill="{_TEXT}">{escape(name)}</text>')
        x += w
    out.append("</g>")
    return out


def _value_axis(ticks: Sequence[float], frame: _Frame, horizontal: bool, label: str | None) -> list[str]:
    """Grid lines and tick labels of the value axis (y for vertical charts, x for horizontal bars)."""
    lo, hi = ticks[0], ticks[-1]
    out = ['<g class="axis axis-value">']
    for tick in ticks:
        if horizontal:
            x = frame.left + (tick - lo) / (hi - lo) * frame.plot_w
            out.append(
                f'<line x1="{_n(x)}" y1="{_n(frame.top)}" x2="{_n(x)}" y2="{_n(frame.top + frame.plot_h)}" '
                f'stroke="{_GRID}"/>'
            )
            out.append(
                f'<text x="{_n(x)}" y="{_n(frame.top + frame.plot_h + 16)}" text-anchor="middle" '
                f'fill="{_AXIS}">{_fmt_number(tick)}</text>'
            )
        else:
            y = frame.top + frame.plot_h - (tick - lo) / (hi - lo) * frame.plot_h
            out.append(
                f'<line x1="{_n(frame.left)}" y1="{_n(y)}" x2="{_n(frame.left + frame.plot_w)}" y2="{_n(y)}" '
                f'stroke="{_GRID}"/>'
            )
            out.append(
                f'<text x="{_n(frame.left - 8)}" y="{_n(y + 4)}" text-anchor="end" fill="{_AXIS}">'
                f"{_fmt_number(tick)}</text>"
            )
    if label:
        out.append(
            f'<text class="axis-label" x="{_n(frame.left)}" y="{_n(frame.top - 14)}" fill="{_AXIS}">'
            f"{escape(label)}</text>"
        )
    out.append("</g>")
    return out


def _category_labels(labels: Sequence[str], frame: _Frame) -> list[str]:
    """X-axis category labels, thinned to every k-th so that they do not overlap."""
    n = len(labels)
    if n == 0:
        return []
    slot = frame.plot_w / n
    widest = max(_text_width(label) for label in labels) + 8
    every = max(1, math.ceil(widest / slot))
    y = frame.top + frame.plot_h
    out = [
        '<g class="axis axis-category">',
        f'<line x1="{_n(frame.left)}" y1="{_n(y)}" x2="{_n(frame.left + frame.plot_w)}" y2="{_n(y)}" '
        f'stroke="{_AXIS}"/>',
    ]
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = frame.left + (i + 0.5) * slot
        out.append(f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x)}" y2="{_n(y + 4)}" stroke="{_AXIS}"/>')
        out.append(
            f'<text x="{_n(x)}" y="{_n(y + 18)}" text-anchor="middle" fill="{_AXIS}">{escape(label)}</text>'
        )
    out.append("</g>")
    return out


def _check(labels: Sequence[str], series: Sequence[Series], band: Band | None = None) -> None:
    if not series:
        raise ValueError("a chart needs at least one series")
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values, expected {len(labels)}")
        for v in s.values:
            if v is not None and not math.isfinite(v):
                raise ValueError(f"series {s.name!r} has a non-finite value {v!r}")
    if band is not None and not (len(band.lower) == len(band.upper) == len(labels)):
        raise ValueError(
            f"band {band.name!r} has {len(band.lower)}/{len(band.upper)} bounds, expected {len(labels)}"
        )


def _colour(series: Series, index: int) -> str:
    return series.colour or PALETTE[index % len(PALETTE)]


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    band: Band | None = None,
    y_label: str | None = None,
    width: int = 760,
    height: int = 300,
    standalone: bool = False,
) -> str:
    """A line chart: one polyline per series over categorical x positions, optional shaded band.

    Points get circle markers (class ``pt``) while there are at most 62 of them. A ``None`` value
    breaks the line. ``standalone`` adds the SVG namespace for use as a separate ``.svg`` file
    (inline SVG in HTML needs none).
    """
    _check(x_labels, series, band)
    values = [v for s in series for v in s.values if v is not None]
    if band is not None:
        values += [*band.lower, *band.upper]
    ticks = nice_ticks(min([0.0, *values]), max([0.0, *values]))
    frame = _Frame(
        width, height, left=16 + _text_width(_fmt_number(ticks[-1])) + 12, right=16, top=40, bottom=32
    )
    lo, hi = ticks[0], ticks[-1]
    n = len(x_labels)
    slot = frame.plot_w / max(1, n)

    def xy(i: int, v: float) -> tuple[float, float]:
        return frame.left + (i + 0.5) * slot, frame.top + frame.plot_h - (v - lo) / (hi - lo) * frame.plot_h

    out = _open_svg(frame, title, "line", standalone)
    out += _value_axis(ticks, frame, horizontal=False, label=y_label)
    out += _category_labels(x_labels, frame)
    legend: list[tuple[str, str, str]] = []
    if band is not None and n:
        upper = [xy(i, v) for i, v in enumerate(band.upper)]
        lower = [xy(i, v) for i, v in reversed(list(enumerate(band.lower)))]
        d = "M" + " L".join(f"{_n(x)},{_n(y)}" for x, y in upper + lower) + " Z"
        out.append(f'<path class="band" d="{d}" fill="{_BAND_FILL}" fill-opacity="0.35" stroke="none"/>')
        legend.append((band.name, _BAND_FILL, "band"))
    for index, s in enumerate(series):
        colour = _colour(s, index)
        legend.append((s.name, colour, "line"))
        segments: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                segments.append([])
            else:
                segments[-1].append(xy(i, v))
        d = " ".join("M" + " L".join(f"{_n(x)},{_n(y)}" for x, y in seg) for seg in segments if seg)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(f'<g class="series" data-series="{index}">')
        if d:
            out.append(
                f'<path class="line" d="{d}" fill="none" stroke="{colour}" stroke-width="2.5" '
                f'stroke-linejoin="round" stroke-linecap="round"{dash}/>'
            )
        if n <= _MARKERS_MAX:
            for seg in segments:
                for x, y in seg:
                    out.append(
                        f'<circle class="pt" cx="{_n(x)}" cy="{_n(y)}" r="3" fill="#ffffff" '
                        f'stroke="{colour}" stroke-width="2"/>'
                    )
        out.append("</g>")
    out += _legend(legend, frame)
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    horizontal: bool = False,
    y_label: str | None = None,
    width: int = 760,
    height: int | None = None,
    standalone: bool = False,
) -> str:
    """A bar chart: grouped bars (class ``bar``), one per category per series with a value.

    ``horizontal`` draws a ranking (排行): categories top to bottom in the given order, value labels
    at the bar ends; its height grows with the number of categories unless ``height`` is given.
    """
    _check(x_labels, series)
    values = [v for s in series for v in s.values if v is not None]
    ticks = nice_ticks(min([0.0, *values]), max([0.0, *values]))
    lo, hi = ticks[0], ticks[-1]
    n = len(x_labels)
    groups = len(series)
    legend = [(s.name, _colour(s, i), "bar") for i, s in enumerate(series)] if groups > 1 else []
    if horizontal:
        row_h = 16 + 10 * groups
        label_w = max([_text_width(label) for label in x_labels] + [40.0])
        end_w = _text_width(_fmt_number(max([0.0, *values]))) + 12
        h = height if height is not None else int(40 + 32 + row_h * max(1, n))
        frame = _Frame(
            width, h, left=16 + min(label_w, width * 0.35) + 8, right=16 + end_w, top=40, bottom=32
        )
    else:
        h = height if height is not None else 300
        frame = _Frame(width, h, left=16 + _text_width(_fmt_number(hi)) + 12, right=16, top=40, bottom=32)
    out = _open_svg(frame, title, "hbar" if horizontal else "bar", standalone)
    out += _value_axis(ticks, frame, horizontal=horizontal, label=y_label)
    along = frame.plot_h if horizontal else frame.plot_w
    slot = along / max(1, n)
    bar = slot * 0.7 / groups
    if horizontal:
        out.append('<g class="axis axis-category">')
        for i, label in enumerate(x_labels):
            y = frame.top + (i + 0.5) * slot
            out.append(
                f'<text x="{_n(frame.left - 8)}" y="{_n(y + 4)}" text-anchor="end" fill="{_TEXT}">'
                f"{escape(label)}</text>"
            )
        out.append(
            f'<line x1="{_n(frame.left)}" y1="{_n(frame.top)}" x2="{_n(frame.left)}" '
            f'y2="{_n(frame.top + frame.plot_h)}" stroke="{_AXIS}"/></g>'
        )
    else:
        out += _category_labels(x_labels, frame)

    def scale(v: float) -> float:
        return (v - lo) / (hi - lo) * (frame.plot_w if horizontal else frame.plot_h)

    zero = scale(0.0)
    for index, s in enumerate(series):
        colour = _colour(s, index)
        out.append(f'<g class="series" data-series="{index}" fill="{colour}">')
        for i, v in enumerate(s.values):
            if v is None:
                continue
            offset = i * slot + slot * 0.15 + index * bar
            a, b = sorted((zero, scale(v)))
            length = max(b - a, 0.0)
            if horizontal:
                x, y, w, hh = frame.left + a, frame.top + offset, length, bar
            else:
                x, y, w, hh = frame.left + offset, frame.top + frame.plot_h - b, bar, length
            out.append(
                f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(hh)}" rx="2">'
                f"<title>{escape(x_labels[i])}: {_fmt_number(v)}</title></rect>"
            )
            if horizontal:
                out.append(
                    f'<text class="bar-value" x="{_n(x + w + 6)}" y="{_n(y + hh / 2 + 4)}" fill="{_TEXT}">'
                    f"{_fmt_number(v)}</text>"
                )
        out.append("</g>")
    out += _legend(legend, frame)
    out.append("</svg>")
    return "".join(out)
