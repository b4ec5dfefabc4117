"""Bad input gets one clear line on stderr, a non-zero exit code and no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

LINE = "door:0.5,0.1,0.5,0.9,0.8,0.5"


def keliu(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keliu.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("keliu: error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert result.stdout == ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_video(tmp_path: Path) -> None:
    assert_one_line_error(
        keliu("count", str(tmp_path / "nope.mp4"), "--line", LINE), "nope.mp4", "no such file"
    )


def test_corrupt_video(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    assert_one_line_error(keliu("count", str(bad), "--line", LINE), "broken.mp4")


def test_unreachable_stream() -> None:
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    assert_one_line_error(keliu("count", url, "--line", LINE), "cannot reach stream", "127.0.0.1")


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("door", "expected ID:AX,AY,BX,BY,IX,IY"),
        ("door:0.1,0.2,0.3", "expected 6 comma-separated numbers"),
        ("door:0.1,0.2,0.3,0.4,x,0.5", "must be numbers"),
        ("door:0.1,0.2,1.3,0.4,0.5,0.5", "must lie in 0..1"),
        ("door:0.5,0.1,0.5,0.9,0.5,0.5", "lies on the line itself"),
        ("door:0.5,0.5,0.5,0.5,0.8,0.5", "end points must differ"),
    ],
)
def test_malformed_line(line: str, needle: str) -> None:
    video = Path(__file__).parents[3] / "shared" / "data" / "video" / "TUD-Campus.mp4"
    assert_one_line_error(keliu("count", str(video), "--line", line), "--line", needle)


def test_malformed_config_value(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {id: s1, name: Shop}\ncameras:\n  - id: door\n    source: x.mp4\n    analysis_fps: fast\n"
    )
    result = keliu("config", "check", str(config))
    assert_one_line_error(result, f"{config}:5: cameras[0].analysis_fps:")
    result = keliu("count", "--config", str(config), "--camera", "door")
    assert_one_line_error(result, f"{config}:5: cameras[0].analysis_fps:")


def test_unknown_option_and_detector() -> None:
    assert_one_line_error(keliu("count", "x.mp4", "--frobnicate"), "--frobnicate")
    assert_one_line_error(keliu("count", "x.mp4", "--line", LINE, "--detector", "magic"), "detector")


def test_config_check_ok(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("site: {id: s1, name: Shop}\ncameras:\n  - id: door\n    source: x.mp4\n")
    (tmp_path / "x.mp4").write_bytes(b"")  # config check refuses a video file that does not exist
    result = keliu("config", "check", str(config))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
