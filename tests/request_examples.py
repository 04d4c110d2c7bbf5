"""Requests built from ``/openapi.json`` alone, as a client generated from it (or a schema-driven
fuzzer) would build them: each documented body's required fields, filled with their example
values; audio fields (binary file parts, base64 strings) carry the audio the test gives."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = "application/json"
MULTIPART = "multipart/form-data"
WRITE_METHODS = ("post", "put", "patch")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"


def operations(spec: Mapping[str, Any]) -> Iterator[Operation]:
    """Every POST, PUT and PATCH operation of the document."""
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method in WRITE_METHODS:
                yield Operation(method, path, operation)


def resolve(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A schema with its ``$ref`` followed (``#/components/schemas/…``)."""
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = spec["components"]["schemas"][name]
    return dict(schema)


def alternatives(schema: Mapping[str, Any]) -> list[list[list[str]]]:
    """The body's "one of these" groups (each a list of alternatives, each a list of names)."""
    groups = [schema] if "anyOf" in schema else list(schema.get("allOf", ()))
    return [[list(alt["required"]) for alt in group["anyOf"]] for group in groups]


def required_fields(schema: Mapping[str, Any]) -> list[str]:
    """The required fields, and the first alternative of each "one of these" group."""
    names = list(schema.get("required", ()))
    for group in alternatives(schema):
        names += [name for name in group[0] if name not in names]
    return names


def _branches(prop: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [prop, *prop.get("anyOf", ())]


def is_file(prop: Mapping[str, Any]) -> bool:
    return prop.get("type") == "string" and prop.get("format") == "binary"


def is_base64(prop: Mapping[str, Any]) -> bool:
    return any(branch.get("contentEncoding") == "base64" for branch in _branches(prop))


def example(prop: Mapping[str, Any]) -> Any:
    """The property's first example; KeyError when it has none."""
    for branch in _branches(prop):
        if branch.get("examples"):
            return branch["examples"][0]
    raise KeyError("no example")


@dataclass
class ExampleRequest:
    content_type: str
    fields: dict[str, Any] = field(default_factory=dict)
    """JSON values (for a form: the text fields, lists repeated)."""
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)

    def httpx_kwargs(self) -> dict[str, Any]:
        if self.content_type == JSON:
            return {"json": self.fields}
        # Text fields as parts without a file name: a multipart form even with no file part.
        parts: list[tuple[str, Any]] = []
        for name, value in self.fields.items():
            for item in value if isinstance(value, list) else [value]:
                parts.append((name, (None, item if isinstance(item, str) else json.dumps(item))))
        parts.extend(self.files.items())
        return {"files": parts}


def example_request(
    spec: Mapping[str, Any],
    content_type: str,
    schema: Mapping[str, Any],
    audio: bytes,
    also: Mapping[str, Any] | None = None,
) -> ExampleRequest:
    """The body of the required fields with their examples (audio fields: ``audio``), plus the
    fields of ``also`` the schema documents (cost controls such as a small token budget)."""
    schema = resolve(spec, schema)
    properties = schema.get("properties", {})
    request = ExampleRequest(content_type)
    for name in required_fields(schema):
        prop = properties[name]
        if is_file(prop):
            request.files[name] = ("example.wav", audio, "audio/wav")
        elif is_base64(prop):
            request.fields[name] = base64.b64encode(audio).decode()
        else:
            request.fields[name] = example(prop)
    for name, value in (also or {}).items():
        if name in properties and name not in request.fields:
            request.fields[name] = value
    return request
