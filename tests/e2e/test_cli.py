"""The ``sauti`` maintenance commands against a running server and its data directory."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bootstrap import build_projections
from tests.e2e.conftest import (
    REPO_ROOT,
    SAUTI,
    JobSubmitter,
    SautiServer,
    alive_workers,
    free_port,
    run_cli,
    sauti_env,
    stream_events,
    wait_for_terminal,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

TERMINAL = {"completed", "failed", "cancelled"}


def _jobs_table(data_dir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "sauti.db") as connection:
        return list(connection.execute("SELECT * FROM jobs ORDER BY stream_id"))


def _all_jobs_ended(api: httpx.Client) -> bool:
    return set(api.get("/v1/health").json()["jobs"]) <= TERMINAL


def test_status_prints_health(api: httpx.Client, sauti_server: SautiServer) -> None:
    wait_until(lambda: alive_workers(api), 30, "an alive worker")
    result = run_cli("status", "--port", str(sauti_server.port))
    assert result.returncode == 0, result.stdout + result.stderr
    health = json.loads(result.stdout)
    assert health["status"] == "ok"
    assert health["data_dir"] == str(sauti_server.data_dir)
    assert health["database"]["backend"] == "sqlite"
    assert health["broker"]["kind"] == "sqlite"
    assert health["workers"]["alive"] >= 1
    assert set(health) == set(api.get("/v1/health").json())


def test_status_without_a_server_fails() -> None:
    result = run_cli("status", "--port", str(free_port()))
    assert result.returncode == 1
    assert "not answering" in result.stderr
    assert result.stdout == ""


def test_events_tail_no_follow(api: httpx.Client, sauti_server: SautiServer, jobs: JobSubmitter) -> None:
    stream_id = jobs.probe(sauti_server.data_dir, steps=3, step_seconds=0.05)
    stored = wait_for_terminal(api, stream_id, timeout=60)

    result = run_cli(
        "events", "tail", "--no-follow", "--stream", stream_id, "--data-dir", str(sauti_server.data_dir)
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == stored

    after = stored[2]["position"]
    result = run_cli(
        "events",
        "tail",
        "--no-follow",
        "--stream",
        stream_id,
        "--after",
        str(after),
        "--data-dir",
        str(sauti_server.data_dir),
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == stored[3:]

    # Without --stream: the whole log, which holds this stream's events in order.
    result = run_cli("events", "tail", "--no-follow", "--data-dir", str(sauti_server.data_dir))
    assert result.returncode == 0, result.stderr
    everything = [json.loads(line) for line in result.stdout.splitlines()]
    positions = [event["position"] for event in everything]
    assert positions == sorted(set(positions))
    assert [e for e in everything if e["stream_id"] == stream_id] == stored


def test_events_tail_follows_new_events(
    api: httpx.Client, sauti_server: SautiServer, jobs: JobSubmitter, tmp_path: Path
) -> None:
    """`sauti events tail` (following) prints a job's events as they are recorded; SIGINT ends it."""
    start_after = api.get("/v1/health").json()["database"]["last_position"]
    stderr_path = tmp_path / "tail.stderr"
    stderr = stderr_path.open("w")
    process = subprocess.Popen(
        [str(SAUTI), "events", "tail", "--after", str(start_after), "--data-dir", str(sauti_server.data_dir)],
        cwd=REPO_ROOT,
        env=sauti_env(),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    stderr.close()
    pumping: list[threading.Thread] = []
    try:
        # A thread reads the lines: select() on a buffered pipe would miss lines already buffered.
        lines: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout

        def pump() -> None:
            for line in stdout:
                lines.put(line)

        pumping.append(threading.Thread(target=pump, daemon=True))
        pumping[0].start()

        stream_id = jobs.probe(sauti_server.data_dir, steps=3, step_seconds=0.1)
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not any(e["stream_id"] == stream_id and e["type"] == "probe.completed" for e in seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                pytest.fail(
                    f"tail printed {[e['type'] for e in seen]}; exit {process.poll()}\n"
                    f"{stderr_path.read_text()}"
                )
            with contextlib.suppress(queue.Empty):
                seen.append(json.loads(lines.get(timeout=min(remaining, 1.0))))
        mine = [e for e in seen if e["stream_id"] == stream_id]
        assert mine == stream_events(api, stream_id)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for thread in pumping:
            thread.join(timeout=5)  # it ends at EOF, now that the process is gone
        if process.stdout is not None:
            process.stdout.close()


def test_projections_rebuild_is_identical(
    api: httpx.Client, sauti_server: SautiServer, jobs: JobSubmitter
) -> None:
    # Something to rebuild, and nothing in flight that could change the table meanwhile.
    stream_id = jobs.probe(sauti_server.data_dir, steps=2, step_seconds=0.05)
    wait_for_terminal(api, stream_id, timeout=60)
    wait_until(lambda: _all_jobs_ended(api), 60, "every job to end")

    before = _jobs_table(sauti_server.data_dir)
    assert stream_id in {row[0] for row in before}
    with sqlite3.connect(sauti_server.data_dir / "sauti.db") as connection:
        (event_count,) = connection.execute("SELECT COUNT(*) FROM events").fetchone()

    result = run_cli("projections", "rebuild", "--data-dir", str(sauti_server.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    tables = ", ".join(table.name for table in build_projections().tables)
    assert result.stdout.strip() == f"rebuilt {tables} from {event_count} events"

    after = _jobs_table(sauti_server.data_dir)
    assert after == before
    # The server keeps working on the rebuilt tables.
    assert _all_jobs_ended(api)
