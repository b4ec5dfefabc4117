"""`keliu process --config SITE.yaml`: run every camera of a site (files or streams) into the store.

The command loads the config, opens the store and hands over to ``keliu.processing``; it prints the
per-camera statistics, the staff suggestions and the outcome on stderr. It must not count, resolve
or write anything itself. Exit codes: 0 done, 2 bad input, 3 no camera delivered a frame, 130
interrupted (Ctrl-C or SIGTERM; what was committed is kept).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from keliu.cli.options import DbOpt, StrideOpt, check_at
from keliu.config import load_site_config
from keliu.errors import ConfigError

__all__ = ["app"]

app = typer.Typer()  # top-level commands: keliu.cli adds them to `keliu` without a group name


@app.command()
def process(
    config: Annotated[Path, typer.Option("--config", help="Site YAML config (all its cameras run).")],
    db: DbOpt = None,
    stride: StrideOpt = None,
    segment_s: Annotated[
        float,
        typer.Option(
            "--segment-s",
            min=5.0,
            max=3600.0,
            help="Recorded files: seconds of video committed at a time (a killed run resumes at the "
            "first unfinished segment). Fixed per file when it is first ingested.",
        ),
    ] = 60.0,
    recorded_at: Annotated[
        str | None,
        typer.Option(
            "--recorded-at",
            help="Recorded files: when their first frame was recorded, ISO 8601 (without a UTC offset: "
            "the site's local time); every recorded camera of this run, over its recorded_at. Default: "
            "recorded_at, else the file's creation_time tag, else its modification time.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run all cameras of a site (files or streams) into the store: sightings → visits.

    Recorded files are ingested once (the same footage again changes nothing) and resume where a
    killed run stopped; live streams are retried until they answer and run until Ctrl-C or SIGTERM.
    Each recorded file's clock (where its start time came from) is printed."""
    import signal
    import threading

    from keliu.processing import process_site
    from keliu.runtime.camera import is_live_source
    from keliu.store import open_store
    from keliu.wiring import build_signature_extractor

    site = load_site_config(config, check_sources=True)
    start = None if recorded_at is None else _parse_recorded_at(recorded_at, site.site.timezone)
    live = [c.id for c in site.cameras if is_live_source(c.source)]
    if start is not None and live:  # refused before the store is opened: nothing is written
        raise ConfigError(
            f"--recorded-at: a recording start time is for recorded files; cameras {', '.join(live)} "
            "are live streams (their frames carry the wall clock)"
        )
    extractor = build_signature_extractor()
    stop = threading.Event()

    def terminate(_signum: int, _frame: object) -> None:  # SIGTERM ends a run like Ctrl-C
        stop.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with open_store(db) as store:
            result = process_site(
                site,
                store,
                extractor,
                stride=stride,
                progress=lambda m: print(m, file=sys.stderr),
                stop=stop,
                segment_s=segment_s,
                recorded_at=start,
            )
    except KeyboardInterrupt:
        print("keliu: interrupted: what was committed is kept; run again to resume", file=sys.stderr)
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    for camera_id, stats in result.cameras.items():
        if stats.skipped:
            print(f"{camera_id}: skipped, footage {stats.skipped}", file=sys.stderr)
            continue
        speed = stats.video_s / stats.wall_s if stats.wall_s else 0.0
        resumed = f", resumed at {stats.resumed_at_s:.0f} s" if stats.resumed_at_s else ""
        failed = f", stopped: {stats.error}" if stats.error else ""
        print(
            f"{camera_id}: {stats.frames} frames, {stats.video_s:.1f} s of video in {stats.wall_s:.1f} s "
            f"({speed:.2f}× real time){resumed}, {stats.sightings} sightings{failed}",
            file=sys.stderr,
        )
    print(
        f"site {result.site_id}: {result.sightings} sightings, {result.visits_saved} visit updates saved, "
        f"{result.purged} expired signatures purged",
        file=sys.stderr,
    )
    for suggestion in result.staff_suggestions:
        print(
            f"staff suggestion (confirm in the service: /staff-suggestions): {suggestion.person_key} "
            f"present {suggestion.share:.0%} of business hours; {', '.join(suggestion.reasons)}",
            file=sys.stderr,
        )
    if result.sources_failed:
        print("keliu: error: no camera delivered a frame; nothing was counted", file=sys.stderr)
        raise typer.Exit(3)


def _parse_recorded_at(text: str, timezone: str) -> datetime:
    """``--recorded-at``: an ISO date and time; without a UTC offset, the site's local time."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--recorded-at {text!r}: expected a date and time, e.g. 2026-03-07T10:00:00+08:00"
        ) from None
    if at.tzinfo is None or at.utcoffset() is None:
        at = at.replace(tzinfo=ZoneInfo(timezone))
    return check_at(at, "--recorded-at")
