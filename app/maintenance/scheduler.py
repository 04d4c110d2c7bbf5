"""Scheduled work of the web process (APScheduler): the sweep of unclaimed media files and the
Studio schedule ticker."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.bootstrap import Container
from app.maintenance.media_sweep import sweep_unclaimed_media
from app.maintenance.studio_schedules import tick_schedules

log = logging.getLogger(__name__)


async def sweep_media(container: Container) -> None:
    try:
        await asyncio.to_thread(
            sweep_unclaimed_media,
            container.media,
            container.engine,
            grace_seconds=container.settings.media_sweep_grace_seconds,
        )
    except Exception:  # the next run tries again
        log.exception("media sweep failed")


async def tick_studio_schedules(container: Container) -> None:
    await asyncio.to_thread(tick_schedules, container)


def start_maintenance(container: Container) -> AsyncIOScheduler | None:
    """Starts the scheduled jobs on the running event loop; None when every one is turned off."""
    settings = container.settings
    jobs = [
        (sweep_media, settings.media_sweep_interval_seconds, "media-sweep"),
        (tick_studio_schedules, settings.studio_schedule_poll_seconds, "studio-schedules"),
    ]
    jobs = [job for job in jobs if job[1] > 0]
    if not jobs:
        return None
    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
    for function, interval, job_id in jobs:
        scheduler.add_job(
            function,
            "interval",
            seconds=interval,
            args=[container],
            id=job_id,
            max_instances=1,
            coalesce=True,
        )
    scheduler.start()
    return scheduler
