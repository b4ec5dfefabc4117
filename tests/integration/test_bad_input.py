"""Silently accepted mistakes (issue 10): every case below runs the real `keliu` command and must end
with one line on stderr (``keliu: error: …``), exit code 2, no traceback, and nothing written (the
store's every row unchanged; a missing SQLite file not created) — or, for the GBK CSV and an explicit
enrolment choice, the documented behaviour.

The store is a one-site demo chain (``keliu demo seed --sites 1 --days 3``), on SQLite and on the
machine's PostgreSQL (conftest.py); cases that are about SQLite files or need no store run once.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.integration.conftest import _empty_postgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SITE = "demo-001"  # the seeded mall: cameras cam-n1 … with line "door", zones 1F-01 …
SEED_END = "2025-03-07"  # seeded days 2025-03-06 .. 2025-03-07
KEY = bytes(range(32))  # the signature key, given as $KELIU_SIGNATURE_KEY (base64)
SHARED_VIDEO = Path(__file__).resolve().parents[3] / "shared" / "data" / "video" / "TUD-Campus.mp4"


def keliu(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``keliu ARGS`` as the console script runs it (``keliu.cli.main``), in a private KELIU_HOME."""
    env = {k: v for k, v in os.environ.items() if k not in ("KELIU_DATABASE_URL", "KELIU_DEBUG")}
    env.update(KELIU_HOME=str(home), KELIU_SIGNATURE_KEY=base64.b64encode(KEY).decode())
    return subprocess.run(
        [sys.executable, "-m", "keliu.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit code 2, nothing on stdout, exactly one stderr line ``keliu: error: …`` with ``needles``."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("keliu: error: "), result.stderr
    assert result.stdout == ""
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(url: str) -> str:
    """A digest of every row of every table: equal digests mean nothing was written."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    digest = hashlib.sha256()
    try:
        with engine.connect() as conn:
            for name in sorted(sa.inspect(conn).get_table_names()):
                rows = sorted(repr(tuple(r)) for r in conn.execute(sa.text(f'SELECT * FROM "{name}"')))
                digest.update(f"{name}:{len(rows)}:".encode() + "\n".join(rows).encode())
    finally:
        engine.dispose()
    return digest.hexdigest()


class Seeded:
    def __init__(self, url: str, home: Path, work: Path) -> None:
        self.url, self.home, self.work = url, home, work

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return keliu(self.home, *args, "--db", self.url)

    def file(self, name: str, data: bytes) -> str:
        path = self.work / name
        path.write_bytes(data)
        return str(path)


def seed(root: Path, url: str) -> Seeded:
    home = root / "home"
    made = keliu(home, "demo", "seed", "--sites", "1", "--days", "2", "--end-date", SEED_END, "--db", url)
    assert made.returncode == 0, made.stderr
    return Seeded(url, home, root)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The demo site on each backend: for what the store answers (imports, zones)."""
    root = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    if request.param == "sqlite":
        yield seed(root, f"sqlite:///{root / 'store.db'}")
        return
    url = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    yield seed(root, url)
    _empty_postgres(url)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """The demo site on SQLite only: for options refused before any query runs."""
    root = tmp_path_factory.mktemp("bad-options")
    return seed(root, f"sqlite:///{root / 'store.db'}")


# ------------------------------------------------------------------------- CSV imports

WEATHER = b"day,condition,temp_high,temp_low,precipitation_mm\n"
COUNTS = b"start,end,entries,camera_id,line_id\n"
HOUR = b"2025-03-06T10:00+08:00,2025-03-06T11:00+08:00,"

BAD_IMPORTS = {
    "row with too few fields": (
        "weather",
        WEATHER + b"2025-03-06,sunny,12,3,0\n2025-03-07,sunny\n",
        ":3: 2 fields, but the header has 5",
    ),
    "temp_low above temp_high": (
        "weather",
        WEATHER + b"2025-03-06,sunny,5,10,0\n",
        ":2: temp_low: 10 is above temp_high 5",
    ),
    "manual count of a line the camera does not have": (
        "manual-counts",
        COUNTS + HOUR + b"12,cam-n1,door\n" + HOUR + b"3,cam-n1,side-door\n",
        ":3: line_id: no line 'side-door' on camera 'cam-n1' at site demo-001",
    ),
    "manual count of a camera the site does not have": (
        "manual-counts",
        COUNTS + HOUR + b"12,cam-x9,door\n",
        ":2: camera_id: no camera 'cam-x9' at site demo-001",
    ),
    "a day outside the dates keliu handles": (
        "weather",
        WEATHER + b"0001-01-01,sunny,,,\n",
        ":2: day: 0001-01-01: keliu handles dates from 2000-01-01 to 2199-12-31",
    ),
    "a binary file": (
        "weather",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "not a CSV text file",
    ),
    "UTF-16 text": ("weather", "day,condition\n2025-03-06,晴\n".encode("utf-16"), "UTF-16 text"),
    "bytes neither UTF-8 nor GB18030": (
        "weather",
        b"day,condition\n2025-03-06,\xff\xfe\xfd\n",
        "neither UTF-8 nor GB18030/GBK",
    ),
    "control characters": (
        "weather",
        b"day,condition\n2025-03-06,\x01\x02\x03\n",
        "control characters on line 2",
    ),
}


@pytest.mark.parametrize("case", BAD_IMPORTS)
def test_a_bad_csv_is_refused_and_writes_nothing(seeded: Seeded, case: str) -> None:
    kind, data, needle = BAD_IMPORTS[case]
    path = seeded.file(f"{kind}.csv", data)
    before = snapshot(seeded.url)
    line = one_line_error(seeded.run("import", kind, "--site", SITE, path), needle)
    assert "nothing was imported" in line
    assert snapshot(seeded.url) == before


def test_a_gbk_csv_from_excel_is_read(seeded: Seeded) -> None:
    from keliu.store import WeatherDay, open_store

    weather = (
        "day,condition,temp_high,temp_low,precipitation_mm\r\n"
        "2025-03-06,晴,18,9,\r\n"
        "2025-03-07,小雨,12,8,4.5\r\n"
    )
    path = seeded.file("天气.csv", weather.encode("gbk"))
    result = seeded.run("import", "weather", "--site", SITE, path)
    assert result.returncode == 0, result.stderr
    assert "imported 2 weather day(s)" in result.stdout and "(read as GB18030/GBK)" in result.stdout
    with open_store(seeded.url, key=KEY) as store:
        days = store.weather(SITE, date(2025, 3, 6), date(2025, 3, 7))
    assert days == [
        WeatherDay(date(2025, 3, 6), "晴", 18.0, 9.0, None),
        WeatherDay(date(2025, 3, 7), "小雨", 12.0, 8.0, 4.5),
    ]
    # the same text as UTF-8 with a byte-order mark (Excel's "CSV UTF-8") reads the same
    again = seeded.run(
        "import", "weather", "--site", SITE, seeded.file("bom.csv", weather.encode("utf-8-sig"))
    )
    assert again.returncode == 0 and "read as" not in again.stdout, again.stderr


# ------------------------------------------------------------------- options and ranges

BAD_OPTIONS = {
    "report --day 9999-12-31": (
        ["report", "--site", SITE, "--day", "9999-12-31"],
        ["--day 9999-12-31: keliu handles dates from 2000-01-01 to 2199-12-31"],
    ),
    "report --from 0001-01-01": (
        ["report", "--site", SITE, "--from", "0001-01-01"],
        ["--from 0001-01-01: keliu handles dates from 2000-01-01"],
    ),
    "200 years by hour": (
        ["report", "--site", SITE, "--from", "2000-01-01", "--to", "2199-12-31", "--by", "hour"],
        ["73049 days is more than the 92 days keliu reports hour by hour"],
    ),
    "200 years by day": (
        ["report", "--site", SITE, "--from", "2000-01-01", "--to", "2199-12-31"],
        ["more than the 3660 days keliu reports day by day"],
    ),
    "a 200-year export": (
        ["report", "--site", SITE, "--from", "2000-01-01", "--to", "2199-12-31", "--export", "{out}"],
        ["more than the 3660 days"],
    ),
    "peaks --days 100000000": (
        ["analytics", "peaks", "--site", SITE, "--day", SEED_END, "--days", "100000000"],
        ["--days 100000000: must be from 1 to 3660"],
    ),
    "peaks reaching before 2000": (
        ["analytics", "peaks", "--site", SITE, "--day", "2000-01-10", "--days", "30"],
        ["1999-12-12 is outside 2000-01-01 .. 2199-12-31"],
    ),
    "kpis --day 0001-01-01": (
        ["analytics", "kpis", "--site", SITE, "--day", "0001-01-01"],
        ["--day 0001-01-01"],
    ),
    "trend by hour over a year": (
        ["analytics", "trend", "--site", SITE, "--from", "2024-03-01", "--to", SEED_END, "--by", "hour"],
        ["more than the 92 days"],
    ),
    "holidays --year 99999": (
        ["analytics", "holidays", "--site", SITE, "--year", "99999"],
        ["--year 99999: keliu handles the years 2000 to 2199"],
    ),
    "shops --month 9999-12": (
        ["analytics", "shops", "--site", SITE, "--month", "9999-12"],
        ["--month 9999-12: keliu handles the years"],
    ),
    "dashboard --at 9999-12-31": (
        ["dashboard", "--at", "9999-12-31T23:00"],
        ["--at 9999-12-31T23:00:00+08:00"],
    ),
    "rollups refresh of 8000 years": (
        ["rollups", "refresh", "--site", SITE, "--from", "0001-01-01", "--to", "9999-12-31"],
        ["--from 0001-01-01: keliu handles dates"],
    ),
}


def refused(store: Seeded, case: str, args: list[str], needles: list[str]) -> None:
    out = store.work / "reports"
    out.mkdir(exist_ok=True)
    before = snapshot(store.url)
    started = time.monotonic()
    result = store.run(*(a.format(out=out) for a in args))
    elapsed = time.monotonic() - started
    one_line_error(result, *needles)
    assert elapsed < 15, f"{case}: answered after {elapsed:.1f} s"
    assert snapshot(store.url) == before
    assert not any(out.iterdir())


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_a_bad_option_is_refused_at_once(sqlite_store: Seeded, case: str) -> None:
    refused(sqlite_store, case, *BAD_OPTIONS[case])


UNKNOWN_ZONES = {
    "zone comparison of zones that do not exist": (
        [
            "analytics",
            "zone-comparison",
            "--site",
            SITE,
            "--day",
            SEED_END,
            "--zone",
            "nope",
            "--other-zone",
            "1F-01",
        ],
        ["unknown zone(s) --zone 'nope' at site demo-001", "its zones are: 1F-01, 1F-02"],
    ),
    "zone conversion of zones that do not exist": (
        [
            "analytics",
            "zone-conversion",
            "--site",
            SITE,
            "--day",
            SEED_END,
            "--from-zone",
            "x",
            "--to-zone",
            "y",
        ],
        ["unknown zone(s) --from-zone 'x', --to-zone 'y'"],
    ),
}


@pytest.mark.parametrize("case", UNKNOWN_ZONES)
def test_zones_that_do_not_exist_are_named(seeded: Seeded, case: str) -> None:
    refused(seeded, case, *UNKNOWN_ZONES[case])


# ---------------------------------------------------------- a mistyped sqlite:/// path

READ_ONLY = {
    "report": ["report", "--site", SITE, "--day", SEED_END],
    "dashboard": ["dashboard"],
    "analytics": ["analytics", "traffic", "--day", SEED_END],
    "staff list": ["staff", "list", "--site", SITE],
    "exclusion list": ["exclusion", "list", "--site", SITE],
    "rollups rebuild": ["rollups", "rebuild"],
    "forecast --site": ["forecast", "--site", SITE],
    "import (needs a stored site)": ["import", "weather", "--site", SITE, "{csv}"],
}


@pytest.mark.parametrize("case", READ_ONLY)
def test_a_mistyped_sqlite_path_is_refused_not_created(tmp_path: Path, case: str) -> None:
    csv = tmp_path / "weather.csv"
    csv.write_bytes(WEATHER + b"2025-03-06,sunny,12,3,0\n")
    typo = tmp_path / "sotre.db"
    args = [a.format(csv=csv) for a in READ_ONLY[case]]
    result = keliu(tmp_path / "home", *args, "--db", f"sqlite:///{typo}")
    one_line_error(result, f"no keliu database at {typo}", "keliu demo seed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weather.csv"]  # no db, -wal, home


def test_the_default_store_is_not_created_by_a_read_only_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    one_line_error(keliu(home, "report", "--site", SITE, "--day", SEED_END), f"no keliu database at {home}")
    assert not home.exists()


def test_a_writing_command_still_creates_the_store(tmp_path: Path) -> None:
    fresh = tmp_path / "new.db"
    bad = keliu(tmp_path / "home", "demo", "seed", "--end-date", "0001-01-01", "--db", f"sqlite:///{fresh}")
    one_line_error(bad, "--end-date 0001-01-01: keliu handles dates")
    assert not fresh.exists()
    made = keliu(
        tmp_path / "home", "demo", "seed", "--sites", "1", "--days", "1", "--db", f"sqlite:///{fresh}"
    )
    assert made.returncode == 0 and fresh.is_file(), made.stderr


# ------------------------------------------------------------------ lines and enrolment


def test_a_line_id_given_twice_is_named(tmp_path: Path) -> None:
    line = "a:0.5,0.1,0.5,0.9,0.8,0.5"
    result = keliu(
        tmp_path,
        "count",
        str(SHARED_VIDEO),
        "--line",
        line,
        "--line",
        "b:0.2,0.1,0.2,0.9,0.8,0.5",
        "--line",
        line,
    )
    one_line_error(result, "--line: the id(s) 'a' given more than once")


def test_enrolling_from_a_clip_with_several_people_asks_whom(
    tmp_path: Path, shared_data: Path, nanodet_model: Path, embedder_model: Path
) -> None:
    home, db = tmp_path / "home", f"sqlite:///{tmp_path / 'store.db'}"
    home.mkdir()
    (home / "models").symlink_to(embedder_model.parents[1], target_is_directory=True)
    made = keliu(home, "demo", "seed", "--sites", "1", "--days", "1", "--end-date", SEED_END, "--db", db)
    assert made.returncode == 0, made.stderr
    before = snapshot(db)
    clip = [
        "staff",
        "enrol",
        "--site",
        SITE,
        "--name",
        "Sales uniform",
        "--video",
        str(SHARED_VIDEO),
        "--to-s",
        "1.5",
    ]
    line = one_line_error(keliu(home, *clip, "--db", db), "people were tracked in", "--track ID", "--longest")
    people = int(re.search(r"error: (\d+) people", line).group(1))  # type: ignore[union-attr]
    tracks = [int(t) for t in re.findall(r"track (\d+) \(\d+\.\d–\d+\.\d s, \d+ frames\)", line)]
    assert people > 1 and len(tracks) == min(people, 8)
    one_line_error(keliu(home, *clip, "--track", "9999", "--db", db), "no track 9999", f"track {tracks[0]} (")
    one_line_error(keliu(home, *clip, "--track", str(tracks[0]), "--longest", "--db", db), "not both")
    assert snapshot(db) == before

    chosen = keliu(home, *clip, "--track", str(tracks[0]), "--id", "sales", "--db", db)
    assert chosen.returncode == 0, chosen.stderr
    assert "enrolled 'Sales uniform' (sales) with 1 signature(s)" in chosen.stderr
    listed = keliu(home, "staff", "list", "--site", SITE, "--db", db)
    assert listed.stdout.splitlines() == ["sales\tSales uniform\t1 signature(s)"]
