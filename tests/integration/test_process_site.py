"""`keliu process` end to end on real video: sightings → visits in SQLite and the real PostgreSQL,
and the privacy guarantees (docs/visitors.md, REQUIREMENTS V7, I7).

The site has two cameras (PETS09-S2L1 and TUD-Stadtmitte). The CLI run writes into a fresh
KELIU_HOME, with its working and temporary directories pointed at fresh folders, so everything it
wrote can be scanned afterwards.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from keliu.store import SignatureKeyError, open_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE_YAML = """
site: {{id: plaza, name: 广场 Plaza}}
analytics:
  store_type: mall
  entrances:
    - {{camera: pets, line: west, name: 西门 West gate, group: 西 West, main: true}}
    - {{camera: street, line: door, name: 街门 Street door}}
  areas:
    - {{zone: square, kind: area, name: 中庭 Square, floor: 1}}
cameras:
  - id: pets
    source: {pets}
    recorded_at: 2026-03-07T10:00:00+08:00
    lines:
      - {{id: west, a: [0.30, 0.20], b: [0.30, 0.65], inside: [0.20, 0.40]}}
      - {{id: middle, a: [0.55, 0.25], b: [0.55, 0.85], inside: [0.65, 0.50]}}
    zones:
      - {{id: square, polygon: [[0.05, 0.25], [0.95, 0.25], [0.95, 0.95], [0.05, 0.95]]}}
  - id: street
    source: {tud}
    recorded_at: 2026-03-07T10:00:30+08:00
    lines:
      - {{id: door, a: [0.50, 0.30], b: [0.50, 1.00], inside: [0.75, 0.60]}}
"""

IMAGE_MAGIC = {
    b"\xff\xd8\xff\xe0": "JPEG/JFIF",
    b"\xff\xd8\xff\xe1": "JPEG/Exif",
    b"\xff\xd8\xff\xdb": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"WEBPVP8": "WebP",
    b"\x00\x00\x00\x0cjP  ": "JPEG 2000",
}


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder_model: Path) -> dict:
    root = tmp_path_factory.mktemp("process")
    home, work, tmp = root / "home", root / "work", root / "tmp"
    for d in (home, work, tmp):
        d.mkdir()
    (home / "models").symlink_to(embedder_model.parents[1], target_is_directory=True)
    config = work / "site.yaml"
    config.write_text(
        SITE_YAML.format(
            pets=shared_data / "video" / "PETS09-S2L1.mp4", tud=shared_data / "video" / "TUD-Stadtmitte.mp4"
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "KELIU_HOME": str(home), "TMPDIR": str(tmp)}
    env.pop("KELIU_SIGNATURE_KEY", None)
    keliu = [sys.executable, "-m", "keliu.cli"]
    run = subprocess.run(
        [*keliu, "process", "--config", str(config)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report = subprocess.run(
        [*keliu, "report", "--site", "plaza", "--day", "2026-03-07", "--json"],
        cwd=work,
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr
    return {"home": home, "work": work, "tmp": tmp, "env": env, "config": config, "report": report.stdout}


def test_process_and_report_count_every_entry_once(processed: dict) -> None:
    (row,) = [json.loads(line) for line in processed["report"].splitlines()]
    url = f"sqlite:///{processed['home'] / 'keliu.db'}"
    os.environ["KELIU_HOME"] = str(processed["home"])
    try:
        with open_store(url) as store:
            day = (datetime(2026, 3, 7, tzinfo=UTC) - timedelta(hours=8), datetime(2026, 3, 8, tzinfo=UTC))
            sightings = store.sightings("plaza", *day)
            visits = store.visits("plaza", *day)
    finally:
        del os.environ["KELIU_HOME"]
    crossings_in = sum(len(s.entries) for s in sightings)
    entries = sum(len(v.entries) for v in visits)
    assert crossings_in > 10 and {s.camera_id for s in sightings} == {"pets", "street"}
    assert entries == crossings_in  # every 'in' crossing is an entry of exactly one visit
    customer_entries = sum(len(v.entries) for v in visits if v.category.value == "customer")
    assert row["total"] == customer_entries
    assert 0 < row["deduplicated"] <= row["total"]
    assert row["deduplicated"] == row["new"] + row["returning"]
    assert 1 <= row["batches"] <= row["deduplicated"]
    assert all(s.signature is None or s.signature.embedding.shape[0] > 0 for s in sightings)


def test_resolution_is_the_same_on_sqlite_and_postgresql(
    processed: dict, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-resolve the stored sightings into another engine: identical visits and report."""
    from keliu.config import load_site_config
    from keliu.processing import SiteResolution, register_site

    site = load_site_config(processed["config"])
    day = (datetime(2026, 3, 6, 16, tzinfo=UTC), datetime(2026, 3, 7, 16, tzinfo=UTC))
    monkeypatch.setenv("KELIU_HOME", str(processed["home"]))
    with open_store(f"sqlite:///{processed['home'] / 'keliu.db'}") as source:
        sightings = source.sightings("plaza", *day)
        expected = source.traffic_summary("plaza", *day, by="hour")
        expected_visits = source.visits("plaza", *day)
    with open_store(db_url) as store:  # same key file: same KELIU_HOME
        register_site(store, site)
        resolution = SiteResolution(site, store)
        resolution.add(sorted(sightings, key=lambda s: (s.first_seen, s.camera_id, s.track_id)))
        resolution.finish()
        assert store.traffic_summary("plaza", *day, by="hour") == expected
        assert store.visits("plaza", *day) == expected_visits


def _files(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
            found += [Path(dirpath) / f for f in filenames]
    return found


def test_nothing_image_like_is_written(processed: dict) -> None:
    files = _files(processed["home"], processed["work"], processed["tmp"])
    names = {p.relative_to(processed["home"]).as_posix() for p in files if processed["home"] in p.parents}
    # the writer lock beside the database holds only "pid N since TIME" (keliu.store.footage)
    locks = {n for n in names if n.startswith("keliu.db.writer-") and n.endswith(".lock")}
    assert names - locks <= {"keliu.db", "keliu.db-wal", "keliu.db-shm", "signature.key"}, names
    for path in files:
        data = path.read_bytes()
        for magic, kind in IMAGE_MAGIC.items():
            assert magic not in data, f"{path} contains {kind} data"
    # the only binary values in the database are encrypted signatures, and no value is crop-sized
    db = sqlite3.connect(processed["home"] / "keliu.db")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        blobs = 0
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        blobs += 1
                        assert value[:1] == b"\x01", f"unexpected binary value in {table}"
                        assert len(value) < 64 * 128 * 3, f"crop-sized blob in {table}"
                    elif isinstance(value, str):
                        assert len(value) < 64 * 128 * 3, f"crop-sized text in {table}"
        assert blobs > 0
    finally:
        db.close()


def test_signatures_are_unreadable_without_the_key_and_gone_after_purge(
    processed: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KELIU_HOME", str(processed["home"]))
    url = f"sqlite:///{processed['home'] / 'keliu.db'}"
    clock = datetime(2026, 3, 7, 3, tzinfo=UTC)
    with open_store(url, key=os.urandom(32)) as wrong, pytest.raises(SignatureKeyError):
        wrong.remembered_people("plaza", clock)
    with open_store(url) as store:
        remembered = store.remembered_people("plaza", clock)
        assert remembered
        raw = (processed["home"] / "keliu.db").read_bytes()
        wal = processed["home"] / "keliu.db-wal"
        raw += wal.read_bytes() if wal.exists() else b""
        for person in remembered[:5]:
            assert person.signature.embedding.tobytes()[:64] not in raw  # encrypted at rest
        ciphertexts = [
            row[0]
            for row in sqlite3.connect(processed["home"] / "keliu.db").execute(
                "SELECT signature FROM remembered"
            )
        ]
        # the purge job, a year later: every remembered signature has expired
        later = clock + timedelta(days=366)
        assert store.purge_expired(later) >= len(remembered)
        assert store.remembered_people("plaza", later) == []
        day = (datetime(2026, 3, 6, 16, tzinfo=UTC), datetime(2026, 3, 7, 16, tzinfo=UTC))
        assert all(s.signature is None for s in store.sightings("plaza", day[0], day[1]))
    raw = (processed["home"] / "keliu.db").read_bytes()
    wal = processed["home"] / "keliu.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    for blob in ciphertexts:
        assert blob[-32:] not in raw  # overwritten on disk, not just unlinked


def test_report_export_matches_the_report_table(processed: dict, tmp_path: Path) -> None:
    """`keliu report --export`: the day's 日报 as HTML, XLSX and CSV with the same numbers."""
    import openpyxl

    (row,) = [json.loads(line) for line in processed["report"].splitlines()]
    out = tmp_path / "reports"
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "keliu.cli",
            "report",
            "--site",
            "plaza",
            "--day",
            "2026-03-07",
            "--export",
            str(out),
        ],
        cwd=processed["work"],
        env=processed["env"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert export.returncode == 0, export.stderr
    written = [Path(line) for line in export.stdout.splitlines()]
    assert {p.suffix for p in written} == {".html", ".xlsx", ".csv"}
    assert all(p.is_file() and p.parent == out for p in written)
    html = next(p for p in written if p.suffix == ".html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "<svg" in html
    book = openpyxl.load_workbook(next(p for p in written if p.suffix == ".xlsx"), read_only=True)
    summary = {r[0]: r[1] for r in book.worksheets[0].iter_rows(values_only=True) if r and r[0]}
    assert summary["客流量（去重）"] == row["deduplicated"]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "keliu.cli",
            "report",
            "--site",
            "plaza",
            "--from",
            "2026-03-08",
            "--to",
            "2026-03-07",
            "--export",
            str(tmp_path / "bad"),
        ],
        cwd=processed["work"],
        env=processed["env"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "2026-03-07" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_zone_stays_and_site_attributes_reach_the_analytics(
    processed: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zone stays of every visit (驻留) and the config's entrances and areas land in the store and
    the dwell metric reads them."""
    from datetime import date

    from keliu.analytics import queries

    monkeypatch.setenv("KELIU_HOME", str(processed["home"]))
    day = (datetime(2026, 3, 6, 16, tzinfo=UTC), datetime(2026, 3, 7, 16, tzinfo=UTC))
    with open_store(f"sqlite:///{processed['home'] / 'keliu.db'}") as store:
        entrances = {(e.camera_id, e.line_id): e for e in store.entrances("plaza")}
        assert entrances[("pets", "west")].group == "西 West" and entrances[("pets", "west")].is_main
        assert [a.zone_id for a in store.areas("plaza")] == ["square"]
        assert store.site_profile("plaza").store_type == "mall"
        assert len(store.business_hours("plaza")) == 7
        visits = {v.visit_id: v for v in store.visits("plaza", *day)}
        stays = store.zone_stays("plaza", *day, customers_only=False)
        sightings = store.sightings("plaza", *day)
        assert stays, "PETS09 people walk through the square zone"
        assert {s.visit_id for s in stays} <= set(visits)
        assert all(s.zone_id == "square" for s in stays)
        # every stay comes from a sighting's zone stay of the same time
        seen = {(z.entered_at, z.left_at) for s in sightings for z in s.zones}
        assert {(s.entered_at, s.left_at) for s in stays} <= seen
        (square,) = queries.dwell(store, "plaza", date(2026, 3, 7), date(2026, 3, 7))
    customer_visits = {s.visit_id for s in stays if visits[s.visit_id].category.value == "customer"}
    assert square.key == "square" and square.visits == len(customer_visits) > 0
    assert square.mean_dwell_s is not None and square.mean_dwell_s > 0
