"""Scheduled upkeep of the web process (APScheduler): the sweep of unclaimed media files."""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.bootstrap import Container
from app.maintenance.media_sweep import sweep_unclaimed_media

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


def start_maintenance(container: Container) -> AsyncIOScheduler | None:
    """Starts the scheduled jobs on the running event loop; None when every one is turned off."""
    interval = container.settings.media_sweep_interval_seconds
    if interval <= 0:
        return None
    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
    scheduler.add_job(
        sweep_media,
        "interval",
        seconds=interval,
        args=[container],
        id="media-sweep",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
