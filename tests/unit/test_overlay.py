"""keliu.vision.overlay: lines, the inside arrow and zones land where the config says (frame fractions)."""

from __future__ import annotations

import numpy as np
import pytest

from keliu.vision.overlay import (
    DOOR_COLOUR_BGR,
    PASSBY_COLOUR_BGR,
    ZONE_COLOUR_BGR,
    OverlayLine,
    OverlayZone,
    draw_grid,
    draw_overlay,
    label_of,
    legend,
)

W, H = 640, 480


def _is(image: np.ndarray, xy: tuple[float, float], colour: tuple[int, int, int]) -> bool:
    x, y = round(xy[0] * (W - 1)), round(xy[1] * (H - 1))
    return tuple(int(v) for v in image[y, x]) == colour


def _frame() -> np.ndarray:
    return np.full((H, W, 3), 60, dtype=np.uint8)


@pytest.mark.parametrize("inside_x", [0.8, 0.2])
def test_the_arrow_points_to_the_inside_point_side(inside_x: float) -> None:
    frame = _frame()
    line = OverlayLine("door", (0.5, 0.1), (0.5, 0.9), (inside_x, 0.5))
    image = draw_overlay(frame, [line])
    assert _is(image, (0.5, 0.3), DOOR_COLOUR_BGR)  # on the line
    assert _is(image, (inside_x, 0.5), DOOR_COLOUR_BGR)  # the inside point is marked
    inward = 1 if inside_x > 0.5 else -1
    # the arrow runs from the middle of the line into the inside half, and not into the outside half
    assert _is(image, (0.5 + inward * 0.03, 0.5), DOOR_COLOUR_BGR)
    assert not _is(image, (0.5 - inward * 0.03, 0.5), DOOR_COLOUR_BGR)
    assert (frame == 60).all()  # the input frame is untouched


def test_a_diagonal_line_in_a_wide_frame_gets_its_arrow_on_the_inside() -> None:
    line = OverlayLine("d", (0.2, 0.8), (0.8, 0.2), (0.9, 0.9))  # inside: lower right
    image = draw_overlay(_frame(), [line])
    green = np.all(image == DOOR_COLOUR_BGR, axis=2)
    ys, xs = np.nonzero(green)
    fx, fy = xs / (W - 1), ys / (H - 1)
    off_line = np.abs(fx + fy - 1.0) > 0.05  # away from the line (x + y = 1 in fractions)
    inside = (fx + fy > 1.0) & off_line
    outside = (fx + fy < 1.0) & off_line
    assert inside.sum() > 50  # the arrow, the IN label, the inside dot
    assert outside.sum() < 0.1 * inside.sum()  # only end-point labels may fall there


def test_zones_and_passby_lines_have_their_own_colours() -> None:
    zone = OverlayZone("lounge", ((0.1, 0.1), (0.4, 0.1), (0.4, 0.4), (0.1, 0.4)))
    passby = OverlayLine("street", (0.0, 0.95), (1.0, 0.95), None, "passby")
    image = draw_overlay(_frame(), [passby], [zone])
    assert _is(image, (0.25, 0.1), ZONE_COLOUR_BGR)  # top edge of the zone
    inside_tint = image[round(0.25 * (H - 1)), round(0.25 * (W - 1))]
    assert inside_tint[0] > 60 and inside_tint[2] == pytest.approx(60 * 0.82, abs=2)  # cyan tint
    assert _is(image, (0.7, 0.95), PASSBY_COLOUR_BGR)
    assert not np.all(image == DOOR_COLOUR_BGR, axis=2).any()  # no inside side, no door colour


def test_labels_and_legend() -> None:
    lines = [OverlayLine("main-door", (0.1, 0.5), (0.9, 0.5), (0.5, 0.9), name="正门 Main door")]
    lines.append(OverlayLine("中门", (0.2, 0.2), (0.2, 0.8), (0.1, 0.5)))
    zones = [OverlayZone("接待区", ((0.5, 0.1), (0.9, 0.1), (0.9, 0.3)))]
    assert [label_of(x.id, i) for i, x in enumerate(lines, 1)] == ["main-door", "#2"]
    text = legend(lines, zones)
    assert text[0].startswith(
        "door line 进店线 main-door = main-door (正门 Main door), green: A=(0.10, 0.50)"
    )
    assert text[1].startswith("door line 进店线 #2 = 中门, green")
    assert text[2] == "zone 区域 #1 = 接待区, cyan: 3 corners"


def test_grid_marks_tenths_and_bad_frames_are_refused() -> None:
    image = draw_grid(_frame())
    assert tuple(image[H // 2 + 40, round(0.3 * (W - 1))]) == (200, 200, 200)
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        draw_overlay(np.zeros((H, W), dtype=np.uint8), [])
