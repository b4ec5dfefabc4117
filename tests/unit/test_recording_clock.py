"""Recorded video on its own clock: --recorded-at, then recorded_at, then the container's
creation_time tag, then the file's modification time (keliu.runtime.clock; docs/configuration.md,
"Recorded files: which clock"). The files are real H.264 MP4s written here with PyAV."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from keliu.config import CameraConfig
from keliu.runtime.clock import container_creation_time, recording_clock

MTIME = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def clip(path: Path, creation_time: str | None) -> Path:
    import av

    with av.open(str(path), "w") as out:
        if creation_time is not None:
            out.metadata["creation_time"] = creation_time
        stream = out.add_stream("h264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), format="bgr24")
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    return path


def camera(path: Path, recorded_at: datetime | None = None) -> CameraConfig:
    return CameraConfig(id="door", source=str(path), recorded_at=recorded_at)


def test_the_containers_creation_time_comes_before_the_modification_time(tmp_path: Path) -> None:
    tagged = clip(tmp_path / "tagged.mp4", "2026-03-03T02:00:00.000000Z")
    clock = recording_clock(camera(tagged))
    assert (clock.started_at, clock.source) == (datetime(2026, 3, 3, 2, 0, tzinfo=UTC), "container")
    assert clock.describe() == "2026-03-03T02:00:00+00:00 (from the file's creation_time tag)"


def test_without_a_usable_tag_the_modification_time_is_used(tmp_path: Path) -> None:
    for name, tag in (
        ("plain.mp4", None),
        ("unset.mp4", "1970-01-01T00:00:00.000000Z"),
        ("junk.mp4", "soon"),
    ):
        clock = recording_clock(camera(clip(tmp_path / name, tag)))
        assert (clock.started_at, clock.source) == (MTIME, "mtime"), name
        assert "modification time" in clock.describe()


def test_a_tag_without_offset_is_utc_and_one_with_an_offset_is_converted(tmp_path: Path) -> None:
    assert container_creation_time(clip(tmp_path / "a.mp4", "2026-03-03 02:00:00")) == datetime(
        2026, 3, 3, 2, 0, tzinfo=UTC
    )
    assert container_creation_time(clip(tmp_path / "b.mp4", "2026-03-03T10:00:00+08:00")) == datetime(
        2026, 3, 3, 2, 0, tzinfo=UTC
    )
    assert container_creation_time(tmp_path / "missing.mp4") is None


def test_the_option_beats_the_config_which_beats_the_container(tmp_path: Path) -> None:
    tagged = clip(tmp_path / "tagged.mp4", "2026-03-03T02:00:00Z")
    shanghai = timezone(timedelta(hours=8))
    configured = camera(tagged, datetime(2026, 3, 1, 9, 0, tzinfo=shanghai))
    clock = recording_clock(configured)
    assert (clock.started_at, clock.source) == (datetime(2026, 3, 1, 1, 0, tzinfo=UTC), "config")
    given = datetime(2026, 2, 28, 12, 0, tzinfo=shanghai)
    clock = recording_clock(configured, given)
    assert (clock.started_at, clock.source) == (datetime(2026, 2, 28, 4, 0, tzinfo=UTC), "option")
    assert clock.describe().endswith("(from --recorded-at)")
    with pytest.raises(ValueError, match="timezone-aware"):
        recording_clock(configured, datetime(2026, 2, 28, 12, 0))
