"""`keliu process --config SITE.yaml`: run every camera of a site (files or streams) into the store.

The command loads the config, opens the store and hands over to ``keliu.processing``; it prints the
per-camera statistics, the staff suggestions and the outcome on stderr. It must not count, resolve
or write anything itself. Exit codes: 0 done, 2 bad input, 3 no camera delivered a frame, 130
interrupted (Ctrl-C or SIGTERM; what was committed is kept).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from keliu.cli.options import DbOpt, StrideOpt
from keliu.config import load_site_config

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
) -> None:
    """Run all cameras of a site (files or streams) into the store: sightings → visits.

    Recorded files are ingested once (the same footage again changes nothing) and resume where a
    killed run stopped; live streams are retried until they answer and run until Ctrl-C or SIGTERM."""
    import signal
    import threading

    from keliu.processing import process_site
    from keliu.store import open_store
    from keliu.wiring import build_signature_extractor

    site = load_site_config(config, check_sources=True)
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
            f"staff suggestion (confirm with `keliu staff enrol`): {suggestion.person_key} "
            f"present {suggestion.share:.0%} of business hours; {', '.join(suggestion.reasons)}",
            file=sys.stderr,
        )
    if result.sources_failed:
        print("keliu: error: no camera delivered a frame; nothing was counted", file=sys.stderr)
        raise typer.Exit(3)
