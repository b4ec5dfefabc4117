"""Zone metrics of the home and analysis pages on the demo mall: 运营指标 (``indices``, 30 days) and
品牌排行 (``shops``, a month), plus 业态热度 (``categories``, a month), 楼层转化 (``floors``, a week
and 30 days), 区域对比/转化 (``zone-comparison``/``-conversion``, a week) and 动线/关联 (``paths``, a
week and 30 days), each computed two ways in one run:

* **before**: ``keliu.analytics.queries`` and ``metrics`` as they were at commit ``--before``
  (default 3f99aca, loaded from git): every zone stay of the window loaded as a ``ZoneStay``,
  grouped per visit in Python, ``indices`` over ``datetime``s;
* **after**: the working tree's queries (distinct visits per zone, first shops and the distinct
  (visit, shop) pairs counted in SQL; visits read as microseconds; only counts reach Python).

Both answers are compared (they must be equal) and timed, on SQLite (a file) and PostgreSQL (a
database on ``postgresql://postgres@127.0.0.1:5432``), after ``seed_demo(store, 4, 60, END,
seed=2026)``; the site is demo-001 (the demo mall). ``--reuse`` keeps the seeded databases
(``/tmp/keliu-zone-bench-<seed>.db``, database ``keliu_zone_bench_<seed>``) for later runs.

    nice -n 10 .venv/bin/python bench/zone_metrics.py [--end-date 2026-12-02] [--repeat 3] [--reuse]
        [--engines sqlite,postgresql]

Prints a markdown table (median of ``--repeat`` runs after one warm-up, wall and CPU time: this
process plus the database's server processes; the bar is 1 s each).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
KEY = bytes(range(32))
SITE = "demo-001"
BAR_S = 1.0
BEFORE = "3f99aca"  # the last commit before the zone metrics were counted in the database


def before_queries(rev: str) -> ModuleType:
    """``keliu.analytics.queries`` and ``metrics`` as they were at commit ``rev`` (from git), loaded
    as separate modules: the computation being replaced, run on the same store."""
    root = Path(__file__).resolve().parents[1]

    def source(path: str) -> str:
        return subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=root, check=True, capture_output=True, text=True
        ).stdout

    modules = []
    for name, path in (
        ("keliu_before_metrics", "src/keliu/analytics/metrics.py"),
        ("keliu_before_queries", "src/keliu/analytics/queries.py"),
    ):
        module = ModuleType(name)
        sys.modules[name] = module  # dataclasses look their module up while the class is made
        code = source(path).replace(
            "from keliu.analytics import metrics as m", "import keliu_before_metrics as m"
        )
        exec(compile(code, f"{rev}:{path}", "exec"), module.__dict__)
        modules.append(module)
    return modules[1]


def _plain(value: Any) -> Any:
    """Results of either version made comparable (their dataclasses are different classes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, *(_plain(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, tuple | list):
        return tuple(_plain(x) for x in value)
    return value


def _server_cpu_s(database: str | None) -> float:
    """CPU seconds used so far by the PostgreSQL server processes of ``database`` (this machine's
    server, read from /proc; 0 for SQLite, which runs in this process)."""
    if database is None:
        return 0.0
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().decode(errors="replace")
            if not title.startswith("postgres:") or f" {database} " not in title:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _time_s(fn: Callable[[], Any], repeat: int, database: str | None) -> tuple[float, float, Any]:
    """Median wall time and median CPU time (this process + the database's server processes)."""
    answer = fn()  # warm-up
    walls, cpus = [], []
    for _ in range(repeat):
        cpu0, server0, started = time.process_time(), _server_cpu_s(database), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu0 + _server_cpu_s(database) - server0)
    return statistics.median(walls), statistics.median(cpus), answer


def _cases(end: date, before: ModuleType) -> list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]]:
    from keliu.analytics import queries as q

    month0 = end.replace(day=1)
    last_month = month0 - timedelta(days=1)
    first = end - timedelta(days=29)
    week = end - timedelta(days=6)
    return [
        (
            f"indices day={end} (30 days)",
            lambda s: before.indices(s, SITE, end),
            lambda s: q.indices(s, SITE, end),
        ),
        (f"shops month={end:%Y-%m}", lambda s: before.shops(s, SITE, end), lambda s: q.shops(s, SITE, end)),
        (
            f"shops month={last_month:%Y-%m} (whole)",
            lambda s: before.shops(s, SITE, last_month),
            lambda s: q.shops(s, SITE, last_month),
        ),
        (
            f"categories {first}..{end}",
            lambda s: before.categories(s, SITE, first, end),
            lambda s: q.categories(s, SITE, first, end),
        ),
        (
            f"floors {week}..{end} (the analysis page's default week)",
            lambda s: before.floors(s, SITE, week, end),
            lambda s: q.floors(s, SITE, week, end),
        ),
        (
            f"floors {first}..{end}",
            lambda s: before.floors(s, SITE, first, end),
            lambda s: q.floors(s, SITE, first, end),
        ),
        (
            f"zone-comparison {week}..{end} (the analysis page's default)",
            lambda s: before.zone_comparison(s, SITE, week, end, *_first_two(s)),
            lambda s: q.zone_comparison(s, SITE, week, end, *_first_two(s)),
        ),
        (
            f"zone-conversion {week}..{end}",
            lambda s: before.zone_conversion(s, SITE, week, end, *_first_two(s)),
            lambda s: q.zone_conversion(s, SITE, week, end, *_first_two(s)),
        ),
        (
            f"paths {week}..{end} (the analysis page's default week)",
            lambda s: before.paths(s, SITE, week, end),
            lambda s: q.paths(s, SITE, week, end),
        ),
        (
            f"paths {first}..{end}",
            lambda s: before.paths(s, SITE, first, end),
            lambda s: q.paths(s, SITE, first, end),
        ),
    ]


def _first_two(store: Any) -> tuple[str, str]:
    """The two zones the analysis page compares by default (the site's first two areas)."""
    first, second = (a.zone_id for a in store.areas(SITE)[:2])
    return first, second


def _postgres(action: str, name: str) -> bool:
    import psycopg
    from psycopg import sql

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
        if action == "exists":
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            return found is not None
        if action == "create":
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return True


def _run(
    engine: str, url: str, args: argparse.Namespace
) -> list[tuple[str, float, float, float, float, bool]]:
    from keliu.demo.load import seed_demo
    from keliu.store import open_store

    store = open_store(url, key=KEY)
    database = None if engine == "sqlite" else url.rsplit("/", 1)[1]
    end = date.fromisoformat(args.end_date)
    try:
        if not (args.reuse and any(s.site_id == SITE for s in store.sites())):
            print(f"[{engine}] seeding 4 sites × 60 days …", file=sys.stderr, flush=True)
            seed_demo(store, 4, 60, end, seed=args.seed)
        out = []
        for label, before, after in _cases(end, before_queries(args.before)):
            b_s, b_cpu, b = _time_s(lambda f=before: f(store), args.repeat, database)  # type: ignore[misc]
            a_s, a_cpu, a = _time_s(lambda f=after: f(store), args.repeat, database)  # type: ignore[misc]
            same = _plain(a) == _plain(b)
            out.append((label, b_s, b_cpu, a_s, a_cpu, same))
            print(
                f"[{engine}] {label}: {b_s:.2f} s (cpu {b_cpu:.2f}) -> {a_s:.3f} s "
                f"(cpu {a_cpu:.3f}), equal {same}",
                file=sys.stderr,
                flush=True,
            )
        return out
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--end-date", default="2026-12-02")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--before", default=BEFORE, help="the commit whose queries are 'before'")
    args = parser.parse_args()
    rows: list[tuple[str, str, float, float, float, float, bool]] = []
    for engine in args.engines.split(","):
        if engine == "sqlite":
            path = Path(f"/tmp/keliu-zone-bench-{args.seed}.db")
            if not args.reuse:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            url = f"sqlite:///{path}"
        else:
            name = f"keliu_zone_bench_{args.seed}"
            if not args.reuse:
                _postgres("drop", name)
            if not _postgres("exists", name):
                _postgres("create", name)
            url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        rows += [(engine, *r) for r in _run(engine, url, args)]
    load = os.getloadavg()[0]
    print(
        f"\n{SITE}, seed_demo(store, 4, 60, {args.end_date}, seed={args.seed}); before: {args.before}; "
        f"median of {args.repeat} "
        f"after a warm-up; load average {load:.1f} on {os.cpu_count()} cores at the end. CPU: this process "
        "plus the database's server processes (what the query costs on an idle machine)\n"
    )
    print(
        "| engine | query | before wall (s) | before CPU (s) | after wall (s) | after CPU (s) | CPU ≤ 1 s "
        "| same answer |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for engine, label, b, b_cpu, a, a_cpu, same in rows:
        met = "met" if a_cpu <= BAR_S else "NOT met"
        print(f"| {engine} | {label} | {b:.2f} | {b_cpu:.2f} | {a:.3f} | {a_cpu:.3f} | {met} | {same} |")
    if not all(r[-1] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
