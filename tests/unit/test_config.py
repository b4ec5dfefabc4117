"""Site config: strict validation with file:line: key: message errors (STYLE habit 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keliu.config import load_site_config
from keliu.errors import ConfigError

GOOD = """\
site:
  id: showroom-1
  name: 4S 店展厅
cameras:
  - id: door
    source: door.mp4
    lines:
      - {id: main-door, a: [0.2, 0.8], b: [0.8, 0.8], inside: [0.5, 0.9]}
    zones:
      - id: lounge
        polygon: [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4]]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_config_loads_and_resolves_relative_sources(tmp_path: Path) -> None:
    site = load_site_config(write(tmp_path, GOOD))
    camera = site.camera("door")
    assert camera.source == str(tmp_path / "door.mp4")
    assert camera.lines[0].to_line().side((0.5, 0.95)) == 1
    assert camera.zones[0].to_zone().contains((0.3, 0.15))


@pytest.mark.parametrize(
    ("needle", "replacement", "expected"),
    [
        (
            "b: [0.8, 0.8]",
            "b: [1.8, 0.8]",
            ":8: cameras[0].lines[0].b[0]: Input should be less than or equal to 1",
        ),
        (
            "inside: [0.5, 0.9]",
            "inside: [0.5, 0.8]",
            ":8: cameras[0].lines[0]: the inside point (0.5, 0.8) lies on the line itself",
        ),
        (
            "    source: door.mp4\n",
            "    source: door.mp4\n    sorce: x\n",
            ":7: cameras[0].sorce: unknown key",
        ),
        ("[0.4, 0.4]]", "[0.4, 0.1]]", ":10: cameras[0].zones[0]: the polygon has zero area"),
        (
            "  - id: door\n",
            "  - id: door\n    analysis_fps: -3\n",
            ":6: cameras[0].analysis_fps: Input should be greater",
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, needle: str, replacement: str, expected: str) -> None:
    path = write(tmp_path, GOOD.replace(needle, replacement))
    with pytest.raises(ConfigError) as info:
        load_site_config(path)
    message = str(info.value)
    assert message.startswith(str(path) + ":")
    assert expected in message, message


def test_missing_key_names_its_parent_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    source: door.mp4\n", ""))
    with pytest.raises(ConfigError, match=r"site.yaml:5: cameras\[0\].source: Field required"):
        load_site_config(path)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: 4S 店展厅", "name: [unclosed"))
    with pytest.raises(ConfigError, match=r"site.yaml:\d+: \(yaml\)"):
        load_site_config(path)


def test_duplicate_ids_and_unknown_camera(tmp_path: Path) -> None:
    dup = GOOD + "  - id: door\n    source: other.mp4\n"
    with pytest.raises(ConfigError, match=r"cameras: duplicate camera id\(s\): door"):
        load_site_config(write(tmp_path, dup))
    site = load_site_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="camera 'nope' is not in the site config"):
        site.camera("nope")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_site_config(tmp_path / "absent.yaml")


def test_bench_site_configs_are_valid() -> None:
    for path in sorted((Path(__file__).parents[2] / "bench" / "sites").glob("*.yaml")):
        assert load_site_config(path).cameras


ANALYTICS = """\
analytics:
  store_type: showroom
  entrances:
    - {camera: door, line: main-door, name: 正门 Main door, group: 东 East, main: true}
  areas:
    - {zone: lounge, kind: reception, name: 洽谈区 Lounge}
"""


def test_analytics_section_loads(tmp_path: Path) -> None:
    site = load_site_config(write(tmp_path, GOOD.replace("cameras:\n", ANALYTICS + "cameras:\n", 1)))
    assert site.analytics.store_type == "showroom" and site.analytics.reception_min_s == 300.0
    assert site.analytics.entrances[0].group == "东 East" and site.analytics.entrances[0].main
    assert site.analytics.areas[0].kind == "reception"
    assert load_site_config(write(tmp_path, GOOD)).analytics.entrances == []


@pytest.mark.parametrize(
    ("needle", "replacement", "expected"),
    [
        (
            "line: main-door, name",
            "line: side-door, name",
            ":7: analytics.entrances[0].line: camera 'door' has no line 'side-door'",
        ),
        ("zone: lounge, kind", "zone: bar, kind", ":9: analytics.areas[0].zone: no camera has a zone 'bar'"),
        ("kind: reception", "kind: kitchen", "analytics.areas[0].kind: Input should be"),
        (
            "  store_type: showroom\n",
            "  store_type: showroom\n  week_start: 7\n",
            ":6: analytics.week_start: Input should be less",
        ),
    ],
)
def test_analytics_errors_name_file_line_and_key(
    tmp_path: Path, needle: str, replacement: str, expected: str
) -> None:
    text = GOOD.replace("cameras:\n", ANALYTICS.replace(needle, replacement) + "cameras:\n", 1)
    with pytest.raises(ConfigError) as info:
        load_site_config(write(tmp_path, text))
    assert str(info.value).startswith(str(tmp_path / "site.yaml") + ":")
    assert expected in str(info.value), str(info.value)
