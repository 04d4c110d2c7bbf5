"""Audio request bodies for the audio routes: JSON with ``audio_base64`` or multipart with a
``file`` / ``audio`` part, checked against the route's upload limit before anything is parsed."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from dataclasses import dataclass, field
from typing import Any

from quart import request

from app.http.bodies import JSON_TYPES, MULTIPART_TYPES, require_content_type
from app.http.errors import ApiError

AUDIO_FILE_FIELDS = ("file", "audio")
# The first-party upload limit (the contract's relaxed 64 MiB).
RECORD_UPLOAD_LIMIT = 64 * 1024 * 1024
OCTET_STREAM = "application/octet-stream"
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x1a\x45\xdf\xa3", "audio/webm"),
    (0, b"#!AMR", "audio/amr"),
    (4, b"ftyp", "audio/mp4"),
    (8, b"WAVE", "audio/wav"),
    (8, b"AIFF", "audio/aiff"),
)


@dataclass
class AudioForm:
    """The request's fields (JSON values, or multipart strings) and its audio bytes, if any.

    Multipart fields named ``name[]`` become a list under ``name``, as do repeated fields.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    audio: bytes | None = None
    filename: str | None = None
    content_type: str | None = None
    """The media type the client declared for the uploaded file part."""


def _too_large(limit_bytes: int) -> ApiError:
    return ApiError(
        413,
        f"Request body too large: the upload limit of this route is {limit_bytes / 1024 / 1024:g} MiB.",
    )


def enforce_upload_limit(limit_bytes: int) -> None:
    """413 at once when the declared length is over the limit; otherwise cap what is read."""
    if request.content_length is not None and request.content_length > limit_bytes:
        raise _too_large(limit_bytes)
    request.max_content_length = limit_bytes


def decode_base64_audio(value: Any, param: str = "audio_base64") -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{param} must be a non-empty base64 string.", param=param)
    text = value.strip()
    if text.startswith("data:") and "," in text:  # a data: URL
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{param} is not valid base64.", param=param) from None


async def read_audio_form(limit_bytes: int) -> AudioForm:
    """Parse a JSON or multipart audio request (415 for anything else, 413 over the limit)."""
    kind = require_content_type(*JSON_TYPES, *MULTIPART_TYPES)
    enforce_upload_limit(limit_bytes)
    if kind in JSON_TYPES:
        # A body sent without a Content-Length (chunked) is measured once read.
        if len(await request.get_data(cache=True)) > limit_bytes:
            raise _too_large(limit_bytes)
        body = await request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        encoded = body.get("audio_base64")
        decoded = decode_base64_audio(encoded) if encoded is not None else None
        return AudioForm(fields=dict(body), audio=decoded)

    form = await request.form
    files = await request.files
    fields: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        if key.endswith("[]"):
            fields[key[:-2]] = values
        else:
            fields[key] = values if len(values) > 1 else values[0]
    audio: bytes | None = None
    filename: str | None = None
    content_type: str | None = None
    for name in AUDIO_FILE_FIELDS:
        upload = files.get(name)
        if upload is not None:
            audio, filename, content_type = upload.read(), upload.filename, upload.mimetype or None
            break
    if audio is None and fields.get("audio_base64"):
        audio = decode_base64_audio(fields["audio_base64"])
    if audio is not None and len(audio) > limit_bytes:
        raise _too_large(limit_bytes)
    return AudioForm(fields=fields, audio=audio, filename=filename, content_type=content_type)


def require_audio(form: AudioForm) -> bytes:
    if not form.audio:
        raise ApiError(400, "No audio: send a `file` (or `audio`) part, or `audio_base64`.", param="file")
    return form.audio


def audio_content_type(data: bytes, declared: str | None, filename: str | None) -> str:
    """The stored audio's media type: its magic bytes, else what the client said, else its name."""
    for offset, signature, media_type in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return media_type
    if declared and declared != OCTET_STREAM:
        return declared
    guessed = mimetypes.guess_type(filename)[0] if filename else None
    return guessed or OCTET_STREAM
