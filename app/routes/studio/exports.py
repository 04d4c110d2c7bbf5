"""A Studio project's audio as export bytes, a block at a time: the ``…/audio`` route streams them
and a schedule's run stores them at a media path. WAV and raw PCM are written here; mp3, opus and
flac go through FFmpeg (``workers.engines.audio.encode_stream``). Only a block of samples is in
memory at once, however long the project."""

from __future__ import annotations

import struct
from collections.abc import Generator, Iterator

import numpy as np

from domain.fields import FieldError
from domain.studio_renders import EXPORT_FORMATS, ExportLayout
from eventstore.media import MediaStore
from workers.engines.audio import content_type_for, encode_stream, encoder_available

READ_BLOCK_SAMPLES = 1 << 18
UNCOMPRESSED = frozenset({"wav", "raw_i16", "raw_f32"})


def wav_header(layout: ExportLayout) -> bytes:
    data = layout.sample_count * 2
    rate = layout.sample_rate
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


def _encoded(samples: np.ndarray, fmt: str) -> bytes:
    if fmt == "raw_f32":
        return samples.astype("<f4").tobytes()
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def sample_blocks(media: MediaStore, layout: ExportLayout) -> Iterator[np.ndarray]:
    """The export's samples (mono float32) in order, each segment's pause after it as silence."""
    for part in layout.parts:
        samples = np.fromfile(media.path(part.audio.media), dtype="<f4")
        for start in range(0, samples.size, READ_BLOCK_SAMPLES):
            yield samples[start : start + READ_BLOCK_SAMPLES]
        for start in range(0, part.pause_samples, READ_BLOCK_SAMPLES):
            yield np.zeros(min(READ_BLOCK_SAMPLES, part.pause_samples - start), dtype=np.float32)


def export_blocks(media: MediaStore, layout: ExportLayout, fmt: str) -> Generator[bytes, None, None]:
    """The export in ``fmt`` (one of ``domain.studio_renders.EXPORT_FORMATS``), block by block."""
    if fmt not in UNCOMPRESSED:
        yield from encode_stream(sample_blocks(media, layout), layout.sample_rate, fmt)
        return
    if fmt == "wav":
        yield wav_header(layout)
    for block in sample_blocks(media, layout):
        yield _encoded(block, fmt)


def makeable(fmt: str, param: str) -> str:
    """``fmt`` when this server can make it, else a ``FieldError`` naming ``param``."""
    if fmt not in EXPORT_FORMATS:
        raise FieldError(f"Unsupported `{param}` {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}.", param)
    if not encoder_available(fmt):
        raise FieldError(f"This server's FFmpeg has no encoder for {fmt}: export as wav or raw_i16.", param)
    return fmt


def export_size(layout: ExportLayout, fmt: str) -> int | None:
    """The export's length in bytes, known up front for the uncompressed formats."""
    if fmt not in UNCOMPRESSED:
        return None
    return layout.sample_count * (4 if fmt == "raw_f32" else 2) + (44 if fmt == "wav" else 0)


def export_content_type(fmt: str) -> str:
    return {"raw_i16": "application/octet-stream"}.get(fmt) or content_type_for(fmt)


def export_extension(fmt: str) -> str:
    return "raw" if fmt.startswith("raw_") else fmt
