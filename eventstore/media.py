"""Media objects: large payloads (audio) that events reference but never contain.

Files live under the media root, content-addressed by sha256 (``ab/abcdef…``), written to a
temporary file and renamed into place so a reader never sees half an object. Storing the same
bytes twice is a no-op, which keeps retried steps idempotent. A digest is validated before it
becomes a path, so no reference can name a file outside the root.

A file's modification time says when its bytes were last stored: ``put`` of bytes already there
touches the file. The sweep of unclaimed objects (``remove_if``) spares recent files, so an object
stored for an event not yet appended is never collected.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_PREFIX = re.compile(r"^[0-9a-f]{2}$")
INCOMING_PREFIX = ".incoming-"
SWEEPING_PREFIX = ".sweeping-"


class MediaNotFound(LookupError):
    """No media object has this digest."""


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where the object with this digest lives (it may not exist). Raises ValueError for
        anything but a lowercase sha256 hex digest."""
        if not _DIGEST.match(digest):
            raise ValueError(f"not a media digest: {digest!r}")
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.is_file() and target.stat().st_size == len(data):
            with contextlib.suppress(FileNotFoundError):  # swept meanwhile: written again below
                os.utime(target)
                return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=INCOMING_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest

    def put_chunks(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the bytes ``chunks`` yield, one at a time (never all in memory): their sha256
        digest and size."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=INCOMING_PREFIX)
        hasher = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    hasher.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            digest = hasher.hexdigest()
            target = self.path(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, target)  # the same bytes already there: replaced by themselves
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest, size

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise MediaNotFound(f"no media object {digest}") from None

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise MediaNotFound(f"no media object {digest}") from None

    def _folders(self) -> Iterator[Path]:
        """The ``ab/`` folders objects live in."""
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if _PREFIX.match(folder.name) and folder.is_dir():
                    yield folder

    def objects(self) -> Iterator[tuple[str, float]]:
        """Every stored object's digest and the time its bytes were last stored."""
        for folder in self._folders():
            for entry in folder.iterdir():
                if _DIGEST.match(entry.name) and entry.name.startswith(folder.name):
                    with contextlib.suppress(FileNotFoundError):
                        yield entry.name, entry.stat().st_mtime

    def remove_if(self, digest: str, *, stored_before: float, unclaimed: Callable[[str], bool]) -> int | None:
        """Delete the object if its bytes were last stored before ``stored_before`` and
        ``unclaimed(digest)`` still holds once the file is out of the way; its size if deleted.

        The file is first renamed aside, so a ``put`` of the same bytes from now on writes a new
        file, and one just before touched this one (seen here as recent): the object is put back.
        """
        target = self.path(digest)
        aside = target.with_name(f"{SWEEPING_PREFIX}{digest}")
        try:
            os.replace(target, aside)
        except FileNotFoundError:
            return None
        try:
            status = aside.stat()
            if status.st_mtime < stored_before and unclaimed(digest):
                aside.unlink()
                return status.st_size
            if target.exists():  # stored again meanwhile: the same bytes
                aside.unlink()
            else:
                os.replace(aside, target)
        except FileNotFoundError:  # put back by another process's clean-up
            pass
        return None

    def remove_leftovers(self, *, older_than: float) -> int:
        """Clean up after writes and sweeps that never finished (a crash): temporary files older
        than ``older_than`` are deleted, objects set aside by a sweep are put back (the next
        sweep judges them again). How many temporary files were deleted."""
        removed = 0
        # ``put_chunks`` writes in the root itself: its digest is known only at the end.
        folders = [self.root, *self._folders()] if self.root.is_dir() else []
        for folder in folders:
            for entry in folder.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if entry.name.startswith(SWEEPING_PREFIX):
                        target = folder / entry.name.removeprefix(SWEEPING_PREFIX)
                        if _DIGEST.match(target.name) and not target.exists():
                            os.replace(entry, target)
                    elif entry.name.startswith(INCOMING_PREFIX) and entry.stat().st_mtime < older_than:
                        entry.unlink()
                        removed += 1
        return removed
