"""The camera supervisor on real video and the real detector: isolation, restarts, and cameras added,
changed and removed while the others run.

Cameras play real MOTChallenge clips in real time (``replay``: a demo camera looping its video), so
they run for as long as a test needs. The only stand-in is a source that raises a non-keliu error
after a few frames of a real file: a decoder or driver bug, which no real file produces on demand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from keliu.config import CameraConfig, LineConfig
from keliu.errors import Conflict, NotFound
from keliu.runtime.bus import EventBus, Subscription
from keliu.runtime.camera import GENERATION_TRACK_STRIDE
from keliu.runtime.events import CameraStatus, CrossingCounted, Event, FrameStats, SightingSeen
from keliu.runtime.supervisor import Supervisor
from keliu.vision.sources import Frame, FrameSource, ReconnectPolicy, open_source

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SITE = "plaza"
DOOR = {"a": (0.5, 0.1), "b": (0.5, 0.95), "inside": (0.8, 0.5)}  # TUD-Stadtmitte: people cross it
FAST_RESTART = ReconnectPolicy(initial_s=0.3, max_s=1.0)


class Recorder:
    """Drains a bus subscription in a thread; (monotonic time, event) in arrival order."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.events: list[tuple[float, Event]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        for event in self.sub:
            with self._lock:
                self.events.append((time.monotonic(), event))

    def drained(self) -> None:
        """Wait until every event of the (closed) subscription is recorded."""
        self._thread.join(10)
        assert not self._thread.is_alive(), "the subscription was not closed"

    def of(self, camera_id: str, kind: type[Event] = Event, since: float = 0.0) -> list[Any]:
        with self._lock:
            return [
                e
                for t, e in self.events
                if t >= since and isinstance(e, kind) and getattr(e, "camera_id", None) == camera_id
            ]

    def wait_for(self, condition: Callable[[], object], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
            time.sleep(0.05)


class ExplodingSource:
    """A real file source whose frames raise a non-keliu error after ``after`` frames."""

    def __init__(self, inner: FrameSource, after: int) -> None:
        self.inner = inner
        self.after = after
        self.fps = inner.fps
        self.resolution_wh = inner.resolution_wh

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        for n, frame in enumerate(self.inner.frames(stride)):
            if n == self.after:
                raise RuntimeError("decoder exploded")
            yield frame

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> ExplodingSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@pytest.fixture
def videos(shared_data: Path, nanodet_model: Path) -> dict[str, str]:
    return {name: str(shared_data / "video" / f"{name}.mp4") for name in ("TUD-Stadtmitte", "TUD-Campus")}


def camera(camera_id: str, source: str, line_id: str = "door") -> CameraConfig:
    return CameraConfig(id=camera_id, source=source, lines=[LineConfig(id=line_id, **DOOR)])


def test_a_crashing_camera_is_restarted_and_the_other_keeps_counting(videos: dict[str, str]) -> None:
    bus = EventBus()
    recorder = Recorder(bus.subscribe("test", capacity=100_000))
    crashes: list[float] = []
    clean_opens: list[float] = []

    def opener(uri: str, **options: Any) -> FrameSource:
        source = open_source(uri, **options)
        # the crashing camera fails at every start until the steady one has counted two crossings
        if uri == videos["TUD-Campus"] and (
            len(crashes) < 2 or supervisor.camera(SITE, "steady").crossings < 2
        ):
            crashes.append(time.monotonic())
            return ExplodingSource(source, after=3)
        if uri == videos["TUD-Campus"]:
            clean_opens.append(time.monotonic())
        return source

    supervisor = Supervisor(bus, opener=opener, restart=FAST_RESTART)
    try:
        supervisor.add_camera(SITE, camera("steady", videos["TUD-Stadtmitte"]), replay=True)
        supervisor.add_camera(SITE, camera("crashy", videos["TUD-Campus"]))
        recorder.wait_for(
            lambda: supervisor.camera(SITE, "crashy").state == "finished",
            150,
            "the crashing camera to finish",
        )
        steady, crashy = supervisor.camera(SITE, "steady"), supervisor.camera(SITE, "crashy")
        assert steady.state == "online"
    finally:
        supervisor.stop()
        bus.close()
        recorder.drained()

    assert len(crashes) >= 2
    assert crashy.errors == crashy.restarts == len(crashes)
    assert crashy.last_error == "RuntimeError: decoder exploded"
    assert crashy.frames > 3 * len(crashes), "after the crashes it ran its whole video"
    offline = [e for e in recorder.of("crashy", CameraStatus) if e.state == "offline"]
    assert len(offline) == len(crashes)
    assert all("RuntimeError: decoder exploded" in e.reason and "restarting in" in e.reason for e in offline)
    assert steady.errors == 0 and steady.restarts == 0
    # the steady camera counted while the other one kept failing (before its first clean start)
    assert len(clean_opens) == 1 and clean_opens[0] > crashes[-1]
    counted_meanwhile = [
        e
        for t, e in recorder.events
        if t <= clean_opens[0] and isinstance(e, CrossingCounted) and e.camera_id == "steady"
    ]
    assert len(counted_meanwhile) >= 2
    assert recorder.of("steady", CameraStatus)[-1].state == "stopped"


def test_cameras_are_added_changed_and_removed_while_the_others_run(videos: dict[str, str]) -> None:
    bus = EventBus()
    recorder = Recorder(bus.subscribe("test", capacity=100_000))
    supervisor = Supervisor(bus, sightings=True, restart=FAST_RESTART)
    first, second = camera("a", videos["TUD-Stadtmitte"]), camera("b", videos["TUD-Stadtmitte"])
    try:
        supervisor.add_camera(SITE, first, replay=True)
        recorder.wait_for(lambda: supervisor.camera(SITE, "a").frames > 0, 60, "camera a's first frame")

        # added while a runs
        supervisor.add_camera(SITE, second, replay=True)
        recorder.wait_for(lambda: supervisor.camera(SITE, "b").frames > 0, 60, "camera b's first frame")
        with pytest.raises(Conflict):
            supervisor.add_camera(SITE, second)

        # a's line changed: the running loop takes it at its next frame, nothing restarts
        changed_at = time.monotonic()
        assert supervisor.update_camera(SITE, camera("a", first.source, line_id="door2")) is True
        recorder.wait_for(
            lambda: any(e.line_id == "door2" for e in recorder.of("a", CrossingCounted, since=changed_at)),
            60,
            "a crossing of a's new line",
        )
        after_change = recorder.of("a", CrossingCounted, since=changed_at)
        assert all(e.line_id == "door2" for e in after_change[1:]), "only a crossing in flight may be old"
        assert all(e.track_id >= GENERATION_TRACK_STRIDE for e in after_change if e.line_id == "door2")
        assert [e.state for e in recorder.of("a", CameraStatus, since=changed_at)] == []

        # b's source changed: b alone is restarted
        changed_at = time.monotonic()
        assert supervisor.update_camera(SITE, camera("b", videos["TUD-Campus"])) is False
        recorder.wait_for(
            lambda: (
                supervisor.camera(SITE, "b").online
                and any(e.state == "starting" for e in recorder.of("b", CameraStatus, since=changed_at))
            ),
            60,
            "camera b on its new source",
        )
        assert supervisor.camera(SITE, "b").restarts == 0 and supervisor.camera(SITE, "b").errors == 0
        assert recorder.of("a", CameraStatus, since=changed_at) == []

        # b removed while people are in view: their tracks are ended and their sightings published.
        # A track younger than the collector's min_presence_s (1 s) that crossed nothing is tracker
        # noise and makes no sighting, and b's video (2.8 s) starts again with fresh tracks on every
        # pass: so remove it well into a pass (the runner's position in its current pass), people in view.
        runner = supervisor._runner(SITE, "b")
        recorder.wait_for(
            lambda: (
                (stats := recorder.of("b", FrameStats))
                and stats[-1].in_view >= 2
                and 1.6 <= runner.counters.video_s <= 2.4
            ),
            60,
            "people in b's view, 1.6-2.4 s into a pass",
        )
        removing = time.monotonic()
        removed = supervisor.remove_camera(SITE, "b")
        assert removed.state == "stopped"
        assert recorder.of("b", SightingSeen, since=removing), "the tracks in view were flushed"
        assert [c.camera_id for c in supervisor.cameras(SITE)] == ["a"]
        with pytest.raises(NotFound):
            supervisor.remove_camera(SITE, "b")
        frames = supervisor.camera(SITE, "a").frames
        recorder.wait_for(lambda: supervisor.camera(SITE, "a").frames > frames + 10, 30, "a to go on")
        # fps is 0 for the moment a demo video starts its next pass: read it while a pass runs
        recorder.wait_for(lambda: supervisor.camera(SITE, "a").fps > 0, 30, "a's frame rate")
        a = supervisor.camera(SITE, "a")
        assert a.online and a.restarts == 0 and a.errors == 0
        assert a.last_frame_at is not None and a.detections > 0
    finally:
        supervisor.stop()
        bus.close()
        recorder.drained()
    assert recorder.of("a", CameraStatus)[-1].state == "stopped"
