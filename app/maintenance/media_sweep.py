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
from collections.abc import Iterable
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


def remove_unclaimed(
    media: MediaStore, engine: Engine, digests: Iterable[str], *, stored_before: float
) -> tuple[int, int]:
    """Delete those of ``digests`` that no stream claims and whose bytes were last stored before
    ``stored_before``; how many objects and bytes went.

    The only way Sauti deletes media files (the sweep and every deletion): each file is set aside
    and judged again (``MediaStore.remove_if``), so bytes stored again meanwhile, for an event about
    to claim them, are kept.
    """
    removed = freed = 0
    wanted = sorted(set(digests))
    for start in range(0, len(wanted), BATCH):
        for digest in unclaimed(engine, wanted[start : start + BATCH]):
            size = media.remove_if(
                digest, stored_before=stored_before, unclaimed=lambda d: bool(unclaimed(engine, [d]))
            )
            if size is not None:
                removed += 1
                freed += size
    return removed, freed


def sweep_unclaimed_media(
    media: MediaStore, engine: Engine, *, grace_seconds: float, now: float | None = None
) -> SweepReport:
    stored_before = (time.time() if now is None else now) - grace_seconds
    leftovers = media.remove_leftovers(older_than=stored_before)
    old = [digest for digest, stored_at in media.objects() if stored_at < stored_before]
    removed, freed = remove_unclaimed(media, engine, old, stored_before=stored_before)
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
