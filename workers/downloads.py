"""Downloading a hub variant: resumable HTTP range requests, verified, written atomically.

The hub is any Hugging Face-compatible server (``SAUTI_HUB_URL``): a file is at
``<hub>/<repo>/resolve/<revision>/<name>``. Bytes go to ``.<name>.part`` beside the final
file; a retried or redelivered download continues from the part's size with a ``Range``
request. A finished file is checked against its pinned sha256 (or the hub's
``X-Linked-Etag`` sha256 when the catalog pins none) and renamed into place.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from domain.catalog import ModelFile, ModelVariant
from domain.models import DownloadProgress
from workers.engines.model_files import ModelFileError, ModelFiles, record_verified, verify

CHUNK = 256 * 1024
PROGRESS_EVERY_SECONDS = 0.5
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadCancelled(Exception):
    pass


class DownloadError(Exception):
    pass


ProgressCallback = Callable[[DownloadProgress], None]


def file_url(hub_url: str, variant: ModelVariant, name: str) -> str:
    if not variant.hub_repo:
        raise DownloadError(f"{variant.id} has no hub repository")
    return f"{hub_url.rstrip('/')}/{variant.hub_repo}/resolve/{variant.hub_revision}/{name}"


def _expected_sha(file: ModelFile, headers: httpx.Headers) -> str | None:
    if file.sha256:
        return file.sha256
    linked = headers.get("x-linked-etag", "").strip('"').lower()
    return linked if _SHA256.match(linked) else None


class HubDownloader:
    def __init__(self, hub_url: str, model_files: ModelFiles, *, client: httpx.Client | None = None) -> None:
        self.hub_url = hub_url
        self.model_files = model_files
        self.client = client or httpx.Client(timeout=httpx.Timeout(30.0, read=60.0), follow_redirects=True)

    def _sizes(self, variant: ModelVariant) -> list[tuple[ModelFile, int, str | None]]:
        sizes = []
        for file in variant.files:
            response = self.client.head(file_url(self.hub_url, variant, file.name))
            if response.status_code == 404:
                raise DownloadError(f"{file.name} is not in {variant.hub_repo} on {self.hub_url}")
            response.raise_for_status()
            size = int(response.headers.get("x-linked-size") or response.headers.get("content-length") or 0)
            sizes.append((file, file.size or size, _expected_sha(file, response.headers)))
        return sizes

    def download(
        self,
        variant: ModelVariant,
        on_progress: ProgressCallback,
        should_cancel: Callable[[], bool] = lambda: False,
    ) -> int:
        """Fetch every file of ``variant``; returns the total size. Raises DownloadCancelled/DownloadError."""
        directory = self.model_files.directory(variant)
        directory.mkdir(parents=True, exist_ok=True)
        plan = self._sizes(variant)
        total = sum(size for _, size, _ in plan)
        done_before = 0
        for index, (file, size, sha) in enumerate(plan):
            final = directory / file.name
            if final.is_file() and (sha is None or _matches(final, sha)):
                done_before += final.stat().st_size
                continue
            state = DownloadProgress(done_before, total, file.name, 0, size, index, len(plan))
            self._fetch(variant, file, final, size, sha, state, on_progress, should_cancel)
            done_before += final.stat().st_size
        on_progress(DownloadProgress(done_before, total, "", 0, 0, len(plan), len(plan)))
        return done_before

    def _fetch(
        self,
        variant: ModelVariant,
        file: ModelFile,
        final: Path,
        size: int,
        sha: str | None,
        state: DownloadProgress,
        on_progress: ProgressCallback,
        should_cancel: Callable[[], bool],
    ) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(f".{final.name}.part")
        digest = hashlib.sha256()
        have = part.stat().st_size if part.exists() else 0
        if have and size and have > size:
            part.unlink()
            have = 0
        if have:
            with part.open("rb") as existing:
                while chunk := existing.read(1024 * 1024):
                    digest.update(chunk)
        headers = {"Range": f"bytes={have}-"} if have else {}
        url = file_url(self.hub_url, variant, file.name)
        last_report = 0.0
        with self.client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and have == size:
                pass  # the part is already complete
            elif response.status_code == 206 and have:
                pass
            elif response.status_code == 200:
                if have:  # the server ignored the range: start over
                    digest, have = hashlib.sha256(), 0
                    part.unlink()
            else:
                raise DownloadError(f"{url} answered HTTP {response.status_code}")
            if response.status_code != 416:
                with part.open("ab") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        have += len(chunk)
                        now = time.monotonic()
                        if now - last_report >= PROGRESS_EVERY_SECONDS:
                            last_report = now
                            if should_cancel():
                                raise DownloadCancelled(variant.id)
                            on_progress(_advanced(state, have))
        if size and have != size:
            raise DownloadError(
                f"{file.name}: got {have} bytes of {size}; the transfer was cut, retry to resume"
            )
        actual = digest.hexdigest()
        if sha is not None and actual != sha:
            part.unlink()
            raise DownloadError(f"{file.name}: sha256 {actual} does not match the expected {sha}; discarded")
        part.replace(final)
        if sha is not None:
            record_verified(final, sha)
        on_progress(_advanced(state, have))


def _advanced(state: DownloadProgress, file_bytes: int) -> DownloadProgress:
    return DownloadProgress(
        state.downloaded_bytes + file_bytes,
        state.total_bytes,
        state.current_file,
        file_bytes,
        state.current_file_total,
        state.files_completed,
        state.files_total,
    )


def _matches(path: Path, sha: str) -> bool:
    try:
        verify(path, sha)
    except ModelFileError:
        return False
    return True
