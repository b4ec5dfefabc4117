"""Camera faults end to end: two live RTSP cameras (tests/support/rtsp_server.py serving the real
PETS09-S2L1 recording) under one supervisor, with the site's resolution worker writing a real store
(SQLite and PostgreSQL). Camera a's server is killed and started again: a goes offline, the outage is
stored, a counts again within 10 s of the stream's return, and camera b counts throughout. Also:
``keliu process`` on a live stream until SIGTERM, and the live cap on analysed frames per second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.integration.test_runtime_supervisor import Recorder
from tests.integration.test_stream_reconnect import (
    INSTALL_HINT,
    SUPPORT,
    SYSTEM_PYTHON,
    ServerProcess,
    free_port,
)

from keliu.config import CameraConfig, SiteConfig
from keliu.processing import register_site
from keliu.runtime.bus import EventBus
from keliu.runtime.events import CameraOutage, CameraStatus, CrossingCounted, SightingSeen
from keliu.runtime.resolution import ResolutionWorker
from keliu.runtime.supervisor import Supervisor
from keliu.store import open_store
from keliu.vision.sources import ReconnectPolicy

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

KEY = bytes(range(32))
LINES = [  # bench/sites/PETS09-S2L1.yaml: people cross these within seconds of the video's start
    {"id": "east", "a": [0.80, 0.25], "b": [0.80, 0.80], "inside": [0.90, 0.50]},
    {"id": "across", "a": [0.05, 0.50], "b": [0.95, 0.50], "inside": [0.50, 0.80]},
]
RESUME_WITHIN_S = 10.0


def rtsp_server(video: Path, log: Path) -> ServerProcess:
    if not SYSTEM_PYTHON.is_file():
        pytest.fail(
            f"{SYSTEM_PYTHON} not found: the RTSP test server needs the system python; {INSTALL_HINT}"
        )
    argv = [str(SYSTEM_PYTHON), str(SUPPORT / "rtsp_server.py"), "--port", str(free_port())]
    return ServerProcess([*argv, "--path", "/cam", "--video", str(video)], log, INSTALL_HINT)


def test_a_stream_that_stops_and_returns(
    db_url: str, tmp_path: Path, shared_data: Path, nanodet_model: Path
) -> None:
    video = shared_data / "video" / "PETS09-S2L1.mp4"
    server_a = rtsp_server(video, tmp_path / "a.log")
    server_b = rtsp_server(video, tmp_path / "b.log")
    bus = EventBus()
    recorder = Recorder(bus.subscribe("test", capacity=100_000))
    try:
        url_a, url_b = server_a.start(), server_b.start()
        site = SiteConfig.model_validate(
            {
                "site": {"id": "plaza", "name": "Plaza"},
                "cameras": [
                    {"id": "a", "source": url_a, "lines": LINES},
                    {"id": "b", "source": url_b, "lines": LINES},
                ],
            }
        )
        with open_store(db_url, key=KEY) as store:
            register_site(store, site)
            worker = ResolutionWorker(site, store, bus, checkpoint_every_s=5.0).start()
            supervisor = Supervisor(bus, sightings=True, reconnect=ReconnectPolicy(initial_s=0.5, max_s=2.0))
            try:
                for camera in site.cameras:
                    supervisor.add_camera("plaza", camera)
                recorder.wait_for(
                    lambda: all(supervisor.camera("plaza", c).crossings > 0 for c in ("a", "b")),
                    90,
                    "both cameras to count",
                )

                server_a.kill()  # the stream's server dies
                killed, killed_wall = time.monotonic(), time.time()
                recorder.wait_for(
                    lambda: any(e.state == "offline" for e in recorder.of("a", CameraStatus, since=killed)),
                    20,
                    "camera a offline",
                )
                assert "unreachable" in supervisor.camera("plaza", "a").reason
                time.sleep(3.0)  # down for a while: the source has to back off and retry
                server_a.start()
                returned_wall = time.time()

                def counted_again() -> list[CrossingCounted]:  # crossings that happened after the outage
                    return [e for e in recorder.of("a", CrossingCounted) if e.at.timestamp() > killed_wall]

                recorder.wait_for(counted_again, 40, "camera a to count again")
                first = min(e.at.timestamp() for e in counted_again())
                print(f"camera a counted again {first - returned_wall:.1f} s after its stream returned")
                assert first - returned_wall <= RESUME_WITHIN_S, (
                    f"a counted again {first - returned_wall:.1f} s after its stream returned"
                )
                back = [e for e in recorder.of("a", CameraStatus, since=killed) if e.state == "online"]
                assert back, "camera a online again"
                b_meanwhile = recorder.of("b", CrossingCounted, since=killed)
                b_meanwhile = [e for e in b_meanwhile if e.at.timestamp() <= returned_wall]
                assert b_meanwhile, "camera b counted while a was down"
            finally:
                cameras = {c.camera_id: c for c in supervisor.stop()}
                report = worker.stop()
                bus.close()
                recorder.drained()
            assert worker.errors == 0, worker.last_error

            a, b = cameras["a"], cameras["b"]
            assert a.outages == 1 and a.restarts == 0 and a.errors == 0
            assert b.outages == 0 and b.restarts == 0 and b.errors == 0
            assert [e.state for e in recorder.of("b", CameraStatus)] == ["starting", "online", "stopped"]
            outage_events = recorder.of("a", CameraOutage)
            assert [e.ended_at is None for e in outage_events] == [True, False]

            (outage,) = store.outages("plaza")  # 设备离线, stored as a device event
            camera_id, started, ended, attempts, reason = outage
            assert camera_id == "a" and ended is not None and attempts >= 1 and reason
            assert 3.0 <= (ended - started).total_seconds() <= 30.0
            stored = store.sightings("plaza", *_span(recorder))
            published = recorder.of("a", SightingSeen) + recorder.of("b", SightingSeen)
            assert len(stored) == len(published) == report.sightings > 0
            assert {s.camera_id for s in stored} == {"a", "b"}
            # people seen by a since its stream returned (the frames after a reconnection are stamped
            # from the moment the connection began)
            assert any(s.camera_id == "a" and s.first_seen.timestamp() > killed_wall + 3.0 for s in stored)
    finally:
        server_a.kill()
        server_b.kill()
        bus.close()


def _span(recorder: Recorder) -> tuple[datetime, datetime]:
    seen = [e.sighting for cam in ("a", "b") for e in recorder.of(cam, SightingSeen)]
    start = min(s.first_seen for s in seen)
    end = max(s.last_seen for s in seen)
    return start - timedelta(seconds=1), end + timedelta(seconds=1)


def test_keliu_process_counts_a_live_stream_until_sigterm(
    tmp_path: Path,
    shared_data: Path,
    nanodet_model: Path,
    embedder_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`keliu process` on a live stream runs on the supervisor and the resolution worker: SIGTERM ends
    the tracks in progress, commits them and the run exits 0 with its report."""
    server = rtsp_server(shared_data / "video" / "PETS09-S2L1.mp4", tmp_path / "server.log")
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(nanodet_model.parents[1], target_is_directory=True)
    config = tmp_path / "live.yaml"
    try:
        url = server.start()
        config.write_text(
            f"site: {{id: plaza, name: Plaza}}\ncameras:\n  - id: a\n    source: {url}\n    lines:\n"
            + "".join(
                f"      - {{id: {x['id']}, a: {x['a']}, b: {x['b']}, inside: {x['inside']}}}\n" for x in LINES
            ),
            encoding="utf-8",
        )
        db = tmp_path / "keliu.db"
        env = {**os.environ, "KELIU_HOME": str(home)}
        env.pop("KELIU_SIGNATURE_KEY", None)
        run = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "keliu.cli",
                "process",
                "--config",
                str(config),
                "--db",
                f"sqlite:///{db}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(25)
        assert run.poll() is None
        run.send_signal(signal.SIGTERM)
        stopped = datetime.now(UTC)
        _, err = run.communicate(timeout=60)
    finally:
        server.kill()
    assert run.returncode == 0, err
    assert "a: t=" in err and "frames/s analysed" in err  # progress every 5 s
    (summary,) = [line for line in err.splitlines() if line.startswith("a: ") and " frames, " in line]
    frames = int(summary.split(": ", 1)[1].split(" frames")[0])
    assert frames > 50
    monkeypatch.setenv("KELIU_HOME", str(home))  # the run's signature key
    with open_store(f"sqlite:///{db}") as store:
        stored = store.sightings("plaza", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))
        assert stored and all(s.signature is not None for s in stored if s.crossings)
        site_line = next(line for line in err.splitlines() if line.startswith("site plaza: "))
        assert f"{len(stored)} sightings" in site_line
        # the people in view at SIGTERM: their tracks were ended and committed at the stop
        assert max(s.last_seen for s in stored) > stopped - timedelta(seconds=2)


def test_the_live_cap_bounds_the_analysis_rate(tmp_path: Path, nanodet_model: Path) -> None:
    """A 25 fps stream with analysis_fps 10 delivers every 2nd frame (12.5/s); a cap of 5 analysed
    frames per second holds whatever arrives, and the frames over it are counted as skipped."""
    if not SYSTEM_PYTHON.is_file():
        pytest.fail(
            f"{SYSTEM_PYTHON} not found: the RTSP test server needs the system python; {INSTALL_HINT}"
        )
    argv = [str(SYSTEM_PYTHON), str(SUPPORT / "rtsp_server.py"), "--port", str(free_port()), "--fps", "25"]
    server = ServerProcess(argv, tmp_path / "server.log", INSTALL_HINT)
    bus = EventBus()
    supervisor = Supervisor(bus)
    try:
        url = server.start()
        capped = CameraConfig(id="capped", source=url, analysis_fps=10, live_max_fps=5)
        supervisor.add_camera("plaza", capped)
        deadline = time.monotonic() + 60
        while supervisor.camera("plaza", "capped").frames < 5:
            assert time.monotonic() < deadline, "no frames from the stream"
            time.sleep(0.1)
        start = supervisor.camera("plaza", "capped")
        time.sleep(8.0)
        end = supervisor.camera("plaza", "capped")
    finally:
        supervisor.stop()
        bus.close()
        server.kill()
    analysed_per_s = (end.frames - start.frames) / 8.0
    skipped_per_s = (end.skipped_frames - start.skipped_frames) / 8.0
    assert 4.0 <= analysed_per_s <= 5.5, analysed_per_s
    assert 6.0 <= skipped_per_s <= 9.0, skipped_per_s
