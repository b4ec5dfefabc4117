"""What a run of a site did: per camera (frames, video time, sightings, why it stopped) and per site
(sightings, visit updates saved, signatures purged, staff suggestions). ``keliu process`` prints it."""

from __future__ import annotations

from dataclasses import dataclass, field

from keliu.resolve import StaffSuggestion

__all__ = ["CameraStats", "ProcessReport"]


@dataclass
class CameraStats:
    frames: int = 0
    video_s: float = 0.0
    wall_s: float = 0.0
    sightings: int = 0
    skipped: str | None = None  # why nothing was analysed (footage already ingested)
    resumed_at_s: float | None = None  # a killed run's footage, resumed at this second of video
    error: str | None = None  # why the camera stopped early (live: its last error, it was restarted)


@dataclass
class ProcessReport:
    site_id: str
    cameras: dict[str, CameraStats] = field(default_factory=dict)
    sightings: int = 0
    visits_saved: int = 0
    purged: int = 0
    staff_suggestions: list[StaffSuggestion] = field(default_factory=list)

    @property
    def sources_failed(self) -> bool:
        """No camera delivered a frame (and none was skipped as already ingested): nothing was
        counted because the sources failed or never answered (the CLI exits non-zero)."""
        stats = self.cameras.values()
        return bool(stats) and all(c.frames == 0 and c.skipped is None for c in stats)
