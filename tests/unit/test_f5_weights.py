"""Where F5-TTS finds its weights: the files placed by hand in the variant's directory, or the
``F5TTS_v1_Base/`` folder the admin download of the catalog's files creates."""

from __future__ import annotations

from pathlib import Path

from domain.catalog import find_variant
from workers.engines.tts_f5 import VOCODER_DIR, VOCODER_FILES, find_weights


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def add_vocoder(root: Path) -> None:
    for name in VOCODER_FILES:
        touch(root / VOCODER_DIR / name)


def test_the_downloaded_layout_of_the_catalog_files_is_found(tmp_path: Path) -> None:
    variant = find_variant("F5-TTS")
    assert variant is not None
    downloaded = [touch(tmp_path / file.name) for file in variant.files]
    add_vocoder(tmp_path)
    weights, missing = find_weights(tmp_path)
    assert missing == [] and weights is not None
    assert {weights.checkpoint, weights.vocab} == set(downloaded)
    assert weights.vocoder == tmp_path / VOCODER_DIR


def test_files_placed_in_the_directory_itself_are_found(tmp_path: Path) -> None:
    checkpoint, vocab = touch(tmp_path / "model_1.safetensors"), touch(tmp_path / "vocab.txt")
    add_vocoder(tmp_path)
    weights, _ = find_weights(tmp_path)
    assert weights is not None and (weights.checkpoint, weights.vocab) == (checkpoint, vocab)


def test_what_is_missing_is_named(tmp_path: Path) -> None:
    touch(tmp_path / "F5TTS_v1_Base" / "vocab.txt")
    weights, missing = find_weights(tmp_path)
    assert weights is None
    assert missing == [
        "a checkpoint (model_*.safetensors or *.pt)",
        *(f"{VOCODER_DIR}/{name}" for name in VOCODER_FILES),
    ]
