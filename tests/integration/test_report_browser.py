"""Reports in a real browser: Debian's headless Chromium opens the HTML file offline.

Checks that the charts are drawn (SVG boxes have a size, the screenshot shows the series colours),
that the page asks for nothing over the network, and that the numbers on screen are exactly the
numbers in the XLSX workbook of the same report (acceptance check for A14/O8).

Chromium and chromedriver are required (``apt-get install chromium chromium-driver``), and so is a
CJK font for readable Chinese (``apt-get install fonts-noto-cjk``): missing ones FAIL, never skip.
Set ``KELIU_TEST_ARTIFACTS=DIR`` to keep the screenshots.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import openpyxl
import pytest
from tests.support.report_data import GENERATED_AT, sample_input

from keliu.analytics.report import build_report_from_input, period_containing, render_html, write_xlsx

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BLUE_BGR = (235, 99, 37)  # charts.PALETTE[0] #2563eb
ORANGE_BGR = (11, 158, 245)  # charts.PALETTE[1] #f59e0b


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install with `apt-get install chromium chromium-driver`"
        )
    fc_list = shutil.which("fc-list")
    zh_fonts = ""
    if fc_list:
        zh_fonts = subprocess.run([fc_list, ":lang=zh"], check=False, capture_output=True, text=True).stdout
    if not zh_fonts.strip():
        pytest.fail(
            "no Chinese font: reports would show boxes; "
            "install with `apt-get install fonts-noto-cjk` (or fonts-wqy-microhei)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--force-device-scale-factor=1",
        "--proxy-server=127.0.0.1:9",  # nothing listens there: any network request would fail
        "--proxy-bypass-list=<-loopback>",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        drv.execute_cdp_cmd("Network.enable", {})
        drv.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        yield drv
    finally:
        drv.quit()


def _number(text: str) -> int | float | None:
    """A number as shown on screen: ``1,234`` / ``+5.2%`` / ``▲ +5.2%`` / ``—`` (no value)."""
    cleaned = text.replace(",", "").replace("%", "").replace("▲", "").replace("▼", "").strip()
    if cleaned in ("—", ""):
        return None
    return float(cleaned) if "." in cleaned else int(cleaned)


def _requested_urls(drv: Any) -> list[str]:
    urls = []
    for entry in drv.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _open(drv: Any, html_path: Path) -> None:
    drv.get_log("performance")  # drop earlier entries
    drv.get(html_path.as_uri())
    assert drv.execute_script("return document.readyState") == "complete"
    urls = _requested_urls(drv)
    assert urls and all(u.startswith("file://") for u in urls), f"the page requested {urls}"


def _screenshot(drv: Any, path: Path) -> np.ndarray:
    """Whole-page PNG written to ``path`` (and to $KELIU_TEST_ARTIFACTS when set), decoded as BGR."""
    shot = drv.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    png = base64.b64decode(shot["data"])
    path.write_bytes(png)
    if artifacts := os.environ.get("KELIU_TEST_ARTIFACTS"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / path.name)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "screenshot is not a PNG"
    return image


def _colour_pixels(image: np.ndarray, bgr: tuple[int, int, int], tolerance: int = 40) -> int:
    diff = np.abs(image.astype(np.int16) - np.array(bgr, np.int16)).max(axis=2)
    return int((diff <= tolerance).sum())


def _check_charts_drawn(drv: Any, page: np.ndarray, expected: dict[str, int]) -> None:
    """Each chart's SVG has a real box, its marks have size, and its pixels carry the series colours."""
    boxes = drv.execute_script(
        """
        return [...document.querySelectorAll('figure.chart-figure')].map(f => {
          const svg = f.querySelector('svg'); const r = svg.getBoundingClientRect();
          const marks = [...svg.querySelectorAll('circle.pt, rect.bar')].map(m => m.getBoundingClientRect())
            .filter(b => b.width > 0 && b.height > 0).length;
          return {key: f.dataset.chart, x: r.left + window.scrollX, y: r.top + window.scrollY,
                  w: r.width, h: r.height, marks: marks};
        });"""
    )
    assert {b["key"]: b["marks"] for b in boxes} == expected
    for box in boxes:
        assert box["w"] > 600 and box["h"] > 120, box
        x, y, w, h = (round(box[k]) for k in ("x", "y", "w", "h"))
        crop = page[y : y + h, x : x + w]
        assert crop.shape[0] > 120 and crop.shape[1] > 600, f"chart {box['key']} is outside the screenshot"
        non_white = int((crop.min(axis=2) < 235).sum())
        assert non_white > 0.02 * w * h, f"chart {box['key']} looks blank ({non_white} drawn pixels)"
        assert _colour_pixels(crop, BLUE_BGR) > 300, f"chart {box['key']} shows no primary-series colour"


def _dom_kpis(drv: Any) -> list[dict[str, str]]:
    return drv.execute_script(
        """
        const t = (el, sel) => { const e = el.querySelector(sel); return e ? e.innerText : ''; };
        return [...document.querySelectorAll('.kpi')].map(k => ({
          label: t(k, '.kpi-label'), value: t(k, '.kpi-value'), previous: t(k, '.kpi-previous'),
          change: t(k, '.kpi-change').replace(/^[^+\\-0-9—]*/, ''), detail: t(k, '.kpi-detail')}));"""
    )


def _dom_tables(drv: Any) -> list[dict[str, Any]]:
    return drv.execute_script(
        """
        return [...document.querySelectorAll('table.data')].map(t => ({
          caption: t.caption.innerText,
          header: [...t.tHead.rows[0].cells].map(c => c.innerText),
          rows: [...t.tBodies[0].rows, ...(t.tFoot ? t.tFoot.rows : [])]
                 .map(r => [...r.cells].map(c => c.innerText))}));"""
    )


def _same(screen: str, cell: object) -> bool:
    """An on-screen table cell shows exactly the XLSX cell's value."""
    if isinstance(cell, datetime):
        return screen[:10] == cell.date().isoformat()
    if isinstance(cell, int | float):
        return _number(screen) == cell
    if cell is None:
        return screen in ("", "—")
    return screen == cell


def _check_screen_matches_xlsx(drv: Any, xlsx: Path) -> None:
    wb = openpyxl.load_workbook(xlsx)
    summary = {
        row[0]: row
        for row in wb.worksheets[0].iter_rows(min_row=2, values_only=True)
        if row[0] is not None and row[1:] != (None,) * (len(row) - 1) and len(row) >= 5
    }
    kpis = _dom_kpis(drv)
    assert len(kpis) >= 8
    for kpi in kpis:
        row = summary[kpi["label"]]
        assert _number(kpi["value"]) == row[1], kpi
        if kpi["previous"]:
            assert _number(kpi["previous"]) == row[3], kpi
            assert _number(kpi["change"]) == row[4], kpi
        assert (kpi["detail"] or None) == row[5], kpi
    sheets = {ws.title: ws for ws in wb.worksheets[1:]}
    tables = _dom_tables(drv)
    assert len(tables) == len(sheets)
    for table in tables:
        ws = sheets[table["caption"]]
        assert table["header"] == [c.value for c in ws[1]]
        cells = list(ws.iter_rows(min_row=2, values_only=True))
        assert len(table["rows"]) == len(cells)
        for screen_row, cell_row in zip(table["rows"], cells, strict=True):
            for screen, cell in zip(screen_row, cell_row, strict=True):
                assert _same(screen, cell), (table["caption"], screen_row, cell_row)


@pytest.mark.parametrize(
    ("kind", "lang", "expected_marks"),
    [
        ("day", "zh", {"hourly": 48, "entrances_rank": 4}),
        ("week", "en", {"daily": 14, "hour_profile": 12, "entrances_rank": 4}),
    ],
)
def test_report_renders_offline_and_matches_xlsx(
    driver: Any, tmp_path: Path, kind: str, lang: str, expected_marks: dict[str, int]
) -> None:
    period = period_containing(kind, date(2024, 5, 12), "Asia/Shanghai")
    report = build_report_from_input(sample_input(period, with_forecast=True), GENERATED_AT)
    html_path = tmp_path / f"report-{kind}-{lang}.html"
    html_path.write_text(render_html(report, lang), encoding="utf-8")
    xlsx = write_xlsx(report, tmp_path / f"report-{kind}-{lang}.xlsx", lang)

    _open(driver, html_path)
    title = driver.execute_script("return document.querySelector('h1').innerText")
    assert title == report.title.get(lang)
    page = _screenshot(driver, tmp_path / f"report-{kind}-{lang}.png")
    _check_charts_drawn(driver, page, expected_marks)
    if kind == "day":  # today vs the day before: the comparison series is drawn too
        hourly = driver.execute_script(
            "const r = document.querySelector('[data-chart=hourly] svg').getBoundingClientRect();"
            "return [r.left + scrollX, r.top + scrollY, r.width, r.height].map(Math.round);"
        )
        x, y, w, h = hourly
        assert _colour_pixels(page[y : y + h, x : x + w], ORANGE_BGR) > 200
    _check_screen_matches_xlsx(driver, xlsx)
    assert re.search(r"\d", driver.execute_script("return document.body.innerText"))
