"""Collecting media files that no stream claims.

Deleting a record deletes its files at once. A few files escape that: bytes stored for an event
whose append then failed, a sentence synthesized just as its record was deleted (a released stream
claims nothing more), temporary files of a crashed write. The sweep deletes the objects that no
stream claims (``media_references``) and whose bytes were last stored more than ``grace_seconds``
ago; the grace spares an object stored for an event that is still being appended.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from app.projections.media_refs import unclaimed
from eventstore.media import MediaStore

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class SweepReport:
    objects_removed: int
    bytes_freed: int
    leftovers_removed: int


def sweep_unclaimed_media(
    media: MediaStore, engine: Engine, *, grace_seconds: float, now: float | None = None
) -> SweepReport:
    stored_before = (time.time() if now is None else now) - grace_seconds
    leftovers = media.remove_leftovers(older_than=stored_before)
    old = [digest for digest, stored_at in media.objects() if stored_at < stored_before]
    removed = freed = 0
    for start in range(0, len(old), BATCH):
        for digest in unclaimed(engine, old[start : start + BATCH]):
            size = media.remove_if(
                digest, stored_before=stored_before, unclaimed=lambda d: bool(unclaimed(engine, [d]))
            )
            if size is not None:
                removed += 1
                freed += size
    report = SweepReport(objects_removed=removed, bytes_freed=freed, leftovers_removed=leftovers)
    if removed or leftovers:
        log.info(
            "media sweep: deleted %d unclaimed objects (%d bytes) and %d temporary files",
            removed,
            freed,
            leftovers,
            extra={"objects_removed": removed, "bytes_freed": freed, "leftovers_removed": leftovers},
        )
    return report
