"""How many CPU threads a camera's detector gets (issue 13, cameras per box).

A video counted alone (`keliu count`, `track`, `process` of files) keeps 2 onnxruntime intra-op
threads; a camera of the supervisor (the service) gets 1 while two or more cameras run, which costs
less CPU per inference on busy cores and gives the same detections (docs/benchmarks.md, "Cameras per
box"). A camera's own ``detector.threads`` wins over both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import keliu.runtime.camera as camera_module
from keliu import wiring
from keliu.config import CameraConfig, DetectorConfig, LineConfig
from keliu.errors import ConfigError
from keliu.runtime.bus import EventBus
from keliu.runtime.camera import CameraLoop
from keliu.runtime.supervisor import Supervisor
from keliu.vision.sources import Frame

FRAME_WH = (1920, 1080)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options every detector is built with (no model is loaded)."""
    calls: list[dict[str, Any]] = []

    def fake_build_detector(name: str, **options: Any) -> Any:
        calls.append({"name": name, **options})
        return object()

    monkeypatch.setattr(wiring, "build_detector", fake_build_detector)
    return calls


@pytest.mark.parametrize(
    ("configured", "runner", "expected"),
    [
        (None, None, wiring.DEFAULT_DETECTOR_THREADS),  # keliu count / track / process of a file
        (None, 1, 1),  # a camera of the supervisor while two or more run
        (3, 1, 3),  # the camera's own setting wins
        (1, None, 1),
    ],
)
def test_detector_threads_come_from_the_camera_then_the_runner_then_the_default(
    built: list[dict[str, Any]], configured: int | None, runner: int | None, expected: int
) -> None:
    wiring.build_detector_from(DetectorConfig(threads=configured), FRAME_WH, threads=runner)
    assert built[-1]["threads"] == expected


def test_defaults_two_threads_alone_one_per_camera_of_the_service() -> None:
    assert wiring.DEFAULT_DETECTOR_THREADS == 2
    assert wiring.SERVICE_DETECTOR_THREADS == 1
    assert Supervisor(EventBus()).detector_threads is None  # chosen per run from the cameras running
    assert CameraLoop("s", CameraConfig(id="c", source="x.mp4")).detector_threads is None


@pytest.mark.parametrize("threads", [0, 17])
def test_detector_threads_out_of_range_are_refused(threads: int) -> None:
    with pytest.raises(ValidationError):
        DetectorConfig(threads=threads)


def test_the_real_nanodet_session_runs_the_threads_asked_for(nanodet_model: Path) -> None:
    for threads in (1, 2):
        detector = wiring.build_detector_from(DetectorConfig(threads=threads), (640, 360))
        options = detector._session.get_session_options()  # type: ignore[attr-defined]
        assert options.intra_op_num_threads == threads


class _OneFrameSource:
    """A source that opens and reports a 1080p camera (its frames are never reached)."""

    fps = 30.0
    resolution_wh = FRAME_WH
    is_live = False

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        return iter(())

    def close(self) -> None:
        pass

    def __enter__(self) -> _OneFrameSource:
        return self

    def __exit__(self, *_: object) -> None:
        pass


class _Asked:
    """Stands in for `build_camera_pipeline` in the camera loop: records the detector threads each
    camera's run asked for, then fails the run (only the threads are under test)."""

    def __init__(self) -> None:
        self.by_camera: dict[str, list[int | None]] = {}

    def __call__(self, camera: CameraConfig, fps: float, frame_wh: tuple[int, int], **kw: Any) -> Any:
        self.by_camera.setdefault(camera.id, []).append(kw.get("detector_threads"))
        raise ConfigError("stop here: only the detector's threads are under test")

    def wait_for(self, camera_id: str) -> list[int | None]:
        deadline = time.monotonic() + 10
        while not self.by_camera.get(camera_id) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.by_camera.get(camera_id, [])


DOOR = LineConfig(id="door", a=(0.5, 0.1), b=(0.5, 0.9), inside=(0.8, 0.5))


def _camera(camera_id: str) -> CameraConfig:
    return CameraConfig(id=camera_id, source="x.mp4", lines=[DOOR])


def test_the_supervisor_gives_one_thread_per_camera_once_two_cameras_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = _Asked()
    monkeypatch.setattr(camera_module, "build_camera_pipeline", asked)
    supervisor = Supervisor(EventBus(), opener=lambda uri, **_: _OneFrameSource())
    try:
        supervisor.add_camera("site", _camera("a"))
        assert asked.wait_for("a")[0] is None  # alone: the detector's default (2)
        supervisor.add_camera("site", _camera("b"))
        assert asked.wait_for("b")[0] == wiring.SERVICE_DETECTOR_THREADS
    finally:
        supervisor.stop(timeout=10)


def test_a_supervisor_told_the_threads_gives_them_to_every_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _Asked()
    monkeypatch.setattr(camera_module, "build_camera_pipeline", asked)
    supervisor = Supervisor(EventBus(), opener=lambda uri, **_: _OneFrameSource(), detector_threads=3)
    try:
        supervisor.add_camera("site", _camera("a"))
        assert asked.wait_for("a")[0] == 3
    finally:
        supervisor.stop(timeout=10)
