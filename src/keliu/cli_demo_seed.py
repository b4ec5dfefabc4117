"""`keliu demo seed`: fill a store with a simulated chain's visits (演示数据) for demos and benchmarks.

``register(demo_app)`` adds the ``seed`` command to a typer group; the main CLI wires it. The command
parses and checks its options, then calls ``keliu.analytics.simulate_load.seed_demo``. It must not
generate or write anything itself.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer

from keliu.cli_options import DbOpt, parse_day
from keliu.errors import ConfigError, InputError

__all__ = ["parse_end_date", "register"]


def parse_end_date(text: str | None, today: date) -> date:
    """``--end-date``: a local date ``YYYY-MM-DD``; by default yesterday (``today`` minus one day)."""
    if text is None:
        return today - timedelta(days=1)
    try:
        return parse_day(text, "--end-date")  # a date within the dates keliu handles
    except ConfigError as exc:
        raise InputError(str(exc)) from None  # this command's option errors are InputErrors


def register(demo_app: typer.Typer) -> None:
    """Add ``seed`` to ``demo_app``."""

    @demo_app.command("seed")
    def seed(
        sites: Annotated[
            int, typer.Option("--sites", help="How many demo sites (1 mall, 7 shops, 4 showrooms in 12).")
        ] = 12,
        days: Annotated[int, typer.Option("--days", help="How many local days, ending on --end-date.")] = 30,
        end_date: Annotated[
            str | None,
            typer.Option("--end-date", help="Last day, YYYY-MM-DD (default: yesterday).", show_default=False),
        ] = None,
        seed_value: Annotated[
            int, typer.Option("--seed", help="Random seed: the same seed gives the same data.")
        ] = 0,
        db: DbOpt = None,
    ) -> None:
        """Seed a store with simulated visits of a demo chain; re-seeding replaces those sites' days."""
        import time

        from keliu.analytics.simulate_load import MAX_DAYS, MAX_SITES, SiteLoad, seed_demo
        from keliu.store import open_store
        from keliu.store.engine import safe_url

        if sites <= 0 or sites > MAX_SITES:
            raise InputError(f"--sites must be between 1 and {MAX_SITES}, got {sites}")
        if days <= 0 or days > MAX_DAYS:
            raise InputError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
        last = parse_end_date(end_date, date.today())
        first = last - timedelta(days=days - 1)
        started = time.perf_counter()
        store = open_store(db)
        try:
            typer.echo(
                f"seeding {sites} demo site(s), {first} .. {last} ({days} day(s)), seed {seed_value}, "
                f"into {safe_url(store.engine.url)}"
            )

            def progress(load: SiteLoad) -> None:
                typer.echo(
                    f"  {load.site_id}: {load.visits} visits, {load.entries} entries, "
                    f"{load.zone_stays} zone stays "
                    f"({load.generate_s:.1f} s generate, {load.write_s:.1f} s write, "
                    f"{load.rollup_s:.1f} s rollups)"
                )

            report = seed_demo(store, sites, days, last, seed_value, progress=progress)
        finally:
            store.close()
        typer.echo(
            f"seeded {len(report.sites)} site(s): {report.visits} visits, {report.entries} entries, "
            f"{report.zone_stays} zone stays in {time.perf_counter() - started:.1f} s "
            f"(generate {report.seconds('generate_s'):.1f} s, write {report.seconds('write_s'):.1f} s, "
            f"rollups {report.seconds('rollup_s'):.1f} s)"
        )
