"""`keliu process` can be trusted after a re-run, a second writer, a kill or a dead camera
(REQUIREMENTS V2, I7; issue "Trust the numbers").

Every test runs the real CLI on real video (the first 30 s of PETS09-S2L1, re-encoded once per
session) against SQLite and the machine's real PostgreSQL, with 5-second segments so that a 30 s clip
has several commit points to be killed at.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from tests.integration.conftest import DEFAULT_ADMIN_URL, _libpq

from keliu.store.engine import create_store_engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIP_S = 30
SEGMENT_S = "5"
DAY = "2026-03-07"
SITE_YAML = """
site: {{id: plaza, name: 广场 Plaza}}
cameras:
  - id: pets
    source: {video}
    recorded_at: 2026-03-07T10:00:00+08:00
    lines:
      - {{id: west, a: [0.30, 0.20], b: [0.30, 0.65], inside: [0.20, 0.40]}}
      - {{id: middle, a: [0.55, 0.25], b: [0.55, 0.85], inside: [0.65, 0.50]}}
    zones:
      - {{id: square, polygon: [[0.05, 0.25], [0.95, 0.25], [0.95, 0.95], [0.05, 0.95]]}}
"""
KELIU = [sys.executable, "-m", "keliu.cli"]


@pytest.fixture(scope="session")
def clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first CLIP_S seconds of PETS09-S2L1 (7 fps), as an H.264 file of its own."""
    import av

    path = tmp_path_factory.mktemp("clip") / "pets-30s.mp4"
    with av.open(str(shared_data / "video" / "PETS09-S2L1.mp4")) as src, av.open(str(path), "w") as out:
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


class Site:
    """A fresh KELIU_HOME (models linked in) and database, with a site config around one video."""

    def __init__(self, root: Path, video: Path, db_url: str, embedder_model: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        (self.home / "models").symlink_to(embedder_model.parents[1], target_is_directory=True)
        self.config = root / "site.yaml"
        self.config.write_text(SITE_YAML.format(video=video), encoding="utf-8")
        self.db_url = db_url
        self.env = {**os.environ, "KELIU_HOME": str(self.home)}
        self.env.pop("KELIU_SIGNATURE_KEY", None)

    def process_args(self, config: Path | None = None) -> list[str]:
        config = config or self.config
        return [*KELIU, "process", "--config", str(config), "--db", self.db_url, "--segment-s", SEGMENT_S]

    def process(self, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.process_args(config), env=self.env, capture_output=True, text=True, check=False
        )

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.process_args(), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def config_for(self, video: Path | str, name: str) -> Path:
        path = self.root / name
        path.write_text(SITE_YAML.format(video=video), encoding="utf-8")
        return path

    def report(self) -> list[dict[str, object]]:
        run = subprocess.run(
            [
                *KELIU,
                "report",
                "--site",
                "plaza",
                "--day",
                DAY,
                "--by",
                "hour",
                "--json",
                "--db",
                self.db_url,
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        return [json.loads(line) for line in run.stdout.splitlines()]

    def query(self, text: str) -> list[tuple[str, ...]]:
        engine = create_store_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return sorted(tuple(map(str, r)) for r in conn.execute(sa.text(text)))
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # no database or table yet
            return []
        finally:
            engine.dispose()

    def rows(self) -> dict[str, list[tuple[str, ...]]]:
        """What the runs stored, as comparable rows (ids, times, categories; no signatures)."""
        return {
            "visits": self.query(
                "SELECT visit_id, category, first_entry, last_exit, batch_id, is_returning FROM visits"
            ),
            "entries": self.query("SELECT visit_id, at, camera_id, line_id FROM entries"),
            "sightings": self.query("SELECT camera_id, track_id, first_seen, last_seen FROM sightings"),
            "batches": self.query("SELECT batch_id, size FROM batches"),
        }

    def segments_done(self) -> int:
        done = self.query("SELECT segments_done FROM footage")
        return max((int(r[0]) for r in done), default=0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def new_site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    clip: Path,
    embedder_model: Path,
) -> Iterator[Callable[[], Site]]:
    """Makes sites, each with its own database on the backend (SQLite file or PostgreSQL database)."""
    import psycopg
    from psycopg import sql

    admin = os.environ.get("KELIU_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)
    created: list[str] = []

    def make() -> Site:
        root = tmp_path_factory.mktemp("site")
        if request.param == "sqlite":
            return Site(root, clip, f"sqlite:///{root / 'keliu.db'}", embedder_model)
        name = f"keliu_trust_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(_libpq(admin), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        url = make_url(_libpq(admin)).set(database=name).render_as_string(hide_password=False)
        return Site(root, clip, url, embedder_model)

    yield make
    if created:
        with psycopg.connect(_libpq(admin), autocommit=True, connect_timeout=10) as conn:
            for name in created:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def reference(new_site: Callable[[], Site]) -> tuple[Site, list[dict[str, object]], dict[str, list]]:
    """One uninterrupted run: the figures every other run must reproduce."""
    site = new_site()
    run = site.process()
    assert run.returncode == 0, run.stderr
    report = site.report()
    assert sum(int(r["total"]) for r in report) > 0  # the clip has real entries to double or lose
    return site, report, site.rows()


def test_processing_the_same_footage_again_changes_nothing(reference: tuple) -> None:
    site, report, rows = reference
    again = site.process()
    assert again.returncode == 0, again.stderr
    assert "already ingested" in again.stderr
    assert site.report() == report
    assert site.rows() == rows


def test_the_same_footage_under_another_name_changes_nothing(
    reference: tuple, clip: Path, tmp_path: Path
) -> None:
    site, report, rows = reference
    copy = tmp_path / "renamed-copy.mp4"
    copy.write_bytes(clip.read_bytes())
    again = site.process(site.config_for(copy, "renamed.yaml"))
    assert again.returncode == 0, again.stderr
    assert site.report() == report
    assert site.rows() == rows


def test_other_footage_overlapping_in_time_is_refused(reference: tuple, shared_data: Path) -> None:
    site, _report, rows = reference
    run = site.process(site.config_for(shared_data / "video" / "PETS09-S2L1.mp4", "whole.yaml"))
    assert run.returncode == 2
    assert "overlaps footage already ingested" in run.stderr and "Traceback" not in run.stderr
    assert site.rows() == rows


def test_a_second_writer_is_refused_and_nothing_doubles(
    reference: tuple, new_site: Callable[[], Site]
) -> None:
    _, report, rows = reference
    site = new_site()
    first = site.start()
    deadline = time.monotonic() + 60
    while site.segments_done() < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the first run holds the lock once it writes
    second = site.process()
    _out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    assert "being written by another keliu process" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert site.report() == report
    assert site.rows() == rows


@pytest.mark.parametrize(
    "kills",
    [
        (("KILL", 1), ("KILL", 3), ("TERM", 4)),
        (("KILL", 0), ("KILL", 5)),
    ],
    ids=["kill-after-1-3-term-after-4", "kill-at-start-and-near-the-end"],
)
def test_a_killed_run_resumes_to_the_same_figures(
    reference: tuple, new_site: Callable[[], Site], kills: tuple[tuple[str, int], ...]
) -> None:
    """Kill `keliu process` when it has committed N segments (0: while it loads), then re-run."""
    _, report, rows = reference
    site = new_site()
    for how, after_segments in kills:
        run = site.start()
        deadline = time.monotonic() + 120
        while site.segments_done() < after_segments and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, "the run ended before it could be killed"
        run.send_signal(signal.SIGKILL if how == "KILL" else signal.SIGTERM)
        _, err = run.communicate(timeout=60)
        if how == "TERM":
            assert run.returncode == 130 and "run again to resume" in err, err
        else:
            assert run.returncode == -signal.SIGKILL
    final = site.process()
    assert final.returncode == 0, final.stderr
    if any(n > 0 for _, n in kills):
        assert "resuming" in final.stderr
    assert site.report() == report
    assert site.rows() == rows


def test_an_unreachable_live_camera_is_retried_and_a_run_that_counted_nothing_fails(
    new_site: Callable[[], Site],
) -> None:
    site = new_site()
    site.config = site.config_for("rtsp://127.0.0.1:9/no-camera-here", "live.yaml")
    run = site.start()
    time.sleep(12)  # the old behaviour gave up after 3 attempts in about 3 s and exited 0
    assert run.poll() is None, run.communicate()[1]
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 3, err
    assert "retrying" in err and "no camera delivered a frame" in err
    outages = site.query("SELECT camera_id, attempts FROM camera_outages")
    assert [o[0] for o in outages] == ["pets"] and int(outages[0][1]) >= 1


def test_a_missing_second_camera_is_found_before_anything_runs(new_site: Callable[[], Site]) -> None:
    site = new_site()
    text = site.config.read_text(encoding="utf-8")
    camera = (
        text.split("cameras:\n", 1)[1]
        .replace("id: pets", "id: door")
        .replace("source: ", "source: /nonexistent/door-")
    )
    site.config.write_text(text + camera, encoding="utf-8")
    for command in (site.process_args(), [*KELIU, "config", "check", str(site.config)]):
        run = subprocess.run(command, env=site.env, capture_output=True, text=True, check=False)
        assert run.returncode == 2, run.stderr
        (line,) = run.stderr.strip().splitlines()
        assert f"{site.config}:" in line and "cameras[1].source" in line and "no such video file" in line
    assert site.segments_done() == 0
