"""Reading a media upload (``POST /v1/media``): JSON with the bytes in base64 (``data_base64``, alias
``audio_base64``, or a ``data:`` URL), ``content_type``, ``filename`` and ``namespace``."""

from __future__ import annotations

import asyncio
import math
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from quart import request

from app.http.bodies import JSON_TYPES, require_content_type
from app.http.errors import ApiError
from app.http.request_body import EXAMPLE_AUDIO_BASE64, BodyModel, one_of, receive_body
from app.http.uploads import OCTET_STREAM, audio_content_type, decode_base64_audio, enforce_upload_limit
from domain.events import new_id
from domain.fields import FieldError, Passed, Reads, optional_str
from domain.media_paths import join_media_path, media_filename, media_path

# The contract's first-party upload limit, for the decoded bytes.
MEDIA_UPLOAD_LIMIT = 64 * 1024 * 1024
# The JSON body carries those bytes in base64 (4 characters for every 3 bytes), and the fields.
MEDIA_BODY_LIMIT = 4 * math.ceil(MEDIA_UPLOAD_LIMIT / 3) + 1024 * 1024
DATA_FIELDS = ("data_base64", "audio_base64")

_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_MEDIA_TYPE = re.compile(rf"^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=({_TOKEN}|\"[^\"\\\x00-\x1f\x7f]*\"))*$")
MAX_MEDIA_TYPE_CHARS = 200
_EXTENSIONS = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "text/plain": ".txt",
    "application/json": ".json",
    "application/pdf": ".pdf",
    OCTET_STREAM: ".bin",
}


@dataclass(frozen=True)
class MediaUpload:
    path: str
    namespace: str | None
    filename: str
    content_type: str
    data: bytes


def too_large() -> ApiError:
    return ApiError(413, f"Media upload too large: the limit is {MEDIA_UPLOAD_LIMIT // 1024 // 1024} MiB.")


def _namespace(body: Mapping[str, Any], name: str, form: bool) -> str | None:
    value = optional_str(body, name)
    return media_path(value, name) if value else None


def _filename(body: Mapping[str, Any], name: str, form: bool) -> str | None:
    value = optional_str(body, name)
    return media_filename(value) if value else None


def _media_type(body: Mapping[str, Any], name: str, form: bool) -> str | None:
    value = optional_str(body, name, strip=True)
    return checked_media_type(value, name) if value is not None else None


class MediaBody(BodyModel):
    """A media object to store at `namespace/filename`: its bytes in base64 (`data_base64`, its
    alias `audio_base64`, or a `data:` URL), up to 64 MiB decoded. The bytes are read first, then
    the other fields in the order listed."""

    requires = (one_of("data_base64", "audio_base64"),)

    data_base64: Annotated[str | None, Passed] = Field(
        None,
        description="The bytes in base64, or a `data:<media type>;base64,<data>` URL.",
        examples=[EXAMPLE_AUDIO_BASE64],
        json_schema_extra={"contentEncoding": "base64"},
    )
    audio_base64: Annotated[str | None, Passed] = Field(
        None,
        description="Alias of `data_base64` (send one of them).",
        json_schema_extra={"contentEncoding": "base64"},
    )
    namespace: Annotated[str | None, Reads(_namespace)] = Field(
        None, description="The folder (`voice/session-1`), relative to the media root.", examples=["examples"]
    )
    filename: Annotated[str | None, Reads(_filename)] = Field(
        None,
        description="The file name; a new id with the type's extension when left out.",
        examples=["hello.wav"],
    )
    content_type: Annotated[str | None, Reads(_media_type)] = Field(
        None,
        description="The media type (`audio/wav`); the data URL's, or the bytes', when left out.",
        examples=["audio/wav"],
    )


async def read_media_upload() -> MediaUpload:
    """The request's upload: 415 unless JSON, 413 over the limit, 400 for a bad field."""
    require_content_type(*JSON_TYPES)
    enforce_upload_limit(MEDIA_BODY_LIMIT)
    # A body sent without a Content-Length (chunked) is measured once read.
    if len(await request.get_data(cache=True)) > MEDIA_BODY_LIMIT:
        raise too_large()
    received = await receive_body(MediaBody)
    # Decoding up to 64 MiB of base64 takes a while: not on the event loop.
    return await asyncio.to_thread(media_upload, received.fields)


def media_upload(body: Mapping[str, Any]) -> MediaUpload:
    """The upload a body asks for: the bytes decoded first, then ``MediaBody``'s fields read."""
    param, encoded = _data_field(body)
    url_type, payload = split_data_url(encoded, param)
    if isinstance(payload, str) and len(payload) * 3 // 4 > MEDIA_UPLOAD_LIMIT + 2:
        raise too_large()  # without decoding it
    data = decode_base64_audio(payload, param)
    if len(data) > MEDIA_UPLOAD_LIMIT:
        raise too_large()
    fields = MediaBody.model_validate(body)
    namespace, filename = fields.namespace, fields.filename
    if fields.content_type is not None:
        content_type = fields.content_type
    elif url_type is not None:
        content_type = checked_media_type(url_type, param)
    else:
        content_type = audio_content_type(data, None, filename)
    filename = filename or media_filename(new_id() + extension_for(content_type))
    return MediaUpload(join_media_path(namespace, filename), namespace, filename, content_type, data)


def _data_field(body: Mapping[str, Any]) -> tuple[str, Any]:
    given = [name for name in DATA_FIELDS if body.get(name) is not None]
    if not given:
        raise FieldError("`data_base64` is required: the media object's bytes in base64.", "data_base64")
    if len(given) > 1:
        raise FieldError("Send `data_base64` or its alias `audio_base64`, not both.", "audio_base64")
    return given[0], body[given[0]]


def split_data_url(value: object, param: str) -> tuple[str | None, object]:
    """``data:<media type>;base64,<data>`` as its media type (None when empty) and its data; any
    other value as it is."""
    if not isinstance(value, str) or not value.strip().startswith("data:"):
        return None, value
    header, comma, payload = value.strip()[len("data:") :].partition(",")
    parameters = header.split(";")
    if not comma or parameters[-1].strip().lower() != "base64":
        raise FieldError(f"`{param}`: a data URL must be `data:<media type>;base64,<data>`.", param)
    return ";".join(parameters[:-1]).strip() or None, payload


def checked_media_type(value: str, param: str) -> str:
    """A media type such as ``audio/wav`` or ``audio/ogg; codecs=opus`` (its type in lower case)."""
    if len(value) > MAX_MEDIA_TYPE_CHARS or not _MEDIA_TYPE.match(value):
        raise FieldError(f"`{param}` must be a media type such as audio/wav.", param)
    essence, semicolon, parameters = value.partition(";")
    return essence.lower() + semicolon + parameters


def extension_for(content_type: str) -> str:
    essence = content_type.partition(";")[0].strip()
    return _EXTENSIONS.get(essence) or mimetypes.guess_extension(essence) or ""
