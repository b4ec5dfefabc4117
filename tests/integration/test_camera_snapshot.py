"""`keliu camera snapshot` on real video (PETS09-S2L1 from ../shared/data): the PNG the user asked for
has the door lines, the inside arrow and the zone drawn on the real frame, and nothing else is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from keliu.vision.overlay import DOOR_COLOUR_BGR, ZONE_COLOUR_BGR

pytestmark = pytest.mark.integration

SITE_YAML = """
site: {{id: plaza, name: 广场 Plaza}}
analytics:
  entrances:
    - {{camera: pets, line: west, name: 西门 West gate}}
cameras:
  - id: pets
    source: {video}
    lines:
      - {{id: west, a: [0.30, 0.20], b: [0.30, 0.65], inside: [0.20, 0.40]}}
      - {{id: 中门, a: [0.55, 0.25], b: [0.55, 0.85], inside: [0.65, 0.50]}}
    zones:
      - {{id: square, polygon: [[0.05, 0.25], [0.95, 0.25], [0.95, 0.95], [0.05, 0.95]]}}
  - id: other
    source: {video}
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "keliu-home").mkdir()
    (tmp_path / "tmp").mkdir()
    return {**os.environ, "KELIU_HOME": str(tmp_path / "keliu-home"), "TMPDIR": str(tmp_path / "tmp")}


def keliu(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keliu.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _frame_at(video: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


def _px(image: np.ndarray, xy: tuple[float, float]) -> tuple[int, int, int]:
    h, w = image.shape[:2]
    return tuple(int(v) for v in image[round(xy[1] * (h - 1)), round(xy[0] * (w - 1))])  # type: ignore[return-value]


def test_snapshot_from_a_site_config_draws_lines_inside_arrows_and_zones(
    tmp_path: Path, shared_data: Path, env: dict[str, str]
) -> None:
    video = shared_data / "video" / "PETS09-S2L1.mp4"  # 768×576 at 7 fps
    work = tmp_path / "work"
    work.mkdir()
    (work / "site.yaml").write_text(SITE_YAML.format(video=video), encoding="utf-8")
    out = work / "door.png"
    run = keliu(
        ["camera", "snapshot", "--config", "site.yaml", "--camera", "pets", "--out", str(out), "--at-s", "2"],
        env,
        work,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert f"wrote {out} (768×576, camera pets)" in run.stderr
    assert "door line 进店线 west = west (西门 West gate), green" in run.stderr
    assert "door line 进店线 #2 = 中门, green" in run.stderr
    assert "zone 区域 square = square, cyan: 4 corners" in run.stderr

    image = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (576, 768, 3)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    original = _frame_at(video, 14)  # --at-s 2 at 7 fps: frame 14
    door = np.all(image == DOOR_COLOUR_BGR, axis=2)
    zone = np.all(image == ZONE_COLOUR_BGR, axis=2)
    assert np.all(original == DOOR_COLOUR_BGR, axis=2).sum() < 20  # the colour is not in the scene
    assert door.sum() > 2 * (0.45 + 0.60) * 576  # two lines, at least 2 px wide, plus arrows
    assert zone.sum() > 2 * 0.9 * 768  # the zone's outline
    for xy in ((0.30, 0.30), (0.30, 0.60), (0.55, 0.40), (0.55, 0.80), (0.20, 0.40), (0.65, 0.50)):
        assert _px(image, xy) == DOOR_COLOUR_BGR, xy  # both lines and both inside points
    # the arrows: west points left (inside at x 0.20), 中门 right (inside at x 0.65)
    assert _px(image, (0.27, 0.425)) == DOOR_COLOUR_BGR and _px(image, (0.33, 0.425)) != DOOR_COLOUR_BGR
    assert _px(image, (0.58, 0.55)) == DOOR_COLOUR_BGR and _px(image, (0.52, 0.55)) != DOOR_COLOUR_BGR
    # away from the drawing, the picture is the real frame (zone tint aside)
    assert np.array_equal(image[5:40, 5:200], original[5:40, 5:200])

    # the PNG is the only thing written: nothing in KELIU_HOME, TMPDIR or beside it
    assert sorted(p.name for p in work.iterdir()) == ["door.png", "site.yaml"]
    assert list(Path(env["KELIU_HOME"]).iterdir()) == []
    assert list(Path(env["TMPDIR"]).iterdir()) == []


def test_snapshot_of_a_video_with_lines_given_on_the_command_line(
    tmp_path: Path, shared_data: Path, env: dict[str, str]
) -> None:
    video = shared_data / "video" / "TUD-Campus.mp4"  # 640×480
    out = tmp_path / "try.PNG"
    run = keliu(
        [
            "camera",
            "snapshot",
            str(video),
            "--line",
            "door:0.5,0.1,0.5,0.9,0.8,0.5",
            "--out",
            str(out),
            "--grid",
        ],
        env,
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    image = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)
    assert _px(image, (0.5, 0.3)) == DOOR_COLOUR_BGR and _px(image, (0.8, 0.5)) == DOOR_COLOUR_BGR
    assert _px(image, (0.1, 0.75)) == (200, 200, 200)  # the 0.1 grid


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--config", "site.yaml", "--camera", "pets", "--out", "door.jpg"],
            "--out door.jpg: give a file name ending",
        ),
        (["--config", "site.yaml", "--camera", "pets", "--out", "no/such/dir/door.png"], "does not exist"),
        (
            ["--config", "site.yaml", "--out", "door.png"],
            "several cameras (pets, other); choose one with --camera",
        ),
        (["--config", "site.yaml", "--camera", "nope", "--out", "door.png"], "nope"),
        (
            ["--config", "site.yaml", "--camera", "pets", "--out", "door.png", "--at-s", "999"],
            "--at-s 999: the video ends",
        ),
        (
            ["--config", "site.yaml", "--camera", "pets", "--out", "door.png", "--at-s", "-1"],
            "--at-s -1: give 0 to",
        ),
        (["--camera", "pets", "--out", "door.png"], "--camera needs --config FILE"),
        (["--out", "door.png"], "give a VIDEO"),
        (["missing.mp4", "--out", "door.png"], "cannot open video 'missing.mp4': no such file"),
        (
            [
                "--config",
                "site.yaml",
                "--camera",
                "pets",
                "--out",
                "door.png",
                "--line",
                "a:0.1,0.1,0.1,0.9,0.5,0.5",
                "--line",
                "a:0.2,0.1,0.2,0.9,0.5,0.5",
            ],
            "'a' given more than once",
        ),
        (
            ["--config", "site.yaml", "--camera", "pets", "--out", "door.png", "--line", "a:0.1,0.1"],
            "expected 6",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    args: list[str], message: str, tmp_path: Path, shared_data: Path, env: dict[str, str]
) -> None:
    (tmp_path / "site.yaml").write_text(
        SITE_YAML.format(video=shared_data / "video" / "PETS09-S2L1.mp4"), encoding="utf-8"
    )
    run = keliu(["camera", "snapshot", *args], env, tmp_path)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert run.stderr.startswith("keliu: error: ") and run.stderr.count("\n") == 1, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keliu-home", "site.yaml", "tmp"]
