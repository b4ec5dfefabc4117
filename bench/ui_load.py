"""Web UI under load: 20 reception consoles and 5 big screens open for 10 minutes in headless
Chromium against the service with its web UI (tests/support/ui_server.py on the demo chain), people
arriving all the while. Prints the server's memory before and after (and minute by minute, to tell
a leak from a warm-up that levels off), and how many live updates each console missed (an arrival
that did not show on a console within 5 s of its sighting).

    .venv/bin/python bench/ui_load.py [--minutes 10] [--consoles 20] [--screens 5] [--every 15]
                                      [--warm N] [--trace]

``--warm N`` first feeds N arrivals (four a second, no page open) and waits for the service's heap
trim, so the figures are those of a service that has been running a while: with no page open a
fresh one grows by about 60 MiB over its first few hundred arrivals and then levels off
(docs/benchmarks.md).

``--trace`` also prints what grew in the server's Python heap after the pages were open: object
counts by type and (tracemalloc, started when the pages are open; it slows the server) the
allocation sites and call stacks that grew most.

Needs Debian's chromium (make test-debs) and Playwright for Python (the test extras).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ui_server import signed_in_context, start_ui_server  # noqa: E402

NEWEST = (
    "(() => { const c = document.querySelector('[data-testid=arrival]');"
    " return c ? c.dataset.batch + '/' + c.dataset.size : ''; })()"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--consoles", type=int, default=20)
    parser.add_argument("--screens", type=int, default=5)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between arrivals")
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--warm", type=int, default=0, help="arrivals fed before the pages open")
    parser.add_argument("--trace", action="store_true", help="print what grew in the server's heap")
    args = parser.parse_args()
    if args.trace:
        os.environ["KELIU_TRACE_MEMORY"] = "1"  # the server process inherits it

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="keliu-ui-load-"))
    print(f"seeding {args.sites} stores x {args.days} days and starting the service …", flush=True)
    server = start_ui_server(tmp, args.sites, args.days)
    try:
        if args.warm:
            cold = server.rss_mib()
            began = time.monotonic()
            for i in range(1, args.warm + 1):
                server.feed(1)
                time.sleep(max(0.0, i / 4 - (time.monotonic() - began)))
            time.sleep(70)  # the service trims its heap every minute
            warm = server.rss_mib()
            print(f"warmed with {args.warm} arrivals: server RSS {cold:.0f} → {warm:.0f} MiB", flush=True)
        with sync_playwright() as p:
            context = signed_in_context(p, server)
            consoles = []
            for _ in range(args.consoles):
                page = context.new_page()
                page.goto(server.base + "/reception?site=demo-001")
                page.get_by_test_id("reception-brief").wait_for(timeout=120_000)
                consoles.append(page)
            screens = []
            for _ in range(args.screens):
                page = context.new_page()
                page.goto(server.base + "/bigscreen?site=demo-001")
                page.get_by_test_id("chart-wall").wait_for(timeout=120_000)
                screens.append(page)
            time.sleep(5)
            marked = server.heap(mark=True) if args.trace else None
            before = server.rss_mib()
            print(
                f"{len(consoles)} consoles and {len(screens)} big screens open; server RSS {before:.0f} MiB",
                flush=True,
            )
            missed = [0] * len(consoles)
            latencies: list[float] = []
            fed = 0
            end = time.monotonic() + args.minutes * 60
            samples = []
            started = time.monotonic()
            by_minute: dict[int, float] = {}
            while time.monotonic() < end:
                states = [page.evaluate(NEWEST) for page in consoles]
                published = server.feed(1)
                fed += 1
                for i, page in enumerate(consoles):
                    try:
                        page.wait_for_function(
                            f"{NEWEST} !== {states[i]!r}",
                            timeout=max(100, int((published + 5 - time.time()) * 1000)),
                        )
                        latencies.append(time.time() - published)
                    except Exception:
                        missed[i] += 1
                samples.append(server.rss_mib())
                by_minute[int((time.monotonic() - started) // 60) + 1] = samples[-1]
                time.sleep(max(0.0, args.every - (time.time() - published)))
            after = server.rss_mib()
            heap = server.heap() if args.trace else None
            context.browser.close()
    finally:
        server.process.terminate()
        server.process.wait(60)
    print(
        f"arrivals fed: {fed}; updates seen: {len(latencies)} of {fed * len(consoles)}; "
        f"missed per console: {missed}"
    )
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        print(
            f"sighting → console: median {statistics.median(latencies):.2f} s, p95 {q[94]:.2f} s, "
            f"max {max(latencies):.2f} s (each console is checked in turn, so later ones read later)"
        )
    print(f"server RSS: before {before:.0f} MiB, after {after:.0f} MiB, max during {max(samples):.0f} MiB")
    print(
        "server RSS at the end of each minute (MiB): "
        + ", ".join(f"{v:.0f}" for _, v in sorted(by_minute.items()))
    )
    if heap is not None and marked is not None:
        print(
            f"server heap: objects {marked['objects']} → {heap['objects']}, "
            f"traced by tracemalloc {marked['traced_mib']:.1f} → {heap['traced_mib']:.1f} MiB; "
            "grown since the mark:"
        )
        print("  object types: " + ", ".join(f"{name} +{n}" for name, n in heap["types"]))
        print("  modules (KiB): " + ", ".join(f"{name} {kib:+.0f}" for name, kib in heap["files"]))
        for where, kib, blocks in heap["lines"]:
            print(f"  {kib:+8.0f} KiB {blocks:+7d} blocks  {where}")
        for frames, kib in heap.get("stacks", []):
            print(f"  {kib:+8.0f} KiB allocated from: " + " <- ".join(reversed(frames)))
    return 0 if not any(missed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
