"""Keeps N worker processes running: restarts a crashed one, stops all of them cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from app.settings import Settings

log = logging.getLogger(__name__)

RESTART_BACKOFF_START = 0.5
RESTART_BACKOFF_MAX = 30.0
# A child that ran this long before dying was healthy: restart it without backoff growth.
HEALTHY_RUN_SECONDS = 60.0


def worker_command() -> list[str]:
    return [sys.executable, "-m", "app.cli", "worker", "--no-migrate"]


class _Slot:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.backoff = RESTART_BACKOFF_START
        self.restarts = 0


class Supervisor:
    def __init__(self, settings: Settings, count: int, on_exit: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.count = count
        self.on_exit = on_exit
        self._slots = [_Slot(i) for i in range(count)]
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        return [s.process.pid for s in self._slots if s.process is not None and s.process.returncode is None]

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep_running(slot)) for slot in self._slots]

    async def _spawn(self, slot: _Slot) -> asyncio.subprocess.Process:
        env = {**os.environ, **self.settings.environment()}
        process = await asyncio.create_subprocess_exec(*worker_command(), env=env)
        slot.process, slot.started_at = process, time.monotonic()
        log.info("worker process %d started (pid %d)", slot.index, process.pid)
        return process

    async def _keep_running(self, slot: _Slot) -> None:
        while not self._stopping:
            process = await self._spawn(slot)
            code = await process.wait()
            if self.on_exit is not None:
                try:
                    await asyncio.to_thread(self.on_exit, process.pid)
                except Exception:
                    log.exception("could not record the exit of worker pid %d", process.pid)
            if self._stopping:
                return
            ran = time.monotonic() - slot.started_at
            slot.backoff = RESTART_BACKOFF_START if ran > HEALTHY_RUN_SECONDS else slot.backoff
            slot.restarts += 1
            log.error(
                "worker process %d (pid %d) exited with code %s after %.1fs; restarting in %.1fs",
                slot.index,
                process.pid,
                code,
                ran,
                slot.backoff,
                extra={"exit_code": code, "restarts": slot.restarts},
            )
            await asyncio.sleep(slot.backoff)
            slot.backoff = min(RESTART_BACKOFF_MAX, slot.backoff * 2)

    async def stop(self) -> None:
        """SIGTERM every worker, wait for the grace period, then SIGKILL what is left."""
        self._stopping = True
        running = [s.process for s in self._slots if s.process is not None and s.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = self.settings.shutdown_grace_seconds + 5.0
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), deadline)
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    log.warning("worker pid %d did not stop in %.0fs: killing it", process.pid, deadline)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(p.wait() for p in running))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("all worker processes stopped")
