"""End-to-end fixtures: a real ``sauti serve`` subprocess, an HTTP client, an SSE parser, and a
library-side job submitter that writes to the server's data directory.

Tests import the helpers with ``from tests.e2e.conftest import ...``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.lifecycle_actors import PROBE
from tests.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SAUTI = Path(sys.executable).parent / "sauti"
ACTOR_MODULE = "tests.e2e.lifecycle_actors"

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
GRACE_SECONDS = 5.0
SSE_HEARTBEAT_SECONDS = 1.0
TERMINAL_SUFFIXES = (".completed", ".failed", ".cancelled")


# --- environment ------------------------------------------------------------------------


def sauti_env(**extra: str) -> dict[str, str]:
    """The environment for ``sauti`` subprocesses: no inherited ``SAUTI_*``, fast test settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SAUTI_")}
    python_path = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        PYTHONPATH=os.pathsep.join(python_path),
        PYTHONUNBUFFERED="1",
        SAUTI_ACTOR_MODULES=ACTOR_MODULE,
        SAUTI_BROKER_LEASE_SECONDS="2",
        SAUTI_LOG_FORMAT="json",
        SAUTI_SHUTDOWN_GRACE_SECONDS=str(GRACE_SECONDS),
        SAUTI_SSE_HEARTBEAT_SECONDS=str(SSE_HEARTBEAT_SECONDS),
        SAUTI_SUBSCRIPTION_POLL_SECONDS="0.5",
    )
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``sauti ARGS`` to completion and return its result (stdout and stderr as text)."""
    return subprocess.run(
        [str(SAUTI), *args],
        cwd=REPO_ROOT,
        env=sauti_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except (httpx.HTTPError, OSError) as error:
            value, last_error = None, error
        if value:
            return value
        if time.monotonic() >= deadline:
            suffix = f" (last error: {last_error!r})" if last_error else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")
        time.sleep(interval)


# --- the server -------------------------------------------------------------------------


@dataclass
class SautiServer:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    """The settings it was started with beyond the test defaults (its database and broker)."""
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines (non-JSON lines, e.g. Hypercorn's own banner, are skipped)."""
        records = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def openai_client(self, timeout: float = 120.0) -> openai.OpenAI:
        """The official ``openai`` client for this server's OpenAI-compatible routes (no retries:
        a test sees the first answer)."""
        return openai.OpenAI(
            base_url=f"{self.base_url}/v1", api_key="not-needed", timeout=timeout, max_retries=0
        )

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", httpx.Timeout(10.0))
        return httpx.Client(base_url=self.base_url, **kwargs)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM the server and wait; on a timeout kill its process group and fail."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(
                f"sauti serve (pid {self.pid}) did not exit within {timeout:.0f}s of SIGTERM\n"
                f"--- server log ---\n{tail(self.log_text())}"
            )

    def kill(self) -> None:
        """SIGKILL the server and its workers (its own process group), for clean-up after a failure."""
        self._stopped = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def stop_and_check(self, timeout: float = STOP_TIMEOUT) -> None:
        code = self.stop(timeout)
        if code != 0:
            # The web process is gone; make sure no worker outlives it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            pytest.fail(
                f"sauti serve exited with code {code} after SIGTERM\n"
                f"--- server log ---\n{tail(self.log_text())}"
            )


def tail(text: str, lines: int = 80) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _spawn(
    data_dir: Path, log_path: Path, port: int, workers: int, env: dict[str, str] | None = None
) -> SautiServer:
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child owns it; closed below
    try:
        process = subprocess.Popen(
            [
                str(SAUTI),
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--workers",
                str(workers),
            ],
            cwd=REPO_ROOT,
            env=sauti_env(**(env or {})),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a failed test can clean up the workers
        )
    finally:
        log_file.close()
    return SautiServer(data_dir=data_dir, port=port, process=process, log_path=log_path, env=dict(env or {}))


def start_server(
    data_dir: Path,
    log_path: Path,
    *,
    workers: int = 1,
    attempts: int = 3,
    env: dict[str, str] | None = None,
) -> SautiServer:
    """Start ``sauti serve`` and wait for ``/readyz`` to answer 200.

    A free port can be taken between choosing it and binding it: that case is retried.
    """
    for attempt in range(1, attempts + 1):
        server = _spawn(data_dir, log_path, free_port(), workers, env)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.base_url}/readyz", timeout=2.0).status_code == 200:
                    return server
            time.sleep(0.2)
        log = server.log_text()
        if (
            server.process.poll() is not None
            and "address already in use" in log.lower()
            and attempt < attempts
        ):
            continue
        server.kill()
        state = (
            f"exited with code {server.process.returncode}"
            if server.process.returncode is not None
            else "running"
        )
        pytest.fail(
            f"sauti serve did not become ready within {READY_TIMEOUT:.0f}s ({state})\n"
            f"--- server log ({log_path}) ---\n{tail(log)}"
        )
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def sauti_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SautiServer]:
    """One server shared by every test that does not stop or restart it."""
    base = tmp_path_factory.mktemp("sauti-shared")
    yield from serving(start_server(base / "data", base / "server.log"))


def serving(server: SautiServer) -> Iterator[SautiServer]:
    """A fixture's body for a started server: killed if the tests fail hard, else stopped and checked."""
    try:
        yield server
    except BaseException:
        server.kill()
        raise
    server.stop_and_check()


@pytest.fixture(scope="session")
def api(sauti_server: SautiServer) -> Iterator[httpx.Client]:
    with sauti_server.client() as client:
        yield client


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., SautiServer]]:
    """Start extra servers (e.g. two in a row on one data dir); stopped and checked at teardown."""
    started: list[SautiServer] = []

    def start(
        data_dir: Path | None = None, *, workers: int = 1, env: dict[str, str] | None = None
    ) -> SautiServer:
        log_path = tmp_path / f"server-{len(started) + 1}.log"
        server = start_server(data_dir or tmp_path / "data", log_path, workers=workers, env=env)
        started.append(server)
        return server

    yield start
    failures = []
    for server in started:
        if server._stopped:
            continue
        try:
            server.stop_and_check()
        except BaseException as error:  # pytest.fail raises a BaseException
            failures.append(str(error))
    if failures:
        pytest.fail("\n\n".join(failures))


# --- submitting jobs from the test process ----------------------------------------------


class JobSubmitter:
    """Bootstraps the library once per data dir (declaring actors twice in a process raises),
    on the database and broker that the server of that data dir uses."""

    def __init__(self) -> None:
        self._containers: dict[Path, Any] = {}
        self._deployments: dict[Path, dict[str, str]] = {}

    def use(self, server: SautiServer) -> None:
        """Submit to ``server``'s data dir on its database and broker (before the first submit)."""
        self._deployments[server.data_dir.resolve()] = server.env

    def container(self, data_dir: Path) -> Any:
        key = data_dir.resolve()
        if key not in self._containers:
            from app.bootstrap import bootstrap
            from app.settings import Settings

            env = self._deployments.get(key, {})
            settings = Settings(
                data_dir=key,
                actor_modules=[ACTOR_MODULE],
                database_url=env.get("SAUTI_DATABASE_URL"),
                broker_url=env.get("SAUTI_BROKER_URL"),
                broker_lease_seconds=float(sauti_env()["SAUTI_BROKER_LEASE_SECONDS"]),
            )
            self._containers[key] = bootstrap(settings)
        return self._containers[key]

    def probe(self, data_dir: Path, steps: int, step_seconds: float) -> str:
        container = self.container(data_dir)
        return str(container.jobs.submit(PROBE, {"steps": steps, "step_seconds": step_seconds}))

    def close(self) -> None:
        for container in self._containers.values():
            with contextlib.suppress(Exception):
                container.close()
        self._containers.clear()


@pytest.fixture(scope="session")
def jobs() -> Iterator[JobSubmitter]:
    submitter = JobSubmitter()
    yield submitter
    submitter.close()


# --- reading events over HTTP -----------------------------------------------------------


def stream_events(client: httpx.Client, stream_id: str) -> list[dict[str, Any]]:
    """Every stored event of one stream, following the cursor pages."""
    records: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500}
    while True:
        response = client.get(f"/v1/streams/{stream_id}/events", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        records.extend(body["records"])
        if not body["pagination"]["has_more"]:
            return records
        params = {"limit": 500, "cursor": body["pagination"]["next_cursor"]}


def list_pages(client: httpx.Client, path: str, limit: int) -> list[list[dict[str, Any]]]:
    """Every page of a cursor-paginated list, following ``next_cursor``; each page is checked
    against the contract's shape (``object: list``, the limit echoed, no cursor on the last)."""
    found: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "list" and body["pagination"]["limit"] == limit
        assert len(body["records"]) <= limit
        found.append(body["records"])
        if not body["pagination"]["has_more"]:
            assert body["pagination"]["next_cursor"] is None
            return found
        params = {"limit": limit, "cursor": body["pagination"]["next_cursor"]}


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def wait_for_events(
    client: httpx.Client,
    stream_id: str,
    predicate: Callable[[list[dict[str, Any]]], bool],
    timeout: float,
    what: str,
) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]] | None:
        events = stream_events(client, stream_id)
        return events if predicate(events) else None

    events: list[dict[str, Any]] = wait_until(check, timeout, f"{what} in {stream_id}", interval=0.1)
    return events


def is_terminal(events: list[dict[str, Any]]) -> bool:
    return any(event["type"].endswith(TERMINAL_SUFFIXES) for event in events)


def wait_for_terminal(client: httpx.Client, stream_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    return wait_for_events(client, stream_id, is_terminal, timeout, "a terminal event")


def alive_workers(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/v1/health")
    assert response.status_code == 200, response.text
    return [p for p in response.json()["workers"]["processes"] if p["alive"]]


# --- server-sent events -----------------------------------------------------------------


@dataclass
class SSEFrame:
    id: str | None
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SSEReader:
    """Parses ``text/event-stream`` lines into frames (per the WHATWG rules that matter here):
    ``field: value`` lines, a blank line dispatches, ``:`` starts a comment, multi-line data is
    joined with newlines, and a frame cut off before its blank line is dropped."""

    def __init__(self) -> None:
        self.comments: list[str] = []
        self._reset()

    def _reset(self) -> None:
        self._id: str | None = None
        self._event: str | None = None
        self._data: list[str] = []
        self._has_fields = False

    def feed(self, line: str) -> SSEFrame | None:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._has_fields:
                return None
            frame = SSEFrame(self._id, self._event, "\n".join(self._data))
            self._reset()
            return frame
        if line.startswith(":"):
            self.comments.append(line[1:].lstrip())
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            self._id = value
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        else:
            return None  # "retry" and unknown fields are ignored here
        self._has_fields = True
        return None


def iter_sse(response: httpx.Response, reader: SSEReader | None = None) -> Iterator[SSEFrame]:
    reader = reader or SSEReader()
    for line in response.iter_lines():
        frame = reader.feed(line)
        if frame is not None:
            yield frame


def read_sse(
    client: httpx.Client,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    last_event_id: str | None = None,
    max_frames: int | None = None,
    timeout: float = 60.0,
    reader: SSEReader | None = None,
) -> list[SSEFrame]:
    """Open an SSE stream and collect frames until the server closes it or ``max_frames`` arrive
    (then the connection is closed from our side). Fails past ``timeout`` seconds."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    frames: list[SSEFrame] = []
    deadline = time.monotonic() + timeout
    # Heartbeats arrive every SSE_HEARTBEAT_SECONDS, so a read never legitimately stalls for long.
    read_timeout = httpx.Timeout(10.0, read=max(5.0, SSE_HEARTBEAT_SECONDS * 5))
    with client.stream("GET", path, params=params, headers=headers, timeout=read_timeout) as response:
        assert response.status_code == 200, response.read().decode(errors="replace")
        assert response.headers["content-type"].startswith("text/event-stream"), response.headers
        reader = reader or SSEReader()
        for line in response.iter_lines():
            frame = reader.feed(line)
            if frame is not None:
                frames.append(frame)
                if max_frames is not None and len(frames) >= max_frames:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"SSE {path} still open after {timeout:.0f}s; got {[f.event for f in frames]}")
    return frames
