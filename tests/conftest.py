from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from domain.kinds import JobKind, OpenParams
from eventstore.db import make_engine, sqlite_url
from migrations.api import upgrade
from tests import servers
from tests.servers import Server

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
JFK = FIXTURES / "audio" / "jfk.flac"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


class NoDispatch:
    """A job dispatcher that sends nothing: jobs are recorded and stay queued (for kinds that have
    no actor, or tests that run no worker)."""

    def dispatch(self, tx: object, actor_name: str, stream_id: str, message_id: str) -> None:
        pass


def probe_kind(actor: str, category: str = "probe") -> JobKind[OpenParams]:
    """A test-only job kind (never registered): ``actor`` runs ``<category>-…`` streams."""
    return JobKind(name=actor, category=category, actor=actor, params=OpenParams)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in a fresh directory."""
    url = sqlite_url(tmp_path / "sauti.db")
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def server_or_skip(name: str, *, own: bool = False) -> Server:
    """The session's throw-away server of that kind, or with ``own`` a new one that the caller
    stops. Without the server's binaries: a skip that names what is absent (a failure in CI)."""
    try:
        return servers.STARTERS[name]() if own else servers.shared(name)
    except servers.ServerMissing as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} variant cannot run in CI: {missing} (scripts/setup installs it)")
        pytest.skip(f"{name} variant skipped: {missing}")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the session's Postgres server (dropped afterwards): its URL."""
    server = server_or_skip("postgres")
    name = f"sauti_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_engine(server.url).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the session's Postgres server, migrated to the newest schema."""
    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture
def redis_url() -> str:
    return server_or_skip("redis").url


@pytest.fixture
def rabbitmq_url() -> str:
    return server_or_skip("rabbitmq").url
