"""One web process and three ``sauti worker`` processes on Postgres + Redis, with a random worker
SIGKILLed every few seconds and restarted: every job ends exactly once, and no event is lost or
repeated (bench/cluster.py runs the same at 200 jobs and prints the figures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster import Cluster, mixed_jobs, problems
from tests.conftest import server_or_skip

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(400)
def test_jobs_end_exactly_once_while_workers_are_killed(tmp_path: Path) -> None:
    server_or_skip("postgres")
    server_or_skip("redis")
    jobs = mixed_jobs(36, real_every=12)
    with Cluster(tmp_path, workers=3, lease_seconds=2.0) as cluster:
        outcome = cluster.run(jobs, kill_every=2.5, timeout=240)
        assert len(outcome.kills) >= 3, "the run ended before the workers were killed"
        assert problems(outcome) == []
        # Every interrupted job came back within a few leases, not minutes.
        assert outcome.redeliveries(), "no kill caught a worker holding a job"
        assert max(outcome.redeliveries()) < 15.0, outcome.redeliveries()
