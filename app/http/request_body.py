"""Request bodies declared once: a route's body model reads the request and documents it.

A body model (``BodyModel``) lists every field its route accepts, with the encodings it is sent
in (JSON, multipart), its file parts and which fields are required. ``@request_body(Model)``
puts it in ``/openapi.json`` (a schema per encoding); ``receive_body(Model)`` reads the request
as the model says (415 for another content type, 413 over the upload limit, 400 for a body that
is not an object), and ``Received.parse()`` checks the fields into the model: each field is read
by the reader it names (``domain.fields``), so an invalid one is the route's usual 400 naming it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import request
from quart_schema import OpenAPIProvider
from quart_schema.typing import Model
from quart_schema.validation import QUART_SCHEMA_REQUEST_ATTRIBUTE, DataSource

from app.http.bodies import JSON_TYPES, MULTIPART_TYPES, content_type, json_object
from app.http.errors import ApiError, validation_message
from app.http.uploads import AudioForm, read_audio_form
from domain.fields import BASE64_AUDIO, EXAMPLE_AUDIO_BASE64

JSON = JSON_TYPES[0]
MULTIPART = MULTIPART_TYPES[0]
REF_TEMPLATE = "#/components/schemas/{model}"
BODY_FOR_ATTRIBUTE = "_sauti_request_body_for"

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound="BodyModel")


@dataclass(frozen=True)
class OneOf:
    """At least one of ``alternatives`` must be sent; each alternative is fields sent together."""

    alternatives: tuple[tuple[str, ...], ...]


def one_of(*alternatives: str | tuple[str, ...]) -> OneOf:
    return OneOf(tuple((alt,) if isinstance(alt, str) else alt for alt in alternatives))


class BodyModel(BaseModel):
    """A route's request body. Fields it does not list are ignored, as the routes always did."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, protected_namespaces=())

    encodings: ClassVar[tuple[str, ...]] = (JSON,)
    """The content types the route accepts, documented in this order."""
    file_parts: ClassVar[Mapping[str, str]] = {}
    """A multipart body's file parts (name: description), documented as binary strings."""
    form_names: ClassVar[Mapping[str, str]] = {}
    """Fields a multipart body names otherwise (``timestamp_granularities[]``)."""
    requires: ClassVar[tuple[str | OneOf, ...]] = ()
    """What must be sent, as documented: a field's name, or one of several fields (the audio as a
    file part or in base64…; alternatives an encoding lacks are left out of its schema). The route
    checks these itself (``domain.fields`` readers, or later), with its own messages."""
    optional: ClassVar[bool] = False
    """The body may be left out altogether (no content type, no content)."""


@dataclass
class Received(Generic[M]):
    """A body as read off the wire, before its fields are checked."""

    model: type[M]
    fields: dict[str, Any]
    """The JSON object, or the multipart form's text fields (``name[]`` and repeated fields as lists)."""
    form: bool
    """Whether it came as a multipart form (whose values are all text)."""
    upload: AudioForm = field(default_factory=AudioForm)
    """The audio a file part (or ``audio_base64``) carried, decoded."""

    def get(self, name: str) -> Any:
        """A field as sent (for what is checked before the model: the model id, the job kind)."""
        return self.fields.get(name)

    def parse(self, **context: Any) -> M:
        """The fields checked into the model, in its field order: the first invalid one is a 400
        naming it. ``context`` reaches the model's validators (with ``form`` and ``raw``)."""
        try:
            return self.model.model_validate(
                self.fields, context={"form": self.form, "raw": self.fields, **context}
            )
        except ValidationError as error:
            message, param = validation_message(error)
            raise ApiError(400, message, param=param) from None


async def receive_body(model: type[M], *, limit: int | None = None) -> Received[M]:
    """Read the request's body as ``model`` declares it. A model that accepts multipart forms reads
    audio uploads up to ``limit`` bytes (JSON with ``audio_base64`` too)."""
    if model.optional and not (request.content_length or request.mimetype):
        return Received(model, {}, form=False)
    if MULTIPART in model.encodings:
        if limit is None:
            raise TypeError(f"{model.__name__} accepts uploads: give receive_body an upload limit")
        upload = await read_audio_form(limit)
        return Received(model, upload.fields, content_type() in MULTIPART_TYPES, upload)
    body = await json_object()
    return Received(model, body, form=False)


# --- documentation ------------------------------------------------------------------------


def request_body(model: type[BodyModel]) -> Callable[[F], F]:
    """Document ``model`` as the route's request body (in each of its encodings)."""

    def document(handler: F) -> F:
        setattr(handler, QUART_SCHEMA_REQUEST_ATTRIBUTE, (model, DataSource.JSON))
        return handler

    return document


def request_body_for(choose: Callable[[Any], type[BodyModel]]) -> Callable[[F], F]:
    """For a handler served under several owners (``route_sets``): the body model of each owner."""

    def document(handler: F) -> F:
        setattr(handler, BODY_FOR_ATTRIBUTE, choose)
        return handler

    return document


def _required_field(schema: dict[str, Any]) -> None:
    """A required field is declared optional (None), so that a missing one reaches its reader
    (whose message names it), and the route refuses a null: document neither."""
    if schema.get("default", ...) is None:
        del schema["default"]
    branches = [branch for branch in schema.get("anyOf", ()) if branch.get("type") != "null"]
    if len(branches) == 1 and len(schema["anyOf"]) == 2:
        del schema["anyOf"]
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


def _encoding_schema(model: type[BodyModel], schema: dict[str, Any], encoding: str) -> dict[str, Any]:
    documented = copy.deepcopy(schema)
    properties: dict[str, Any] = documented.setdefault("properties", {})
    if encoding == MULTIPART:
        renamed = {model.form_names.get(name, name): value for name, value in properties.items()}
        for part, description in model.file_parts.items():
            renamed[part] = {"type": "string", "format": "binary", "description": description}
        documented["properties"] = properties = renamed
    required = list(documented.get("required", ()))
    groups = []
    for group in model.requires:
        if isinstance(group, str):
            _required_field(properties.get(group, {}))
            group = one_of(group)
        present = [alt for alt in group.alternatives if all(name in properties for name in alt)]
        if len(present) == 1:
            for name in present[0]:
                _required_field(properties[name])
            required.extend(name for name in present[0] if name not in required)
        elif present:
            groups.append({"anyOf": [{"required": list(alt)} for alt in present]})
    if required:
        documented["required"] = required
    if len(groups) == 1:
        documented.update(groups[0])
    elif groups:
        documented["allOf"] = groups
    return documented


def document_body(model: type[BodyModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI request body object for ``model`` and the component schemas it refers to: one
    schema per encoding (``<Model>`` for JSON, ``<Model>Form`` for multipart)."""
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    components: dict[str, Any] = schema.pop("$defs", {})
    content = {}
    for encoding in model.encodings:
        name = model.__name__ if encoding == JSON else f"{model.__name__}Form"
        components[name] = {**_encoding_schema(model, schema, encoding), "title": name}
        content[encoding] = {"schema": {"$ref": REF_TEMPLATE.format(model=name)}}
    body: dict[str, Any] = {"content": content, "required": not model.optional}
    if model.__doc__:
        body["description"] = inspect.getdoc(model)
    return body, components


class BodyDocumentingProvider(OpenAPIProvider):
    """quart-schema's OpenAPI document, with each ``BodyModel`` documented in all its encodings."""

    def build_request_body(self, model: type[Model], source: DataSource) -> tuple[dict, dict]:
        if isinstance(model, type) and issubclass(model, BodyModel):
            return document_body(model)
        return super().build_request_body(model, source)


# --- fields the audio routes share ----------------------------------------------------------


AUDIO_FILE_PARTS: Mapping[str, str] = {
    "file": "The audio file (any format FFmpeg decodes).",
    "audio": "The audio file, under the other name the route accepts for it.",
}
AUDIO_REQUIRED = one_of("file", "audio", "audio_base64")
"""The audio: a ``file`` or ``audio`` part, or ``audio_base64``."""


AUDIO_BASE64 = "The audio in base64 (or a `data:` URL), instead of a file part."


def audio_base64_field(description: str = AUDIO_BASE64) -> Any:
    return Field(
        None, description=description, examples=[EXAMPLE_AUDIO_BASE64], json_schema_extra=BASE64_AUDIO
    )
