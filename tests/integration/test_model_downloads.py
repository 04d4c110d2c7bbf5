"""Model downloads from a real local HTTP hub: ranges, resumption, checksums, the admin API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container, bootstrap
from app.http.application import create_app
from app.settings import Settings
from domain.catalog import ModelFile, ModelVariant
from domain.models import DownloadProgress
from migrations.api import upgrade
from tests.local_hub import Hub, serve_hub
from workers.downloads import DownloadError, HubDownloader
from workers.engines.model_files import ModelFiles
from workers.runtime import WorkerRuntime, install

REPO = "sauti-tests/tiny-model"
FILES = {
    "model.bin": bytes(range(256)) * 4096,  # 1 MiB
    "config.json": b'{"kind": "test"}',
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub() -> Iterator[Hub]:
    with serve_hub(REPO, FILES) as state:
        yield state


def variant(pinned: bool = True) -> ModelVariant:
    return ModelVariant(
        id="Test-Tiny",
        family="test",
        engine="whisper",
        modalities=("audio_input", "text_output"),
        routes=frozenset({"openai_audio_transcriptions"}),
        source="hub",
        hub_repo=REPO,
        files=tuple(
            ModelFile(name, sha(data) if pinned else None, len(data)) for name, data in FILES.items()
        ),
    )


def test_a_download_fetches_and_verifies_every_file(hub: Hub, tmp_path: Path) -> None:
    files = ModelFiles(tmp_path / "models")
    reports: list[DownloadProgress] = []
    size = HubDownloader(hub.url, files).download(variant(), reports.append)
    assert size == sum(len(d) for d in FILES.values())
    for name, data in FILES.items():
        assert (files.directory(variant()) / name).read_bytes() == data
    assert files.is_present(variant())
    assert [r.downloaded_bytes for r in reports] == sorted(r.downloaded_bytes for r in reports)
    assert reports[-1].files_completed == reports[-1].files_total == 2
    assert not list(files.directory(variant()).glob(".*.part"))


def test_an_interrupted_transfer_resumes_with_a_range_request(hub: Hub, tmp_path: Path) -> None:
    files = ModelFiles(tmp_path / "models")
    hub.cut_after["model.bin"] = 300_000
    downloader = HubDownloader(hub.url, files)
    with pytest.raises((httpx.TransportError, DownloadError)):
        downloader.download(variant(), lambda _: None)
    part = files.directory(variant()) / ".model.bin.part"
    assert 0 < part.stat().st_size < len(FILES["model.bin"])
    resumed_from = part.stat().st_size

    downloader.download(variant(), lambda _: None)
    assert hub.ranges == [f"model.bin:bytes={resumed_from}-"]
    assert (files.directory(variant()) / "model.bin").read_bytes() == FILES["model.bin"]
    assert not part.exists()


@pytest.mark.parametrize("pinned", [True, False], ids=["catalog-pin", "hub-etag"])
def test_a_corrupted_file_fails_its_checksum_and_is_discarded(hub: Hub, tmp_path: Path, pinned: bool) -> None:
    files = ModelFiles(tmp_path / "models")
    hub.corrupt.add("model.bin")
    with pytest.raises(DownloadError, match="sha256"):
        HubDownloader(hub.url, files).download(variant(pinned), lambda _: None)
    directory = files.directory(variant())
    assert not (directory / "model.bin").exists()
    assert not (directory / ".model.bin.part").exists()
    assert not files.is_present(variant())


def test_a_missing_file_is_reported(hub: Hub, tmp_path: Path) -> None:
    del hub.files["config.json"]
    with pytest.raises(DownloadError, match=r"config\.json is not in"):
        HubDownloader(hub.url, ModelFiles(tmp_path / "models")).download(variant(), lambda _: None)


# --- through the admin API, a real broker and an in-process worker ---------------------


@pytest.fixture
def container(tmp_path: Path, hub: Hub) -> Iterator[Container]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    entry = {
        "id": "Test-Tiny",
        "engine": "whisper",
        "hub_repo": REPO,
        "files": [{"name": n, "sha256": sha(d), "size": len(d)} for n, d in FILES.items()],
    }
    (data_dir / "catalog.json").write_text(json.dumps([entry]))
    settings = Settings(data_dir=data_dir, hub_url=hub.url, broker_poll_interval=0.05)
    upgrade(settings.resolved_database_url)
    built = bootstrap(settings)
    install(
        WorkerRuntime(
            store=built.store,
            worker_id="test-worker",
            catalog=built.catalog,
            model_files=built.model_files,
            hub_url=hub.url,
        )
    )
    worker = dramatiq.Worker(built.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    yield built
    worker.stop(timeout=5000)
    built.close()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[Client]:
    app: Quart = create_app(container)
    async with app.test_app():
        yield app.test_client()


async def wait_for_status(client: Client, status: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        record = await (await client.get("/v1/admin/models/Test-Tiny")).get_json()
        if record["status"] == status:
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"status stayed {record.get('status')}: {record}")


async def test_the_admin_api_downloads_lists_and_deletes(client: Client, container: Container) -> None:
    listed = await (await client.get("/v1/models")).get_json()
    assert "Test-Tiny" not in [m["id"] for m in listed["data"]]
    assert (await client.get("/v1/models/Test-Tiny")).status_code == 404

    started = await client.post("/v1/admin/models/Test-Tiny/download")
    assert started.status_code == 202
    assert (await started.get_json())["status"] == "downloading"
    record = await wait_for_status(client, "downloaded")
    assert record["enabled"] is True
    assert record["download"]["status"] == "completed"
    assert record["download"]["percent"] == 100.0
    assert record["route_capabilities"]["openai_audio_transcriptions"] is True
    assert Path(record["local_path"]).is_dir()

    model = await (await client.get("/v1/models/Test-Tiny")).get_json()
    assert model == {"id": "Test-Tiny", "object": "model", "created": model["created"], "owned_by": "sauti"}
    again = await client.post("/v1/admin/models/Test-Tiny/download")
    assert again.status_code == 409

    types = [e.type for e in container.store.read_stream("model-Test-Tiny")]
    assert types[0] == "model.download_requested" and types[-1] == "model.downloaded"
    assert "model.download_progressed" in types

    deleted = await (await client.delete("/v1/admin/models/Test-Tiny")).get_json()
    assert deleted["status"] == "not_downloaded"
    assert not Path(record["local_path"]).exists()


async def test_a_download_can_be_cancelled(client: Client, container: Container, hub: Hub) -> None:
    hub.throttle = 0.05  # ~3 s for the 1 MiB file
    await client.post("/v1/admin/models/Test-Tiny/download")
    deadline = time.monotonic() + 10
    while "model.download_progressed" not in [e.type for e in container.store.read_stream("model-Test-Tiny")]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancel = await client.post("/v1/admin/models/Test-Tiny/download/cancel")
    assert cancel.status_code == 202
    record = await wait_for_status(client, "not_downloaded")
    assert record["download"]["status"] == "cancelled"
    assert (await client.post("/v1/admin/models/Test-Tiny/download/cancel")).status_code == 409


async def test_unknown_variants_and_bundled_downloads(client: Client) -> None:
    missing = await client.get("/v1/admin/models/Nope-1B")
    assert missing.status_code == 404
    assert (await missing.get_json())["error"]["code"] == "404"
    bundled = await client.post("/v1/admin/models/Whisper-Tiny.en/download")
    assert bundled.status_code == 409
    assert "ships with Sauti" in (await bundled.get_json())["error"]["message"]
    listed = await (await client.get("/v1/admin/models")).get_json()
    by_id = {r["variant"]: r for r in listed["data"]}
    assert by_id["Whisper-Tiny.en"]["status"] == "downloaded"
    assert by_id["Whisper-Small"]["status"] == "not_downloaded"
    assert by_id["Piper-Joe-Medium"]["capabilities"]["supports_streaming"] is True
    assert set(by_id["Whisper-Base"]["route_capabilities"]) >= {"openai_audio_transcriptions", "tokenizer"}
