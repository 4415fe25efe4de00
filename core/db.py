"""Relational database plumbing: one declarative ``Base``, engine creation, and migrations with Alembic.

SQLite (a file under the data directory) is the embedded default; PostgreSQL is the production database.
Schema changes are Alembic revisions; the composition root owns them (``community/migrations``, run by
``community.schema.migrate``), because only it knows every domain's tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker


class Base(DeclarativeBase):
    pass


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


MIGRATION_LOCK = 0x636F6D6D  # any constant shared by every process of this service ("comm")


def migrate(engine: Engine, script_location: Path) -> None:
    """Bring the schema to the newest revision of the Alembic scripts at ``script_location`` (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes (an ingest and an alerts process, say) may start together on a fresh database:
            # one migrates, the others wait for its transaction and then find the schema current.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


_pools: dict[str, sessionmaker] = {}


def sessions_for(url: str) -> sessionmaker:
    """Sessions on ``url`` from one pool kept for the life of the process: for work sent to the offload child
    (core/offload.py), which gets the database's URL, not the parent's pool."""
    if url not in _pools:
        _pools[url] = session_factory(make_engine(url))
    return _pools[url]
