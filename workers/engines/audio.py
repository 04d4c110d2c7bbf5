"""Audio in and out through FFmpeg: any common container decoded to mono float32, and responses encoded.

FFmpeg is ``SAUTI_FFMPEG_BINARY`` when set, else the ``ffmpeg`` on PATH or, failing that, the static
binary shipped by ``imageio-ffmpeg``.
Uncompressed formats (WAV, raw PCM) are written with numpy and ``wave`` and need no FFmpeg.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import subprocess
import tempfile
import threading
import wave
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np

from domain.speech import COMPRESSED_FORMATS, NATIVE_FORMATS
from workers.engines.base import SAMPLE_RATE, Audio

FFMPEG_BINARY_ENV = "SAUTI_FFMPEG_BINARY"
"""The FFmpeg to use (a path or a name on PATH), or ``none`` to run without FFmpeg: WAV and raw
PCM still work, compressed formats are then unavailable. Read here rather than from the app's
settings (which declare it) because engines do not import the app."""
FFMPEG_DISABLED = "none"

_INT16_FORMATS = frozenset({"pcm", "pcm16", "pcm_i16", "raw_i16"})
_FLOAT32_FORMATS = frozenset({"raw_f32", "pcm_f32"})

_CONTENT_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    **dict.fromkeys(_INT16_FORMATS, "audio/pcm"),
    **dict.fromkeys(_FLOAT32_FORMATS, "application/octet-stream"),
}

_MUXERS: dict[str, str] = {"mp3": "mp3", "opus": "opus", "ogg": "ogg", "aac": "adts", "flac": "flac"}
_ENCODERS: dict[str, tuple[str, ...]] = {
    "mp3": ("libmp3lame", "libshine"),
    "opus": ("libopus", "opus"),
    "ogg": ("libvorbis", "vorbis"),
    "aac": ("aac", "libfdk_aac"),
    "flac": ("flac",),
}
_OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
_ENCODER_LINE = re.compile(r"^\s*([A-Z.]{6})\s+(\S+)\s")
_TAG = re.compile(r"^(\[[^\]]* @ 0x[0-9a-f]+\]\s*)+")
_CONSEQUENCE = re.compile(
    r"^(Nothing was written|Terminating thread|Task finished|Could not open encoder|Error reinitializing"
    r"|Failed to configure|Conversion failed|Error opening input file |Error while filtering)"
)


class AudioDecodeError(ValueError):
    """The input is not audio FFmpeg can decode, or holds no samples."""


class AudioEncodeError(ValueError):
    """The format is unknown, its encoder is missing, or FFmpeg failed to encode."""


class FFmpegNotFoundError(RuntimeError):
    """Neither a system ffmpeg nor imageio-ffmpeg's binary is available."""


@functools.cache
def ffmpeg_binary() -> str:
    configured = os.environ.get(FFMPEG_BINARY_ENV, "").strip()
    if configured.lower() == FFMPEG_DISABLED:
        raise FFmpegNotFoundError(f"FFmpeg is disabled on this server ({FFMPEG_BINARY_ENV}=none)")
    if configured:
        chosen = shutil.which(configured)
        if chosen is None:
            raise FFmpegNotFoundError(f"{FFMPEG_BINARY_ENV}={configured} is not an executable")
        return chosen
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise FFmpegNotFoundError(
            "ffmpeg was not found: install it on PATH or install the imageio-ffmpeg package"
        ) from error
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as error:
        raise FFmpegNotFoundError(f"ffmpeg was not found: {error}") from error


def _ffmpeg_reason(stderr: bytes | None) -> str:
    """The line of FFmpeg's error output that names the cause, without its ``[component @ 0x…]`` tag."""
    lines = [_TAG.sub("", line).strip() for line in (stderr or b"").decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    causes = [line for line in lines if not _CONSEQUENCE.search(line)]
    return (causes or lines or ["ffmpeg failed without a message"])[-1]


def _decode_stream(source: str, sample_rate: int, channel: int | None) -> Any:
    options: dict[str, Any] = {"format": "f32le", "acodec": "pcm_f32le", "ac": 1, "ar": sample_rate}
    if channel is not None:
        if channel < 0:
            raise ValueError(f"channel must be 0 or more, not {channel}")
        options["af"] = f"channelmap=map={channel}:channel_layout=mono"
    return (
        ffmpeg.input(source)
        .output("pipe:", **options)
        .global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    )


def _run_decode(stream: Any, data: bytes | None) -> bytes:
    try:
        out, _ = stream.run(cmd=ffmpeg_binary(), input=data, capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as error:
        raise AudioDecodeError(f"could not decode the audio: {_ffmpeg_reason(error.stderr)}") from error
    return bytes(out)


def _samples(raw: bytes) -> Audio:
    """Float32 samples from FFmpeg's output, clipped to [-1, 1] (resampling can overshoot)."""
    usable = len(raw) - len(raw) % 4
    samples = np.frombuffer(raw[:usable], dtype="<f4").astype(np.float32)
    return np.clip(samples, -1.0, 1.0, out=samples)


def decode_audio(
    source: bytes | Path | str, sample_rate: int = SAMPLE_RATE, *, channel: int | None = None
) -> Audio:
    """Decode a file or in-memory upload to mono float32 at ``sample_rate``.

    ``channel`` picks one channel (0 = left) instead of mixing all channels down.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise AudioDecodeError("could not decode the audio: the upload is empty")
        try:
            raw = _run_decode(_decode_stream("pipe:", sample_rate, channel), data)
        except AudioDecodeError:
            raw = b""
        if len(raw) < 4:
            # Some containers (MP4/M4A with its index at the end) can only be read from a seekable file.
            raw = _decode_via_file(data, sample_rate, channel)
    else:
        path = Path(source)
        if not path.is_file():
            raise AudioDecodeError(f"could not decode the audio: {path} does not exist")
        raw = _run_decode(_decode_stream(str(path), sample_rate, channel), None)
    samples = _samples(raw)
    if samples.size == 0:
        raise AudioDecodeError("could not decode the audio: it contains no samples")
    return samples


def _decode_via_file(data: bytes, sample_rate: int, channel: int | None) -> bytes:
    handle, name = tempfile.mkstemp(prefix="sauti-audio-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return _run_decode(_decode_stream(name, sample_rate, channel), None)
    finally:
        os.unlink(name)


def iter_decoded(
    path: Path | str,
    sample_rate: int = SAMPLE_RATE,
    chunk_seconds: float = 30.0,
    *,
    channel: int | None = None,
) -> Iterator[Audio]:
    """Decode a file in chunks of ``chunk_seconds`` (the last may be shorter), in bounded memory."""
    source = Path(path)
    if not source.is_file():
        raise AudioDecodeError(f"could not decode the audio: {source} does not exist")
    chunk_bytes = max(1, round(chunk_seconds * sample_rate)) * 4
    args = _decode_stream(str(source), sample_rate, channel).compile(cmd=ffmpeg_binary())
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
        assert process.stdout is not None
        try:
            yielded = False
            while block := process.stdout.read(chunk_bytes):
                yield _samples(block)
                yielded = True
            if process.wait() != 0:
                stderr.seek(0)
                raise AudioDecodeError(f"could not decode the audio: {_ffmpeg_reason(stderr.read())}")
            if not yielded:
                raise AudioDecodeError("could not decode the audio: it contains no samples")
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()


@functools.cache
def _available_encoders() -> dict[str, bool]:
    """Encoder name → whether it is experimental (needs ``-strict experimental``)."""
    try:
        result = subprocess.run(
            [ffmpeg_binary(), "-hide_banner", "-encoders"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError, FFmpegNotFoundError):
        return {}
    encoders: dict[str, bool] = {}
    for line in result.stdout.decode(errors="replace").splitlines():
        match = _ENCODER_LINE.match(line)
        if match and match.group(1).startswith("A"):
            encoders[match.group(2)] = match.group(1)[3] == "X"
    return encoders


def _encoder_for(fmt: str) -> tuple[str, bool] | None:
    available = _available_encoders()
    for name in _ENCODERS.get(fmt, ()):
        if name in available:
            return name, available[name]
    return None


def _normalize_format(fmt: str) -> str:
    return fmt.strip().lower()


def encoder_available(fmt: str) -> bool:
    name = _normalize_format(fmt)
    if name in NATIVE_FORMATS:
        return True
    return name in COMPRESSED_FORMATS and _encoder_for(name) is not None


def content_type_for(fmt: str) -> str:
    name = _normalize_format(fmt)
    try:
        return _CONTENT_TYPES[name]
    except KeyError:
        raise AudioEncodeError(f"unknown audio format {fmt!r}") from None


def _as_int16(samples: Audio) -> bytes:
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return bytes(np.round(clipped * 32767.0).astype("<i2").tobytes())


def _wav(samples: Audio, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(_as_int16(samples))
    return buffer.getvalue()


def encode_audio(samples: Audio, sample_rate: int, fmt: str) -> bytes:
    """Encode mono float32 samples as ``fmt`` (one of NATIVE_FORMATS or COMPRESSED_FORMATS)."""
    name = _normalize_format(fmt)
    if name == "wav":
        return _wav(samples, sample_rate)
    if name in _INT16_FORMATS:
        return _as_int16(samples)
    if name in _FLOAT32_FORMATS:
        return bytes(np.asarray(samples, dtype="<f4").tobytes())
    if name not in COMPRESSED_FORMATS:
        known = ", ".join(sorted(NATIVE_FORMATS | COMPRESSED_FORMATS))
        raise AudioEncodeError(f"unknown audio format {fmt!r} (known: {known})")
    data = np.asarray(samples, dtype="<f4").tobytes()
    try:
        out, _ = _encoder(name, sample_rate).run(
            cmd=ffmpeg_binary(), input=data, capture_stdout=True, capture_stderr=True
        )
    except ffmpeg.Error as error:
        raise AudioEncodeError(
            f"could not encode the audio as {name}: {_ffmpeg_reason(error.stderr)}"
        ) from error
    return bytes(out)


def _encoder(name: str, sample_rate: int) -> Any:
    """The FFmpeg pipeline that encodes mono float32 on stdin as ``name`` on stdout."""
    encoder = _encoder_for(name)
    if encoder is None:
        raise AudioEncodeError(f"this ffmpeg has no encoder for {name}")
    codec, experimental = encoder
    options: dict[str, Any] = {"format": _MUXERS[name], "acodec": codec, "ac": 1}
    if name == "opus" and sample_rate not in _OPUS_RATES:
        options["ar"] = 48_000
    if experimental:
        options["strict"] = "experimental"
    return (
        ffmpeg.input("pipe:", format="f32le", ar=sample_rate, ac=1)
        .output("pipe:", **options)
        .global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    )


def encode_stream(blocks: Iterable[Audio], sample_rate: int, fmt: str) -> Iterator[bytes]:
    """Encode mono float32 blocks as the compressed ``fmt``, piece by piece as FFmpeg writes it:
    however long the audio, only a block is in memory. Closing the iterator early stops FFmpeg."""
    name = _normalize_format(fmt)
    if name not in COMPRESSED_FORMATS:
        raise AudioEncodeError(f"{fmt!r} is not a compressed format")
    argv = _encoder(name, sample_rate).compile(cmd=ffmpeg_binary())
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    stdin, stderr = process.stdin, process.stderr
    failure: list[BaseException] = []
    errors = bytearray()

    def feed() -> None:
        try:
            for block in blocks:
                stdin.write(np.asarray(block, dtype="<f4").tobytes())
        except (BrokenPipeError, ValueError):  # FFmpeg stopped (its stderr says why) or was stopped
            pass
        except BaseException as error:  # reading the blocks failed: reported to the consumer
            failure.append(error)
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def drain_errors() -> None:
        errors.extend(stderr.read())

    writer = threading.Thread(target=feed, name="ffmpeg-feed", daemon=True)
    reader = threading.Thread(target=drain_errors, name="ffmpeg-stderr", daemon=True)
    writer.start()
    reader.start()
    try:
        while piece := process.stdout.read(1 << 16):
            yield piece
        process.wait()
        writer.join()
        reader.join()
        if failure:
            raise failure[0]
        if process.returncode != 0:
            raise AudioEncodeError(f"could not encode the audio as {name}: {_ffmpeg_reason(bytes(errors))}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
