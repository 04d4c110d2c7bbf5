"""Every bundled variant loads through the registry from the path its catalog entry gives."""

from __future__ import annotations

import gc
import threading
import weakref
from pathlib import Path

import pytest

from app.bootstrap import Container
from domain.catalog import BUILTIN, find_variant
from domain.models import model_stream_id
from workers.engines.model_files import ModelFileError, ModelFiles
from workers.engines.registry import EngineRegistry
from workers.model_jobs import LoadRecorder

BUNDLED = [variant.id for variant in BUILTIN if variant.source == "bundled"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> EngineRegistry:
    return EngineRegistry(BUILTIN, ModelFiles(tmp_path_factory.mktemp("models")))


@pytest.mark.parametrize("variant_id", BUNDLED)
def test_each_bundled_variant_loads_and_unloads(registry: EngineRegistry, variant_id: str) -> None:
    variant = find_variant(variant_id)
    assert variant is not None
    engine = registry.get(variant)
    assert registry.get(variant) is engine
    assert registry.loaded() == [variant.id]
    assert registry.unload(variant.id)
    assert registry.loaded() == []
    assert not registry.unload(variant.id)


def test_a_model_loads_once_under_concurrent_requests_and_unloading_frees_it(
    registry: EngineRegistry,
) -> None:
    variant = find_variant("Whisper-Tiny.en")
    assert variant is not None
    engines: list[object] = []
    threads = [threading.Thread(target=lambda: engines.append(registry.get(variant))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(engine) for engine in engines}) == 1
    model = weakref.ref(engines[0]._model)  # type: ignore[attr-defined]
    engines.clear()
    registry.unload(variant.id)
    gc.collect()
    assert model() is None


def test_a_hub_variant_that_is_not_downloaded_says_so(tmp_path: Path) -> None:
    registry = EngineRegistry(BUILTIN, ModelFiles(tmp_path))
    variant = find_variant("Whisper-Small")
    assert variant is not None
    with pytest.raises(ModelFileError, match="not downloaded"):
        registry.get(variant)


def test_a_local_model_directory_from_the_catalog_file_loads_in_place(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    from domain.catalog import Catalog

    tiny = find_variant("Whisper-Tiny.en")
    assert tiny is not None
    on_disk = registry.prepare(tiny)  # a faster-whisper directory the user already has
    catalog = Catalog.with_extra([{"id": "My-Whisper", "engine": "whisper", "path": str(on_disk)}])
    mine = catalog.find("my-whisper")
    assert mine is not None and mine.source == "local"
    files = ModelFiles(tmp_path)
    assert files.is_present(mine) and files.load_path(mine) == on_disk
    local_registry = EngineRegistry(catalog, files)
    engine = local_registry.get(mine)
    assert engine is not None
    local_registry.unload(mine.id)
    assert files.delete(mine) == 0 and on_disk.exists()


def test_every_load_and_unload_is_recorded_in_the_models_stream(container: Container) -> None:
    """Whatever loads an engine (here: a job's ``get``), the model's stream says which worker
    holds it, so the Models page shows it loaded; unloading (a request, a stopping worker) says so."""
    recorder = LoadRecorder(container.store, "worker-a", container.model_files)
    registry = EngineRegistry(BUILTIN, container.model_files, listener=recorder)
    variant = find_variant("Silero-VAD")
    assert variant is not None
    registry.get(variant)
    registry.get(variant)  # already loaded: nothing more to record
    view = container.models.view(variant.id)
    assert view.state.loaded_on == {"worker-a"} and view.state.status == "ready"
    registry.close()
    assert container.models.view(variant.id).state.loaded_on == frozenset()
    types = [e.type for e in container.store.read_stream(model_stream_id(variant.id))]
    assert types == ["model.loaded", "model.unloaded"]


class BrokenListener:
    def engine_loaded(self, variant: object, seconds: float) -> None:
        raise ConnectionError("the database is away")

    def engine_unloaded(self, variant_id: str) -> None:
        raise ConnectionError("the database is away")


def test_a_listener_that_fails_never_fails_the_load(tmp_path: Path) -> None:
    registry = EngineRegistry(BUILTIN, ModelFiles(tmp_path), listener=BrokenListener())
    variant = find_variant("Silero-VAD")
    assert variant is not None
    assert registry.get(variant) is registry.get(variant)
    assert registry.unload(variant.id)
