"""Live sources against real servers: outages, reconnects, timeouts and credential masking.

The RTSP server is tests/support/rtsp_server.py run with the SYSTEM python (GStreamer's RTSP
server comes from Debian packages, not pip); the HTTP server is tests/support/http_ts_server.py
run with this python (PyAV only). When the Debian packages are missing these tests FAIL and name
them: they are required in CI, never skipped.
"""

from __future__ import annotations

import itertools
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keliu.errors import StreamUnavailable
from keliu.vision.sources import Frame, Outage, ReconnectPolicy, open_source

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SUPPORT = Path(__file__).resolve().parents[1] / "support"
SYSTEM_PYTHON = Path("/usr/bin/python3")
APT_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"
)
INSTALL_HINT = f"install the RTSP test server's Debian packages: apt-get install -y {APT_PACKAGES}"
SECRET = "s3cret-pw"
FAST_RETRY = ReconnectPolicy(initial_s=0.2, max_s=1.0, factor=2.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """A helper server in a subprocess that prints ``READY <url>`` once it listens."""

    def __init__(self, argv: list[str], log_path: Path, hint: str) -> None:
        self.argv = argv
        self.log_path = log_path
        self.hint = hint
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 20.0) -> str:
        with self.log_path.open("a") as log_file:
            process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=log_file, text=True)
        self.process = process
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline()
                if line.startswith("READY "):
                    return line.split(maxsplit=1)[1].strip()
            if process.poll() is not None:
                break
        self.kill()
        pytest.fail(
            f"test server {' '.join(self.argv)} did not start: {self.log_path.read_text().strip()[-800:]}\n"
            f"{self.hint}"
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signum)


@pytest.fixture
def rtsp_server(tmp_path: Path) -> Iterator[ServerProcess]:
    if not SYSTEM_PYTHON.is_file():
        pytest.fail(
            f"{SYSTEM_PYTHON} not found: the RTSP test server needs the system python; {INSTALL_HINT}"
        )
    argv = [str(SYSTEM_PYTHON), str(SUPPORT / "rtsp_server.py"), "--port", str(free_port()), "--path", "/cam"]
    server = ServerProcess(argv, tmp_path / "rtsp_server.log", INSTALL_HINT)
    yield server
    if server.process is not None and server.process.poll() is None:
        server.signal(signal.SIGCONT)
    server.kill()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[ServerProcess]:
    argv = [sys.executable, str(SUPPORT / "http_ts_server.py"), "--port", str(free_port()), "--path", "/cam"]
    server = ServerProcess(argv, tmp_path / "http_server.log", "the HTTP test server needs only PyAV")
    yield server
    server.kill()


def with_credentials(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://viewer:{SECRET}@{rest}"


def assert_increasing(frames: list[Frame]) -> None:
    for earlier, later in itertools.pairwise(frames):
        assert later.index > earlier.index
        assert later.t_s > earlier.t_s


@pytest.mark.parametrize("server_name", ["rtsp_server", "http_server"])
def test_outage_is_survived_recorded_and_ended(
    server_name: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="keliu.sources")
    server: ServerProcess = request.getfixturevalue(server_name)
    url = server.start()
    outages: list[Outage] = []
    outage_began = threading.Event()
    restart_errors: list[BaseException] = []

    def sink(outage: Outage) -> None:
        outages.append(outage)
        if outage.ended_wall is None:
            outage_began.set()

    def restart_after_outage() -> None:
        try:
            if outage_began.wait(30):
                time.sleep(1.0)  # stay down a while, so the reader has to back off and retry
                server.start()
        except BaseException as error:  # surfaced by the assertion below
            restart_errors.append(error)

    before: list[Frame] = []
    after: list[Frame] = []
    restarter = threading.Thread(target=restart_after_outage, daemon=True)
    with open_source(
        with_credentials(url), reconnect=FAST_RETRY, outage_sink=sink, read_timeout_s=5
    ) as source:
        assert source.resolution_wh == (320, 240)
        assert source.fps == pytest.approx(25.0)
        for frame in source.frames():
            assert frame.image_bgr.shape == (240, 320, 3)
            if not outages:
                before.append(frame)
                if len(before) == 25:
                    server.kill()  # a crash: the connection drops mid-stream
                    restarter.start()
            else:
                after.append(frame)
                if len(after) == 25:
                    break
    restarter.join(timeout=30)
    assert not restart_errors, restart_errors

    assert len(before) >= 25
    assert len(after) == 25
    assert_increasing(before + after)
    gap_s = after[0].t_s - before[-1].t_s
    assert gap_s >= 1.0, f"t_s must be wall-clock anchored across the outage, gap was {gap_s:.2f} s"

    began, ended = outages[0], outages[-1]
    assert len(outages) == 2
    assert began.ended_wall is None and began.attempts == 0 and began.reason
    assert ended.started_wall == began.started_wall
    assert ended.ended_wall is not None and ended.ended_wall - ended.started_wall >= 1.0
    assert ended.attempts >= 1
    for outage in outages:
        assert SECRET not in outage.uri and "viewer:***@" in outage.uri
    assert SECRET not in caplog.text
    assert "stream lost" in caplog.text and "frames flow again" in caplog.text


def test_stalled_server_times_out_and_recovers(rtsp_server: ServerProcess) -> None:
    """A server that stops sending (but keeps the connection) is detected by the read timeout."""
    url = rtsp_server.start()
    outages: list[Outage] = []
    stalled_at = 0.0
    resumed = threading.Timer(2.5, rtsp_server.signal, args=(signal.SIGCONT,))
    frames: list[Frame] = []
    with open_source(
        url, reconnect=FAST_RETRY, outage_sink=outages.append, open_timeout_s=1.0, read_timeout_s=1.0
    ) as source:
        for frame in source.frames(stride=5):
            frames.append(frame)
            if len(frames) == 3:
                rtsp_server.signal(signal.SIGSTOP)
                stalled_at = time.monotonic()
                resumed.start()
            if outages and outages[-1].ended_wall is not None and len(frames) >= 8:
                break
            assert time.monotonic() - (stalled_at or time.monotonic()) < 30, "reader hung on a stalled server"
    resumed.cancel()
    assert all(f.index % 5 == 0 for f in frames)
    assert_increasing(frames)
    assert outages[0].ended_wall is None
    assert outages[-1].ended_wall is not None
    assert any(word in outages[0].reason for word in ("no data", "no answer", "timed out")), outages[0].reason


def test_unreachable_stream_gives_up_quickly() -> None:
    port = free_port()  # nothing listens there
    url = f"rtsp://viewer:{SECRET}@127.0.0.1:{port}/cam"
    outages: list[Outage] = []
    started = time.monotonic()
    with pytest.raises(StreamUnavailable) as caught:
        open_source(url, reconnect=ReconnectPolicy(initial_s=0.2, max_attempts=2), outage_sink=outages.append)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message == (
        f"cannot reach stream 'rtsp://viewer:***@127.0.0.1:{port}/cam': connection refused "
        "(gave up after 2 attempts)"
    )
    assert [o.attempts for o in outages] == [1, 2]
    assert all(o.ended_wall is None for o in outages)


def test_silent_server_does_not_hang() -> None:
    """A server that accepts connections but never answers: every attempt ends at its timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        for scheme in ("rtsp", "http"):
            started = time.monotonic()
            with pytest.raises(StreamUnavailable, match="gave up after 2 attempts"):
                open_source(
                    f"{scheme}://127.0.0.1:{port}/cam",
                    reconnect=ReconnectPolicy(initial_s=0.1, max_attempts=2),
                    open_timeout_s=1.0,
                    read_timeout_s=1.0,
                )
            assert time.monotonic() - started < 6
