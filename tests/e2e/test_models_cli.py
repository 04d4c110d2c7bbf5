"""`sauti models …` against a real server, a real worker process and a local hub."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SautiServer, run_cli, wait_until
from tests.local_hub import serve_hub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO = "sauti-tests/e2e-model"
FILES = {"model.bin": bytes(range(256)) * 2048, "config.json": b"{}"}


def admin(server: SautiServer, variant: str) -> dict[str, object]:
    return httpx.get(f"{server.base_url}/v1/admin/models/{variant}", timeout=10).json()


def test_models_cli_downloads_loads_unloads_and_removes(
    tmp_path: Path, server_factory: Callable[..., SautiServer]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    entry = {
        "id": "E2E-Model",
        "engine": "whisper",
        "hub_repo": REPO,
        "files": [
            {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in FILES.items()
        ],
    }
    (data_dir / "catalog.json").write_text(json.dumps([entry]))
    with serve_hub(REPO, FILES) as hub:
        server = server_factory(data_dir, env={"SAUTI_HUB_URL": hub.url})
        port = str(server.port)

        listed = run_cli("models", "--port", port, "list")
        assert listed.returncode == 0, listed.stderr
        assert "E2E-Model" in listed.stdout and "not_downloaded" in listed.stdout

        downloaded = run_cli("models", "--port", port, "download", "E2E-Model")
        assert downloaded.returncode == 0, downloaded.stderr
        assert "E2E-Model: completed" in downloaded.stdout
        assert "100.00%" in downloaded.stderr  # the progress bar reached the end
        assert admin(server, "E2E-Model")["status"] == "downloaded"

        # The bundled tiny.en model, loaded for real in the worker process, then unloaded.
        assert run_cli("models", "--port", port, "load", "Whisper-Tiny.en").returncode == 0
        ready = wait_until(lambda: admin(server, "Whisper-Tiny.en")["status"] == "ready", 60, "tiny.en ready")
        assert ready
        assert len(admin(server, "Whisper-Tiny.en")["loaded_workers"]) == 1  # type: ignore[arg-type]
        assert run_cli("models", "--port", port, "unload", "Whisper-Tiny.en").returncode == 0
        wait_until(lambda: admin(server, "Whisper-Tiny.en")["status"] == "downloaded", 30, "tiny.en unloaded")

        removed = run_cli("models", "--port", port, "rm", "E2E-Model")
        assert removed.returncode == 0 and "not_downloaded" in removed.stdout
        assert not (data_dir / "models" / "E2E-Model").exists()

        missing = run_cli("models", "--port", port, "load", "Nope")
        assert missing.returncode == 1 and "Unknown model variant" in missing.stderr
