"""`keliu demo seed` and `keliu demo live`: a simulated chain's visits (演示数据) in a store, and live
counting on a video in the terminal.

``seed`` parses and checks its options, then calls ``keliu.demo.load.seed_demo``; it
must not generate or write anything itself. ``live`` runs one camera under the runtime's supervisor
(``keliu.runtime``) and shows its events in the terminal view (``keliu.live_view``, a bus
subscriber); it writes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer

from keliu.cli.options import DbOpt, LineOpt, StrideOpt, VideoArg, parse_day, parse_line_options
from keliu.cli.video import CLI_RECONNECT
from keliu.config import CameraConfig, LineConfig
from keliu.errors import ConfigError, InputError

__all__ = ["app", "parse_end_date"]

app = typer.Typer(
    help="Demos: live counting on a video; simulated chain data (demo seed).", no_args_is_help=True
)


def parse_end_date(text: str | None, today: date) -> date:
    """``--end-date``: a local date ``YYYY-MM-DD``; by default yesterday (``today`` minus one day)."""
    if text is None:
        return today - timedelta(days=1)
    try:
        return parse_day(text, "--end-date")  # a date within the dates keliu handles
    except ConfigError as exc:
        raise InputError(str(exc)) from None  # this command's option errors are InputErrors


@app.command("seed")
def demo_seed(
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

    from keliu.demo.load import MAX_DAYS, MAX_SITES, SiteLoad, seed_demo
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


@app.command("live")
def demo_live(
    video: VideoArg = None,
    line: LineOpt = None,
    stride: StrideOpt = None,
) -> None:
    """Count people on a video live in the terminal (what `make run` starts)."""
    from keliu.live_view import run_live_view
    from keliu.runtime.bus import EventBus
    from keliu.runtime.supervisor import Supervisor
    from keliu.vision.sources import open_source

    if video is None:
        raise ConfigError("give a video to count on, e.g. `keliu demo live path/to/video.mp4`")
    lines = (
        parse_line_options(line)
        if line
        else [LineConfig(id="门口-door", a=(0.5, 0.05), b=(0.5, 0.95), inside=(0.75, 0.5))]
    )
    cam = CameraConfig(id="demo", source=video, lines=lines)
    with open_source(video, reconnect=CLI_RECONNECT):  # a bad file or a dead URL: one line, exit 2
        pass
    bus = EventBus()
    view = bus.subscribe("terminal", capacity=4096)  # lossy: the view never slows the camera
    supervisor = Supervisor(bus, stride=stride)
    try:
        supervisor.add_camera("demo", cam)
        run_live_view(cam, view)
    finally:
        supervisor.stop()
        bus.close()
