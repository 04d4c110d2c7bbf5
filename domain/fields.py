"""Request fields read one at a time: the typed readers every request parser shares.

Pure. A reader returns None for a field that is absent or null, and raises ``FieldError``
naming the field when its value has the wrong type or lies out of range (the HTTP layer
answers a 400 with that ``param``).

JSON bodies carry typed values and are read as they are. Multipart forms carry only strings,
so with ``form=True`` a reader also takes the spellings a form sends: numbers as text, booleans
as true/1/yes/on or false/0/no/off, and an empty string for a field left blank.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

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
    body: Mapping[str, Any], name: str, minimum: int | None = None, *, form: bool = False
) -> int | None:
    number = _number_field(body, name, int, form=form)
    if number is not None and minimum is not None and number < minimum:
        raise _must_be(name, f"at least {minimum}")
    return number
