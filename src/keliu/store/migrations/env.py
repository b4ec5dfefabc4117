"""Alembic environment for keliu's store.

keliu runs migrations itself (``keliu.store.engine.upgrade``) and hands over an open connection in
``config.attributes["connection"]``; no ``alembic.ini`` is needed. For hand use, the alembic command
works too: ``alembic -x url=postgresql+psycopg://... -c /dev/null upgrade head`` with
``script_location`` set to this directory, or ``sqlalchemy.url`` in an ini file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from keliu.store.schema import metadata

config = context.config


def _configure_and_run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can only ALTER by copying tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass -x url=... or set sqlalchemy.url")
    return url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _configure_and_run(given)
    else:
        engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
        with engine.begin() as connection:
            _configure_and_run(connection)
        engine.dispose()
