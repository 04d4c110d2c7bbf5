"""A test-only job kind that exercises the generic lifecycle. Loaded with SAUTI_ACTOR_MODULES."""

from __future__ import annotations

import time
from typing import Any

from domain.kinds import JobKind, OpenParams
from workers.actors import job_actor
from workflows.jobs import JobRun

PROBE = JobKind(name="lifecycle_probe", category="probe", actor="lifecycle_probe", params=OpenParams)
CATEGORY = PROBE.category
ACTOR = PROBE.actor


@job_actor(PROBE)
def lifecycle_probe(run: JobRun) -> dict[str, Any]:
    steps = int(run.params.get("steps", 5))
    step_seconds = float(run.params.get("step_seconds", 0.2))
    for index in range(steps):
        step = f"step-{index}"
        if run.step_done(step):
            continue
        run.checkpoint()
        time.sleep(step_seconds)
        run.progress(step, (index + 1) * 100.0 / steps, {"index": index})
    return {"steps": steps}
