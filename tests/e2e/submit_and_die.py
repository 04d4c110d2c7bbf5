"""Submit one probe job, then die by SIGKILL right after the commit, before any after-commit
step (the broker send, the doorbell). Run as ``python submit_and_die.py DATA_DIR JOB_ID`` with the
server's ``SAUTI_DATABASE_URL`` and ``SAUTI_BROKER_URL`` in the environment."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import eventstore.sql
from app.bootstrap import bootstrap
from app.settings import Settings
from tests.e2e.lifecycle_actors import PROBE


def die(_callbacks: Sequence[Callable[[], None]]) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(data_dir: str, job_id: str) -> None:
    container = bootstrap(Settings(data_dir=Path(data_dir)))
    eventstore.sql.run_after_commit = die  # type: ignore[assignment]
    container.jobs.submit(PROBE, {"steps": 2, "step_seconds": 0.1}, job_id=job_id)
    raise SystemExit("unreachable: the process should have died after the commit")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
