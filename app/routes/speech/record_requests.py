"""Creating a speech history record: the request body (JSON, or multipart with a
``reference_audio`` file) and the model that serves the record's family
(docs/speech-records.md)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from quart import request

from app.bootstrap import Container
from app.http.bodies import MULTIPART_TYPES, content_type
from app.http.errors import ApiError
from app.http.model_choice import resolve_model
from app.http.uploads import RECORD_UPLOAD_LIMIT, read_audio_form
from domain.catalog import ModelVariant
from domain.speech_records import Family, model_order, unavailable_message

REFERENCE_FIELD = "reference_audio"


async def read_create_body() -> tuple[dict[str, Any], bool]:
    """The request's fields and whether they came from a multipart form (415 for another content
    type, 413 over the first-party upload limit). A multipart ``reference_audio`` file (or a
    ``file``/``audio`` part) becomes the base64 ``reference_audio`` field a JSON body carries."""
    form = await read_audio_form(RECORD_UPLOAD_LIMIT)
    fields = dict(form.fields)
    if content_type() not in MULTIPART_TYPES:
        return fields, False
    upload = (await request.files).get(REFERENCE_FIELD)
    audio = upload.read() if upload is not None else form.audio
    if audio:
        fields[REFERENCE_FIELD] = base64.b64encode(audio).decode()
    return fields, True


async def choose_model(container: Container, family: Family, requested: object) -> ModelVariant:
    """The model named (able to serve the family, and installed), or the first installed model
    that can: the family's catalog default first. With none installed, a 400 naming the catalog
    models that would serve it and how to get them."""
    if requested is not None and requested != "":
        return await resolve_model(container, requested, family.route, what=family.capability)
    able = [variant for variant in container.catalog if variant.can(family.route)]
    default = container.catalog.default(family.default_for) if family.default_for else None
    for variant in model_order(able, default):
        if await asyncio.to_thread(container.models.files_present, variant):
            return variant
    raise ApiError(400, unavailable_message(family, able), param="model")
