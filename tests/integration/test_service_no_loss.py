"""No loss across a SIGKILL of the server (docs/api.md, "Delivery guarantees"), on SQLite and PostgreSQL.

The server is a real process (tests/support/service_runner.py: the ServiceRuntime and app of
`keliu serve` under uvicorn) whose one site is fed real sightings — those `keliu process` recorded
from PETS09-S2L1, replayed as if its camera saw them now. While sightings become visits, live
arrivals and webhooks, the test SIGKILLs it twice mid-flow and starts it again, then checks the
store, the live clients and a real webhook receiver that de-duplicates by event id: every visit a
live client was told about (acknowledged) is stored once, and every stored customer visit's arrival
webhook was delivered and processed once. A second test puts the crash exactly in the gap the
start-up catch-up closes: visits committed, their webhooks never queued.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.webhook_receiver import WebhookReceiver, free_port

from keliu.config import SiteConfig, load_site_config
from keliu.domain.visits import Entry, PersonCategory, Visit
from keliu.processing import register_site
from keliu.runtime.resolution import ResolutionWorker
from keliu.service.auth import hash_password, new_token, token_hash
from keliu.service.push import arrival_data
from keliu.service.push_bridge import CATCH_UP, visit_event_id
from keliu.service.runtime import ServiceRuntime
from keliu.service.webhooks import DeliverySettings
from keliu.store import Entrance, Store, open_store
from keliu.store import schema as t
from keliu.store.crypto import generate_key

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
KEY = generate_key()
SECRET = "a-long-shared-secret-1234"
SITE = "plaza"
SITE_YAML = """
site: {{id: plaza, name: 广场 Plaza}}
visitors: {{dedup_window_h: 0, business_hours: ['00:00', '00:00']}}
cameras:
  - id: pets
    source: {video}
    recorded_at: 2026-03-07T10:00:00+08:00
    lines:
      - {{id: west, a: [0.30, 0.20], b: [0.30, 0.65], inside: [0.20, 0.40]}}
      - {{id: middle, a: [0.55, 0.25], b: [0.55, 0.85], inside: [0.65, 0.50]}}
"""
RATE, BURST = "10", "10"  # sightings per second, in bursts (about 5 visits a second, committed together)
KILL_AFTER = 12  # arrivals a live client has seen before the server is killed
LAST_RUN_FEEDS = "40"  # sightings the last run feeds before the test checks everything


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KELIU_HOME": str(home),
        "KELIU_SIGNATURE_KEY": base64.b64encode(KEY).decode(),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }


@pytest.fixture(scope="session")
def recorded(
    shared_data: Path, embedder_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """The site config and a store of the sightings `keliu process` recorded from PETS09-S2L1 (every
    second frame: about 20 s), once per session."""
    root = tmp_path_factory.mktemp("recorded")
    home = root / "home"
    home.mkdir()
    (home / "models").symlink_to(embedder_model.parents[1], target_is_directory=True)
    config = root / "site.yaml"
    config.write_text(SITE_YAML.format(video=shared_data / "video" / "PETS09-S2L1.mp4"), encoding="utf-8")
    url = f"sqlite:///{root / 'recorded.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "keliu.cli", "process", "--config", str(config), "--db", url, "--stride", "2"],
        env=_env(home),
        capture_output=True,
        check=False,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    with open_store(url, key=KEY) as store:
        far = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2199, 1, 1, tzinfo=UTC))
        assert len(store.sightings(SITE, *far)) >= 20
        assert len(store.visits(SITE, *far)) >= 10
    return config, url


class Server:
    """One run of tests/support/service_runner.py; its stdout lines go to a queue."""

    def __init__(self, db_url: str, port: int, config: Path, recorded: str, home: Path, run: int) -> None:
        command = [sys.executable, "-m", "tests.support.service_runner", "--db", db_url, "--port", str(port)]
        command += ["--site-config", str(config), "--sightings", recorded, "--rate", RATE, "--burst", BURST]
        command += ["--run", str(run)]
        if run == 2:
            command += ["--limit", LAST_RUN_FEEDS]
        self.log = home.parent / f"server-{run}.log"  # stderr: logs (a pipe nobody reads could fill up)
        with self.log.open("w") as stderr:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=_env(home), stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        self.lines: queue.Queue[str] = queue.Queue()
        self.caught_up = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("CAUGHT_UP "):
                self.caught_up = int(line.split()[1])
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if line.startswith(prefix):
                return line
        stderr = self.log.read_text()[-2000:]
        raise AssertionError(f"server never said {prefix!r} (exit {self.process.poll()}): {stderr}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


class LiveClient(threading.Thread):
    """A WebSocket client of the site's live stream that records the arrivals it is told about.

    ``kill``: the server's pid, SIGKILLed by this client the moment the first arrival of a burst
    comes in once it has seen ``KILL_AFTER``: the burst's visits were committed together, and the
    rest of them are still on their way through the push bridge (the gap the catch-up closes)."""

    def __init__(self, url: str, token: str, kill: int | None = None) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.kill = url, token, kill
        self.arrivals: list[str] = []
        self.dropped = 0
        self.ready = threading.Event()
        self.killed = threading.Event()

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        try:
            with connect(
                self.url, additional_headers={"Authorization": f"Bearer {self.token}"}, proxy=None
            ) as ws:
                assert json.loads(ws.recv())["event"] == "hello"
                self.ready.set()
                last = time.monotonic()
                while True:
                    message = json.loads(ws.recv())
                    if message["event"] == "arrival":
                        self.arrivals.append(message["data"]["visit_id"])
                        now = time.monotonic()
                        new_burst, last = now - last > 0.3, now
                        seen = len(self.arrivals)  # (bursts that run together on a loaded box: kill anyway)
                        due = seen >= KILL_AFTER and (new_burst or seen >= 4 * KILL_AFTER)
                        if self.kill and due and not self.killed.is_set():
                            os.kill(self.kill, signal.SIGKILL)
                            self.killed.set()
                    elif message["event"] == "dropped":
                        self.dropped += message["dropped"]
        except (ConnectionClosed, OSError):  # the server was killed (or stopped)
            return


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def stored_visits(store: Store) -> list[Visit]:
    return store.visits(SITE, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))


def arrivals_received(receiver: WebhookReceiver) -> set[str]:
    return {
        r.headers["x-keliu-event-id"]
        for r in receiver.snapshot()
        if r.headers["x-keliu-event"] == "arrival" and 200 <= r.status < 300
    }


def test_sigkill_mid_flow_loses_no_acknowledged_visit_and_no_webhook(
    db_url: str, recorded: tuple[Path, str], tmp_path: Path
) -> None:
    config, recorded_url = recorded
    home = tmp_path / "home"
    home.mkdir()
    receiver = WebhookReceiver(SECRET, delay_s=0.03).start()  # a DMS that takes 30 ms per event
    with open_store(db_url, key=KEY) as store:
        register_site(store, load_site_config(config))
        user = store.create_user("desk", "Reception 前台", hash_password("a-password-1234"), "admin")
        token = new_token()
        store.create_api_token(user.id, "live", token_hash(token))
        store.create_webhook(receiver.url, SECRET, ["arrival", "batch"], site_id=SITE)
        port = free_port()
        url = f"ws://127.0.0.1:{port}/api/v1/sites/{SITE}/live/ws"
        acknowledged: list[str] = []
        servers: list[Server] = []
        try:
            # runs 0 and 1: killed (SIGKILL) while sightings, arrivals and webhooks flow
            for run in (0, 1):
                server = Server(db_url, port, config, recorded_url, home, run)
                servers.append(server)
                server.expect("READY")
                delivered_before = len(receiver.snapshot())
                client = LiveClient(url, token, kill=server.process.pid)
                client.start()
                assert client.ready.wait(10), "the live stream did not open"
                assert client.killed.wait(60), "the server was not killed mid-flow"
                server.process.wait(10)
                assert len(receiver.snapshot()) > delivered_before, "no webhook was delivered mid-flow"
                client.join(10)
                assert client.dropped == 0
                acknowledged += client.arrivals

            # run 2: catches up, feeds a little more, and is left to deliver everything
            server = Server(db_url, port, config, recorded_url, home, 2)
            servers.append(server)
            server.expect("READY")
            client = LiveClient(url, token)
            client.start()
            assert client.ready.wait(10)
            server.expect("FED", timeout_s=60)

            quiet: dict[str, Any] = {"visits": -1, "since": time.monotonic()}

            def settled() -> bool:
                visits = stored_visits(store)
                if len(visits) != quiet["visits"]:  # the last sightings may still be resolving
                    quiet.update(visits=len(visits), since=time.monotonic())
                    return False
                expected = {visit_event_id(SITE, v.visit_id, "arrival") for v in visits}
                return (
                    time.monotonic() - quiet["since"] > 1.0
                    and store.count_deliveries(status="pending") == 0
                    and expected <= arrivals_received(receiver)
                )

            wait_until(settled, 60, "every stored visit's arrival webhook")
            server.process.send_signal(signal.SIGTERM)  # the product's orderly stop
            # uvicorn stops the app (the runtime flushes) and then re-raises the signal it caught
            assert server.process.wait(60) in (0, -signal.SIGTERM)
            for s in servers:
                assert "Traceback" not in s.log.read_text(), s.log.read_text()
            client.join(10)
            acknowledged += client.arrivals
        finally:
            for s in servers:
                if s.process.poll() is None:
                    s.kill()
            receiver.stop()

        visits = stored_visits(store)
        ids = [v.visit_id for v in visits]
        print(
            f"{len(ids)} visits stored, {len(acknowledged)} acknowledged live, "
            f"{len(receiver.requests)} webhook requests ({receiver.duplicates} duplicates, "
            f"{receiver.cut_short} cut short by a kill), "
            f"caught up at start: {[s.caught_up for s in servers]}"
        )
        # every acknowledged visit is stored, once; no crossing is stored in two visits
        assert len(acknowledged) >= 2 * KILL_AFTER
        assert len(set(acknowledged)) == len(acknowledged), "a visit was announced twice live"
        assert set(acknowledged) <= set(ids)
        assert len(set(ids)) == len(ids)
        with store._engine.connect() as conn:
            e = t.entries.c
            twice = conn.execute(
                sa.select(e.camera_id, e.line_id, e.at)
                .where(e.site_id == SITE)
                .group_by(e.camera_id, e.line_id, e.at)
                .having(sa.func.count() > 1)
            ).all()
        assert twice == [], "an entry was stored in two visits"
        # every stored customer visit's arrival webhook was delivered and processed exactly once
        customers = [v for v in visits if v.category == PersonCategory.CUSTOMER]
        assert len(customers) == len(visits)  # no staff, exclusion classes or closed hours here
        expected = {visit_event_id(SITE, v.visit_id, "arrival") for v in customers}
        assert arrivals_received(receiver) == expected  # and none of a visit that was not stored
        assert set(receiver.processed.values()) == {1}
        # and the kills did land between commits and their push (what the start-up catch-up is for)
        assert max(s.caught_up for s in servers) > 0, (
            "no kill fell in the gap: the catch-up was not exercised"
        )
        assert all(r.signature_ok for r in receiver.snapshot())
        assert store.count_deliveries(status="pending") == 0
        assert store.count_deliveries(status="dead") == 0


# ---------------------------------------------------------------- the crash in the gap, exactly

FAST = DeliverySettings(
    timeout_s=2.0, first_retry_s=0.2, max_retry_s=1.0, jitter=0.0, poll_s=0.05, maintenance_s=0.1
)
OTHER = "street"


def _visit(site: str, visit_id: str, at: datetime, batch: str | None, category: PersonCategory) -> Visit:
    return Visit(
        visit_id=visit_id,
        site_id=site,
        category=category,
        first_entry=at,
        entries=[Entry(at=at, camera_id="door", line_id="main")],
        batch_id=batch,
        upper_colour="red",
        lower_colour="black",
    )


def _live_site(site_id: str) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"id": site_id, "name": "一号展厅"},
            "cameras": [
                {
                    "id": "door",
                    "source": "rtsp://127.0.0.1:9/never-opened",
                    "lines": [{"id": "main", "a": [0.5, 0.0], "b": [0.5, 1.0], "inside": [0.7, 0.5]}],
                }
            ],
        }
    )


def _backdate(store: Store, webhook_id: str, at: datetime) -> None:
    with store._engine.begin() as conn:
        conn.execute(
            sa.update(t.webhooks).where(t.webhooks.c.id == webhook_id).values(created_at=at, updated_at=at)
        )


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url, key=KEY) as s:
        s.upsert_site(SITE, "一号展厅")
        s.upsert_site(OTHER, "街店")
        s.set_entrances(SITE, [Entrance("door", "main", "正门", None, True)])
        yield s


def test_start_queues_the_arrivals_a_crash_left_unqueued_once(store: Store) -> None:
    now = datetime.now(UTC)
    receiver = WebhookReceiver(SECRET).start()
    try:
        hook = store.create_webhook(receiver.url, SECRET, ["arrival", "batch"])  # every site
        _backdate(store, hook.webhook_id, now - timedelta(hours=48))  # configured two days ago
        changed = store.create_webhook(receiver.url + "?changed", SECRET, ["arrival"], site_id=SITE)
        _backdate(store, changed.webhook_id, now - timedelta(hours=48))
        paused = store.create_webhook(receiver.url + "?paused", SECRET, ["arrival"], active=False)
        _backdate(store, paused.webhook_id, now - timedelta(hours=48))

        # what the resolution worker committed before the process was killed
        v1 = _visit(SITE, "v1", now - timedelta(hours=23), "b1", PersonCategory.CUSTOMER)
        v2 = _visit(
            SITE, "v2", now - timedelta(hours=23) + timedelta(seconds=2), "b1", PersonCategory.CUSTOMER
        )
        v3 = _visit(SITE, "v3", now - timedelta(minutes=5), None, PersonCategory.CUSTOMER)
        v4 = _visit(SITE, "v4", now - timedelta(minutes=30), None, PersonCategory.CUSTOMER)
        clerk = _visit(SITE, "s1", now - timedelta(minutes=4), None, PersonCategory.STAFF)
        old = _visit(SITE, "v0", now - CATCH_UP - timedelta(minutes=5), None, PersonCategory.CUSTOMER)
        elsewhere = _visit(OTHER, "o1", now - timedelta(minutes=5), None, PersonCategory.CUSTOMER)
        store.save_visits([v1, v2, v3, v4, clerk, old, elsewhere])
        # v3's arrival was pushed before the crash (queued, then delivered by the new worker); the
        # second webhook was changed since (a new URL): it gets nothing from before that but v3
        runtime = ServiceRuntime(store, delivery=FAST)
        runtime.pusher.push(
            SITE,
            "arrival",
            arrival_data(v3),
            occurred_at=v3.first_entry,
            event_id=visit_event_id(SITE, "v3", "arrival"),
        )
        assert (
            store.count_deliveries(hook.webhook_id) == 1 and store.count_deliveries(changed.webhook_id) == 1
        )
        store.update_webhook(changed.webhook_id, url=receiver.url + "?moved")

        # the restart: the site is resolved live again (OTHER is not: its visits are not this runtime's)
        runtime.workers[SITE] = ResolutionWorker(_live_site(SITE), store, runtime.bus)
        runtime.start()
        try:
            wait_until(lambda: len(receiver.processed) == 6, 20, "the caught-up deliveries")
            time.sleep(0.5)  # nothing more comes
        finally:
            runtime.stop()
        assert runtime.bridge.caught_up == 5  # v1, v2, their batch events and v4; v3 was queued already
        assert runtime.bridge.errors == 0
    finally:
        receiver.stop()

    got = {(r.path, r.headers["x-keliu-event-id"]): r.json for r in receiver.snapshot()}
    assert set(got) == {
        ("/hooks/keliu", visit_event_id(SITE, "v1", "arrival")),
        ("/hooks/keliu", visit_event_id(SITE, "v2", "arrival")),
        ("/hooks/keliu", visit_event_id(SITE, "v1", "arrival-batch")),
        ("/hooks/keliu", visit_event_id(SITE, "v2", "arrival-batch")),
        ("/hooks/keliu", visit_event_id(SITE, "v3", "arrival")),
        ("/hooks/keliu", visit_event_id(SITE, "v4", "arrival")),
        ("/hooks/keliu?moved", visit_event_id(SITE, "v3", "arrival")),  # queued before the change
    }
    assert len(receiver.requests) == 7  # once each (v3's one event reached both webhooks' URLs)
    first = got[("/hooks/keliu", visit_event_id(SITE, "v1", "arrival"))]
    assert first["event"] == "arrival" and first["site"] == {"id": SITE, "name": "一号展厅"}
    assert first["occurred_at"] == first["data"]["at"]
    data = first["data"]
    assert (data["visit_id"], data["batch_id"], data["batch_size"]) == ("v1", "b1", 2)
    assert (data["camera_id"], data["line_id"], data["entrance"]) == ("door", "main", "正门")
    batch = got[("/hooks/keliu", visit_event_id(SITE, "v2", "arrival-batch"))]
    assert batch["event"] == "batch" and batch["data"]["visit_ids"] == ["v1", "v2"]

    # a second start finds everything queued: it writes nothing, sends nothing
    again = ServiceRuntime(store, delivery=FAST)
    assert again.bridge.catch_up([SITE]) == 0
    assert store.count_deliveries(status="pending") == 0


def test_visit_event_ids_are_stable_and_distinct() -> None:
    arrival = visit_event_id("plaza", "plaza/20260307T020004.6Z/pets/2", "arrival")
    # pinned: an arrival queued again after an upgrade must keep the id receivers de-duplicate on
    assert arrival == "9af2c672-be7c-5d33-a94c-3ffefa1cd301"
    assert (
        len(
            {
                arrival,
                visit_event_id("plaza", "plaza/20260307T020004.6Z/pets/2", "arrival-batch"),
                visit_event_id("plaza", "plaza/20260307T020004.6Z/pets/3", "arrival"),
                visit_event_id("street", "plaza/20260307T020004.6Z/pets/2", "arrival"),
            }
        )
        == 4
    )
