"""Fuzzing the API from its own OpenAPI document (schemathesis): every operation, 50 generated
requests each (so that the whole suite fits CI's 45 minutes on 2 cores), as an authenticated
administrator on a store with demo data. No answer may be a 5xx, and every answer must match the
document (status code, content type, body schema)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from keliu.demo.load import seed_demo
from keliu.service.app import create_app
from keliu.service.auth import new_token, token_hash
from keliu.service.main import bootstrap
from keliu.service.settings import ServiceSettings
from keliu.store import Store, open_store

pytestmark = pytest.mark.integration

TOKEN = new_token()


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    home = tmp_path_factory.mktemp("fuzz-home")
    import os

    os.environ["KELIU_HOME"] = str(home)
    store = open_store(f"sqlite:///{Path(home) / 'keliu.db'}")
    try:
        bootstrap(store, ServiceSettings(admin_password="fuzzing password"), lambda _: None)
        seed_demo(store, 2, 2, datetime.now(ZoneInfo("Asia/Shanghai")).date(), seed=1)
        admin = store.user_by_name("admin")
        assert admin is not None
        store.create_api_token(admin.id, "fuzz", token_hash(TOKEN))
        yield store
    finally:
        store.close()
        os.environ.pop("KELIU_HOME", None)


class _StoreSlot:
    """The store the app reads, filled by the fixture below: the OpenAPI document (read at collection
    time) does not depend on it, the requests of the cases do."""

    target: Store | None = None

    def __getattr__(self, name: str) -> Any:
        if self.target is None:
            raise RuntimeError("the fuzzing store is not open yet")
        return getattr(self.target, name)


STORE = _StoreSlot()
APP = create_app(ServiceSettings(login_attempts=100), STORE)  # type: ignore[arg-type]
# the live stream (SSE) never ends by design: tests/integration/test_live_push.py covers it
# read from the app object, not through a client: a client would run the app's lifespan (the
# runtime's threads) while pytest is still collecting
_loaded = schemathesis.openapi.from_dict(APP.openapi())
_loaded.app = APP
schema = _loaded.exclude(path_regex=r"/live$")


@pytest.fixture(scope="module", autouse=True)
def _store_in_the_slot(fuzz_store: Store) -> Iterator[None]:
    STORE.target = fuzz_store
    yield
    STORE.target = None


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_operation_answers_within_its_schema_and_never_5xx(case: Any) -> None:
    # Every check runs but one heuristic: "positive data acceptance" expects every request that
    # matches the schema to succeed, while keliu answers a schema-valid but wrong request (a
    # parameter the chosen metric does not take, a range beyond the bounds, a user that exists
    # already) with a 4xx that says why. 5xx, undocumented status codes, wrong content types and
    # bodies that do not match the document all still fail the test.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=[checks.positive_data_acceptance]
    )
