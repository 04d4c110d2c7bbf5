"""Wake-up hints between processes: a Unix datagram "doorbell".

A listener binds a datagram socket named ``<topic>-<pid>-<token>.sock`` in a run directory;
``ring(topic)`` sends one byte to every socket of that topic. A doorbell carries no data and
may be lost (a full socket buffer, a listener that just died): readers always poll as a safety
net, so a doorbell only makes them faster, never correct.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import tempfile
import time
from pathlib import Path

EVENTS_TOPIC = "events"
QUEUE_TOPIC = "queue"


# sockaddr_un holds 108 bytes; keep room for "<topic>-<pid>-<token>.sock".
_MAX_RUN_DIR_LENGTH = 70


def run_dir_for(data_dir: Path) -> Path:
    """The directory for doorbell sockets of one data directory, short enough for AF_UNIX."""
    preferred = data_dir.resolve() / "run"
    if len(str(preferred)) <= _MAX_RUN_DIR_LENGTH:
        return preferred
    digest = hashlib.sha1(str(preferred).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"sauti-{digest}"


# A listing is reused while the run directory is unchanged, judged by its mtime, which may not move
# for a change made within the same clock tick: a listing is trusted only once the directory has
# been quiet for this long.
_SETTLED_NS = 2_000_000_000


class Doorbell:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._listing: tuple[int, list[str]] | None = None
        """(the run directory's mtime, its socket names) from the last settled listing."""

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Doorbell:
        return cls(run_dir_for(data_dir))

    def _socket_names(self) -> list[str]:
        """The run directory's ``.sock`` names (``OSError`` when it cannot be read)."""
        mtime = os.stat(self.run_dir).st_mtime_ns
        if self._listing is not None and self._listing[0] == mtime:
            return self._listing[1]
        names = [name for name in os.listdir(self.run_dir) if name.endswith(".sock")]
        settled = time.time_ns() - mtime > _SETTLED_NS
        self._listing = (mtime, names) if settled else None
        return names

    def ring(self, topic: str) -> None:
        try:
            names = self._socket_names()
        except OSError:
            return
        prefix = f"{topic}-"
        paths = [self.run_dir / name for name in names if name.startswith(prefix)]
        if not paths:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for path in paths:
                try:
                    sender.sendto(b"\x01", str(path))
                except (ConnectionRefusedError, FileNotFoundError):
                    # The listener is gone without removing its socket (killed): tidy up.
                    with contextlib.suppress(OSError):
                        path.unlink()
                except (BlockingIOError, OSError):
                    # A full buffer means the listener already has a wake-up pending.
                    pass

    def listen(self, topic: str) -> DoorbellListener:
        return DoorbellListener(self.run_dir, topic)


class DoorbellListener:
    """One bound socket. Threads block in ``wait``; an event loop watches ``fileno()`` and calls ``drain``."""

    def __init__(self, run_dir: Path, topic: str) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / f"{topic}-{os.getpid()}-{secrets.token_hex(4)}.sock"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(self.path))
        self._socket.setblocking(False)

    def fileno(self) -> int:
        return self._socket.fileno()

    def drain(self) -> bool:
        """Consume every pending ring; True if there was at least one."""
        rang = False
        while True:
            try:
                self._socket.recv(64)
                rang = True
            except (BlockingIOError, InterruptedError):
                return rang
            except OSError:
                return rang

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a ring (thread-friendly)."""
        import select

        if self.drain():
            return True
        try:
            readable, _, _ = select.select([self._socket], [], [], timeout)
        except (OSError, ValueError):
            return False
        return bool(readable) and self.drain()

    def close(self) -> None:
        self._socket.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def __enter__(self) -> DoorbellListener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
