"""ECharts options for the web UI's charts (ECharts ships inside NiceGUI: no CDN, works offline).

Each function returns a chart element built from plain lists; none of them fetches data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nicegui import ui

from keliu.ui.shell import tid

__all__ = ["bars", "donut", "funnel", "gauge", "lines"]

PALETTE = ["#1d4ed8", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"]
_HEIGHT = "h-64"


def _base(**extra: Any) -> dict[str, Any]:
    return {
        "color": PALETTE,
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 48, "right": 16, "top": 36, "bottom": 28},
        **extra,
    }


def _chart(options: dict[str, Any], height: str, mark: str | None) -> ui.echart:
    chart = ui.echart(options).classes(f"w-full {height}")
    if mark:
        chart.props(tid(mark))
    return chart


def lines(
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    area: bool = False,
    height: str = _HEIGHT,
    mark: str | None = None,
    mark_mean_peak: tuple[str, str] | None = None,
) -> ui.echart:
    """Lines over ``categories``; ``mark_mean_peak`` = (mean label, peak label) marks the first series."""
    out = []
    for index, (name, values) in enumerate(series.items()):
        entry: dict[str, Any] = {
            "name": name,
            "type": "line",
            "smooth": True,
            "data": list(values),
            "showSymbol": False,
        }
        if area and index == 0:
            entry["areaStyle"] = {"opacity": 0.15}
        if mark_mean_peak and index == 0:
            entry["markLine"] = {"data": [{"type": "average", "name": mark_mean_peak[0]}], "symbol": "none"}
            entry["markPoint"] = {"data": [{"type": "max", "name": mark_mean_peak[1]}]}
        out.append(entry)
    options = _base(
        legend={"top": 0},
        xAxis={"type": "category", "data": list(categories), "boundaryGap": False},
        yAxis={"type": "value"},
        series=out,
    )
    return _chart(options, height, mark)


def bars(
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    horizontal: bool = False,
    stacked: bool = False,
    height: str = _HEIGHT,
    mark: str | None = None,
) -> ui.echart:
    category_axis = {
        "type": "category",
        "data": list(categories),
        "axisLabel": {"interval": 0, "hideOverlap": True},
    }
    value_axis = {"type": "value"}
    out = [
        {
            "name": name,
            "type": "bar",
            "data": list(values),
            **({"stack": "all"} if stacked else {}),
            "barMaxWidth": 28,
        }
        for name, values in series.items()
    ]
    options = _base(
        legend={"top": 0} if len(series) > 1 else {"show": False},
        xAxis=value_axis if horizontal else category_axis,
        yAxis={**category_axis, "inverse": True} if horizontal else value_axis,
        series=out,
    )
    if horizontal:
        options["grid"] = {"left": 110, "right": 24, "top": 28, "bottom": 24}
    return _chart(options, height, mark)


def donut(items: Sequence[tuple[str, float]], *, height: str = _HEIGHT, mark: str | None = None) -> ui.echart:
    options = {
        "color": PALETTE,
        "animation": False,
        "tooltip": {"trigger": "item", "formatter": "{b}: {c} ({d}%)"},
        "legend": {"bottom": 0, "type": "scroll"},
        "series": [
            {
                "type": "pie",
                "radius": ["45%", "70%"],
                "center": ["50%", "45%"],
                "data": [{"name": n, "value": v} for n, v in items],
                "label": {"formatter": "{b}\n{d}%"},
            }
        ],
    }
    return _chart(options, height, mark)


def funnel(
    stages: Sequence[tuple[str, float]], *, height: str = _HEIGHT, mark: str | None = None
) -> ui.echart:
    options = {
        "color": PALETTE,
        "animation": False,
        "tooltip": {"trigger": "item", "formatter": "{b}: {c}"},
        "series": [
            {
                "type": "funnel",
                "sort": "none",
                "left": "10%",
                "width": "80%",
                "top": 10,
                "bottom": 10,
                "label": {"position": "inside", "formatter": "{b} {c}"},
                "data": [{"name": n, "value": v} for n, v in stages],
            }
        ],
    }
    return _chart(options, height, mark)


def gauge(value: float, name: str, *, height: str = "h-48", mark: str | None = None) -> ui.echart:
    """A completion gauge, ``value`` as a fraction (may pass 1)."""
    options = {
        "animation": False,
        "series": [
            {
                "type": "gauge",
                "min": 0,
                "max": 100,
                "progress": {"show": True, "width": 12},
                "axisLine": {"lineStyle": {"width": 12}},
                "splitLine": {"show": False},
                "axisTick": {"show": False},
                "axisLabel": {"show": False},
                "pointer": {"show": False},
                "title": {"offsetCenter": [0, "30%"], "fontSize": 13},
                "detail": {
                    "valueAnimation": False,
                    "formatter": "{value}%",
                    "offsetCenter": [0, "-5%"],
                    "fontSize": 22,
                },
                "data": [{"value": round(value * 100, 1), "name": name}],
                "itemStyle": {"color": PALETTE[0]},
            }
        ],
    }
    return _chart(options, height, mark)
