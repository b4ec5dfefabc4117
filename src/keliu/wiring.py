"""The one place that builds concrete sources, detectors, trackers and pipelines from configuration.

Everything else receives ready-made objects. Must not contain counting rules or CLI parsing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from keliu.config import CameraConfig, DetectorConfig, SiteConfig
from keliu.errors import ConfigError, ModelError
from keliu.resolve import ResolverRules
from keliu.vision.detectors import Detector, build_detector
from keliu.vision.embedder import AppearanceEmbedder
from keliu.vision.pipeline import CountingPipeline, PipelineSettings
from keliu.vision.signature import SignatureExtractor
from keliu.vision.tracking import TrackerSettings, build_tracker

__all__ = [
    "DEFAULT_DETECTOR_THREADS",
    "SERVICE_DETECTOR_THREADS",
    "CameraRuntime",
    "build_appearance_embedder",
    "build_camera_pipeline",
    "build_signature_extractor",
    "default_input_wh",
    "install_custom_embedder",
    "resolver_rules",
    "stride_for",
]

if TYPE_CHECKING:
    from keliu.models.custom_embedder import InstalledEmbedder

log = logging.getLogger("keliu.wiring")


def default_input_wh(frame_wh: tuple[int, int]) -> tuple[int, int]:
    """Network input for a camera resolution: keep the aspect ratio, longest side by resolution.

    Measured in bench/detector_recall.py: small people in 1080p need more input pixels than
    416×416 gives, but the time per frame grows with the pixel count (docs/benchmarks.md).
    """
    width, height = frame_wh
    longest = 640 if max(width, height) >= 1280 else 512
    scale = longest / max(width, height)
    return (max(32, round(width * scale / 32) * 32), max(32, round(height * scale / 32) * 32))


def stride_for(fps: float, analysis_fps: float) -> int:
    """Analyse every Nth frame so that about ``analysis_fps`` frames per second are processed."""
    return max(1, round(fps / analysis_fps)) if fps > 0 else 1


# onnxruntime intra-op threads of a detector when neither the camera's config nor the runner says:
# a video analysed alone gets both cores of the small box (same CPU, faster by wall time); the
# service gives each camera SERVICE_DETECTOR_THREADS while it runs several, whose detectors share
# the cores anyway (same detections, less CPU per inference; docs/benchmarks.md, "Cameras per box").
DEFAULT_DETECTOR_THREADS = 2
SERVICE_DETECTOR_THREADS = 1


def build_detector_from(
    config: DetectorConfig, frame_wh: tuple[int, int], *, threads: int | None = None
) -> Detector:
    """The camera's detector; ``threads`` is the runner's default for its intra-op threads (the
    camera's ``detector.threads`` wins; neither: `DEFAULT_DETECTOR_THREADS`)."""
    # 0.3: measured best for counting (bench/counting_accuracy.py); the tracker's second pass uses
    # the boxes between this and its high-confidence threshold.
    options: dict[str, object] = {
        "score_threshold": 0.3 if config.score_threshold is None else config.score_threshold,
        "threads": config.threads or threads or DEFAULT_DETECTOR_THREADS,
    }
    if config.name == "nanodet":
        from keliu.models.install import model_path

        options["onnx_path"] = model_path("nanodet")
        options["input_wh"] = tuple(config.input_wh) if config.input_wh else default_input_wh(frame_wh)
    elif config.name == "yolo":
        if config.model_path is None or not Path(config.model_path).is_file():
            raise ConfigError(f"detector 'yolo': model file {config.model_path} not found")
        options["onnx_path"] = Path(config.model_path)
        options["person_class"] = config.person_class
        if config.input_wh:
            options["input_wh"] = tuple(config.input_wh)
    return build_detector(config.name, **options)


@dataclass
class CameraRuntime:
    pipeline: CountingPipeline
    stride: int


def build_camera_pipeline(
    camera: CameraConfig,
    fps: float,
    frame_wh: tuple[int, int],
    *,
    detector: Detector | None = None,
    detector_threads: int | None = None,
) -> CameraRuntime:
    """Detector + tracker + counters for one camera, given what its source reports; ``detector``
    shares an already built detector (detectors keep no state between frames);
    ``detector_threads``: the runner's default for a new detector's threads (`build_detector_from`)."""
    if detector is None:
        detector = build_detector_from(camera.detector, frame_wh, threads=detector_threads)
    tracker = build_tracker(
        TrackerSettings(
            algorithm=camera.tracker.name,
            lost_track_s=camera.tracker.lost_track_s,
            minimum_iou_threshold=camera.tracker.min_iou,
        )
    )
    settings = PipelineSettings(
        counting_point=camera.counting.counting_point,
        hold_observations=camera.counting.hold_observations,
        margin_frac=camera.counting.margin_frac,
        extend_frac=camera.counting.extend_frac,
    )
    pipeline = CountingPipeline(
        detector,
        tracker,
        [line.to_line() for line in camera.lines],
        [zone.to_zone() for zone in camera.zones],
        settings,
    )
    return CameraRuntime(pipeline, stride_for(fps, camera.analysis_fps))


def _embedder_thresholds() -> dict[str, float]:
    """Thresholds calibrated for an installed custom embedder (`keliu models calibrate`), else {}."""
    from keliu.models.custom_embedder import installed_embedder

    custom = installed_embedder()
    if custom is None:
        return {}
    if custom.thresholds is None:
        log.warning(
            "a custom embedder is installed but not calibrated: the default thresholds, measured "
            "for the provisioned MobileNetV2, are used; run `keliu models calibrate VIDEO`"
        )
        return {}
    return custom.thresholds


def resolver_rules(site: SiteConfig) -> ResolverRules:
    """The site's visitor-resolution rules: its config over the thresholds calibrated for an
    installed custom embedder, over the measured defaults."""
    visitors = site.visitors
    shipped, calibrated = ResolverRules(), _embedder_thresholds()
    defaults = replace(
        shipped,
        match_threshold=calibrated.get("match_threshold", shipped.match_threshold),
        staff_threshold=calibrated.get("staff_threshold", shipped.staff_threshold),
        exemplar_threshold=calibrated.get("exemplar_threshold", shipped.exemplar_threshold),
    )
    return ResolverRules(
        dedup_window_s=visitors.dedup_window_h * 3600.0,
        returning_memory_s=visitors.returning_memory_days * 86400.0,
        match_threshold=visitors.match_threshold or defaults.match_threshold,
        staff_threshold=visitors.staff_threshold or defaults.staff_threshold,
        exemplar_threshold=visitors.exemplar_threshold or defaults.exemplar_threshold,
        batch_gap_s=visitors.batch_gap_s,
        batch_proximity=visitors.batch_proximity,
        open_time=visitors.business_hours[0],
        close_time=visitors.business_hours[1],
        timezone=site.site.timezone,
        exclude_outside_hours=visitors.exclude_outside_hours,
        staff_zone_ids=tuple(visitors.staff_zones),
        courier_max_stay_s=visitors.courier_max_stay_s,
        reentry_needs_exit=visitors.reentry_needs_exit,
        min_reentry_s=visitors.min_reentry_s,
        min_travel_s=tuple((w.cameras[0], w.cameras[1], w.min_s) for w in visitors.walking_times),
    )


def build_appearance_embedder(threads: int = 2) -> AppearanceEmbedder:
    """The installed custom re-identification network (`keliu models install --embedder`) with its
    recorded preprocessing when there is one, else the provisioned MobileNetV2."""
    from keliu.models.custom_embedder import installed_embedder
    from keliu.models.install import model_path

    custom = installed_embedder()
    if custom is not None:
        return AppearanceEmbedder(
            custom.path,
            input_wh=custom.input_wh,
            threads=threads,
            output=custom.output_name,
            mean=custom.mean,
            std=custom.std,
            channels=custom.channels,
        )
    return AppearanceEmbedder(model_path("embedder"), threads=threads)


def install_custom_embedder(
    source: Path,
    *,
    licence: str,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    channels: str = "rgb",
) -> InstalledEmbedder:
    """Check an integrator's re-identification network (`keliu.vision.embedder.check_contract`)
    and install it (`keliu.models.custom_embedder.install_embedder`); ModelError if refused."""
    from keliu.models.custom_embedder import install_embedder
    from keliu.vision.embedder import check_contract

    if not licence.strip():  # before loading anything
        raise ModelError("--licence must name the network's licence (e.g. 'MIT (OSNet, KaiyangZhou)')")
    return install_embedder(
        source, check_contract(source), licence=licence, mean=mean, std=std, channels=channels
    )


def build_signature_extractor() -> SignatureExtractor:
    return SignatureExtractor(build_appearance_embedder())
