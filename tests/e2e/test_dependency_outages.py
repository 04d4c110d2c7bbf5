"""Postgres and Redis go away while jobs run: the server says it is not ready, then recovers by
itself, and every job ends exactly once with nothing lost or repeated."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import server_or_skip
from tests.e2e.conftest import (
    JobSubmitter,
    SautiServer,
    event_types,
    start_server,
    stream_events,
    wait_for_terminal,
    wait_until,
)
from tests.servers import Server

pytestmark = pytest.mark.e2e

STEPS = 4
OUTAGE_SECONDS = 3.0


@pytest.fixture
def dependencies() -> Iterator[tuple[Server, Server]]:
    postgres = server_or_skip("postgres", own=True)
    try:
        redis = server_or_skip("redis", own=True)
    except BaseException:
        postgres.stop()
        raise
    yield postgres, redis
    redis.stop()
    postgres.stop()


def _readiness(api: httpx.Client) -> tuple[int, dict[str, object]]:
    response = api.get("/readyz", timeout=10)
    return response.status_code, response.json().get("checks", {})


def _not_ready_because(api: httpx.Client, check: str) -> bool:
    status, checks = _readiness(api)
    failing = checks.get(check)
    return status == 503 and isinstance(failing, dict) and failing.get("ok") is False


def test_redis_and_postgres_restarts_lose_nothing(
    dependencies: tuple[Server, Server], tmp_path: Path
) -> None:
    postgres, redis = dependencies
    env = {
        "SAUTI_DATABASE_URL": postgres.url,
        "SAUTI_BROKER_URL": redis.url,
        "SAUTI_OUTBOX_RELAY_SECONDS": "0.5",
    }
    server: SautiServer = start_server(tmp_path / "data", tmp_path / "server.log", env=env)
    submitter = JobSubmitter()
    submitter.use(server)
    try:
        with server.client(timeout=httpx.Timeout(30.0)) as api:
            streams = [submitter.probe(server.data_dir, steps=STEPS, step_seconds=0.3) for _ in range(4)]

            redis.halt()
            wait_until(lambda: _not_ready_because(api, "broker"), 20, "/readyz to report the broker down")
            time.sleep(OUTAGE_SECONDS)  # long enough for the worker's fetches and acks to fail
            # Submitted while Redis is down: committed, and waiting in the outbox.
            streams += [submitter.probe(server.data_dir, steps=STEPS, step_seconds=0.3) for _ in range(3)]
            redis.resume()
            wait_until(lambda: _readiness(api)[0] == 200, 30, "/readyz to recover after Redis came back")

            # These are running (or about to) when the database goes away.
            running = [submitter.probe(server.data_dir, steps=STEPS, step_seconds=0.5) for _ in range(2)]
            wait_until(
                lambda: "probe.progressed" in event_types(stream_events(api, running[0])), 30, "a job to run"
            )
            streams += running
            postgres.halt()
            wait_until(
                lambda: _not_ready_because(api, "migrations"), 20, "/readyz to report the database down"
            )
            time.sleep(OUTAGE_SECONDS)  # the running job's appends and the heartbeats fail meanwhile
            postgres.resume()
            wait_until(lambda: _readiness(api)[0] == 200, 30, "/readyz to recover after Postgres came back")
            streams += [submitter.probe(server.data_dir, steps=STEPS, step_seconds=0.1) for _ in range(2)]

            for stream_id in streams:
                events = wait_for_terminal(api, stream_id, timeout=120)
                types = event_types(events)
                assert types[-1] == "probe.completed" and types.count("probe.completed") == 1, (
                    stream_id,
                    types,
                )
                steps = [e["data"]["step"] for e in events if e["type"] == "probe.progressed"]
                assert sorted(Counter(steps)) == [f"step-{i}" for i in range(STEPS)], (stream_id, types)
                assert max(Counter(steps).values()) == 1, (stream_id, types)
                stored = stream_events(api, stream_id)
                assert [e["version"] for e in stored] == list(range(1, len(stored) + 1))
                positions = [e["position"] for e in stored]
                assert positions == sorted(set(positions))
            health = api.get("/v1/health").json()
            assert health["broker"]["outbox_pending"] == 0
    finally:
        submitter.close()
        server.stop_and_check()
