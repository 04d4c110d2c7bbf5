"""A scaled-out Sauti on one machine: one web process and N ``sauti worker`` processes on
Postgres + Redis (throw-away servers), jobs submitted through the library, workers SIGKILLed at
random and restarted, and a check that every job ended exactly once with nothing lost or repeated.

Used by ``tests/e2e/test_cluster.py`` (small) and ``bench/cluster.py`` (200 jobs, figures).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests import servers
from tests.e2e.conftest import ACTOR_MODULE, REPO_ROOT, SAUTI, sauti_env

TERMINAL = (".completed", ".failed", ".cancelled")
# Attempt bookkeeping: how many of these a job has depends on the kills, not on the job.
ATTEMPT_EVENTS = (".started", ".stale", ".retrying")


@dataclass(frozen=True)
class JobSpec:
    """One job to submit: its kind's name and params (the same list for every run)."""

    kind: str
    params: dict[str, Any]


def mixed_jobs(count: int, *, seed: int = 7, real_every: int = 10) -> list[JobSpec]:
    """Mostly probe jobs of varied lengths; every ``real_every``-th a real engine job
    (eSpeak-NG speech, or a short chat completion on SmolLM2)."""
    rng = random.Random(seed)
    jobs = []
    for index in range(count):
        if real_every and index % real_every == real_every - 1:
            if (index // real_every) % 2 == 0:
                text = f"Job number {index} is spoken by the cluster."
                jobs.append(JobSpec("speech", {"model": "eSpeak-NG", "input": text, "audio_format": "wav"}))
            else:
                messages = [{"role": "user", "content": f"Say the number {index}."}]
                params = {"model": "SmolLM2-135M-Instruct-GGUF", "messages": messages, "max_tokens": 6}
                jobs.append(JobSpec("chat_completion", {**params, "temperature": 0}))
        else:
            steps = rng.randint(2, 6)
            jobs.append(
                JobSpec("lifecycle_probe", {"steps": steps, "step_seconds": rng.choice((0.1, 0.2, 0.3))})
            )
    return jobs


@dataclass
class Kill:
    at: float
    pid: int
    worker_id: str | None


@dataclass
class Outcome:
    """What a run recorded: per job (in submission order) its stream and events."""

    streams: list[str]
    events: dict[str, list[dict[str, Any]]]
    submitted_at: dict[str, float]
    started: float
    finished: float
    kills: list[Kill] = field(default_factory=list)

    @property
    def jobs_per_second(self) -> float:
        return len(self.streams) / max(self.finished - self.started, 1e-9)

    def latency(self, stream_id: str) -> float:
        """Submission to terminal event, seconds."""
        return self.events[stream_id][-1]["recorded_at_unix"] - self.submitted_at[stream_id]

    def redeliveries(self) -> list[float]:
        """For each killed worker's job: seconds from the kill to the job's next start."""
        delays = []
        for kill in self.kills:
            if kill.worker_id is None:
                continue
            for events in self.events.values():
                for index, event in enumerate(events):
                    if (
                        not event["type"].endswith(".started")
                        or event["data"].get("worker") != kill.worker_id
                    ):
                        continue
                    if event["recorded_at_unix"] > kill.at:
                        continue
                    ended = any(
                        e["type"].endswith(TERMINAL) and e["recorded_at_unix"] <= kill.at for e in events
                    )
                    later = [
                        e
                        for e in events[index + 1 :]
                        if e["type"].endswith(".started") and e["recorded_at_unix"] > kill.at
                    ]
                    if not ended and later:
                        delays.append(later[0]["recorded_at_unix"] - kill.at)
        return delays


def logical(events: list[dict[str, Any]]) -> list[str]:
    """A stream without its attempt bookkeeping: what any run of the job must record, in order.
    Generated text counts as a whole: how it is cut into events depends on timing."""
    found: list[str] = []
    for event in events:
        kind = event["type"]
        if kind.endswith(ATTEMPT_EVENTS):
            continue
        if kind.endswith(".text_generated"):
            if found and found[-1].startswith(f"{kind}:"):
                found[-1] += event["data"]["text"]
                continue
            found.append(f"{kind}:{event['data']['text']}")
            continue
        found.append(kind)
    return found


def _cut_off_generation(events: list[dict[str, Any]]) -> bool:
    """A chat whose worker died after it had streamed text fails visibly, by design (a generation is
    not resumed mid-answer: workers/chat_jobs.py): the one failure a kill may cause."""
    types = [event["type"] for event in events]
    return (
        types[-1].endswith(".failed")
        and any(t.endswith(".text_generated") for t in types)
        and "stopped in the middle of generating" in str(events[-1]["data"].get("error", ""))
    )


def problems(outcome: Outcome, baseline: Outcome | None = None) -> list[str]:
    """Every way a run broke exactly-once: a job that did not complete once, a step recorded twice
    or not at all, an event id or position seen twice, a stream unlike the uninterrupted run's."""
    found = []
    positions: Counter[int] = Counter()
    event_ids: Counter[str] = Counter()
    for index, stream_id in enumerate(outcome.streams):
        events = outcome.events[stream_id]
        types = [event["type"] for event in events]
        positions.update(event["position"] for event in events)
        event_ids.update(event["event_id"] for event in events)
        terminal = [t for t in types if t.endswith(TERMINAL)]
        ended_once = terminal == [types[-1]]
        if not ended_once or not (types[-1].endswith(".completed") or _cut_off_generation(events)):
            found.append(f"job {index} ({stream_id}) ended {terminal}: {types}")
        if [event["version"] for event in events] != list(range(1, len(events) + 1)):
            found.append(f"job {index} ({stream_id}) has a gap or a repeat in its versions")
        steps = Counter(
            event["data"].get("step") for event in events if event["type"].endswith(".progressed")
        )
        if steps and max(steps.values()) > 1:
            found.append(f"job {index} ({stream_id}) recorded a step twice: {steps}")
        if baseline is not None:
            expected = logical(baseline.events[baseline.streams[index]])
            if logical(events) != expected:
                found.append(
                    f"job {index} ({stream_id}) differs from the uninterrupted run: {logical(events)}"
                )
    found += [f"position {p} seen {n} times" for p, n in positions.items() if n > 1]
    found += [f"event {e} seen {n} times" for e, n in event_ids.items() if n > 1]
    return found


class Cluster:
    """Start with ``with Cluster(base, workers=3) as cluster: ...``."""

    def __init__(
        self, base: Path, *, workers: int = 3, lease_seconds: float = 2.0, quiet: bool = True
    ) -> None:
        self.base = base
        self.worker_count = workers
        self.lease_seconds = lease_seconds
        self.quiet = quiet
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers
        self.web: subprocess.Popen[bytes] | None = None
        self.port = servers.free_port()
        self._stack = contextlib.ExitStack()
        self.container: Any = None

    # --- processes ---------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        self.base.mkdir(parents=True, exist_ok=True)
        try:
            self.postgres = servers.start_postgres()
            self._stack.callback(self.postgres.stop)
            self.redis = servers.start_redis()
            self._stack.callback(self.redis.stop)
            self.env = self._environment()
            subprocess.run(
                [str(SAUTI), "db", "upgrade"], env=self.env, cwd=REPO_ROOT, check=True, capture_output=True
            )
            for index in range(self.worker_count):
                self.start_worker(index)
            self._stack.callback(self._stop_processes)
            self.web = self._spawn(["serve", "--port", str(self.port), "--workers", "0"], "web")
            self._wait_ready()
            self.container = self._library()
            self._stack.callback(self.container.close)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def _environment(self) -> dict[str, str]:
        return sauti_env(
            SAUTI_DATA_DIR=str(self.base / "data"),
            SAUTI_DATABASE_URL=self.postgres.url,
            SAUTI_BROKER_URL=self.redis.url,
            SAUTI_BROKER_LEASE_SECONDS=str(self.lease_seconds),
            SAUTI_WORKER_HEARTBEAT_SECONDS=str(self.lease_seconds / 3),
            SAUTI_WORKER_ALIVE_SECONDS=str(self.lease_seconds * 2),
            SAUTI_LOG_LEVEL="WARNING" if self.quiet else "INFO",
        )

    def _spawn(self, arguments: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.base / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(
                [str(SAUTI), *arguments, "--data-dir", str(self.base / "data")],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            log.close()

    def start_worker(self, index: int) -> None:
        self.workers[index] = self._spawn(["worker", "--no-migrate"], f"worker-{index}")

    def kill_worker(self, index: int) -> Kill:
        process = self.workers[index]
        assert process is not None
        worker_id = self.worker_ids().get(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return Kill(time.time(), process.pid, worker_id)

    def _stop_processes(self) -> None:
        for process in [self.web, *self.workers]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [self.web, *self.workers]:
            if process is None:
                continue
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.web is not None
            if self.web.poll() is not None:
                raise RuntimeError(f"the web process exited:\n{self.log('web')}")
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"{self.base_url}/readyz", timeout=2)
                if (
                    ready.status_code == 200
                    and ready.json()["checks"]["workers"]["alive"] >= self.worker_count
                ):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the cluster was not ready within {timeout:.0f} s:\n{self.log('web')}")

    def log(self, name: str) -> str:
        path = self.base / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_ids(self) -> dict[int, str]:
        health = httpx.get(f"{self.base_url}/v1/health", timeout=10).json()
        return {process["pid"]: process["worker_id"] for process in health["workers"]["processes"]}

    # --- jobs ----------------------------------------------------------------------------

    def _library(self) -> Any:
        from app.bootstrap import bootstrap
        from app.settings import Settings

        return bootstrap(
            Settings(
                data_dir=self.base / "data",
                database_url=self.postgres.url,
                broker_url=self.redis.url,
                actor_modules=[ACTOR_MODULE],
                broker_lease_seconds=self.lease_seconds,
            )
        )

    def run(
        self,
        jobs: list[JobSpec],
        *,
        kill_every: float | None = None,
        restart_after: float = 0.5,
        timeout: float = 600,
        seed: int = 11,
    ) -> Outcome:
        """Submit ``jobs``, SIGKILL a random worker every ``kill_every`` seconds (restarted after
        ``restart_after``) until they have all ended, and return what was recorded."""
        from domain.kinds import KINDS
        from tests.e2e.lifecycle_actors import PROBE

        kinds = {kind.name: kind for kind in KINDS} | {PROBE.name: PROBE}
        started = time.time()
        streams, submitted_at = [], {}
        for job in jobs:
            stream_id = self.container.jobs.submit(kinds[job.kind], job.params)
            streams.append(stream_id)
            submitted_at[stream_id] = time.time()
        kills: list[Kill] = []
        done = threading.Event()
        chaos = None
        if kill_every:
            chaos = threading.Thread(target=self._chaos, args=(kill_every, restart_after, done, kills, seed))
            chaos.start()
        try:
            events = self._wait_all(streams, timeout)
        finally:
            done.set()
            if chaos is not None:
                chaos.join()
        finished = max(stream[-1]["recorded_at_unix"] for stream in events.values())
        return Outcome(streams, events, submitted_at, started, finished, kills)

    def _chaos(
        self, every: float, restart_after: float, done: threading.Event, kills: list[Kill], seed: int
    ) -> None:
        rng = random.Random(seed)
        while not done.wait(every):
            index = rng.randrange(self.worker_count)
            try:
                kills.append(self.kill_worker(index))
            except Exception:
                continue
            time.sleep(restart_after)
            self.start_worker(index)

    def _wait_all(self, streams: list[str], timeout: float) -> dict[str, list[dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        events: dict[str, list[dict[str, Any]]] = {}
        pending = list(streams)
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} jobs did not end within {timeout:.0f} s: {pending[:5]}")
            still = []
            for stream_id in pending:
                stored = self.stream(stream_id)
                if stored and stored[-1]["type"].endswith(TERMINAL):
                    events[stream_id] = stored
                else:
                    still.append(stream_id)
            pending = still
            if pending:
                time.sleep(0.5)
        # A job's stream may still grow after its terminal event only if something is wrong: read
        # once more after the lease, so a late duplicate would show.
        time.sleep(self.lease_seconds * 1.5)
        return {stream_id: self.stream(stream_id) for stream_id in streams}

    def stream(self, stream_id: str) -> list[dict[str, Any]]:
        recorded = self.container.store.read_stream(stream_id)
        return [
            {
                "event_id": event.event_id,
                "type": event.type,
                "version": event.version,
                "position": event.position,
                "data": event.data,
                "recorded_at_unix": event.recorded_at,
            }
            for event in recorded
        ]
