"""Site configuration: cameras, their door lines and zones, detector and counting settings.

Loaded from YAML into strict pydantic models (``extra="forbid"``, every field described and
bounded). Errors name file, line and key: ``site.yaml:12: cameras[0].lines[1].a: ...``.
Nothing is read at import time. Must not open cameras or load models.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from keliu.domain.counting import CountingRules
from keliu.domain.geometry import Line, Zone
from keliu.errors import ConfigError

__all__ = [
    "CameraConfig",
    "CountingConfig",
    "DetectorConfig",
    "LineConfig",
    "SiteConfig",
    "TrackerConfig",
    "VisitorConfig",
    "WalkingTimeConfig",
    "ZoneConfig",
    "load_site_config",
]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PointFrac = tuple[Fraction, Fraction]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-\u4e00-\u9fff]+$")]


def _reject_duplicate_ids(ids: list[str], what: str) -> None:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(duplicates)}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LineConfig(_Strict):
    """A counting line in frame fractions: a door line (进店线; ``inside`` is any point on the store
    side) or a pass-by line (过店线, ``kind: passby``) across the walkway outside, whose crossings in
    either direction are passers-by, never entries (docs/metrics.md, "Exits and pass-by")."""

    id: Identifier = Field(title="Line id", description="Unique within the camera, e.g. 'main-door'.")
    kind: Literal["door", "passby"] = Field(
        "door",
        title="Kind",
        description="door: 'in' crossings are entries, 'out' crossings exits; passby: every crossing "
        "is a passer-by (过店), counted per hour.",
    )
    a: PointFrac = Field(title="First end point", description="(x, y) as fractions of width and height.")
    b: PointFrac = Field(title="Second end point", description="(x, y) as fractions of width and height.")
    inside: PointFrac | None = Field(
        None,
        title="Inside point",
        description="Any point on the inside (store) side; required for a door line, not needed for a "
        "pass-by line.",
    )

    @model_validator(mode="after")
    def _valid_geometry(self) -> LineConfig:
        if self.kind == "door" and self.inside is None:
            raise ValueError("a door line needs inside: any point on the store side (or kind: passby)")
        try:
            self.to_line()
        except ValueError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return self

    def to_line(self) -> Line:
        """The counting geometry. A pass-by line without ``inside`` gets a side point of its own
        (only which side is which; both directions count the same)."""
        return Line(self.id, self.a, self.b, self.inside or _side_point(self.a, self.b))


def _side_point(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """A point beside the middle of a–b (to the left of a→b): names one side of a pass-by line."""
    (ax, ay), (bx, by) = a, b
    return ((ax + bx) / 2 - (by - ay), (ay + by) / 2 + (bx - ax))


class ZoneConfig(_Strict):
    """A polygon zone in frame fractions (occupancy, dwell, enter/leave)."""

    id: Identifier = Field(title="Zone id", description="Unique within the camera, e.g. 'lounge'.")
    polygon: list[PointFrac] = Field(
        title="Corners", description="At least 3 (x, y) fractions, in order.", min_length=3, max_length=64
    )

    @model_validator(mode="after")
    def _valid_polygon(self) -> ZoneConfig:
        try:
            self.to_zone()
        except ValueError as exc:
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return self

    def to_zone(self) -> Zone:
        return Zone(self.id, tuple(self.polygon))


class DetectorConfig(_Strict):
    """Which person detector runs, and how."""

    name: Literal["nanodet", "yolo"] = Field(
        "nanodet", title="Detector", description="Registered detector name."
    )
    model_path: Path | None = Field(
        None, title="ONNX model", description="Required for 'yolo'; 'nanodet' uses the provisioned model."
    )
    input_wh: tuple[Annotated[int, Field(ge=32, le=4096, multiple_of=32)], ...] | None = Field(
        None,
        title="Network input size (w, h)",
        description="Multiples of 32. Default: chosen from the camera resolution.",
        min_length=2,
        max_length=2,
    )
    score_threshold: float | None = Field(None, title="Score threshold", ge=0.01, le=0.99)
    threads: int | None = Field(
        None,
        title="Detector threads",
        description=(
            "CPU threads of one inference (onnxruntime intra-op threads). Default: 1 for each camera "
            "of the service while it runs two cameras or more, else 2."
        ),
        ge=1,
        le=16,
    )
    person_class: int = Field(0, title="Person class id", description="Class index of 'person' (yolo).", ge=0)

    @model_validator(mode="after")
    def _yolo_needs_model(self) -> DetectorConfig:
        if self.name == "yolo" and self.model_path is None:
            raise ValueError("detector 'yolo' needs model_path (a YOLO-format ONNX file)")
        return self


class TrackerConfig(_Strict):
    name: Literal["ocsort", "bytetrack"] = Field(
        "ocsort", title="Tracker", description="Association algorithm (trackers package)."
    )
    lost_track_s: float = Field(
        2.5,
        title="Lost-track memory (s)",
        description="How long an undetected track may be re-found.",
        gt=0,
        le=30,
    )
    min_iou: float = Field(
        0.3,
        title="Minimum IoU",
        description="Least overlap for a detection to continue a track.",
        ge=0.05,
        le=0.95,
    )


class CountingConfig(_Strict):
    """Counting rules (see docs/counting.md)."""

    counting_point: Literal["foot", "centre"] = Field(
        "foot", title="Counting point", description="Foot point (bottom centre of the box) or box centre."
    )
    hold_observations: int = Field(
        CountingRules.hold_observations,
        title="Hysteresis",
        description="Observations a new side must be held before a crossing counts.",
        ge=1,
        le=30,
    )
    margin_frac: float = Field(
        0.0, title="Dead band", description="Band around lines, as a fraction of frame height.", ge=0, le=0.2
    )
    extend_frac: float = Field(
        0.0, title="Line end tolerance", description="Lines count this fraction past their ends.", ge=0, le=1
    )


class CameraConfig(_Strict):
    id: Identifier = Field(title="Camera id", description="Unique within the site.")
    name: str | None = Field(None, title="Display name", max_length=120)
    source: str = Field(
        title="Source",
        description="A video file (relative to this config file), rtsp:// or http(s):// URL, or usb:N.",
        min_length=1,
    )
    analysis_fps: float = Field(
        10.0,
        title="Analysis rate (fps)",
        description="Frames per second analysed; others are skipped.",
        gt=0,
        le=120,
    )
    live_max_fps: float | None = Field(
        None,
        title="Live analysis cap (fps)",
        description="Live streams: at most this many frames analysed per second of wall-clock time, "
        "whatever frame rate the stream claims (CPU stays bounded). Default: 1.5 × analysis_fps.",
        gt=0,
        le=120,
    )
    recorded_at: datetime | None = Field(
        None,
        title="Recording start (files)",
        description="When a video file's first frame was recorded, ISO 8601 with a UTC offset, e.g. "
        "2026-03-07T10:00:00+08:00. Default: the file's modification time. Ignored for live streams.",
    )
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    counting: CountingConfig = Field(default_factory=CountingConfig)
    lines: list[LineConfig] = Field(default_factory=list, title="Door lines")
    zones: list[ZoneConfig] = Field(default_factory=list, title="Zones")

    @field_validator("recorded_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a UTC offset, e.g. 2026-03-07T10:00:00+08:00")
        return value

    @field_validator("lines", "zones")
    @classmethod
    def _unique_ids(cls, items: list[Any]) -> list[Any]:
        _reject_duplicate_ids([item.id for item in items], "id(s)")
        return items


class SiteInfo(_Strict):
    id: Identifier = Field(title="Site id")
    name: str = Field(title="Site name", min_length=1, max_length=120)
    timezone: str = Field("Asia/Shanghai", title="Time zone", description="IANA name.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)") from None
        return value


class WalkingTimeConfig(_Strict):
    """The shortest time a person needs between two cameras' views (space-time rule)."""

    cameras: tuple[Identifier, Identifier] = Field(title="Two camera ids")
    min_s: float = Field(title="Shortest walk (s)", ge=0, le=3600)

    @model_validator(mode="after")
    def _two_cameras(self) -> WalkingTimeConfig:
        if self.cameras[0] == self.cameras[1]:
            raise ValueError("walking_times: name two different cameras")
        return self


class VisitorConfig(_Strict):
    """How tracks become visits (docs/visitors.md): de-dup window, memory, batches, business hours."""

    dedup_window_h: float = Field(
        4.0, title="去重 de-dup window (h)", description="A re-entry within this counts once.", ge=0, le=72
    )
    returning_memory_days: float = Field(
        180.0,
        title="回头客 memory (days)",
        description="How long signatures are kept to recognise returning visitors.",
        ge=0,
        le=3650,
    )
    match_threshold: float | None = Field(
        None,
        title="Same-person similarity",
        description="Default: measured (docs/benchmarks.md).",
        gt=0,
        lt=1,
    )
    staff_threshold: float | None = Field(None, title="Staff similarity", gt=0, lt=1)
    exemplar_threshold: float | None = Field(None, title="Exclusion exemplar similarity", gt=0, lt=1)
    batch_gap_s: float = Field(5.0, title="批次 batch gap (s)", ge=0, le=120)
    batch_proximity: float = Field(
        0.25,
        title="Batch proximity",
        description="Max distance of entry points (frame fractions).",
        ge=0,
        le=2,
    )
    business_hours: tuple[time, time] = Field(
        (time(9, 0), time(21, 0)),
        title="营业时间 business hours",
        description=(
            "Local opening and closing, every day. A closing at or before the opening is on the next "
            "day: [22:00, 02:00] is overnight (it belongs to the day it opens on), [09:00, 00:00] "
            "closes at midnight, equal times mean open 24 hours."
        ),
    )
    exclude_outside_hours: bool = Field(
        True, title="Exclude outside hours", description="Entries outside business hours are not customers."
    )
    staff_zones: list[Identifier] = Field(
        default_factory=list, title="Staff zones", description="Zone ids only staff enter (suggestions)."
    )
    courier_max_stay_s: float = Field(
        300.0, title="Courier max stay (s)", description="Colour rules exclude only stays this short.", gt=0
    )
    reentry_needs_exit: bool = Field(
        False,
        title="Re-entry needs a seen exit",
        description="An entry continues a visit only when that visit's exit was seen before it "
        "(sites whose every door is counted; docs/signatures.md).",
    )
    min_reentry_s: float = Field(
        0.0,
        title="Shortest re-entry (s)",
        description="With the rule above: exit to re-entry.",
        ge=0,
        le=3600,
    )
    walking_times: list[WalkingTimeConfig] = Field(
        default_factory=list,
        title="Walking times between cameras",
        description="Sightings on two cameras closer in time than this are different people.",
    )

    @field_validator("business_hours", mode="before")
    @classmethod
    def _hours_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted 22:00 as the number 1320 (base 60), which would become 00:22
        if isinstance(value, list | tuple) and any(isinstance(v, int | float) for v in value):
            raise ValueError(
                "write the times in quotes, e.g. ['22:00', '02:00'] (YAML reads 22:00 as a number)"
            )
        return value

    @model_validator(mode="after")
    def _hours_in_order(self) -> VisitorConfig:
        if any(t.second or t.microsecond or t.tzinfo is not None for t in self.business_hours):
            raise ValueError("business_hours: give local HH:MM times (no seconds, no UTC offset)")
        if self.returning_memory_days * 24 < self.dedup_window_h:
            raise ValueError("returning_memory_days must cover the de-dup window")
        return self


class EntranceConfig(_Strict):
    """A door line named as an entrance (出入口), optionally in an entrance group (出入口组)."""

    camera: Identifier = Field(title="Camera id")
    line: Identifier = Field(title="Line id")
    name: str = Field(title="Entrance name", min_length=1, max_length=120)
    group: str | None = Field(None, title="出入口组 entrance group", max_length=120)
    main: bool = Field(False, title="Main entrance")


class AreaConfig(_Strict):
    """What a zone id means for analytics: shop (商铺), floor (楼层), area (区域) or reception (接待区)."""

    zone: Identifier = Field(title="Zone id", description="A zone id of one of the site's cameras.")
    kind: Literal["shop", "floor", "area", "reception"] = Field(title="Kind")
    name: str = Field(title="Display name", min_length=1, max_length=120)
    floor: int | None = Field(None, title="Floor number", ge=-10, le=200)
    building: str | None = Field(None, title="Building", max_length=120)
    category: list[str] = Field(
        default_factory=list, title="三级业态 category", description="Up to three levels.", max_length=3
    )
    area_m2: float | None = Field(None, title="Area (m²)", gt=0)


class AnalyticsConfig(_Strict):
    """Site attributes for analytics (docs/metrics.md): entrances, areas, multi-store attributes."""

    region: str | None = Field(None, title="Region", max_length=120)
    store_type: str | None = Field(None, title="Store type", description="e.g. mall, retail, showroom.")
    weight: float = Field(1.0, title="权重 weight", description="Higher first in multi-store lists.", ge=0)
    area_m2: float | None = Field(None, title="Site area (m²)", gt=0)
    reception_min_s: float = Field(
        300.0, title="接待 reception stay (s)", description="A customer staying this long was received.", ge=0
    )
    week_start: int = Field(
        0, title="营业周期 week start", description="0 = Monday … 6 = Sunday.", ge=0, le=6
    )
    entrances: list[EntranceConfig] = Field(default_factory=list, title="Entrances")
    areas: list[AreaConfig] = Field(default_factory=list, title="Areas")


class SiteConfig(_Strict):
    """One site (store, showroom, sales office) and its cameras."""

    site: SiteInfo
    visitors: VisitorConfig = Field(default_factory=VisitorConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    cameras: list[CameraConfig] = Field(min_length=1, title="Cameras")

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        _reject_duplicate_ids([c.id for c in cameras], "camera id(s)")
        return cameras

    def reference_errors(self) -> list[tuple[tuple[int | str, ...], str]]:
        """(location, message) of every analytics entry naming a line or zone no camera has, or named
        twice; ``load_site_config`` turns them into ``file:line: key: message`` errors."""
        lines = {(c.id, line.id) for c in self.cameras for line in c.lines if line.kind == "door"}
        passby = {(c.id, line.id) for c in self.cameras for line in c.lines if line.kind == "passby"}
        zones = {zone.id for c in self.cameras for zone in c.zones}
        errors: list[tuple[tuple[int | str, ...], str]] = []
        seen: set[object] = set()
        for i, e in enumerate(self.analytics.entrances):
            if (e.camera, e.line) in passby:
                errors.append(
                    (
                        ("analytics", "entrances", i, "line"),
                        f"{e.camera}/{e.line} is a pass-by line; an entrance names a door line",
                    )
                )
            elif (e.camera, e.line) not in lines:
                errors.append(
                    (("analytics", "entrances", i, "line"), f"camera {e.camera!r} has no line {e.line!r}")
                )
            elif (e.camera, e.line) in seen:
                errors.append((("analytics", "entrances", i), f"{e.camera}/{e.line} is listed twice"))
            seen.add((e.camera, e.line))
        for i, a in enumerate(self.analytics.areas):
            if a.zone not in zones:
                errors.append((("analytics", "areas", i, "zone"), f"no camera has a zone {a.zone!r}"))
            elif a.zone in seen:
                errors.append((("analytics", "areas", i), f"zone {a.zone!r} is listed twice"))
            seen.add(a.zone)
        return errors

    def passby_lines(self) -> frozenset[tuple[str, str]]:
        """(camera id, line id) of every pass-by line (``kind: passby``)."""
        return frozenset((c.id, line.id) for c in self.cameras for line in c.lines if line.kind == "passby")

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        known = ", ".join(c.id for c in self.cameras)
        raise ConfigError(f"camera {camera_id!r} is not in the site config (cameras: {known})")


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest YAML node on ``loc``."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == key), None)
            if match is None:
                key_node = next((k for k, _ in node.value if k.value == key), None)
                return key_node.start_mark.line + 1 if key_node is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def load_site_config(path: Path, *, check_sources: bool = False) -> SiteConfig:
    """Read and validate a site YAML file; raises ConfigError('file:line: key: message').
    ``check_sources``: also refuse a camera whose video file does not exist (``keliu config check``
    and ``keliu process`` check every camera before any of them runs)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: (yaml): {exc.problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: (top level): expected a mapping with 'site' and 'cameras'")
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of(root, loc)
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (check spelling)"
            messages.append(f"{path}:{line}: {_dotted(loc)}: {message}")
        raise ConfigError("\n".join(messages)) from None
    if errors := config.reference_errors():
        raise ConfigError(
            "\n".join(f"{path}:{_line_of(root, loc)}: {_dotted(loc)}: {m}" for loc, m in errors)
        )
    resolved = _resolve_sources(config, path.parent)
    if check_sources:
        missing = [
            f"{path}:{_line_of(root, ('cameras', i, 'source'))}: cameras[{i}].source: "
            f"camera {camera.id!r}: no such video file {camera.source!r}"
            for i, camera in enumerate(resolved.cameras)
            if _is_file_source(camera.source) and not Path(camera.source.removeprefix("file://")).is_file()
        ]
        if missing:
            raise ConfigError("\n".join(missing))
    return resolved


def _is_file_source(source: str) -> bool:
    return ("://" not in source or source.startswith("file://")) and not source.startswith(("usb:", "/dev/"))


def _resolve_sources(config: SiteConfig, base: Path) -> SiteConfig:
    cameras = []
    for camera in config.cameras:
        source = camera.source
        if (
            "://" not in source
            and not source.startswith(("usb:", "/dev/"))
            and not Path(source).is_absolute()
        ):
            source = str((base / source).resolve())
        cameras.append(camera.model_copy(update={"source": source}))
    return config.model_copy(update={"cameras": cameras})
