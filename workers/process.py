"""One worker process: a Dramatiq ``Worker`` plus heartbeats and a graceful stop.

SIGTERM/SIGINT set the runtime's ``stopping`` flag (actors see it at their next checkpoint
and are requeued), then the Dramatiq worker stops within the grace period and the broker
gives back whatever it still holds.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import dramatiq

from workers.heartbeat import MetricsReport, WorkerMetrics, WorkerRegistry
from workers.runtime import WorkerRuntime

log = logging.getLogger(__name__)


def run_worker_process(
    runtime: WorkerRuntime,
    broker: dramatiq.Broker,
    registry: WorkerRegistry,
    *,
    threads: int = 1,
    grace_seconds: float = 10.0,
    heartbeat_seconds: float = 2.0,
    report: MetricsReport | None = None,
) -> int:
    """``report`` is what each heartbeat says of the process (its telemetry)."""
    stopping = runtime.stopping

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("worker %s received %s: stopping", runtime.worker_id, signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    queues = sorted(broker.get_declared_queues())
    registry.register(runtime.worker_id, queues)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=500)
    worker.start()
    log.info("worker %s started: queues=%s threads=%d", runtime.worker_id, queues, threads)

    beat = threading.Thread(
        target=_heartbeat_loop,
        args=(registry, runtime, heartbeat_seconds, report),
        daemon=True,
        name="heartbeat",
    )
    beat.start()
    stopping.wait()

    worker.stop(timeout=int(grace_seconds * 1000))
    broker.close()
    registry.stopped(runtime.worker_id, _report(report))
    log.info("worker %s stopped", runtime.worker_id)
    return 0


def _heartbeat_loop(
    registry: WorkerRegistry, runtime: WorkerRuntime, every: float, report: MetricsReport | None
) -> None:
    while not runtime.stopping.wait(every):
        try:
            registry.beat(runtime.worker_id, _report(report))
        except Exception:
            log.exception("worker heartbeat failed; retrying")


def _report(report: MetricsReport | None) -> WorkerMetrics | None:
    if report is None:
        return None
    try:
        return report()
    except Exception:  # telemetry never stops a beat
        log.exception("worker metrics report failed")
        return None
