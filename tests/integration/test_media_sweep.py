"""The sweep of unclaimed media files, on a real media directory and a real SQLite store: what no
stream claims goes once it is old enough; what a stream claims, or was stored recently, stays."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from app.bootstrap import Container
from app.cli.main import main
from app.maintenance.media_sweep import sweep_unclaimed_media
from app.maintenance.scheduler import start_maintenance
from eventstore.base import NewEvent
from eventstore.media import INCOMING_PREFIX, SWEEPING_PREFIX, MediaStore

HOUR = 3600.0


def stored_long_ago(media: MediaStore, data: bytes, seconds: float = 2 * HOUR) -> str:
    digest = media.put(data)
    then = time.time() - seconds
    os.utime(media.path(digest), (then, then))
    return digest


def claim(container: Container, stream_id: str, digest: str) -> None:
    category = stream_id.split("-", 1)[0]
    container.store.append(
        stream_id, [NewEvent(f"{category}.requested", {"job_id": "j1", "params": {"audio": digest}})]
    )


def sweep(container: Container) -> tuple[int, int, int]:
    report = sweep_unclaimed_media(container.media, container.engine, grace_seconds=HOUR)
    return report.objects_removed, report.bytes_freed, report.leftovers_removed


def test_old_unclaimed_objects_go_and_claimed_or_recent_ones_stay(container: Container) -> None:
    media = container.media
    orphan = stored_long_ago(media, b"orphan bytes")
    claimed = stored_long_ago(media, b"claimed bytes")
    claim(container, "probe-1", claimed)
    recent = media.put(b"recent bytes, their event may still be coming")

    assert sweep(container) == (1, len(b"orphan bytes"), 0)
    assert not media.exists(orphan)
    assert media.exists(claimed) and media.exists(recent)
    assert sweep(container) == (0, 0, 0)


def test_the_objects_of_a_deleted_record_go_unless_another_stream_shares_them(container: Container) -> None:
    media = container.media
    own = stored_long_ago(media, b"only the deleted record's")
    shared = stored_long_ago(media, b"the deleted record's and another's")
    claim(container, "speech-1", own)
    container.store.append("speech-1", [NewEvent("speech.chunk_synthesized", {"media": shared})])
    claim(container, "transcription-2", shared)
    container.store.append("speech-1", [NewEvent("speech.record_deleted", {})])

    assert sweep(container)[0] == 1
    assert not media.exists(own) and media.exists(shared)


def test_storing_old_bytes_again_makes_them_recent(container: Container) -> None:
    media = container.media
    digest = stored_long_ago(media, b"uploaded again just now")
    assert media.put(b"uploaded again just now") == digest  # its event is about to claim it
    assert sweep(container)[0] == 0 and media.exists(digest)


def test_an_object_claimed_while_it_is_being_removed_is_put_back(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    digest = stored_long_ago(media, b"claimed at the last moment")
    removed = media.remove_if(digest, stored_before=time.time(), unclaimed=lambda _: False)
    assert removed is None and media.read(digest) == b"claimed at the last moment"
    assert [p.name for p in media.path(digest).parent.iterdir()] == [digest]


def test_an_object_stored_again_while_set_aside_is_kept(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "media")
    digest = stored_long_ago(media, b"stored again meanwhile")

    def stored_again_meanwhile(_: str) -> bool:
        media.put(b"stored again meanwhile")  # the file is aside: this writes a new one
        return True

    assert media.remove_if(digest, stored_before=time.time(), unclaimed=stored_again_meanwhile) is not None
    assert media.read(digest) == b"stored again meanwhile"


def test_leftovers_of_crashed_writes_go_and_objects_set_aside_come_back(container: Container) -> None:
    media = container.media
    digest = stored_long_ago(media, b"set aside when a sweep crashed")
    claim(container, "probe-1", digest)
    folder = media.path(digest).parent
    os.replace(media.path(digest), folder / f"{SWEEPING_PREFIX}{digest}")
    old_incoming = folder / f"{INCOMING_PREFIX}old"
    old_incoming.write_bytes(b"half a write")
    then = time.time() - 2 * HOUR
    os.utime(old_incoming, (then, then))
    new_incoming = folder / f"{INCOMING_PREFIX}new"
    new_incoming.write_bytes(b"a write going on now")

    assert sweep(container) == (0, 0, 1)
    assert media.read(digest) == b"set aside when a sweep crashed"
    assert not old_incoming.exists() and new_incoming.exists()


def test_the_command_line_sweeps_and_says_what_it_deleted(
    container: Container, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = stored_long_ago(container.media, b"seven bytes" * 3)
    monkeypatch.setenv("SAUTI_DATA_DIR", str(container.settings.data_dir))
    assert main(["media", "sweep", "--grace-seconds", "60"]) == 0
    assert "deleted 1 unclaimed media objects (33 bytes) and 0 temporary files" in capsys.readouterr().out
    assert not container.media.exists(orphan)


async def test_the_web_process_sweeps_on_schedule(container: Container) -> None:
    container.settings.media_sweep_interval_seconds = 0.2
    container.settings.media_sweep_grace_seconds = 60
    orphan = stored_long_ago(container.media, b"swept by the scheduler")
    scheduler = start_maintenance(container)
    assert scheduler is not None
    try:
        for _ in range(100):
            if not container.media.exists(orphan):
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
    assert not container.media.exists(orphan)


def test_zero_intervals_turn_the_scheduled_work_off(container: Container) -> None:
    container.settings.media_sweep_interval_seconds = 0
    container.settings.studio_schedule_poll_seconds = 0
    assert start_maintenance(container) is None
