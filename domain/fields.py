"""Request fields read one at a time: the typed readers every request parser shares.

Pure. A reader returns None for a field that is absent or null, and raises ``FieldError``
naming the field when its value has the wrong type or lies out of range (the HTTP layer
answers a 400 with that ``param``).

JSON bodies carry typed values and are read as they are. Multipart forms carry only strings,
so with ``form=True`` a reader also takes the spellings a form sends: numbers as text, booleans
as true/1/yes/on or false/0/no/off, and an empty string for a field left blank.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticUseDefault, core_schema

from domain.errors import DomainError

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})

_Number = TypeVar("_Number", int, float)


class FieldError(DomainError):
    """A request field that can never be accepted as sent; ``param`` names it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _must_be(name: str, what: str) -> FieldError:
    return FieldError(f"`{name}` must be {what}.", name)


def optional_str(body: Mapping[str, Any], name: str, *, strip: bool = False) -> str | None:
    """A string field; with ``strip``, stripped of surrounding white space and None when blank."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _must_be(name, "a string")
    if strip:
        return value.strip() or None
    return value


def choice(body: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    """One of ``allowed``, spelled exactly; ``default`` when absent, null or empty."""
    value = optional_str(body, name)
    if not value:
        return default
    if value not in allowed:
        raise FieldError(f"Unsupported {name} {value!r}: use one of {', '.join(allowed)}.", name)
    return value


def optional_bool(body: Mapping[str, Any], name: str, *, form: bool = False) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    if form and isinstance(value, str | int):
        word = str(value).strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
    raise _must_be(name, "true or false")


def _number_field(body: Mapping[str, Any], name: str, kind: type[_Number], *, form: bool) -> _Number | None:
    """The field as ``kind``: a form's text is parsed, a JSON value must be one already."""
    value = body.get(name)
    if value is None or (form and value == ""):
        return None
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool):
        raise _must_be(name, what)
    if form:
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise _must_be(name, what) from None
    json_types = (int,) if kind is int else (int, float)
    # Python's JSON parser reads NaN and Infinity, which are not JSON numbers.
    if not isinstance(value, json_types) or (isinstance(value, float) and not math.isfinite(value)):
        raise _must_be(name, what)
    return kind(value)


def optional_number(
    body: Mapping[str, Any], name: str, low: float, high: float | None = None, *, form: bool = False
) -> float | None:
    """A number from ``low`` to ``high`` (inclusive; no upper bound when ``high`` is None)."""
    number = _number_field(body, name, float, form=form)
    if number is not None and (number < low or (high is not None and number > high)):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise _must_be(name, bounds)
    return number


def optional_int(
    body: Mapping[str, Any],
    name: str,
    minimum: int | None = None,
    *,
    form: bool = False,
    maximum: int | None = None,
) -> int | None:
    number = _number_field(body, name, int, form=form)
    if number is not None and minimum is not None and number < minimum:
        raise _must_be(name, f"at least {minimum}")
    if number is not None and maximum is not None and number > maximum:
        raise _must_be(name, f"at most {maximum}")
    return number


# --- request model fields -----------------------------------------------------------------
#
# A request model (a pydantic model of a route's body) declares each field's type for the
# API's documentation and reads it with one of the readers above, through ``Reads``: the same
# checks, in the order the model lists its fields, and the same ``FieldError`` (a 400 naming
# the field) as the route's own code raises. A field whose check needs what the model cannot
# know (the chosen model, the record being edited) is ``Passed``: kept as sent, checked where
# it is used.


class _Passed:
    """A field kept as sent, documented as its declared type; checked where the route uses it."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        documented = handler(source)
        return core_schema.any_schema(
            metadata={"pydantic_js_annotation_functions": [lambda _schema, json: json(documented)]},
            # Carries the documented type's definitions (nested models) into the JSON schema.
            serialization=core_schema.wrap_serializer_function_ser_schema(
                lambda value, serialize: serialize(value), schema=documented
            ),
        )


Passed = _Passed()

Reader = Callable[[Mapping[str, Any], str, bool], Any]
"""``(body, name, form) -> value or None``: one field read from the body."""


@dataclass(frozen=True)
class Reads:
    """Annotates a request model's field with the reader that checks it.

    ``param`` is the field's name in the body and in errors (the field's own name by default);
    ``form`` fixes how values are read (None: as the validation context says, ``{"form": True}``
    for a multipart form). A value the reader finds absent (None) becomes the field's default.
    ``schema`` adds JSON schema keywords (an enum, bounds) to the documented type.
    """

    read: Reader
    param: str | None = None
    form: bool | None = None
    schema: Mapping[str, Any] | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_before_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        documented = handler(schema)
        if self.schema:
            branches = [branch for branch in documented.get("anyOf", ()) if branch.get("type") != "null"]
            (branches[0] if len(branches) == 1 else documented).update(self.schema)
        return documented

    def _validate(self, value: Any, info: ValidationInfo) -> Any:
        name = self.param or info.field_name or ""
        form = self.form if self.form is not None else bool((info.context or {}).get("form"))
        result = self.read({name: value}, name, form)
        if result is None:
            raise PydanticUseDefault()
        return result


def text(
    *,
    strip: bool = False,
    max_chars: int | None = None,
    required: str | None = None,
    param: str | None = None,
    **schema: Any,
) -> Reads:
    """A string (``optional_str``), at most ``max_chars`` long once stripped; with ``required``
    (the message), refused when absent or blank (give the field ``validate_default=True``)."""

    def read(body: Mapping[str, Any], name: str, form: bool) -> str | None:
        value = optional_str(body, name, strip=strip)
        if value is not None and max_chars is not None and len(value) > max_chars:
            raise FieldError(f"`{name}` must be at most {max_chars} characters.", name)
        if value is None and required is not None:
            raise FieldError(required, name)
        return value

    if max_chars is not None:
        schema.setdefault("maxLength", max_chars)
    return Reads(read, param=param, schema=schema)


def one_of(allowed: tuple[str, ...], default: str, *, param: str | None = None) -> Reads:
    """One of ``allowed`` (``choice``): the default when absent, null or empty."""
    return Reads(lambda body, name, form: choice(body, name, allowed, default), param=param)


def flag(*, form: bool | None = None, param: str | None = None) -> Reads:
    """True or false (``optional_bool``); a form's true/1/yes/on and false/0/no/off."""
    return Reads(lambda body, name, form: optional_bool(body, name, form=form), param=param, form=form)


def number(low: float, high: float | None = None, *, form: bool | None = None) -> Reads:
    """A number from ``low`` to ``high`` (``optional_number``)."""
    bounds: dict[str, Any] = {"minimum": low} if high is None else {"minimum": low, "maximum": high}
    return Reads(
        lambda body, name, form: optional_number(body, name, low, high, form=form), form=form, schema=bounds
    )


def integer(minimum: int | None = None, *, form: bool | None = None, maximum: int | None = None) -> Reads:
    """An integer, at least ``minimum`` and at most ``maximum`` (``optional_int``)."""
    bounds = {key: value for key, value in (("minimum", minimum), ("maximum", maximum)) if value is not None}
    return Reads(
        lambda body, name, form: optional_int(body, name, minimum, form=form, maximum=maximum),
        form=form,
        schema=bounds or None,
    )


def _example_wav() -> str:
    """10 ms of silence as a 16 kHz mono WAV, in base64: a valid (and tiny) audio example."""
    frames = 160
    header = (
        b"RIFF"
        + (36 + frames * 2).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + (1).to_bytes(2, "little")
        + (16_000).to_bytes(4, "little")
        + (32_000).to_bytes(4, "little")
        + (2).to_bytes(2, "little")
        + (16).to_bytes(2, "little")
        + b"data"
        + (frames * 2).to_bytes(4, "little")
    )
    return base64.b64encode(header + bytes(frames * 2)).decode()


EXAMPLE_AUDIO_BASE64 = _example_wav()
BASE64_AUDIO: dict[str, Any] = {"contentEncoding": "base64", "contentMediaType": "audio/*"}
"""JSON schema keywords of a field carrying audio in base64 (a ``data:`` URL is accepted too)."""
