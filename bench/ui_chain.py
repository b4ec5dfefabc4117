"""Web UI at chain scale: first meaningful paint of the multi-store pages (门店概览 /stores, 门店排行
/ranking) and of the other pages, in headless Chromium, with 100 simulated stores × 365 days.

The chain is seeded once by the service's own demo seeding (``seed_demo``, as ``make run`` does) into
``--dir`` (SQLite, about 20 minutes on 2 cores) and reused by later runs. A page's first meaningful
paint is the time from navigation to its first card or chart on screen (as in tests/browser); every
page is loaded ``--repeat`` times and the median is printed with the worst.

    .venv/bin/python bench/ui_chain.py [--sites 100] [--days 365] [--repeat 3] [--dir /tmp/keliu-ui-chain]

Needs Debian's chromium (make test-debs) and Playwright for Python (the test extras).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ui_server import signed_in_context, start_ui_server  # noqa: E402

CHAIN_PAGES = ["/stores", "/ranking"]
OTHER_PAGES = ["/", "/reception", "/reports", "/analysis", "/lookup", "/visits", "/bigscreen"]
CHAIN_BUDGET_S = 3.0
PAGE_BUDGET_S = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.dir or Path(f"/tmp/keliu-ui-chain-{args.sites}x{args.days}")
    folder.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    seeded = (folder / "keliu.db").exists()
    print(
        f"{'reusing' if seeded else 'seeding'} {args.sites} stores x {args.days} days in {folder} …",
        flush=True,
    )
    started = time.monotonic()
    server = start_ui_server(folder, args.sites, args.days, ready_timeout_s=4 * 3600)
    print(f"service ready after {time.monotonic() - started:.0f} s", flush=True)
    paints: dict[str, list[float]] = {}
    try:
        with sync_playwright() as p:
            context = signed_in_context(p, server)
            page = context.new_page()
            for _ in range(args.repeat):
                for path in CHAIN_PAGES + OTHER_PAGES:
                    t0 = time.perf_counter()
                    page.goto(server.base + path, wait_until="commit", timeout=120_000)
                    page.locator(".q-card, .nicegui-echart").first.wait_for(state="visible", timeout=120_000)
                    paints.setdefault(path, []).append(time.perf_counter() - t0)
                    page.wait_for_load_state("load")
                    page.wait_for_timeout(500)  # let lazily loaded cards start before the next page
            context.browser.close()
    finally:
        server.process.terminate()
        server.process.wait(60)
    print(f"\nfirst meaningful paint, {args.sites} stores x {args.days} days, {args.repeat} loads each:")
    print("| page | median s | worst s | goal s |")
    print("|---|---|---|---|")
    for path, seconds in paints.items():
        goal = CHAIN_BUDGET_S if path in CHAIN_PAGES else PAGE_BUDGET_S
        print(f"| {path} | {statistics.median(seconds):.2f} | {max(seconds):.2f} | {goal:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
