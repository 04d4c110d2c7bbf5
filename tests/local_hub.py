"""A Hugging Face-compatible file server on loopback, for download tests (real HTTP, real bytes)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hub:
    """A Hugging Face-compatible file server: HEAD/GET with Range, and faults on demand."""

    files: dict[str, bytes]
    cut_after: dict[str, int] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    throttle: float = 0.0
    ranges: list[str] = field(default_factory=list)
    url: str = ""


@contextmanager
def serve_hub(repo: str, files: dict[str, bytes]) -> Iterator[Hub]:
    """Serve ``files`` as ``<url>/<repo>/resolve/main/<name>`` on a free loopback port."""
    state = Hub(dict(files))
    pattern = re.compile(rf"^/{re.escape(repo)}/resolve/main/(.+)$")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _file(self) -> tuple[str, bytes] | None:
            match = pattern.match(self.path)
            if match is None or match.group(1) not in state.files:
                self.send_response(404)
                self.end_headers()
                return None
            name = match.group(1)
            return name, state.files[name]

        def do_HEAD(self) -> None:
            found = self._file()
            if found is None:
                return
            _, data = found
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.end_headers()

        def do_GET(self) -> None:
            found = self._file()
            if found is None:
                return
            name, data = found
            if name in state.corrupt:
                data = bytes(reversed(data))
            start = 0
            header = self.headers.get("Range")
            if header:
                state.ranges.append(f"{name}:{header}")
                start = int(header.removeprefix("bytes=").split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            limit = state.cut_after.pop(name, None)
            for offset in range(0, len(body), 16384):
                if limit is not None and offset >= limit:
                    self.connection.close()  # the transfer is cut mid-file
                    return
                self.wfile.write(body[offset : offset + 16384])
                if state.throttle:
                    time.sleep(state.throttle)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
