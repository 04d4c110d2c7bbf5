"""The same jobs on both deployments: SQLite + the embedded broker, and Postgres + Redis.

Each deployment is a real ``sauti serve`` with a worker process; the Postgres and Redis servers
are throw-away instances (tests/servers.py). A transcription, a speech job and a chat completion
through the official ``openai`` client; a worker SIGKILLed mid-job; SSE resumed with
``Last-Event-ID``; and a process killed between the commit of a job and the send of its message.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
import wave
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from sqlalchemy import func, select

from eventstore.db import make_engine
from tests.conftest import JFK, JFK_TEXT, fresh_postgres_database, server_or_skip
from tests.e2e import test_job_lifecycle as lifecycle
from tests.e2e.conftest import (
    REPO_ROOT,
    JobSubmitter,
    SautiServer,
    event_types,
    sauti_env,
    serving,
    start_server,
    wait_for_terminal,
    wait_until,
)
from tests.e2e.lifecycle_actors import PROBE
from tests.wer import word_error_rate
from workers.schema import outbox_messages

pytestmark = pytest.mark.e2e

DEPLOYMENTS = ["sqlite+embedded", "postgres+redis"]
_redis_databases = itertools.count(1)


@pytest.fixture(scope="module", params=DEPLOYMENTS)
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SautiServer]:
    base = tmp_path_factory.mktemp(request.param.replace("+", "-"))
    if request.param == "sqlite+embedded":
        server = start_server(base / "data", base / "server.log")
        yield from serving(server)
        return
    redis = server_or_skip("redis")
    with fresh_postgres_database() as database_url:
        # A Redis database of its own, so no other test's queues are in the way.
        env = {
            "SAUTI_DATABASE_URL": database_url,
            "SAUTI_BROKER_URL": f"{redis.url.rsplit('/', 1)[0]}/{next(_redis_databases)}",
        }
        server = start_server(base / "data", base / "server.log", env=env)
        yield from serving(server)


@pytest.fixture(scope="module")
def api(deployed: SautiServer) -> Iterator[httpx.Client]:
    with deployed.client(timeout=httpx.Timeout(120.0)) as client:
        yield client


@pytest.fixture(scope="module")
def submitter(deployed: SautiServer) -> Iterator[JobSubmitter]:
    submitter = JobSubmitter()
    submitter.use(deployed)
    yield submitter
    submitter.close()


def openai_client(server: SautiServer) -> OpenAI:
    return server.openai_client(timeout=120.0)


def test_transcription(deployed: SautiServer) -> None:
    with JFK.open("rb") as audio:
        result = openai_client(deployed).audio.transcriptions.create(model="Whisper-Tiny.en", file=audio)
    assert word_error_rate(JFK_TEXT, result.text) < 0.2, result.text


def test_speech(deployed: SautiServer) -> None:
    response = openai_client(deployed).audio.speech.create(
        model="Piper-Joe-Medium", voice="default", input="Hello from both deployments.", response_format="wav"
    )
    with wave.open(BytesIO(response.content)) as reader:
        seconds = reader.getnframes() / reader.getframerate()
    assert 0.8 < seconds < 6.0


def test_chat_completion(deployed: SautiServer) -> None:
    completion = openai_client(deployed).chat.completions.create(
        model="SmolLM2-135M-Instruct-GGUF",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        temperature=0,
    )
    assert completion.choices[0].message.content
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 8


def test_worker_sigkilled_mid_job(api: httpx.Client, deployed: SautiServer, submitter: JobSubmitter) -> None:
    lifecycle.test_sigkill_worker_mid_job(api, deployed, submitter)


def test_sse_resume_with_last_event_id(
    api: httpx.Client, deployed: SautiServer, submitter: JobSubmitter
) -> None:
    lifecycle.test_sse_resume_with_last_event_id(api, deployed, submitter)


def test_a_process_killed_between_commit_and_send_loses_no_job(
    api: httpx.Client, deployed: SautiServer
) -> None:
    """The job is committed, its message never sent by the dying process: the message is in the
    same transaction (embedded broker) or in the outbox (Redis), and the job runs, once."""
    job_id = uuid.uuid4().hex
    died = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("submit_and_die.py")), str(deployed.data_dir), job_id],
        cwd=REPO_ROOT,
        env=sauti_env(**deployed.env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert died.returncode == -9, died.stdout + died.stderr
    stream_id = PROBE.stream_id(job_id)

    events = wait_for_terminal(api, stream_id, timeout=60)
    types = event_types(events)
    assert types.count("probe.started") == 1 and types.count("probe.completed") == 1, types
    assert types[-1] == "probe.completed", types
    if "SAUTI_DATABASE_URL" in deployed.env:
        engine = make_engine(deployed.env["SAUTI_DATABASE_URL"])

        def outbox_empty() -> bool:
            with engine.connect() as connection:
                return connection.execute(select(func.count()).select_from(outbox_messages)).scalar() == 0

        try:
            wait_until(outbox_empty, 10, "the relayed message to leave the outbox")
        finally:
            engine.dispose()
