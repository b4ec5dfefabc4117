"""Fixtures for integration tests that need real servers.

``postgres_url``: a fresh, uniquely named PostgreSQL database for this test session, dropped at the
end. The server is ``$KELIU_TEST_POSTGRES_URL`` (an admin URL; default the local trust-auth server
``postgresql://postgres@127.0.0.1:5432/postgres``). When it cannot be reached the tests FAIL with
that message: PostgreSQL is required in CI, never skipped.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    """A libpq URI (psycopg) from a SQLAlchemy-style URL."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


@pytest.fixture
def keliu_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``KELIU_HOME`` for one test, with no signature key in the environment."""
    home = tmp_path / "keliu-home"
    monkeypatch.setenv("KELIU_HOME", str(home))
    monkeypatch.delenv("KELIU_SIGNATURE_KEY", raising=False)
    monkeypatch.delenv("KELIU_SIGNATURE_KEY_FILE", raising=False)
    return home


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    admin = os.environ.get("KELIU_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)
    name = f"keliu_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(_libpq(admin), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is needed for these tests and is not reachable at {admin} "
            f"(set KELIU_TEST_POSTGRES_URL or start it): {exc}"
        )
    url = make_url(_libpq(admin)).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(_libpq(admin), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _metadata() -> sa.MetaData:
    from keliu.store.schema import metadata

    return metadata


def _empty_postgres(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            present = set(sa.inspect(conn).get_table_names())
            for table in reversed(_metadata().sorted_tables):
                if table.name in present:
                    conn.execute(table.delete())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    yield url
    _empty_postgres(url)
