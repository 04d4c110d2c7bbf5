"""Media objects: large payloads (audio) that events reference but never contain.

Files live under the media root, content-addressed by sha256 (``ab/abcdef…``), written to a
temporary file and renamed into place so a reader never sees half an object. Storing the same
bytes twice is a no-op, which keeps retried steps idempotent. A digest is validated before it
becomes a path, so no reference can name a file outside the root.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


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
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
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

    def delete(self, digest: str) -> bool:
        """Remove the object; False when there was none."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True
