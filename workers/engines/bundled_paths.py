"""The espeak-ng library and data shipped by ``espeakng-loader`` (located, never imported).

Model weights are described by the catalog; this is the one native library an engine needs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from domain.catalog import PackagePart
from workers.engines.model_files import locate

ESPEAK_PACKAGE = "espeakng-loader"
ESPEAK_DATA = PackagePart(ESPEAK_PACKAGE, "espeakng_loader/espeak-ng-data/phontab")


def _espeak_library_name() -> str:
    if sys.platform == "win32":
        return "espeak-ng.dll"
    if sys.platform == "darwin":
        return "libespeak-ng.dylib"
    return "libespeak-ng.so"


ESPEAK_LIBRARY = PackagePart(ESPEAK_PACKAGE, f"espeakng_loader/{_espeak_library_name()}")


def espeak_library() -> Path:
    """The espeak-ng shared library shipped by ``espeakng-loader``."""
    return locate(ESPEAK_LIBRARY)


def espeak_data_dir() -> Path:
    """The ``espeak-ng-data`` directory shipped by ``espeakng-loader``."""
    return locate(ESPEAK_DATA).parent
