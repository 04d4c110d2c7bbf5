"""Database engines for the event store, the embedded broker and the projections.

SQLite is the default: WAL, ``synchronous=NORMAL``, a generous ``busy_timeout`` and
``BEGIN IMMEDIATE`` for every write transaction, so that concurrent writers from several
processes queue on the database lock instead of failing with "database is locked" at commit.
The same helpers work on Postgres, where writers run concurrently (eventstore/postgres.py says
how appends keep readers from skipping an event committed out of order).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
# One SQLite writer at a time per process: threads of one process queue here and wake as soon as
# the writer before them commits, instead of in SQLite's busy handler, which sleeps up to 100 ms
# between tries. Other processes still queue on the database lock.
_SQLITE_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine configured for Sauti's transaction discipline."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        _configure_sqlite(engine)
        _SQLITE_WRITE_LOCKS[engine] = threading.RLock()
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not pysqlite, decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # On the driver's connection: SQLAlchemy's statement execution costs more than the BEGIN.
        begin = "BEGIN IMMEDIATE" if connection.get_execution_options().get("sauti_write") else "BEGIN"
        connection.connection.driver_connection.execute(begin)  # type: ignore[union-attr]


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction.

    On SQLite it holds the database's write lock from its first statement (``BEGIN IMMEDIATE``),
    so writers are serialised. On Postgres it is a plain transaction: writers run concurrently,
    and what must not interleave takes its own row or advisory locks.
    """
    with _SQLITE_WRITE_LOCKS.get(engine) or nullcontext(), engine.connect() as connection:
        connection = connection.execution_options(sauti_write=True)
        with connection.begin():
            yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A short read transaction: one consistent snapshot, closed as soon as the block ends."""
    with engine.connect() as connection, connection.begin():
        yield connection
