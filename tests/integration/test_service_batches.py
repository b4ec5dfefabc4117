"""Merging and splitting arrival batches (批次 合并/拆分) at the reception desk through the API, on a
real store (SQLite and PostgreSQL): the brief (到店客流 arrivals, people, each class) and the rollups
move by exactly the batches merged or split, the reception decision is kept as documented, the
regrouping survives the resolution saving the visits again (and a late member follows its merged
batch), a visit correction undone lands in the batch it was put in, every action is audited and
pushed live, and bad input is a 4xx with a message that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.integration.test_service_visits import PASSWORD, SITE, ZONE, figures, live_events, login, seeded

from keliu.analytics.rollups import refresh_rollups
from keliu.domain.visits import Entry, PersonCategory, Visit
from keliu.service.app import create_app
from keliu.service.main import bootstrap
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store
from keliu.store import schema as t

pytestmark = pytest.mark.integration

ARRIVALS = f"/api/v1/sites/{SITE}/arrivals"


@pytest.fixture
def api(db_url: str, keliu_home: Path) -> Iterator[tuple[TestClient, Store]]:
    settings = ServiceSettings(admin_password=PASSWORD)
    store = open_store(db_url)
    try:
        bootstrap(store, settings, lambda _: None)
        store.upsert_site("shop-b", "B 店")
        with TestClient(create_app(settings, store)) as client:
            yield client, store
    finally:
        store.close()


def arrivals(client: TestClient, day: date) -> dict[str, dict[str, Any]]:
    response = client.get(f"{ARRIVALS}?day={day}&limit=500")
    assert response.status_code == 200, response.text
    return {a["batch_id"]: a for a in response.json()["items"]}


def brief(client: TestClient, day: date) -> dict[str, Any]:
    response = client.get(f"/api/v1/sites/{SITE}/reception/brief?day={day}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def day_visits(store: Store, day: date) -> list[Visit]:
    start = datetime.combine(day, time(0), ZONE)
    return store.visits(SITE, start, start + timedelta(days=1))


def classify(client: TestClient, batch_id: str, category: str, advisor: str | None = None) -> None:
    response = client.put(f"{ARRIVALS}/{batch_id}/reception", json={"category": category, "advisor": advisor})
    assert response.status_code == 200, response.text


def hourly_rollups(store: Store, day: date) -> list[dict[str, Any]]:
    """The site's hourly rollup rows of ``day``, in order."""
    start = datetime.combine(day, time(0), ZONE)
    h = t.traffic_hourly.c
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.traffic_hourly)
            .where(h.site_id == SITE, h.hour >= start, h.hour < start + timedelta(days=1))
            .order_by(h.hour, h.camera_id, h.line_id)
        )
        return [dict(row._mapping) for row in rows]


def by_start(items: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items.values(), key=lambda a: (a["started_at"], a["batch_id"]))


def test_merged_batches_move_the_brief_keep_a_decision_and_survive_re_resolution(
    api: tuple[TestClient, Store],
) -> None:
    client, store = api
    day = seeded(store)
    resolved = day_visits(store, day)  # as the resolution saved them, before any regrouping
    login(client, "desk")  # whoever may classify a batch may merge batches
    listed = by_start(arrivals(client, day))
    assert len(listed) >= 6, "the demo day has many batches"
    first, second, third = listed[1], listed[3], listed[5]
    classify(client, second["batch_id"], "order", "王顾问")
    before = figures(client, store, day)
    brief_before = brief(client, day)

    # the earliest (unclassified) keeps its id; the later one's decision moves to it
    merged = client.post(f"{ARRIVALS}/merge", json={"batch_ids": [second["batch_id"], first["batch_id"]]})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["merged"] == [second["batch_id"]] and body["dropped_receptions"] == []
    batch = body["batch"]
    assert batch["batch_id"] == first["batch_id"] and batch["started_at"] == first["started_at"]
    assert batch["size"] == first["size"] + second["size"]
    assert sorted(batch["visit_ids"]) == sorted(first["visit_ids"] + second["visit_ids"])
    assert len(batch["upper_colours"]) == batch["size"]
    assert batch["reception"]["category"] == "order" and batch["reception"]["advisor"] == "王顾问"
    assert batch["reception"]["batch_id"] == first["batch_id"]

    after = figures(client, store, day)
    assert after["arrivals"] == before["arrivals"] - 1 and after["people"] == before["people"]
    assert after["rollup_batches"] == before["rollup_batches"] - 1
    assert {k: after[k] for k in after if "batches" not in k and k != "arrivals"} == {
        k: before[k] for k in before if "batches" not in k and k != "arrivals"
    }  # who was counted does not change
    brief_after = brief(client, day)
    assert brief_after["order"] == brief_before["order"]
    assert brief_after["unclassified"] == brief_before["unclassified"] - 1
    listed_after = arrivals(client, day)
    assert second["batch_id"] not in listed_after and listed_after[first["batch_id"]] == batch

    # merging again: the kept batch's decision stays, the other's is given up (and reported)
    classify(client, third["batch_id"], "after_sales")
    again = client.post(f"{ARRIVALS}/merge", json={"batch_ids": [third["batch_id"], first["batch_id"]]})
    assert again.status_code == 200, again.text
    dropped = again.json()["dropped_receptions"]
    assert [(d["batch_id"], d["category"]) for d in dropped] == [(third["batch_id"], "after_sales")]
    assert again.json()["batch"]["reception"]["category"] == "order"
    assert brief(client, day)["after_sales"] == brief_before["after_sales"]
    members = sorted(first["visit_ids"] + second["visit_ids"] + third["visit_ids"])
    assert sorted(again.json()["batch"]["visit_ids"]) == members
    merged_figures = figures(client, store, day)
    assert merged_figures["arrivals"] == before["arrivals"] - 2
    assert merged_figures["rollup_batches"] == before["rollup_batches"] - 2

    # audited and pushed live (other desks refresh): the kept batch, the gone ones, the moved decision
    entries = [e for e in store.audit_entries()[0] if e.action == "batches_merged"]
    assert [e.target for e in entries] == [first["batch_id"]] * 2 and all(
        e.username == "desk" for e in entries
    )
    oldest = entries[-1]
    assert oldest.details["batches"] == [first["batch_id"], second["batch_id"]] and oldest.site_id == SITE
    events = live_events(client, SITE)
    sizes = [(e["data"]["batch_id"], e["data"]["size"]) for e in events if e["event"] == "batch"]
    assert (second["batch_id"], 0) in sizes and (third["batch_id"], 0) in sizes
    assert (first["batch_id"], len(members)) in sizes
    receptions = [e["data"] for e in events if e["event"] == "reception"]
    assert any(r["batch_id"] == first["batch_id"] and r["category"] == "order" for r in receptions)

    # the resolution saves every visit again as it had them: the merged batch holds
    store.save_visits(resolved)
    assert figures(client, store, day) == merged_figures
    held = arrivals(client, day)[first["batch_id"]]
    assert sorted(held["visit_ids"]) == members and held["reception"]["category"] == "order"
    # someone the resolution adds later to a merged batch joins the batch it was merged into
    model = next(v for v in resolved if v.visit_id == second["visit_ids"][-1])
    late_at = model.first_entry + timedelta(seconds=2)
    late = replace(
        model,
        visit_id=model.visit_id + "-late",
        first_entry=late_at,
        entries=[Entry(late_at, e.camera_id, e.line_id) for e in model.entries[:1]],
        last_exit=None,
    )
    assert late.batch_id == second["batch_id"] and late.category == PersonCategory.CUSTOMER
    store.save_visits([late])
    joined = arrivals(client, day)
    assert second["batch_id"] not in joined and late.visit_id in joined[first["batch_id"]]["visit_ids"]
    # a late member who came in before the merged batch began, in the hour before: the batch now
    # starts in that hour, and both hours' rollups say so, as a full recompute of the day does
    started = datetime.fromisoformat(joined[first["batch_id"]]["started_at"])
    early_at = started.replace(minute=0, second=0, microsecond=0) - timedelta(minutes=1)
    early = replace(
        late,
        visit_id=model.visit_id + "-early",
        first_entry=early_at,
        entries=[Entry(early_at, e.camera_id, e.line_id) for e in model.entries[:1]],
    )
    store.save_visits([early])
    regrouped = arrivals(client, day)[first["batch_id"]]
    assert early.visit_id in regrouped["visit_ids"]
    assert datetime.fromisoformat(regrouped["started_at"]) == early_at
    saved = hourly_rollups(store, day)
    assert any(row["batches"] for row in saved if row["hour"] == early_at.replace(minute=0))
    start = datetime.combine(day, time(0), ZONE)
    refresh_rollups(store, SITE, start, start + timedelta(days=1))
    assert hourly_rollups(store, day) == saved

    # a manager's correction of a moved visit, undone, gives it back to the merged batch
    moved = second["visit_ids"][0]
    login(client, "mgr")
    url = f"/api/v1/sites/{SITE}/visits/{moved}"
    assert client.patch(url, json={"category": "staff", "reason": "店员"}).status_code == 200
    assert moved not in arrivals(client, day)[first["batch_id"]]["visit_ids"]
    undone = client.delete(f"/api/v1/sites/{SITE}/visit-corrections/{moved}")
    assert undone.status_code == 200 and undone.json()["batch_id"] == first["batch_id"]
    assert moved in arrivals(client, day)[first["batch_id"]]["visit_ids"]


def test_a_split_batch_gets_a_stable_new_batch_and_survives_re_resolution(
    api: tuple[TestClient, Store],
) -> None:
    client, store = api
    day = seeded(store)
    resolved = day_visits(store, day)
    login(client, "desk")
    batch = max(arrivals(client, day).values(), key=lambda a: (a["size"], a["batch_id"]))
    assert batch["size"] >= 2, "the demo day has batches of several people"
    classify(client, batch["batch_id"], "browsing", "李")
    before = figures(client, store, day)
    brief_before = brief(client, day)
    leaving = batch["visit_ids"][1:]  # all but the earliest
    url = f"{ARRIVALS}/{batch['batch_id']}/split"

    split = client.post(url, json={"visit_ids": leaving})
    assert split.status_code == 200, split.text
    kept, new = split.json()["batch"], split.json()["new_batch"]
    new_id = f"s/{leaving[0]}"
    assert kept["batch_id"] == batch["batch_id"] and kept["visit_ids"] == batch["visit_ids"][:1]
    assert kept["size"] == 1 and kept["reception"]["category"] == "browsing"
    assert new["batch_id"] == new_id and new["visit_ids"] == leaving and new["size"] == len(leaving)
    assert new["reception"] is None and new["started_at"] >= kept["started_at"]
    after = figures(client, store, day)
    assert after["arrivals"] == before["arrivals"] + 1 and after["people"] == before["people"]
    assert after["rollup_batches"] == before["rollup_batches"] + 1
    brief_after = brief(client, day)
    assert brief_after["unclassified"] == brief_before["unclassified"] + 1
    assert brief_after["browsing"] == brief_before["browsing"]
    listed = arrivals(client, day)
    assert listed[new_id] == new and listed[batch["batch_id"]] == kept
    assert {store.visit_record(SITE, i).batch_id for i in leaving} == {new_id}
    assert {store.visit_record(SITE, i).batch_size for i in leaving} == {len(leaving)}

    (entry,) = [e for e in store.audit_entries()[0] if e.action == "batch_split"]
    assert entry.target == batch["batch_id"] and entry.username == "desk"
    assert entry.details == {"new_batch": new_id, "visits": leaving}
    sizes = [
        (e["data"]["batch_id"], e["data"]["size"]) for e in live_events(client, SITE) if e["event"] == "batch"
    ]
    assert (batch["batch_id"], 1) in sizes and (new_id, len(leaving)) in sizes

    # the resolution saves the visits again with its own batches: the split holds, the id too
    store.save_visits(resolved)
    assert figures(client, store, day) == after
    assert arrivals(client, day)[new_id]["visit_ids"] == leaving

    # nothing left to split off: its last customer cannot leave
    alone = client.post(url, json={"visit_ids": batch["visit_ids"][:1]})
    assert alone.status_code == 422 and "at least one customer" in alone.json()["error"]["message"]

    # merged back (the earliest keeps its id and decision, the other's is given up)
    classify(client, new_id, "order")
    back = client.post(f"{ARRIVALS}/merge", json={"batch_ids": [new_id, batch["batch_id"]]})
    assert back.status_code == 200, back.text
    assert back.json()["batch"]["batch_id"] == batch["batch_id"]
    assert back.json()["batch"]["reception"]["category"] == "browsing"
    assert [d["category"] for d in back.json()["dropped_receptions"]] == ["order"]
    assert figures(client, store, day) == before
    # split again while a decision is still kept under the old id (as a batch corrected away leaves
    # its decision behind): the new batch gets a fresh id, never somebody's old decision
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(t.receptions),
            {"site_id": SITE, "batch_id": new_id, "category": "order", "updated_at": datetime.now(UTC)},
        )
    resplit = client.post(url, json={"visit_ids": leaving})
    assert resplit.status_code == 200, resplit.text
    assert resplit.json()["new_batch"]["batch_id"] == f"{new_id}~2"
    assert resplit.json()["new_batch"]["reception"] is None


def test_bad_merges_and_splits_are_refused_with_a_message_and_change_nothing(
    api: tuple[TestClient, Store],
) -> None:
    client, store = api
    day = seeded(store)
    other = Visit(
        visit_id="shop-b/v1",
        site_id="shop-b",
        category=PersonCategory.CUSTOMER,
        first_entry=datetime.combine(day, time(12), ZONE),
        batch_id="b/shop-b/v1",
    )
    store.save_visits([other])
    assert store.batch_sizes("shop-b") == {"b/shop-b/v1": 1}
    login(client, "desk")
    listed = by_start(arrivals(client, day))
    one = max(listed, key=lambda a: (a["size"], a["batch_id"]))
    two = next(a for a in listed if a["batch_id"] != one["batch_id"])
    before = figures(client, store, day)
    split_url = f"{ARRIVALS}/{one['batch_id']}/split"
    for url, body, status, words in (
        (f"{ARRIVALS}/merge", {"batch_ids": [one["batch_id"]]}, 422, "batch_ids"),
        (f"{ARRIVALS}/merge", {"batch_ids": [one["batch_id"], one["batch_id"]]}, 422, "two different"),
        (f"{ARRIVALS}/merge", {"batch_ids": []}, 422, "batch_ids"),
        (f"{ARRIVALS}/merge", {"batch_ids": one["batch_id"]}, 422, "batch_ids"),
        (f"{ARRIVALS}/merge", {"batch_ids": [one["batch_id"], ""]}, 422, "batch_ids"),
        (f"{ARRIVALS}/merge", {"batch_ids": [one["batch_id"], two["batch_id"]], "x": 1}, 422, "x"),
        (f"{ARRIVALS}/merge", {"batch_ids": [one["batch_id"], "b/none"]}, 404, "b/none"),
        (f"{ARRIVALS}/merge", {"batch_ids": [one["batch_id"], "b/shop-b/v1"]}, 404, "b/shop-b/v1"),
        (split_url, {"visit_ids": []}, 422, "visit_ids"),
        (split_url, {"visit_ids": one["visit_ids"]}, 422, "at least one customer"),
        (split_url, {"visit_ids": [two["visit_ids"][0]]}, 422, "not a customer of batch"),
        (split_url, {"visit_ids": ["no-such-visit"]}, 422, "no-such-visit"),
        (split_url, {"visit_ids": "x"}, 422, "visit_ids"),
        (f"{ARRIVALS}/b/none/split", {"visit_ids": ["x"]}, 404, "b/none"),
        (f"{ARRIVALS}/b/shop-b/v1/split", {"visit_ids": ["shop-b/v1"]}, 404, "b/shop-b/v1"),
    ):
        response = client.post(url, json=body)
        assert response.status_code == status, (url, body, response.text)
        message = response.json()["error"]["message"]
        assert message and words in message and "unknown site" not in message, (body, message)
    not_mine = client.post("/api/v1/sites/shop-b/arrivals/merge", json={"batch_ids": ["b/shop-b/v1", "b/x"]})
    assert not_mine.status_code == 404  # a site this desk may not see
    assert figures(client, store, day) == before
    assert store.batch_sizes("shop-b") == {"b/shop-b/v1": 1}
    assert not [e for e in store.audit_entries()[0] if e.action in ("batches_merged", "batch_split")]

    # the administrator sees shop-b: its batch is still not one of this site's
    login(client, "admin")
    cross = client.post(f"{ARRIVALS}/merge", json={"batch_ids": ["b/shop-b/v1", one["batch_id"]]})
    assert cross.status_code == 404 and "b/shop-b/v1" in cross.json()["error"]["message"]
    client.cookies.clear()
    anonymous = client.post(split_url, json={"visit_ids": one["visit_ids"][:1]})
    assert anonymous.status_code == 401
    login(client, "desk")
    assert figures(client, store, day) == before
