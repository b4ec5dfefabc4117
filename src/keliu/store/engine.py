"""Opening the database: URL handling, SQLite pragmas, and migrating to the newest schema.

* no URL: the embedded SQLite file ``KELIU_HOME/keliu.db``;
* ``sqlite:///PATH``: that SQLite file (WAL journal, foreign keys on, 5 s busy timeout on every
  connection);
* ``postgresql://`` or ``postgres://``: PostgreSQL through psycopg 3 (``postgresql+psycopg://``).

Migrations are the hand-written Alembic scripts shipped inside the package (``migrations/``), run
programmatically; no ``alembic.ini`` is involved.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from keliu.paths import keliu_home
from keliu.store.errors import StoreError, StoreUnavailable

__all__ = [
    "DB_FILE_NAME",
    "MIGRATIONS",
    "create_store_engine",
    "default_url",
    "in_values",
    "insert_rows",
    "safe_url",
    "unavailable_as_store_error",
    "upgrade",
]

DB_FILE_NAME = "keliu.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 10
_MIGRATION_LOCK = 0x6B656C6975  # pg advisory lock key ("keliu"): one migrator at a time


def default_url() -> str:
    """The embedded database: ``sqlite:///KELIU_HOME/keliu.db`` (the directory is created, mode 0700)."""
    home = keliu_home()
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the data directory {home}: {exc.strerror}") from None
    return f"sqlite:///{home / DB_FILE_NAME}"


def safe_url(url: str | URL) -> str:
    """The URL for messages: password hidden; a string that is not a URL is shown as given."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return str(url)


def _normalise(url: str) -> URL:
    text = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if text.startswith(prefix):
            text = "postgresql+psycopg://" + text[len(prefix) :]
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):
        raise StoreError(
            f"invalid database URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database URL {safe_url(parsed)}: keliu stores data in SQLite "
            "(sqlite:///PATH) or PostgreSQL (postgresql://USER@HOST:PORT/DATABASE)"
        )
    if backend == "sqlite" and parsed.database:
        parent = Path(parsed.database).expanduser().parent
        if not parent.is_dir():
            raise StoreUnavailable(
                f"cannot open the database {safe_url(parsed)}: {parent} is not a directory"
            )
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(
            "PRAGMA secure_delete=ON"
        )  # deleted signatures are overwritten, not left in free pages
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a power cut loses only the last commits
    finally:
        cursor.close()


def create_store_engine(url: str | None = None) -> sa.Engine:
    """An engine for ``url`` (see the module docstring); nothing is connected yet."""
    parsed = _normalise(default_url() if url is None else url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use the database URL {safe_url(parsed)}: {one_line(exc)}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def in_values(conn: sa.Connection, column: Any, values: Sequence[str]) -> Any:
    """``column IN values``: one array parameter on PostgreSQL (``= ANY(…)``: cheap to send and to
    plan however many values), the usual list on SQLite."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.cast(sa.literal(list(values)), postgresql.ARRAY(sa.String())))
    return column.in_(values)


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain INSERT of ``rows`` (dicts with the same keys) into ``table``, fast on both engines.

    PostgreSQL: ``COPY … FROM STDIN`` through psycopg (its executemany sends one statement per row,
    and a multi-row ``VALUES`` costs more to compile than to run); values are adapted by psycopg, so
    they must already be what the column stores (timezone-aware datetimes for ``UTCDateTime``).
    SQLite: SQLAlchemy's executemany (in-process, already fast)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), list(rows))
        return
    names = list(rows[0])
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise KeyError(f"{table.name} has no column(s) {unknown}")
    raw = conn.connection.driver_connection
    columns = ", ".join(f'"{n}"' for n in names)
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(tuple(row[n] for n in names))


def one_line(exc: BaseException) -> str:
    """The driver's reason for a database error, on one line (no SQL, no traceback)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or type(exc).__name__


@contextmanager
def unavailable_as_store_error() -> Iterator[None]:
    """A lost or refused database connection becomes `StoreUnavailable` with a one-line reason."""
    try:
        yield
    except sa.exc.OperationalError as exc:
        raise StoreUnavailable(f"the database is unavailable: {one_line(exc)}") from None


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config for the shipped migrations (``connection`` is used by ``env.py`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (in one transaction; on PostgreSQL under an advisory lock
    so that processes opening the store together do not race).

    Raises :class:`StoreUnavailable` when the database cannot be reached, :class:`StoreError` when the
    schema cannot be migrated (e.g. it was written by a newer keliu).
    """
    where = safe_url(engine.url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            command.upgrade(alembic_config(connection), "head")
    except DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError):
            raise StoreUnavailable(f"cannot open the database {where}: {one_line(exc)}") from None
        raise StoreError(f"cannot migrate the database {where}: {one_line(exc)}") from None
    except CommandError as exc:
        raise StoreError(
            f"cannot migrate the database {where}: {one_line(exc)} (was it written by a newer keliu?)"
        ) from None
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate the database {where}: {one_line(exc)}") from None
