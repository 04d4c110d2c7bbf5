"""The generic ``jobs`` read model: one row per job stream, whatever its kind."""

from __future__ import annotations

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from app.projections.tables import jobs
from domain.jobs import (
    JOB_STATUSES,
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobProgressed,
    JobRequested,
    JobRetrying,
    JobStarted,
    lifecycle_event,
    status_after,
)
from eventstore.base import RecordedEvent, dumps

# Built once and given their values at execution: this runs inside every append.
_THIS_JOB = jobs.c.stream_id == bindparam("job_stream_id")
_INSERT = insert(jobs)
_UPDATE = update(jobs).where(_THIS_JOB)
_EXISTS = select(jobs.c.stream_id).where(_THIS_JOB)


class JobsProjection:
    name = "jobs"

    @property
    def tables(self) -> list[Table]:
        return [jobs]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.type.endswith(".requested") and "job_id" in event.data:
            requested = JobRequested.model_validate(event.data)
            if requested.run > 1:  # a rerun: the same row starts over
                connection.execute(
                    _UPDATE,
                    {
                        "job_stream_id": event.stream_id,
                        "status": JOB_STATUSES["requested"],
                        "progress": 0.0,
                        "attempt": 0,
                        "result": None,
                        "error": None,
                        "started_at": None,
                        "finished_at": None,
                        "updated_at": event.recorded_at,
                        "last_position": event.position,
                    },
                )
                return
            connection.execute(
                _INSERT,
                {
                    "stream_id": event.stream_id,
                    "category": event.category,
                    "job_id": requested.job_id,
                    "status": JOB_STATUSES["requested"],
                    "progress": 0.0,
                    "attempt": 0,
                    "params": dumps(requested.params),
                    "created_at": event.recorded_at,
                    "updated_at": event.recorded_at,
                    "last_position": event.position,
                },
            )
            return
        # Only job streams have a row; other streams may reuse a verb with another payload shape,
        # so they must not be decoded as lifecycle events.
        is_job = connection.execute(_EXISTS, {"job_stream_id": event.stream_id}).first()
        if is_job is None:
            return
        values: dict[str, object] = {"updated_at": event.recorded_at, "last_position": event.position}
        lifecycle = lifecycle_event(event.type, event.data)
        status = status_after(lifecycle) if lifecycle is not None else None
        if status is not None:
            values["status"] = JOB_STATUSES[status]
        match lifecycle:
            case JobStarted(attempt=attempt):
                values.update(attempt=attempt, started_at=event.recorded_at)
            case JobProgressed(percent=percent):
                values["progress"] = percent
            case JobRetrying(error=error):
                values["error"] = error
            case JobCompleted(result=result):
                values.update(progress=100.0, result=dumps(result), error=None, finished_at=event.recorded_at)
            case JobFailed(error=error):
                values.update(error=error, finished_at=event.recorded_at)
            case JobCancelled():
                values["finished_at"] = event.recorded_at
        connection.execute(_UPDATE, {"job_stream_id": event.stream_id, **values})
