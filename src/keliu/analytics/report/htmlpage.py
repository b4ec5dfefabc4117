"""HTML rendering of a report (报表网页): one self-contained file that opens offline in any browser.

The page carries its CSS inline and its charts as inline SVG; a Content-Security-Policy meta tag
forbids every load, so the file stays complete when mailed, archived or opened on an air-gapped PC.
It prints on A4.

What this module must not do: emit ``<script>``, any URL, ``src``/``href`` attributes or external
fonts; or compute numbers (it shows what the ``Report`` holds).
"""

from __future__ import annotations

from datetime import date
from html import escape

from keliu.analytics import charts
from keliu.analytics.report.model import (
    Cell,
    Chart,
    ChartKind,
    Column,
    ColumnKind,
    KpiCard,
    KpiGroup,
    Note,
    Report,
    Section,
    Table,
)
from keliu.analytics.report.text import text

__all__ = ["format_cell", "format_number", "render_html"]

_WEEKDAYS = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}

_CHART_W = 930  # px: the page's content width, so chart text is drawn at its nominal size

# Nothing may load: no script, font, image, frame or connection; only the inline style.
_CSP = "default-src 'none'; style-src 'unsafe-inline'"

_CSS = """
*{box-sizing:border-box}
html{background:#eef2f6}
body{margin:0;font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;
 color:#0f172a;font-size:14px;line-height:1.5}
.page{max-width:1040px;margin:24px auto;background:#fff;padding:32px 40px 28px;
 box-shadow:0 1px 3px rgba(15,23,42,.12)}
header.report-head{border-bottom:3px solid #2563eb;padding-bottom:16px;margin-bottom:8px}
.brand{color:#2563eb;font-size:12px;letter-spacing:.08em;font-weight:600}
h1{font-size:26px;margin:4px 0 12px;font-weight:700}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:2px 24px;margin:0;
 font-size:13px}
.meta div{display:flex;gap:8px}
.meta dt{color:#64748b;min-width:5.5em}
.meta dd{margin:0;font-weight:500}
section.section{margin-top:26px}
h2{font-size:17px;margin:0 0 12px;padding-left:10px;border-left:4px solid #2563eb}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
.kpi{border:1px solid #e2e8f0;border-radius:8px;padding:12px 16px;break-inside:avoid}
.kpi-label{color:#64748b;font-size:13px}
.kpi-value{font-size:28px;font-weight:700;font-variant-numeric:tabular-nums;line-height:1.25}
.kpi-unit{font-size:13px;color:#64748b;font-weight:400;margin-left:4px}
.kpi-detail{font-size:13px;color:#334155}
.kpi-foot{font-size:12px;color:#64748b;display:flex;gap:10px;margin-top:2px}
.up{color:#15803d}.down{color:#b91c1c}.flat{color:#64748b}
figure.chart-figure{margin:0 0 16px;border:1px solid #e2e8f0;border-radius:8px;padding:12px 12px 6px;
 break-inside:avoid}
figure.chart-figure figcaption{font-weight:600;font-size:14px;margin:0 0 4px 4px}
figure.chart-figure svg{display:block;width:100%;height:auto}
table.data{border-collapse:collapse;width:100%;font-size:13px;margin:0 0 16px;
 font-variant-numeric:tabular-nums}
table.data caption{text-align:left;font-weight:600;font-size:14px;padding:0 0 6px}
table.data th{background:#f1f5f9;color:#334155;font-weight:600;text-align:left;padding:6px 10px;
 border-bottom:1px solid #cbd5e1}
table.data td{padding:5px 10px;border-bottom:1px solid #eef2f6}
table.data tbody tr:nth-child(even){background:#fafbfc}
table.data .num{text-align:right;white-space:nowrap}
table.data tfoot td{font-weight:700;border-top:2px solid #cbd5e1;background:#f8fafc}
.notes{color:#475569;font-size:13px;margin:0;padding-left:18px}
footer.report-foot{margin-top:28px;padding-top:10px;border-top:1px solid #e2e8f0;color:#64748b;font-size:12px}
@page{size:A4;margin:12mm}
@media print{html{background:#fff}.page{margin:0;box-shadow:none;padding:0;max-width:none}}
"""


def format_number(value: float | None, decimals: int = 0, lang: str = "zh") -> str:
    """``1,234`` / ``1,234.5``; a dash for no value."""
    if value is None:
        return text("no_data", lang)
    return f"{value:,.{decimals}f}"


def format_change(pct: float | None, lang: str = "zh") -> str:
    if pct is None:
        return text("no_data", lang)
    return f"{pct:+.1f}%"


def format_cell(cell: Cell, column: Column, lang: str = "zh") -> str:
    """How a table cell reads on screen (spreadsheets keep the raw value)."""
    if cell is None:
        return text("no_data", lang)
    if isinstance(cell, date):
        return f"{cell.isoformat()} {_WEEKDAYS[lang][cell.weekday()]}"
    if isinstance(cell, str):
        return cell
    if column.kind is ColumnKind.INT:
        return format_number(cell, 0, lang)
    if column.kind is ColumnKind.PERCENT:
        return f"{cell:.1f}%"
    return format_number(cell, 1, lang)


def _kpi(card: KpiCard, lang: str) -> str:
    pct = card.change_pct
    trend = "flat" if pct is None or pct == 0 else ("up" if pct > 0 else "down")
    arrow = {"up": "▲ ", "down": "▼ ", "flat": ""}[trend]
    unit = f'<span class="kpi-unit">{escape(card.unit.get(lang))}</span>' if card.unit else ""
    detail = f'<div class="kpi-detail">{escape(card.detail)}</div>' if card.detail else ""
    foot = ""
    if card.previous is not None:
        foot = (
            f'<div class="kpi-foot"><span>{escape(text("previous", lang))} '
            f'<span class="kpi-previous">{format_number(card.previous, card.decimals, lang)}</span></span>'
            f'<span class="kpi-change {trend}">{escape(text("change", lang))} {arrow}'
            f"{format_change(pct, lang)}</span></div>"
        )
    return (
        f'<div class="kpi" data-kpi="{escape(card.key)}">'
        f'<div class="kpi-label">{escape(card.label.get(lang))}</div>'
        f'<div><span class="kpi-value">{format_number(card.value, card.decimals, lang)}</span>{unit}</div>'
        f"{detail}{foot}</div>"
    )


def _chart(chart: Chart, lang: str) -> str:
    title = chart.title.get(lang)
    series = [charts.Series(name=s.name.get(lang), values=s.values, dashed=s.dashed) for s in chart.series]
    y_label = chart.y_label.get(lang) if chart.y_label else None
    if chart.kind is ChartKind.LINE:
        band = None
        if chart.band is not None:
            name = chart.band_name.get(lang) if chart.band_name else ""
            band = charts.Band(name, [lo for lo, _ in chart.band], [hi for _, hi in chart.band])
        svg = charts.line_chart(
            chart.x_labels, series, title=title, band=band, y_label=y_label, width=_CHART_W
        )
    else:
        svg = charts.bar_chart(
            chart.x_labels,
            series,
            title=title,
            horizontal=chart.kind is ChartKind.HBAR,
            width=_CHART_W,
            y_label=y_label,
        )
    return (
        f'<figure class="chart-figure" data-chart="{escape(chart.key)}">'
        f"<figcaption>{escape(title)}</figcaption>{svg}</figure>"
    )


def _table(table: Table, lang: str) -> str:
    def cls(col: Column) -> str:
        return "" if col.kind in (ColumnKind.TEXT, ColumnKind.DATE) else ' class="num"'

    head = "".join(f"<th{cls(c)}>{escape(c.label.get(lang))}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{cls(c)}>{escape(format_cell(v, c, lang))}</td>"
            for c, v in zip(table.columns, row, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    foot = ""
    if table.total is not None:
        cells = [f"<td>{escape(text('total', lang))}</td>"]
        cells += [
            f"<td{cls(c)}>{escape(format_cell(v, c, lang) if v is not None else '')}</td>"
            for c, v in zip(table.columns[1:], table.total[1:], strict=True)
        ]
        foot = f"<tfoot><tr>{''.join(cells)}</tr></tfoot>"
    return (
        f'<table class="data" data-table="{escape(table.key)}"><caption>{escape(table.title.get(lang))}'
        f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>"
    )


def _section(section: Section, lang: str) -> str:
    parts = [f'<section class="section" data-section="{escape(section.key)}">']
    parts.append(f"<h2>{escape(section.title.get(lang))}</h2>")
    notes: list[str] = []
    for block in section.blocks:
        if isinstance(block, KpiGroup):
            parts.append('<div class="kpis">' + "".join(_kpi(c, lang) for c in block.cards) + "</div>")
        elif isinstance(block, Chart):
            parts.append(_chart(block, lang))
        elif isinstance(block, Table):
            parts.append(_table(block, lang))
        elif isinstance(block, Note):
            notes.append(f"<li>{escape(block.text.get(lang))}</li>")
    if notes:
        parts.append(f'<ul class="notes">{"".join(notes)}</ul>')
    parts.append("</section>")
    return "".join(parts)


def render_html(report: Report, lang: str = "zh") -> str:
    """The report as one self-contained HTML document (UTF-8 text)."""
    text("brand", lang)  # validates lang
    period = report.period
    zone = period.zone
    generated = report.generated_at.astimezone(zone)
    time_range = f"{period.start:%Y-%m-%d %H:%M} – {period.end:%Y-%m-%d %H:%M} ({period.tz})"
    meta = [
        ("site", report.site_label),
        ("location", report.location or text("whole_site", lang)),
        ("period", period.label(lang)),
        ("range", time_range),
        ("generated", f"{generated:%Y-%m-%d %H:%M}"),
    ]
    meta_html = "".join(
        f'<div><dt>{escape(text(key, lang))}</dt><dd data-meta="{key}">{escape(value)}</dd></div>'
        for key, value in meta
    )
    title = report.title.get(lang)
    html_lang = "en" if lang == "en" else "zh-CN"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html_lang}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · {escape(report.site_label)} · {escape(period.label(lang))}</title>"
        f'<style>{_CSS}</style></head><body><main class="page">'
        f'<header class="report-head"><div class="brand">{escape(text("brand", lang))}</div>'
        f'<h1>{escape(title)}</h1><dl class="meta">{meta_html}</dl></header>'
        + "".join(_section(s, lang) for s in report.sections)
        + f'<footer class="report-foot">{escape(text("footer", lang))}</footer>'
        "</main></body></html>\n"
    )
