"""The store against real engines: a SQLite file and a real PostgreSQL database (conftest.py).

KELIU_HOME points into tmp_path in every test, so nothing here touches the user's data directory.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from keliu.domain.geometry import Line, Zone
from keliu.domain.visits import (
    ColourRule,
    Entry,
    Exclusion,
    ExclusionClass,
    PersonCategory,
    RememberedPerson,
    Sighting,
    SightingCrossing,
    SightingZone,
    Signature,
    StaffMember,
    Visit,
)
from keliu.errors import ConfigError, InputError, KeliuError
from keliu.store import (
    SignatureKeyError,
    Store,
    StoreError,
    StoreUnavailable,
    SummaryRow,
    open_store,
)
from keliu.store.crypto import generate_key
from keliu.store.engine import alembic_config
from keliu.store.schema import metadata

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300), pytest.mark.usefixtures("keliu_home")]

SITE = "s1"
T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as s:
        s.upsert_site(SITE, "Showroom", "Asia/Shanghai")
        yield s


# ------------------------------------------------------------------------------------------ helpers


def sig(seed: int, upper: Any = "blue", lower: Any = "black", shots: int = 3) -> Signature:
    rng = np.random.default_rng(seed)
    embedding = rng.normal(size=1280).astype(np.float32)
    colour = rng.random(96).astype(np.float32)
    return Signature(
        embedding=embedding / np.linalg.norm(embedding),
        colour=colour / np.linalg.norm(colour),
        upper_colour=upper,
        lower_colour=lower,
        shots=shots,
    )


def plain(value: Any) -> Any:
    """A comparable form of domain objects holding numpy arrays (dataclass == fails on arrays)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__name__,
            {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)},
        )
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, tuple(value.ravel().tolist()))
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def visit(
    visit_id: str,
    first: datetime,
    *more_entries: datetime,
    category: PersonCategory = PersonCategory.CUSTOMER,
    reason: str | None = None,
    batch: str | None = None,
    returning: bool = False,
    site_id: str = SITE,
) -> Visit:
    exclusion = None if reason is None else Exclusion(category, reason, 0.9)
    return Visit(
        visit_id=visit_id,
        site_id=site_id,
        category=category,
        first_entry=first,
        entries=[Entry(at, "cam1", "door") for at in (first, *more_entries)],
        exclusion=exclusion,
        batch_id=batch,
        returning=returning,
        since_previous_s=86400.0 if returning else None,
    )


def raw(store: Store, table: str, column: str) -> list[bytes]:
    with store.engine.connect() as conn:
        return [bytes(b) for b in conn.execute(sa.text(f"SELECT {column} FROM {table}")).scalars() if b]


# ---------------------------------------------------------------------------------------- migrations


def test_migrations_match_models(db_url: str) -> None:
    with open_store(db_url) as s, s.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, metadata) == []
        # the comparison is not vacuous: a model change shows up as a difference
        changed = sa.MetaData()
        for table in metadata.sorted_tables:
            table.to_metadata(changed)
        changed.tables["visits"].append_column(sa.Column("extra", sa.Integer))
        assert compare_metadata(context, changed)

    with open_store(db_url) as s:  # down to nothing and up again
        with s.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        with s.engine.connect() as conn:
            assert not set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    with open_store(db_url) as s, s.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head is not None and context.get_current_revision() == head


def test_default_store_is_sqlite_in_keliu_home_with_wal(keliu_home: Path) -> None:
    with open_store() as s:
        assert s.engine.dialect.name == "sqlite"
        assert Path(s.engine.url.database or "") == keliu_home / "keliu.db"
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    assert (keliu_home / "keliu.db").is_file()


# ---------------------------------------------------------------------------------------- round trips


def test_sites_cameras_lines_zones_round_trip(store: Store) -> None:
    store.upsert_site(SITE, "Showroom 2", "Europe/Berlin", dedup_window_s=1800, returning_memory_days=30)
    site = store.site(SITE)
    assert (site.name, site.timezone, site.dedup_window_s, site.returning_memory_days) == (
        "Showroom 2",
        "Europe/Berlin",
        1800.0,
        30.0,
    )
    assert [s.site_id for s in store.sites()] == [SITE]
    store.upsert_camera(SITE, "cam2", "Side door")
    store.upsert_camera(SITE, "cam1")
    store.upsert_line(SITE, "cam1", "door", (0.1, 0.5), (0.9, 0.5), (0.5, 0.9))
    store.upsert_line(SITE, "cam1", "door", (0.1, 0.6), (0.9, 0.6), (0.5, 0.9))  # moved
    store.upsert_zone(SITE, "cam1", "lounge", [(0.1, 0.1), (0.4, 0.1), (0.4, 0.4)])
    cams = store.cameras(SITE)
    assert [(c.camera_id, c.name) for c in cams] == [("cam1", None), ("cam2", "Side door")]
    assert cams[0].lines == (Line("door", (0.1, 0.6), (0.9, 0.6), (0.5, 0.9)),)
    assert cams[0].zones == (Zone("lounge", ((0.1, 0.1), (0.4, 0.1), (0.4, 0.4))),)
    assert store.remove_zone(SITE, "cam1", "lounge") and not store.remove_zone(SITE, "cam1", "lounge")
    assert store.remove_camera(SITE, "cam1")
    assert [c.camera_id for c in store.cameras(SITE)] == ["cam2"]
    with pytest.raises(InputError, match="unknown camera"):
        store.upsert_line(SITE, "cam9", "door", (0.1, 0.5), (0.9, 0.5), (0.5, 0.9))
    with pytest.raises(InputError, match="inside point"):
        store.upsert_line(SITE, "cam2", "door", (0.1, 0.5), (0.9, 0.5), (0.5, 0.5))
    with pytest.raises(ConfigError, match="time zone"):
        store.upsert_site("s2", "x", "Mars/Olympus")


def test_sightings_round_trip(store: Store) -> None:
    with_sig = Sighting(
        site_id=SITE,
        camera_id="cam1",
        track_id=7,
        first_seen=T0,
        last_seen=T0 + timedelta(seconds=40),
        crossings=(
            SightingCrossing("door", "in", T0 + timedelta(seconds=1), (0.5, 0.51)),
            SightingCrossing("door", "out", T0 + timedelta(seconds=39), (0.52, 0.49)),
        ),
        zones=(
            SightingZone("lounge", T0 + timedelta(seconds=5), T0 + timedelta(seconds=30)),
            SightingZone("desk", T0 + timedelta(seconds=31), None),
        ),
        signature=sig(1, "yellow", None, shots=5),
    )
    without = Sighting(SITE, "cam2", 3, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2))
    assert store.save_sightings([with_sig, without]) == 2
    # re-emitted longer: replaced, not duplicated
    longer = dataclasses.replace(with_sig, last_seen=T0 + timedelta(seconds=50))
    store.save_sightings([longer])
    got = store.sightings(SITE, T0, T0 + timedelta(hours=1))
    assert plain(got) == plain([longer, without])
    assert got[0].first_seen.tzinfo is not None
    assert store.sightings(SITE, T0 + timedelta(seconds=1), T0 + timedelta(seconds=59)) == []


def test_visits_round_trip(store: Store) -> None:
    v = Visit(
        visit_id=f"{SITE}/a/cam1/1",
        site_id=SITE,
        category=PersonCategory.INVALID,
        first_entry=T0,
        entries=[Entry(T0, "cam1", "door"), Entry(T0 + timedelta(minutes=3), "cam2", "side")],
        last_exit=T0 + timedelta(minutes=5),
        exclusion=Exclusion(PersonCategory.INVALID, "courier:meituan", 0.75),
        batch_id=None,
        returning=True,
        since_previous_s=3600.5,
        upper_colour="yellow",
        lower_colour="black",
    )
    plain_customer = Visit(f"{SITE}/b/cam1/2", SITE, PersonCategory.CUSTOMER, T0 + timedelta(seconds=1))
    store.save_visits([plain_customer, v])
    got = store.visits(SITE, T0, T0 + timedelta(hours=1))
    assert got == [v, plain_customer]
    assert got[0].first_entry.tzinfo is not None and got[0].entries[1].at.utcoffset() == timedelta(0)
    # times in another zone are the same instants
    shanghai = ZoneInfo("Asia/Shanghai")
    assert store.visits(SITE, T0.astimezone(shanghai), (T0 + timedelta(seconds=1)).astimezone(shanghai)) == [
        v
    ]


def test_remembered_staff_and_exclusion_classes_round_trip(store: Store) -> None:
    store.upsert_site("s2", "Other")
    person = RememberedPerson(f"{SITE}/v1", SITE, T0, sig(2), PersonCategory.STAFF)
    other = RememberedPerson(f"{SITE}/v2", SITE, T0 + timedelta(minutes=1), sig(3, None, None))
    store.remember(SITE, other, T0 + timedelta(days=2))
    store.remember(SITE, person, T0 + timedelta(days=1))
    assert plain(store.remembered_people(SITE, T0)) == plain([person, other])
    assert plain(store.remembered_people(SITE, T0 + timedelta(days=1))) == plain([other])  # expired at
    assert store.remembered_people("s2", T0) == []

    zhang = StaffMember("e1", "Zhang San 张三", (sig(4, "white", "black"), sig(5, "white", "grey")))
    li = StaffMember("e0", "Li Si", (sig(6),))
    store.enrol_staff(SITE, zhang)
    store.enrol_staff(SITE, li)
    assert plain(store.staff(SITE)) == plain([li, zhang])
    renamed = dataclasses.replace(zhang, name="Zhang San", signatures=(sig(7),))
    store.enrol_staff(SITE, renamed)
    assert plain(store.staff(SITE)) == plain([li, renamed])
    assert store.remove_staff(SITE, "e0") and not store.remove_staff(SITE, "e0")
    assert plain(store.staff(SITE)) == plain([renamed])
    assert store.staff("s2") == []

    meituan = ExclusionClass(
        "courier:meituan", "美团", colour_rule=ColourRule(("yellow",), (), max_stay_s=180.0)
    )
    jd = ExclusionClass(
        "courier:jd", "京东", colour_rule=ColourRule(("red",), ("black", "grey"), None), enabled=False
    )
    local_meituan = ExclusionClass("courier:meituan", "美团 (this store)", exemplars=(sig(8, "yellow"),))
    uniform = ExclusionClass("cleaner", "Cleaners", exemplars=(sig(9), sig(10)), colour_rule=None)
    store.save_exclusion_class(None, meituan)
    store.save_exclusion_class(None, jd)
    store.save_exclusion_class(SITE, local_meituan)
    store.save_exclusion_class(SITE, uniform)
    assert plain(store.exclusion_classes(SITE)) == plain([uniform, jd, local_meituan])
    assert plain(store.exclusion_classes("s2")) == plain([jd, meituan])
    assert store.remove_exclusion_class(SITE, "courier:meituan")
    assert plain(store.exclusion_classes(SITE)) == plain([uniform, jd, meituan])


# --------------------------------------------------------------------------------- idempotent visits


def test_saving_a_visit_again_never_double_counts(store: Store) -> None:
    day = (T0 - timedelta(hours=10), T0 + timedelta(hours=14))  # 2024-05-01 in Shanghai (T0 is 10:00)
    first = visit("a", T0)
    store.save_visits([first])
    store.save_visits([first])
    store.save_visits([first, first])

    def summary() -> SummaryRow:
        (row,) = store.traffic_summary(SITE, *day, by="day")
        return row

    assert (summary().total, summary().deduplicated) == (1, 1)
    # re-entry, exit and batch: the resolver re-emits the whole visit
    again = visit("a", T0, T0 + timedelta(minutes=30), batch="b/a")
    again.last_exit = T0 + timedelta(minutes=40)
    partner = visit("b", T0 + timedelta(seconds=2), batch="b/a")
    for _ in range(3):
        store.save_visits([again, partner])
    row = summary()
    assert (row.total, row.deduplicated, row.batches) == (3, 2, 1)
    assert store.batch_sizes(SITE) == {"b/a": 2}
    (stored_a, stored_b) = store.visits(SITE, *day)
    assert stored_a == again and len(stored_a.entries) == 2 and stored_b == partner

    # 'a' turns out to be staff and leaves the batch; 'b' is relabelled alone: batch gone
    staff_a = visit("a", T0, T0 + timedelta(minutes=30), category=PersonCategory.STAFF, reason="staff:e1")
    alone_b = visit("b", T0 + timedelta(seconds=2), batch="b/b")
    store.save_visits([staff_a, alone_b])
    row = summary()
    assert (row.total, row.deduplicated, row.staff, row.batches) == (1, 1, 1, 1)
    assert store.batch_sizes(SITE) == {"b/b": 1}


# ------------------------------------------------------------------------------------------- summary

DAYS = [
    ("Asia/Shanghai", date(2024, 5, 1), 24),
    ("Europe/Berlin", date(2024, 3, 31), 23),  # clocks go forward: 23 local hours
    ("Europe/Berlin", date(2024, 10, 27), 25),  # clocks go back: 25 local hours
]


@pytest.mark.parametrize(("tz_name", "day", "hours"), DAYS, ids=[f"{d[0]}-{d[1]}" for d in DAYS])
def test_traffic_summary_on_a_hand_made_day(store: Store, tz_name: str, day: date, hours: int) -> None:
    tz = ZoneInfo(tz_name)
    store.upsert_site(SITE, "Showroom", tz_name)

    def at(hour: int, minute: int = 0, second: int = 0, days: int = 0) -> datetime:
        return datetime.combine(day + timedelta(days=days), time(hour, minute, second), tzinfo=tz)

    courier, outside = PersonCategory.INVALID, PersonCategory.INVALID
    store.save_visits(
        [
            visit("v9", at(23, 59, days=-1)),  # the evening before, local time
            visit("v10", at(0, 1)),  # just after local midnight (the same UTC date as v9)
            visit("v1", at(10), at(10, 30)),  # re-entry: 2 entries, 1 person
            visit("v2", at(10, 5), returning=True, batch="b/v2"),
            visit("v3", at(10, 5, 30), batch="b/v2"),  # a batch of 2 customers
            visit("v4", at(9), at(13), category=PersonCategory.STAFF, reason="staff:e1", batch="b/v12"),
            visit("v5", at(11), category=courier, reason="courier:meituan"),
            visit("v6", at(11, 10), category=courier, reason="courier:meituan"),
            visit("v7", at(23, 30), category=outside, reason="outside_hours"),
            visit("v8", at(23, 50), at(0, 10, days=1)),  # second entry after midnight
            visit("v11", at(15), batch="b/v11"),  # a customer alone: a batch of one
            visit("v12", at(16), batch="b/v12"),  # with a member of staff: one customer
        ]
    )
    rows = store.traffic_summary(SITE, at(0, days=-1), at(0, days=2), by="day")
    assert [r.bucket for r in rows] == [at(0, days=-1), at(0), at(0, days=1)]
    assert all(r.bucket.tzinfo == tz for r in rows)
    before, today, after = rows
    assert before == SummaryRow(at(0, days=-1), total=1, deduplicated=1, new=1)
    assert today == SummaryRow(
        at(0),
        total=8,
        deduplicated=7,
        staff=1,
        invalid=3,
        invalid_by_reason={"courier:meituan": 2, "outside_hours": 1},
        batches=3,
        new=6,
        returning=1,
    )
    assert after == SummaryRow(at(0, days=1), total=1)

    hourly = store.traffic_summary(SITE, at(0), at(0, days=1), by="hour")
    assert len(hourly) == hours
    instants = [r.bucket.astimezone(UTC) for r in hourly]  # (same-zone datetimes compare by wall clock)
    assert instants == sorted(set(instants))
    by_hour = {r.bucket.hour: r for r in hourly if r.bucket.hour >= 3}  # unambiguous local hours
    assert by_hour[10] == SummaryRow(at(10), total=4, deduplicated=3, batches=1, new=2, returning=1)
    assert by_hour[9] == SummaryRow(at(9), staff=1)
    assert by_hour[11].invalid_by_reason == {"courier:meituan": 2}
    assert hourly[0] == SummaryRow(at(0), total=1, deduplicated=1, new=1)
    assert sum(r.total for r in hourly) == today.total
    assert sum(r.deduplicated for r in hourly) == today.deduplicated
    # a range cut inside a bucket counts only what lies in the range
    (part,) = store.traffic_summary(SITE, at(10, 1), at(10, 6), by="hour")
    assert part == SummaryRow(at(10), total=2, deduplicated=2, batches=1, new=1, returning=1)


def test_summary_splits_the_repeated_hour_when_clocks_go_back(store: Store) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    store.upsert_site(SITE, "Showroom", "Europe/Berlin")
    first = datetime(2024, 10, 27, 2, 30, tzinfo=berlin)  # 00:30 UTC (summer time)
    second = first.replace(fold=1)  # 01:30 UTC (winter time), the same wall clock
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    third = (second.astimezone(UTC) + timedelta(minutes=1)).astimezone(berlin)
    store.save_visits([visit("x", first), visit("y", second), visit("z", third)])
    rows = store.traffic_summary(SITE, datetime(2024, 10, 27, 1, tzinfo=berlin), first + timedelta(hours=3))
    assert [r.deduplicated for r in rows] == [3]
    hourly = store.traffic_summary(
        SITE, datetime(2024, 10, 27, 2, tzinfo=berlin), datetime(2024, 10, 27, 3, tzinfo=berlin), by="hour"
    )
    assert [(r.bucket.hour, r.bucket.utcoffset(), r.deduplicated) for r in hourly] == [
        (2, timedelta(hours=2), 1),
        (2, timedelta(hours=1), 2),
    ]


def test_unknown_site_is_an_input_error(store: Store) -> None:
    for call in (
        lambda: store.traffic_summary("nope", T0, T0 + timedelta(days=1)),
        lambda: store.visits("nope", T0, T0 + timedelta(days=1)),
        lambda: store.save_visits([visit("a", T0, site_id="nope")]),
        lambda: store.staff("nope"),
        lambda: store.remembered_people("nope", T0),
    ):
        with pytest.raises(InputError, match="unknown site 'nope'"):
            call()
    with pytest.raises(InputError, match="timezone-aware"):
        store.visits(SITE, T0.replace(tzinfo=None), T0)
    assert store.traffic_summary(SITE, T0, T0) == []


# --------------------------------------------------------------------------------------------- purge


def test_purge_removes_expired_signatures_and_keeps_the_rest(store: Store) -> None:
    store.upsert_site(SITE, "Showroom", dedup_window_s=3600, returning_memory_days=1)
    now = T0 + timedelta(days=10)
    store.remember(
        SITE, RememberedPerson("old", SITE, now - timedelta(days=1), sig(1)), now - timedelta(seconds=1)
    )
    store.remember(SITE, RememberedPerson("due", SITE, now - timedelta(hours=23), sig(2)), now)
    store.remember(
        SITE, RememberedPerson("new", SITE, now - timedelta(hours=1), sig(3)), now + timedelta(hours=23)
    )

    def sighting(track: int, ended_ago: timedelta, signature: Signature | None) -> Sighting:
        return Sighting(
            SITE, "cam1", track, now - ended_ago - timedelta(minutes=1), now - ended_ago, signature=signature
        )

    store.save_sightings(
        [
            sighting(1, timedelta(days=2), sig(4)),  # older than the purpose window (1 day): purged
            sighting(2, timedelta(hours=2), sig(5)),  # within it: kept
            sighting(3, timedelta(days=3), None),  # nothing to purge
        ]
    )
    assert store.purge_expired(now) == 3
    assert [p.visit_id for p in store.remembered_people(SITE, now - timedelta(days=5))] == ["new"]
    kept = {s.track_id: s for s in store.sightings(SITE, now - timedelta(days=4), now)}
    assert kept[1].signature is None and kept[3].signature is None
    assert plain(kept[2].signature) == plain(sig(5))
    assert len(raw(store, "sightings", "signature")) == 1
    assert store.purge_expired(now) == 0


# ---------------------------------------------------------------------------------------- encryption


def test_signatures_are_unreadable_without_the_key(db_url: str) -> None:
    key = generate_key()
    signature = sig(11)
    with open_store(db_url, key=key) as s:
        s.upsert_site(SITE, "Showroom")
        s.save_sightings([Sighting(SITE, "cam1", 1, T0, T0 + timedelta(seconds=9), signature=signature)])
        s.remember(SITE, RememberedPerson("a", SITE, T0, signature), T0 + timedelta(days=1))
        s.remember(SITE, RememberedPerson("b", SITE, T0, sig(12)), T0 + timedelta(days=1))
        s.enrol_staff(SITE, StaffMember("e1", "Zhang", (signature,)))
        s.save_exclusion_class(SITE, ExclusionClass("c", "Couriers", exemplars=(signature,)))
        blobs = (
            raw(s, "sightings", "signature")
            + raw(s, "remembered", "signature")
            + raw(s, "staff", "signatures")
            + raw(s, "exclusion_classes", "exemplars")
        )
        assert len(blobs) == 5
        vectors = [signature.embedding.astype("<f4").tobytes(), signature.colour.astype("<f4").tobytes()]
        for blob in blobs:
            for vector in vectors:
                for i in range(0, len(vector) - 16, 4):
                    assert vector[i : i + 16] not in blob
        assert len(set(blobs)) == len(blobs)  # a fresh nonce per blob

        # a blob moved to another row fails authentication instead of decrypting as someone else
        with s.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE remembered SET signature = "
                    "(SELECT signature FROM remembered WHERE visit_id = 'a')"
                )
            )
        with pytest.raises(SignatureKeyError, match="altered"):
            s.remembered_people(SITE, T0)

    with open_store(db_url, key=generate_key()) as other:
        for read in (
            lambda: other.staff(SITE),
            lambda: other.sightings(SITE, T0, T0 + timedelta(hours=1)),
            lambda: other.exclusion_classes(SITE),
        ):
            with pytest.raises(SignatureKeyError, match="signature key"):
                read()
    with open_store(db_url, key=key) as again:
        assert plain(again.staff(SITE)[0].signatures) == plain((signature,))


def test_key_file_is_created_private_and_an_exposed_one_is_refused(
    keliu_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = StaffMember("e1", "Zhang", (sig(1),))
    with open_store() as s:
        s.upsert_site(SITE, "Showroom")
        assert not (keliu_home / "signature.key").exists()  # created on first use, not on open
        s.enrol_staff(SITE, member)
    key_file = keliu_home / "signature.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with open_store() as s:
        assert plain(s.staff(SITE)) == plain([member])  # the same key is read back

    os.chmod(key_file, 0o644)
    with open_store() as s, pytest.raises(SignatureKeyError, match="chmod 600") as err:
        s.staff(SITE)
    assert isinstance(err.value, KeliuError)
    os.chmod(key_file, 0o600)

    monkeypatch.setenv("KELIU_SIGNATURE_KEY", "not base64 of 32 bytes")
    with open_store() as s, pytest.raises(SignatureKeyError, match="KELIU_SIGNATURE_KEY"):
        s.staff(SITE)
    import base64

    monkeypatch.setenv("KELIU_SIGNATURE_KEY", base64.b64encode(generate_key()).decode())
    with open_store() as s:
        with pytest.raises(SignatureKeyError, match="signature key"):
            s.staff(SITE)  # written with the key file's key
        s.enrol_staff(SITE, member)
        assert plain(s.staff(SITE)) == plain([member])


# -------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("url", "error", "needle"),
    [
        ("mysql://root@127.0.0.1/keliu", StoreError, "unsupported database URL"),
        ("no url at all", StoreError, "invalid database URL"),
        ("postgresql://keliu:s3cret-pw@127.0.0.1:1/keliu", StoreUnavailable, "127.0.0.1"),
        ("sqlite:////no/such/directory/keliu.db", StoreUnavailable, "/no/such/directory"),
    ],
)
def test_bad_or_unreachable_database_gives_one_clear_error(
    url: str, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as err:
        open_store(url)
    message = str(err.value)
    assert isinstance(err.value, KeliuError)
    assert needle in message and "\n" not in message and "Traceback" not in message
    assert "s3cret-pw" not in message
    assert err.value.__cause__ is None


def test_missing_postgres_database_gives_one_clear_error(postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    missing = (
        make_url(postgres_url).set(database="keliu_no_such_database").render_as_string(hide_password=False)
    )
    with pytest.raises(StoreUnavailable, match="does not exist") as err:
        open_store(missing)
    assert "\n" not in str(err.value)
