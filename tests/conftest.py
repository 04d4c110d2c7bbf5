from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from domain.kinds import JobKind, OpenParams
from eventstore.db import make_engine, sqlite_url
from migrations.api import upgrade

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
JFK = FIXTURES / "audio" / "jfk.flac"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


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


def postgres_url() -> str | None:
    return os.environ.get("SAUTI_TEST_POSTGRES_URL") or None
