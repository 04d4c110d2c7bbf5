"""Which failures are outages (a dependency unreachable: requeued without spending a retry)."""

from __future__ import annotations

import sqlite3

import pytest
import redis.exceptions
import sqlalchemy.exc

from workers.middleware import is_outage


def _operational(message: str) -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    "exception",
    [
        _operational("connection to server at 127.0.0.1 failed: Connection refused"),
        _operational("database is locked"),
        redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379."),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
    ],
    ids=["postgres down", "sqlite locked", "redis down", "redis timeout"],
)
def test_an_unreachable_dependency_is_an_outage(exception: BaseException) -> None:
    assert is_outage(exception)


@pytest.mark.parametrize(
    "exception",
    [
        _operational("no such table: events"),
        sqlalchemy.exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
        RuntimeError("the model produced nothing"),
        ValueError("bad params"),
    ],
    ids=["missing table", "integrity", "runtime", "value"],
)
def test_a_job_or_code_error_is_not(exception: BaseException) -> None:
    assert not is_outage(exception)
