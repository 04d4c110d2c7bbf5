"""What the integration tests share: a bootstrapped container and the web app on it with a test
client, a worker runtime with the real engines, dramatiq workers on the embedded broker, and
waiting for a job's stream to end.

A test module changes the container's settings by overriding the ``settings`` fixture.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container, bootstrap
from app.http.application import create_app
from app.settings import Settings
from domain.catalog import BUILTIN
from domain.jobs import is_terminal_type
from eventstore.base import RecordedEvent
from eventstore.db import sqlite_url
from migrations.api import upgrade
from tests.conftest import fresh_postgres_database
from workers.engines.model_files import ModelFiles
from workers.engines.registry import EngineRegistry
from workers.runtime import WorkerRuntime, install


@pytest.fixture(scope="session")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineRegistry]:
    """One registry for the session: each model's bundled files are assembled, verified and
    loaded once, whichever module uses it first."""
    registry = EngineRegistry(BUILTIN, ModelFiles(tmp_path_factory.mktemp("models")))
    yield registry
    registry.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Quick polling, short retry backoffs, and a short lease so a lost worker's message returns soon."""
    return Settings(
        data_dir=tmp_path / "data",
        job_min_backoff_ms=50,
        job_max_backoff_ms=200,
        broker_poll_interval=0.05,
        broker_lease_seconds=5,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database on each backend: SQLite in a file, then a fresh Postgres database."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "sauti.db")
        upgrade(url)
        yield url
        return
    with fresh_postgres_database() as url:
        upgrade(url)
        yield url


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    upgrade(settings.resolved_database_url)
    built = bootstrap(settings)
    yield built
    built.close()


@pytest.fixture
async def app(container: Container) -> AsyncIterator[Quart]:
    """The web app on the container, started (its before-serving hooks run)."""
    application = create_app(container)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


def install_runtime(
    container: Container, engines: EngineRegistry, worker_id: str = "test-worker"
) -> WorkerRuntime:
    """Install the runtime the actors run in, as ``sauti worker`` does, over ``container``."""
    runtime = container.worker_runtime(worker_id, engines)
    install(runtime)
    return runtime


@pytest.fixture
def runtime(container: Container, engines: EngineRegistry) -> WorkerRuntime:
    return install_runtime(container, engines)


def start_worker(broker: dramatiq.Broker) -> dramatiq.Worker:
    instance = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    instance.start()
    return instance


@pytest.fixture
def worker(container: Container) -> Iterator[Callable[[], dramatiq.Worker]]:
    """Starts a worker on the container's broker at each call; all are stopped after the test."""
    running: list[dramatiq.Worker] = []

    def start() -> dramatiq.Worker:
        instance = start_worker(container.broker)
        running.append(instance)
        return instance

    yield start
    for instance in running:
        instance.stop(timeout=10_000)


async def json_answer(response: Any, status: int) -> Any:
    """A test client response's JSON body, once its status is the one expected (else the body shows)."""
    body = await response.get_json()
    assert response.status_code == status, body
    return body


def has_ended(events: list[RecordedEvent]) -> bool:
    return bool(events) and is_terminal_type(events[-1].type)


def wait_for_events(
    container: Container, stream_id: str, done: Callable[[list[RecordedEvent]], bool], timeout: float = 60.0
) -> list[RecordedEvent]:
    """The stream's events once ``done`` holds for them."""
    deadline = time.monotonic() + timeout
    events = container.store.read_stream(stream_id)
    while not done(events):
        if time.monotonic() > deadline:
            raise AssertionError(f"{stream_id} timed out: {[e.type for e in events]}")
        time.sleep(0.02)
        events = container.store.read_stream(stream_id)
    return events


def wait_for_terminal(container: Container, stream_id: str, timeout: float = 60.0) -> list[RecordedEvent]:
    """The stream's events once the job has ended (completed, failed, cancelled...)."""
    return wait_for_events(container, stream_id, has_ended, timeout)


def stop_worker_mid_job(
    container: Container,
    engines: EngineRegistry,
    submit: Callable[[], str],
    reached: Callable[[list[RecordedEvent]], bool],
) -> tuple[str, list[RecordedEvent]]:
    """Submits a job to a worker that goes away once ``reached`` holds for the job's events.

    It records nothing more, the message returns to the queue and the next worker finds a job
    that is still "running". Returns the stream id and the events recorded by then.
    """
    crashing = install_runtime(container, engines, "crashing-worker")
    first = start_worker(container.broker)
    stream_id = submit()
    wait_for_events(container, stream_id, reached)
    crashing.stopping.set()
    first.stop(timeout=10_000)
    container.broker.close()
    before = container.store.read_stream(stream_id)
    assert not has_ended(before)
    return stream_id, before


def finish_after_restart(
    container: Container, engines: EngineRegistry, stream_id: str, timeout: float = 60.0
) -> list[RecordedEvent]:
    """The job's events once a restarted process has finished it: a fresh container over the same
    data, a new runtime ("next-worker") and worker, closed again before returning."""
    restarted = bootstrap(container.settings)
    install_runtime(restarted, engines, "next-worker")
    instance = start_worker(restarted.broker)
    try:
        return wait_for_terminal(restarted, stream_id, timeout)
    finally:
        instance.stop(timeout=5000)
        restarted.close()
