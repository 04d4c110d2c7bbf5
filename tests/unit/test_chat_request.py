"""Chat request checks: the strict and relaxed profiles, messages, tools, and what reaches the actor."""

from __future__ import annotations

from typing import Any

import pytest

from app.http.errors import ApiError
from app.routes.chat.requests import (
    FieldNames,
    generation_params,
    normalize_messages,
    parse_chat_request,
    tool_params,
)
from domain.catalog import ModelVariant, find_variant
from domain.fields import FieldError

QWEN = "Qwen2.5-Coder-0.5B-Instruct-GGUF"
USER = [{"role": "user", "content": "Hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def qwen() -> ModelVariant:
    variant = find_variant(QWEN)
    assert variant is not None
    return variant


def refused(call: Any, *args: Any, **kwargs: Any) -> ApiError:
    """The error as the HTTP layer answers it."""
    with pytest.raises(FieldError) as raised:
        call(*args, **kwargs)
    error = ApiError.from_field_error(raised.value)
    assert error.status == 400
    assert error.error_type == "invalid_request_error"
    return error


def test_a_full_request_becomes_the_actor_params(qwen: ModelVariant) -> None:
    body = {
        "model": QWEN,
        "messages": [{"role": "system", "content": "Be brief."}, *USER],
        "max_tokens": 50,
        "temperature": 0,
        "top_p": 0.9,
        "presence_penalty": 0.5,
        "frequency_penalty": 0,
        "seed": 7,
        "stop": [],
        "n": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "me",
        "enable_thinking": True,
    }
    request = parse_chat_request(body, qwen, "strict")
    assert request.stream is True
    assert request.include_usage is True
    assert request.params == {
        "model": QWEN,
        "messages": [{"role": "system", "content": "Be brief."}, *USER],
        "max_tokens": 50,
        "temperature": 0.0,
        "top_p": 0.9,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.0,
        "seed": 7,
        "user": "me",
        "enable_thinking": True,
    }


def test_max_completion_tokens_wins_over_max_tokens(qwen: ModelVariant) -> None:
    params = generation_params(
        {"messages": USER, "max_tokens": 9, "max_completion_tokens": 5}, qwen, "strict"
    )
    assert params["max_tokens"] == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("frequency_penalty", 0.5),
        ("stop", "END"),
        ("stop", ["a", "b"]),
        ("tool_choice", "required"),
        ("tool_choice", {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_strict_refuses_what_it_cannot_honour(qwen: ModelVariant, field: str, value: Any) -> None:
    body = {"messages": USER, "tools": [WEATHER], field: value}
    error = refused(generation_params, body, qwen, "strict")
    assert error.param == field
    assert "SAUTI_OPENAI_COMPAT_PROFILE=relaxed" in error.message


def test_relaxed_passes_them_to_the_runtime(qwen: ModelVariant) -> None:
    body = {
        "messages": USER,
        "frequency_penalty": 0.5,
        "stop": "END",
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    params = generation_params(body, qwen, "relaxed")
    assert params["frequency_penalty"] == 0.5
    assert params["stop"] == ["END"]
    assert params["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert params["tools"] == [WEATHER]


def test_strict_accepts_the_default_values(qwen: ModelVariant) -> None:
    body = {"messages": USER, "frequency_penalty": None, "stop": None, "tool_choice": None}
    assert generation_params(body, qwen, "strict") == {"model": QWEN, "messages": USER}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"n": "1"}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": True}, "max_completion_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"presence_penalty": -3}, "presence_penalty"),
        ({"seed": 1.5}, "seed"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": []}, "stream_options"),
        ({"stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
        ({"user": 5}, "user"),
        ({"enable_thinking": "on"}, "enable_thinking"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "has space"}}]}, "tools"),
        ({"tools": [{"type": "retrieval"}]}, "tools"),
        ({"tools": [WEATHER, WEATHER]}, "tools"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": []}, "messages"),
        ({"messages": "Hi"}, "messages"),
        ({"messages": [{"role": "robot", "content": "Hi"}]}, "messages"),
        ({"messages": [{"role": "user"}]}, "messages"),
        ({"messages": [{"role": "tool", "content": "20C"}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "hologram"}]}]}, "messages"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "x"}]}]}, "messages"),
    ],
)
def test_field_types_are_checked(qwen: ModelVariant, body: dict[str, Any], param: str) -> None:
    error = refused(parse_chat_request, {"messages": USER, **body}, qwen, "relaxed")
    assert error.param == param


def test_relaxed_checks_the_forced_choice_against_the_tools(qwen: ModelVariant) -> None:
    error = refused(tool_params, [WEATHER], {"type": "function", "function": {"name": "get_time"}}, "relaxed")
    assert error.param == "tool_choice"
    assert "get_time" in error.message
    assert refused(tool_params, None, "required", "relaxed").param == "tool_choice"


def test_tool_choice_defaults_and_none(qwen: ModelVariant) -> None:
    assert tool_params([WEATHER], None, "strict") == {"tools": [WEATHER], "tool_choice": "auto"}
    # With none, the tools are not rendered at all.
    assert tool_params([WEATHER], "none", "strict") == {"tool_choice": "none"}
    assert tool_params(None, None, "strict") == {}


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "input_image", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}},
        {"type": "file", "file": {"file_id": "f"}},
    ],
)
def test_media_parts_on_a_text_only_model_name_the_model(qwen: ModelVariant, part: dict[str, Any]) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "Describe this."}, part]}]
    error = refused(normalize_messages, messages, qwen)
    assert error.param == "messages"
    assert QWEN in error.message
    assert "it reads text only" in error.message


def test_text_parts_are_kept(qwen: ModelVariant) -> None:
    messages = [
        {"role": "user", "content": [{"type": "input_text", "text": "Hi"}, {"type": "text", "text": "!"}]}
    ]
    assert normalize_messages(messages, qwen) == messages


def test_a_tool_round_trip_is_shaped_for_the_chat_template(qwen: ModelVariant) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
    ]
    assert normalize_messages(messages, qwen) == [
        *USER,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        {"role": "tool", "content": '{"temp_c": 21}', "tool_call_id": "call_1"},
    ]


def test_malformed_arguments_sent_back_stay_a_string(qwen: ModelVariant) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
    messages = normalize_messages([{"role": "assistant", "content": "", "tool_calls": [call]}], qwen)
    assert messages[0]["tool_calls"][0]["function"]["arguments"] == "{oops"


def test_the_responses_route_can_name_its_own_fields(qwen: ModelVariant) -> None:
    fields = FieldNames(max_tokens=("max_output_tokens",), sampling=("temperature", "top_p"))
    body = {"max_output_tokens": 12, "max_tokens": 99, "temperature": 0.2, "stop": "x", "tools": [WEATHER]}
    params = generation_params(body, qwen, "strict", messages=USER, fields=fields)
    assert params == {
        "model": QWEN,
        "messages": USER,
        "max_tokens": 12,
        "temperature": 0.2,
        "tools": [WEATHER],
        "tool_choice": "auto",
    }
