"""Chain-scale benchmark: seed a demo chain, then time the home dashboard and one day's ingest.

For each engine (SQLite in a temporary file; PostgreSQL in a fresh database on
``postgresql://postgres@127.0.0.1:5432``, created and dropped here, trust auth):

1. seed ``--sites`` demo sites × ``--days`` days with the bulk loader (generation + load + rollups);
2. time ``keliu.analytics.queries.home_dashboard`` for one site and for the whole chain: warm-up,
   then ``--repeat`` runs each; p50 / p95 / max in ms (bar: p95 ≤ 150 ms);
3. time ingesting the next day of the biggest site through the store's normal path
   (``Store.ingest``: visits, zone stays and pass-by counts in one transaction, rollups updated)
   (bar ≤ 1 s).

    .venv/bin/python bench/dashboard.py [--sites 100] [--days 365] [--engines sqlite,postgresql] [--repeat 50]
        [--reuse]

``--reuse`` keeps the seeded databases (``/tmp/keliu-bench-<sites>x<days>-<seed>.db`` and PostgreSQL
database ``keliu_bench_<sites>x<days>_<seed>``) and measures on them again without re-seeding, so the
timings can be repeated on a quiet machine; the ingested day is deleted again after it is timed.

Prints a markdown table. Timings are wall-clock on whatever machine runs it; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

DASHBOARD_P95_MS = 150.0
INGEST_S = 1.0
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
KEY = bytes(range(32))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _time_ms(fn: Callable[[], Any], repeat: int, warmup: int = 3) -> tuple[float, float, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(samples), _percentile(samples, 0.95), max(samples)


def _ingest_day_s(store: Any, site: Any, day: date, seed: int) -> tuple[float, int]:
    """Save one day of the site through the store's normal methods (rollups refreshed by them)."""
    from keliu.demo.simulate import simulate_day
    from keliu.store.reference import PassbyCount, ZoneStay

    sim = simulate_day(site, day, seed)
    visits = sim.to_visits()
    stays = [ZoneStay(s.visit_id, s.zone_id, s.entered_at, s.left_at) for s in sim.zone_stays()]
    passby = [PassbyCount(h, c, line, n) for h, c, line, n in sim.passby()]
    started = time.perf_counter()
    store.ingest(site.site_id, visits, stays, passby)  # one transaction, rollups refreshed once
    elapsed = time.perf_counter() - started
    store.delete_visits(site.site_id, [v.visit_id for v in visits])  # leave the chain as seeded
    return elapsed, len(visits)


def _run_engine(engine: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    from keliu.analytics.queries import home_dashboard
    from keliu.demo.load import seed_demo
    from keliu.demo.sites import chain_profiles
    from keliu.store import open_store

    store = open_store(url, key=KEY)
    try:
        end = date.fromisoformat(args.end_date)
        report = None
        if args.reuse and len(store.sites()) == args.sites:
            print(f"[{engine}] reusing the seeded chain at {url}", file=sys.stderr, flush=True)
        else:
            print(f"[{engine}] seeding {args.sites} sites × {args.days} days …", file=sys.stderr, flush=True)
            report = seed_demo(store, args.sites, args.days, end, args.seed)
        sites = chain_profiles(args.sites, args.seed)
        biggest = max(sites, key=lambda s: s.daily_visits)
        now = datetime(end.year, end.month, end.day, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
        one = _time_ms(lambda: home_dashboard(store, biggest.site_id, now), args.repeat)
        chain = _time_ms(lambda: home_dashboard(store, None, now), args.repeat)
        ingest_error = ""
        try:
            ingest_s, ingest_visits = _ingest_day_s(store, biggest, end + timedelta(days=1), args.seed)
        except Exception as exc:  # reported in the table, not hidden
            ingest_s, ingest_visits, ingest_error = float("nan"), 0, f"{type(exc).__name__}: {exc}"
    finally:
        store.close()
    return {
        "report": report,
        "site": biggest.site_id,
        "one": one,
        "chain": chain,
        "ingest_s": ingest_s,
        "ingest_visits": ingest_visits,
        "ingest_error": ingest_error,
    }


def _postgres_database(action: str, name: str) -> bool:
    """create / drop the database ``name``, or tell whether it ``exists``."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        if action == "exists":
            return (
                conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
            )
        if action == "create":
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--end-date", default="2025-12-31")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded databases and reuse them")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    tag = f"{args.sites}x{args.days}"
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if engine == "sqlite" and args.reuse:
            path = Path(tempfile.gettempdir()) / f"keliu-bench-{tag}-{args.seed}.db"
            results[engine] = _run_engine(engine, f"sqlite:///{path}", args)
        elif engine == "sqlite":
            with tempfile.TemporaryDirectory(prefix="keliu-bench-") as tmp:
                results[engine] = _run_engine(engine, f"sqlite:///{Path(tmp) / 'bench.db'}", args)
        elif engine == "postgresql":
            name = f"keliu_bench_{tag}_{args.seed}" if args.reuse else f"keliu_bench_{int(time.time())}"
            if not (args.reuse and _postgres_database("exists", name)):
                _postgres_database("create", name)
            try:
                results[engine] = _run_engine(engine, f"postgresql://postgres@127.0.0.1:5432/{name}", args)
            finally:
                if not args.reuse:
                    _postgres_database("drop", name)
        else:
            parser.error(f"unknown engine {engine!r} (sqlite, postgresql)")

    engines = list(results)
    print(f"\n### Demo chain: {args.sites} sites × {args.days} days (bulk loader), repeat {args.repeat}\n")
    print("| | " + " | ".join(engines) + " | bar |")
    print("|---|" + "---|" * (len(engines) + 1))

    def row(label: str, cell: Callable[[dict[str, Any]], str], bar: str = "") -> None:
        print(f"| {label} | " + " | ".join(cell(results[e]) for e in engines) + f" | {bar} |")

    def sizes(r: dict[str, Any]) -> str:
        rep = r["report"]
        return "(reused)" if rep is None else f"{rep.visits:,} / {rep.entries:,} / {rep.zone_stays:,}"

    def parts(r: dict[str, Any]) -> str:
        rep = r["report"]
        if rep is None:
            return "(reused)"
        return " / ".join(f"{rep.seconds(p):.0f}" for p in ("generate_s", "write_s", "rollup_s"))

    def ingest(r: dict[str, Any]) -> str:
        if r["ingest_error"]:
            return f"failed: {r['ingest_error']}"
        return f"{r['ingest_s']:.2f} ({r['ingest_visits']} visits)"

    row("visits / entries / zone stays", sizes)
    row("seed: total s", lambda r: "(reused)" if r["report"] is None else f"{r['report'].total_s:.0f}")
    row("seed: generate / write / rollups s", parts)
    bar = f"p95 ≤ {DASHBOARD_P95_MS:.0f} ms"
    row(
        "home dashboard, one site: p50 / p95 / max ms",
        lambda r: "{:.1f} / {:.1f} / {:.1f}".format(*r["one"]),
        bar,
    )
    row(
        "home dashboard, chain: p50 / p95 / max ms",
        lambda r: "{:.1f} / {:.1f} / {:.1f}".format(*r["chain"]),
        bar,
    )
    row("ingest one day of the biggest site (save + rollups), s", ingest, f"≤ {INGEST_S:.0f} s")


if __name__ == "__main__":
    main()
