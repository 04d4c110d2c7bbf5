"""Creating a speech history record: the request body (JSON, or multipart with a
``reference_audio`` file) and the model that serves the record's family
(docs/speech-records.md)."""

from __future__ import annotations

import asyncio
import base64

from quart import request

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.model_choice import resolve_model
from app.http.request_body import Received, receive_body
from app.http.uploads import RECORD_UPLOAD_LIMIT
from app.routes.speech.requests import RecordBody, record_body
from domain.catalog import ModelVariant
from domain.speech_records import Family, model_order, unavailable_message

REFERENCE_FIELD = "reference_audio"


async def read_create_body(family: Family) -> Received[RecordBody]:
    """The family's request body (415 for another content type, 413 over the first-party upload
    limit). A multipart ``reference_audio`` file (or a ``file``/``audio`` part) becomes the base64
    ``reference_audio`` field a JSON body carries."""
    received: Received[RecordBody] = await receive_body(record_body(family), limit=RECORD_UPLOAD_LIMIT)
    if not received.form:
        return received
    upload = (await request.files).get(REFERENCE_FIELD)
    audio = upload.read() if upload is not None else received.upload.audio
    if audio:
        received.fields[REFERENCE_FIELD] = base64.b64encode(audio).decode()
    return received


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
