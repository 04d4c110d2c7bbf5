"""Load the engines' native libraries in the order that keeps their OpenMP runtimes apart.

CTranslate2 (faster-whisper) ships its own copy of GNU OpenMP, llama.cpp links the system's, and
PyTorch loads its copy into the global symbol scope. Whatever is loaded after torch binds its
OpenMP calls to torch's copy, so all three share one runtime. GNU OpenMP then counts every
engine's threads together, finds more threads than cores, and cuts its spin-waits short: every
barrier sleeps in the kernel instead. Measured on 2 cores with torch loaded first, a 0.5B chat
model fell from 50 to 38 tokens/s after one transcription, and transcription itself slowed.

Loaded before torch, CTranslate2 binds to its own copy (Python loads extensions with
``RTLD_NOW``), and llama.cpp to the system's, which torch then reuses. A worker process calls
``load_engine_libraries`` first thing; an engine that is not installed is skipped.
"""

from __future__ import annotations

import importlib
import sys

# In this order; torch last, and only after the others.
ENGINE_LIBRARIES = ("ctranslate2", "llama_cpp")


def load_engine_libraries() -> list[str]:
    """Import the engines' native libraries that are installed; the names loaded.

    Raises RuntimeError when torch is already loaded: the order can no longer be kept.
    """
    if "torch" in sys.modules:
        raise RuntimeError("torch is already loaded: load the engine libraries before anything imports it")
    loaded = []
    for name in ENGINE_LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        loaded.append(name)
    return loaded
