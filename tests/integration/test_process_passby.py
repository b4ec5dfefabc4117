"""`keliu process` on real video with a pass-by line, exits and the file's own clock, on SQLite and the
real PostgreSQL (issue 11, item 4; docs/metrics.md, "Exits and pass-by"; docs/configuration.md,
"Recorded files: which clock").

The clip is the first 50 s of PETS09-S2L1 (people walking along a campus walkway), re-encoded with a
``creation_time`` tag of 2026-03-03 10:00 Shanghai time and no ``recorded_at`` in the config: the run
must put everything on that morning. The line ``walk`` across the walkway is a pass-by line: its
crossings, both directions, become hourly pass-by counts and never entries; ``door`` is a door line,
whose 'out' crossings become exits (离店).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from keliu.analytics import queries
from keliu.store import open_store
from keliu.store import schema as t

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIP_S = 50
CREATED = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
DAY = date(2026, 3, 3)
SITE_YAML = """
site: {{id: plaza, name: 广场 Plaza}}
analytics:
  entrances:
    - {{camera: pets, line: door, name: 中门 Middle door}}
cameras:
  - id: pets
    source: {video}
    lines:
      - {{id: walk, kind: passby, a: [0.30, 0.20], b: [0.30, 0.65]}}
      - {{id: door, a: [0.55, 0.25], b: [0.55, 0.85], inside: [0.65, 0.50]}}
"""
KELIU = [sys.executable, "-m", "keliu.cli"]


@pytest.fixture(scope="module")
def tagged_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first CLIP_S seconds of PETS09-S2L1 as H.264, with a container creation_time tag."""
    import av

    path = tmp_path_factory.mktemp("clip") / "pets-tagged.mp4"
    with av.open(str(shared_data / "video" / "PETS09-S2L1.mp4")) as src, av.open(str(path), "w") as out:
        out.metadata["creation_time"] = CREATED.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        stream = src.streams.video[0]
        encoded = out.add_stream("h264", rate=stream.average_rate)
        encoded.width, encoded.height, encoded.pix_fmt = stream.width, stream.height, "yuv420p"
        limit = round(float(stream.average_rate) * CLIP_S)
        for n, frame in enumerate(src.decode(stream)):
            if n >= limit:
                break
            for packet in encoded.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in encoded.encode():
            out.mux(packet)
    return path


@pytest.fixture
def home(tmp_path: Path, embedder_model: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A KELIU_HOME shared by the CLI runs and this process (the same signature key)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(embedder_model.parents[1], target_is_directory=True)
    monkeypatch.setenv("KELIU_HOME", str(home))
    monkeypatch.delenv("KELIU_SIGNATURE_KEY", raising=False)
    monkeypatch.delenv("KELIU_SIGNATURE_KEY_FILE", raising=False)
    yield home


def keliu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KELIU, *args], env=dict(os.environ), capture_output=True, text=True, check=False)


def config(tmp_path: Path, video: Path | str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_YAML.format(video=video), encoding="utf-8")
    return path


def test_process_counts_passers_by_exits_and_puts_the_footage_on_its_own_day(
    home: Path, tmp_path: Path, tagged_clip: Path, db_url: str
) -> None:
    site = config(tmp_path, tagged_clip)
    run = keliu("process", "--config", str(site), "--db", db_url, "--segment-s", "10")
    assert run.returncode == 0, run.stderr
    assert (
        "pets: recording starts 2026-03-03T02:00:00+00:00 (from the file's creation_time tag)" in run.stderr
    )

    span = (CREATED - timedelta(hours=1), CREATED + timedelta(hours=1))
    with open_store(db_url) as store:
        sightings = store.sightings("plaza", *span)
        visits = store.visits("plaza", *span)
        exits = store.exits("plaza", *span)
        counts = store.passby_counts("plaza", *span)
        funnel = queries.funnel(store, "plaza", DAY, DAY)
        traffic = queries.traffic(store, "plaza", DAY, DAY)
        heat = queries.entrance_heat(store, "plaza", DAY, DAY)
        with store.engine.connect() as conn:
            passby_rows = conn.execute(sa.select(sa.func.count()).select_from(t.passby_crossings)).scalar()
    assert sightings and all(
        CREATED <= s.first_seen < CREATED + timedelta(seconds=CLIP_S + 1) for s in sightings
    )
    crossings = [(c.line_id, c.direction) for s in sightings for c in s.crossings]
    walk = [c for c in crossings if c[0] == "walk"]
    assert {"in", "out"} <= {d for _, d in walk}  # people pass both ways on the walkway

    # pass-by: every crossing of the walk line, both directions, in the 10:00 hour; never an entry
    assert passby_rows == len(walk)
    assert [(c.hour, c.camera_id, c.line_id, c.count) for c in counts] == [
        (CREATED, "pets", "walk", len(walk))
    ]
    assert all(e.line_id == "door" for v in visits for e in v.entries)
    assert sum(len(v.entries) for v in visits) == crossings.count(("door", "in"))
    assert traffic.passby == len(walk)
    assert funnel.stages[0].name == "passby" and funnel.stages[0].count == len(walk)
    assert funnel.capture_rate == pytest.approx(traffic.visits / len(walk))

    # exits: every 'out' crossing of the door line, linked to its visit or not
    assert len(exits) == crossings.count(("door", "out")) > 0
    category = {v.visit_id: v.category.value for v in visits}
    customer_exits = sum(1 for x in exits if x.visit_id is not None and category[x.visit_id] == "customer")
    assert all(x.visit_id is None or x.visit_id in category for x in exits)
    assert traffic.exits == customer_exits and traffic.door_out == len(exits)
    (door,) = heat.entrances
    assert (door.name, door.exits, door.door_out) == ("中门 Middle door", customer_exits, len(exits))

    report = keliu("report", "--site", "plaza", "--day", DAY.isoformat(), "--json", "--db", db_url)
    assert report.returncode == 0, report.stderr
    (row,) = [json.loads(line) for line in report.stdout.splitlines()]
    assert (row["exits"], row["total"]) == (customer_exits, traffic.entries)
    table = keliu("report", "--site", "plaza", "--day", DAY.isoformat(), "--db", db_url)
    assert table.returncode == 0 and "离店 exits" in table.stdout

    # the same file again with another clock: the ledger keeps the first one, nothing is counted twice
    again = keliu("process", "--config", str(site), "--db", db_url, "--recorded-at", "2026-03-01T09:00")
    assert again.returncode == 0, again.stderr
    assert "kept from the footage ledger" in again.stderr and "already ingested" in again.stderr
    with open_store(db_url) as store:
        assert store.passby_counts("plaza", *span) == counts
        assert store.exits("plaza", *span) == exits


def test_recorded_at_is_checked_before_anything_runs(home: Path, tmp_path: Path, tagged_clip: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keliu.db'}"
    bad = keliu(
        "process", "--config", str(config(tmp_path, tagged_clip)), "--db", db, "--recorded-at", "Tuesday"
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "keliu: error: --recorded-at 'Tuesday': expected a date and time, e.g. 2026-03-07T10:00:00+08:00"
    ]
    far = keliu(
        "process", "--config", str(config(tmp_path, tagged_clip)), "--db", db, "--recorded-at", "1970-01-01"
    )
    assert far.returncode == 2 and "keliu handles dates from 2000-01-01" in far.stderr
    live = config(tmp_path, "rtsp://127.0.0.1:9/stream")
    run = keliu("process", "--config", str(live), "--db", db, "--recorded-at", "2026-03-03T10:00:00+08:00")
    assert run.returncode == 2
    assert "a recording start time is for recorded files; cameras pets are live streams" in run.stderr
    assert "Traceback" not in bad.stderr + far.stderr + run.stderr
    assert not (tmp_path / "keliu.db").exists()  # nothing written


def test_the_camera_snapshot_draws_the_passby_line_as_one(
    home: Path, tmp_path: Path, tagged_clip: Path
) -> None:
    out = tmp_path / "view.png"
    run = keliu("camera", "snapshot", "--config", str(config(tmp_path, tagged_clip)), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "pass-by line 过店线 walk = walk, orange: A=(0.30, 0.20) B=(0.30, 0.65)\n" in run.stderr
    assert "door line 进店线 door = door (中门 Middle door), green:" in run.stderr
