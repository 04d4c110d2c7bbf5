"""The shared request field readers: JSON values, a form's spellings, and the 400 they become."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart, request

from app.http.errors import register_error_handlers
from domain.fields import FieldError, choice, optional_bool, optional_int, optional_number, optional_str


def refused(call: Any, *args: Any, **kwargs: Any) -> FieldError:
    with pytest.raises(FieldError) as raised:
        call(*args, **kwargs)
    return raised.value


def test_absent_and_null_fields_are_none() -> None:
    for body in ({}, {"x": None}):
        assert optional_str(body, "x") is None
        assert optional_bool(body, "x") is None
        assert optional_number(body, "x", 0.0, 1.0) is None
        assert optional_int(body, "x") is None
        assert choice(body, "x", ("a", "b"), "a") == "a"


def test_strings() -> None:
    assert optional_str({"x": "  hi "}, "x") == "  hi "
    assert optional_str({"x": "  hi "}, "x", strip=True) == "hi"
    assert optional_str({"x": "   "}, "x", strip=True) is None
    error = refused(optional_str, {"voice": 3}, "voice")
    assert (error.param, error.message) == ("voice", "`voice` must be a string.")


def test_choices() -> None:
    assert choice({"fmt": ""}, "fmt", ("json", "text"), "json") == "json"
    assert choice({"fmt": "text"}, "fmt", ("json", "text"), "json") == "text"
    error = refused(choice, {"fmt": "docx"}, "fmt", ("json", "text"), "json")
    assert error.param == "fmt" and "'docx'" in error.message and "json, text" in error.message


def test_json_values_keep_their_types() -> None:
    assert optional_bool({"x": False}, "x") is False
    assert optional_number({"x": 1}, "x", 0.0, 2.0) == 1.0
    assert optional_int({"x": 3}, "x", 1) == 3
    for body, call, args in [
        ({"x": "true"}, optional_bool, ()),
        ({"x": 1}, optional_bool, ()),
        ({"x": "1"}, optional_number, (0.0, 2.0)),
        ({"x": True}, optional_number, (0.0, 2.0)),
        ({"x": float("nan")}, optional_number, (0.0, 2.0)),
        ({"x": ""}, optional_number, (0.0, 2.0)),
        ({"x": "1"}, optional_int, ()),
        ({"x": 1.0}, optional_int, ()),
        ({"x": True}, optional_int, ()),
    ]:
        assert refused(call, body, "x", *args).param == "x"


def test_form_spellings() -> None:
    for word in ("true", "1", "YES", " on ", 1):
        assert optional_bool({"x": word}, "x", form=True) is True
    for word in ("false", "0", "no", "OFF", "", 0):
        assert optional_bool({"x": word}, "x", form=True) is False
    assert optional_number({"x": "0.5"}, "x", 0.0, form=True) == 0.5
    assert optional_int({"x": "12"}, "x", 1, form=True) == 12
    assert optional_number({"x": ""}, "x", 0.0, form=True) is None
    assert optional_int({"x": ""}, "x", form=True) is None
    assert refused(optional_bool, {"x": "maybe"}, "x", form=True).message == "`x` must be true or false."
    assert refused(optional_bool, {"x": 2}, "x", form=True).param == "x"
    assert refused(optional_number, {"x": "many"}, "x", 0.0, form=True).message == "`x` must be a number."
    assert refused(optional_int, {"x": "1.5"}, "x", form=True).message == "`x` must be an integer."


def test_bounds() -> None:
    assert optional_number({"x": 2}, "x", 0.0, 2.0) == 2.0
    assert refused(optional_number, {"x": 2.5}, "x", 0.0, 2.0).message == "`x` must be between 0 and 2."
    assert refused(optional_number, {"x": "-1"}, "x", 0.0, form=True).message == "`x` must be at least 0."
    assert refused(optional_int, {"x": 0}, "x", 1).message == "`x` must be at least 1."


async def test_a_field_error_is_answered_with_the_400_envelope_naming_the_field() -> None:
    app = Quart(__name__)
    register_error_handlers(app)

    @app.post("/speak")
    async def speak() -> dict[str, Any]:
        return {"speed": optional_number(await request.get_json(), "speed", 0.25, 4.0)}

    response = await app.test_client().post("/speak", json={"speed": 9})
    assert response.status_code == 400
    assert await response.get_json() == {
        "error": {
            "message": "`speed` must be between 0.25 and 4.",
            "type": "invalid_request_error",
            "param": "speed",
            "code": "400",
        }
    }
