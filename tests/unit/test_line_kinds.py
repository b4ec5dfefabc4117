"""Door and pass-by lines (`kind: passby`) in the site config, and how a sighting's crossings split
into entries, exits (离店) and passers-by (过店) — docs/metrics.md, "Exits and pass-by"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keliu.config import load_site_config
from keliu.domain.crossings import Exit, PassbyCrossing, exits_of, split_passby
from keliu.domain.visits import Entry, PersonCategory, Sighting, SightingCrossing, Visit
from keliu.errors import ConfigError

SITE = """\
site: {{id: shop, name: Shop}}
analytics:
  entrances:
    - {{camera: door, line: {entrance}, name: Main door}}
cameras:
  - id: door
    source: door.mp4
    lines:
      - {{id: main, a: [0.2, 0.8], b: [0.8, 0.8], inside: [0.5, 0.9]}}
      - {{id: street, kind: passby, a: [0.05, 0.2], b: [0.05, 0.9]}}
"""
T0 = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_passby_line_needs_no_inside_point_and_counts_both_ways(tmp_path: Path) -> None:
    site = load_site_config(write(tmp_path, SITE.format(entrance="main")))
    main, street = site.camera("door").lines
    assert (main.kind, street.kind, street.inside) == ("door", "passby", None)
    assert site.passby_lines() == frozenset({("door", "street")})
    line = street.to_line()  # a side of its own: crossing it either way changes side
    assert line.side((0.0, 0.5)) == -line.side((0.1, 0.5)) != 0


def test_a_door_line_without_inside_is_refused_with_its_line(tmp_path: Path) -> None:
    text = SITE.format(entrance="main").replace(", inside: [0.5, 0.9]", "")
    with pytest.raises(
        ConfigError, match=r"site\.yaml:9: cameras\[0\]\.lines\[0\]: .*door line needs inside"
    ):
        load_site_config(write(tmp_path, text))


def test_an_entrance_must_name_a_door_line_not_a_passby_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"analytics\.entrances\[0\]\.line: door/street is a pass-by line"):
        load_site_config(write(tmp_path, SITE.format(entrance="street")))


def test_an_unknown_line_kind_is_refused(tmp_path: Path) -> None:
    text = SITE.format(entrance="main").replace("kind: passby", "kind: window")
    with pytest.raises(
        ConfigError, match=r"cameras\[0\]\.lines\[1\]\.kind: Input should be 'door' or 'passby'"
    ):
        load_site_config(write(tmp_path, text))


def crossing(line: str, direction: str, minutes: float) -> SightingCrossing:
    return SightingCrossing(line, direction, T0 + timedelta(minutes=minutes), (0.5, 0.5))  # type: ignore[arg-type]


def test_passby_crossings_leave_the_sighting_and_exits_link_to_the_visit() -> None:
    s = Sighting(
        "shop",
        "door",
        7,
        T0,
        T0 + timedelta(minutes=30),
        (
            crossing("street", "out", 0),  # walked past ...
            crossing("main", "out", 1),  # ... left before the visit below began (not its exit)
            crossing("main", "in", 2),
            crossing("street", "in", 20),
            crossing("main", "out", 25),
        ),
    )
    door, passers = split_passby(s, frozenset({("door", "street")}))
    assert [(c.line_id, c.direction) for c in door.crossings] == [
        ("main", "out"),
        ("main", "in"),
        ("main", "out"),
    ]
    assert passers == [
        PassbyCrossing("shop", "door", "street", T0, 7, "out"),
        PassbyCrossing("shop", "door", "street", T0 + timedelta(minutes=20), 7, "in"),
    ]
    assert split_passby(s, frozenset({("other-camera", "street")}))[0] is s  # another camera's line

    visit = Visit(
        "v1", "shop", PersonCategory.CUSTOMER, T0 + timedelta(minutes=2), [Entry(T0, "door", "main")]
    )
    assert exits_of(door, visit) == [
        Exit("shop", "door", "main", T0 + timedelta(minutes=1), 7, None),
        Exit("shop", "door", "main", T0 + timedelta(minutes=25), 7, "v1"),
    ]
    assert [x.visit_id for x in exits_of(door, None)] == [None, None]
