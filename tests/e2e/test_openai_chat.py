"""``POST /v1/chat/completions`` on a real ``sauti serve``, through the official ``openai`` client
and raw HTTP: answers, streams, tool calls, the strict profile's refusals, auditing, cancellation.

Outputs stay short: the bundled Qwen2.5-Coder 0.5B makes some 10-20 tokens a second here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.chat_tools import GET_WEATHER
from tests.e2e.conftest import (
    SautiServer,
    event_types,
    iter_sse,
    wait_for_terminal,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

QWEN = "Qwen2.5-Coder-0.5B-Instruct-GGUF"
CHAT = "/v1/chat/completions"
WEATHER_QUESTION = [{"role": "user", "content": "What is the weather in Paris right now?"}]
SLOW = httpx.Timeout(10.0, read=180.0)


def openai_client(server: SautiServer) -> OpenAI:
    return server.openai_client(timeout=180.0)


def stream_id_of(completion_id: str) -> str:
    assert completion_id.startswith("chatcmpl-"), completion_id
    return "chat-" + completion_id.removeprefix("chatcmpl-")


def audited(api: httpx.Client, completion_id: str) -> list[dict[str, Any]]:
    """The call's events, read the way a client audits it: ``/v1/events?stream=chat-<id>``."""
    stream_id = stream_id_of(completion_id)
    wait_for_terminal(api, stream_id)
    response = api.get("/v1/events", params={"stream": stream_id, "limit": 500})
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


def completed_result(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events[-1]["type"] == "chat.completed", events[-1]
    return dict(events[-1]["data"]["result"])


def assert_error(response: httpx.Response, status: int, param: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == str(status)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    return dict(error)


# --- the official client -----------------------------------------------------------------


def test_a_completion_through_the_openai_client_is_audited(
    sauti_server: SautiServer, api: httpx.Client
) -> None:
    completion = openai_client(sauti_server).chat.completions.create(
        model=QWEN,
        messages=[
            {"role": "system", "content": "You are concise."},
            {"role": "user", "content": "Say hello."},
        ],
        max_tokens=12,
        temperature=0,
    )
    assert completion.object == "chat.completion"
    assert completion.model == QWEN
    assert abs(completion.created - time.time()) < 300
    [choice] = completion.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.message.tool_calls is None
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 5
    assert 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    events = audited(api, completion.id)
    types = event_types(events)
    assert types[:3] == ["chat.requested", "chat.queued", "chat.started"]
    assert "chat.text_generated" in types
    requested = events[0]["data"]["params"]
    assert requested["max_tokens"] == 12
    assert requested["messages"][1] == {"role": "user", "content": "Say hello."}
    assert completed_result(events)["content"] == choice.message.content


def test_a_stream_through_the_openai_client_ends_with_usage(
    sauti_server: SautiServer, api: httpx.Client
) -> None:
    chunks = list(
        openai_client(sauti_server).chat.completions.create(
            model=QWEN,
            messages=[{"role": "user", "content": "Count from 1 to 5, separated by spaces."}],
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) >= 2, "content should arrive in pieces"
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    finish = chunks[-2].choices[0]
    assert finish.finish_reason in ("stop", "length")
    assert finish.delta.content is None
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert 0 < last.usage.completion_tokens <= 12
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens

    result = completed_result(audited(api, chunks[0].id))
    assert text == result["text"]
    assert "1" in text


def test_the_model_calls_a_tool_and_answers_from_its_result(sauti_server: SautiServer) -> None:
    client = openai_client(sauti_server)
    first = client.chat.completions.create(
        model=QWEN, messages=WEATHER_QUESTION, tools=[GET_WEATHER], max_tokens=60, temperature=0
    )
    [choice] = first.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] == "Paris"

    follow_up = client.chat.completions.create(
        model=QWEN,
        messages=[
            *WEATHER_QUESTION,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": json.dumps({"temperature_c": 21, "sky": "sunny"}),
            },
        ],
        tools=[GET_WEATHER],
        max_tokens=40,
        temperature=0,
    )
    [answer] = follow_up.choices
    assert answer.finish_reason in ("stop", "length")
    assert answer.message.tool_calls is None
    assert answer.message.content
    assert "21" in answer.message.content


def test_a_streamed_tool_call_never_shows_as_content(sauti_server: SautiServer) -> None:
    chunks = list(
        openai_client(sauti_server).chat.completions.create(
            model=QWEN,
            messages=WEATHER_QUESTION,
            tools=[GET_WEATHER],
            max_tokens=60,
            temperature=0,
            stream=True,
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(not c.choices[0].delta.content for c in chunks)
    calls = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or []]
    assert len(calls) == 1
    assert calls[0].index == 0
    assert calls[0].id is not None and calls[0].id.startswith("call_")
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "")["city"] == "Paris"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


# --- raw HTTP ----------------------------------------------------------------------------


def test_the_sse_stream_ends_with_done(api: httpx.Client) -> None:
    body = {
        "model": QWEN,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4,
        "temperature": 0,
        "stream": True,
    }
    with api.stream("POST", CHAT, json=body, timeout=SLOW) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = list(iter_sse(response))
    assert frames[-1].data == "[DONE]"
    chunks = [frame.json() for frame in frames[:-1]]
    assert chunks[0]["choices"] == [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "length"}
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert all("usage" not in chunk for chunk in chunks)  # not asked for


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"stop": ["\n"]}, "stop"),
        (
            {
                "tools": [GET_WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            },
            "tool_choice",
        ),
        ({"tools": [GET_WEATHER], "tool_choice": "required"}, "tool_choice"),
        ({"n": 2}, "n"),
        ({"model": "No-Such-Model"}, "model"),
        ({"model": None}, "model"),
        ({"messages": [{"role": "robot", "content": "Hi"}]}, "messages"),
        ({"messages": []}, "messages"),
        ({"temperature": "warm"}, "temperature"),
    ],
)
def test_the_strict_profile_refuses_with_the_envelope(
    api: httpx.Client, extra: dict[str, Any], param: str
) -> None:
    body = {"model": QWEN, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, **extra}
    response = api.post(CHAT, json={k: v for k, v in body.items() if v is not None})
    assert_error(response, 400, param)


def test_an_image_part_is_refused_naming_the_model(api: httpx.Client) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    body = {
        "model": QWEN,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, image]}],
    }
    error = assert_error(api.post(CHAT, json=body), 400, "messages")
    assert QWEN in error["message"]
    assert "image" in error["message"]


def test_a_body_that_is_not_json_is_415(api: httpx.Client) -> None:
    response = api.post(
        CHAT, content=b"model=x", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "415"


def test_a_client_that_disconnects_cancels_the_generation(api: httpx.Client) -> None:
    body = {
        "model": QWEN,
        "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
        "max_tokens": 300,
        "stream": True,
    }
    completion_id = None
    with api.stream("POST", CHAT, json=body, timeout=SLOW) as response:
        for frame in iter_sse(response):
            chunk = frame.json()
            completion_id = chunk["id"]
            if chunk["choices"][0]["delta"].get("content"):
                break  # hang up after the first words
    assert completion_id is not None
    events = wait_for_terminal(api, stream_id_of(completion_id), timeout=30)
    types = event_types(events)
    assert types[-1] == "chat.cancelled"
    assert "chat.cancel_requested" in types
    text = "".join(e["data"]["text"] for e in events if e["type"] == "chat.text_generated")
    assert len(text) < 300


# --- the relaxed profile (one server for all of it: starting one costs seconds) -----------


def test_the_relaxed_profile(server_factory: Callable[..., SautiServer]) -> None:
    server = server_factory(env={"SAUTI_OPENAI_COMPAT_PROFILE": "relaxed"})
    forced_tool_call(openai_client(server))
    stop_and_frequency_penalty(openai_client(server))
    with server.client() as raw:
        unknown_forced_tool(raw)
        error_during_a_stream(raw, openai_client(server))


def forced_tool_call(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model=QWEN,
        messages=[{"role": "user", "content": "Tell me a joke about cats."}],
        tools=[GET_WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=60,
        temperature=0,
    )
    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert set(arguments) == {"city", "unit"}
    assert isinstance(arguments["city"], str)
    assert arguments["unit"] in ("celsius", "fahrenheit")


def stop_and_frequency_penalty(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model=QWEN,
        messages=[{"role": "user", "content": "Count from 1 to 9, separated by commas."}],
        max_tokens=30,
        temperature=0,
        frequency_penalty=0.2,
        stop=["4"],
    )
    content = completion.choices[0].message.content or ""
    assert "3" in content
    assert "4" not in content
    assert completion.choices[0].finish_reason == "stop"


def unknown_forced_tool(raw: httpx.Client) -> None:
    body = {
        "model": QWEN,
        "messages": WEATHER_QUESTION,
        "tools": [GET_WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_time"}},
    }
    assert "get_time" in assert_error(raw.post(CHAT, json=body), 400, "tool_choice")["message"]


def error_during_a_stream(raw: httpx.Client, client: OpenAI) -> None:
    # Valid JSON schema, yet no grammar can express it: the worker fails the job as bad input.
    odd = {
        "type": "function",
        "function": {
            "name": "odd",
            "parameters": {"type": "object", "properties": {"x": {"type": "quaternion"}}},
        },
    }
    body = {"model": QWEN, "messages": WEATHER_QUESTION, "tools": [odd], "tool_choice": "required"}
    with raw.stream("POST", CHAT, json={**body, "stream": True}, timeout=SLOW) as response:
        assert response.status_code == 200
        frames = list(iter_sse(response))
    assert frames[0].json()["choices"][0]["delta"] == {"role": "assistant"}
    assert frames[-1].data == "[DONE]"
    error = frames[-2].json()["error"]
    assert (error["code"], error["type"], error["param"]) == ("400", "invalid_request_error", "tools")
    assert "grammar" in error["message"]
    # Without a stream, the same failure is a plain 400.
    assert_error(raw.post(CHAT, json=body, timeout=SLOW), 400, "tools")
    # The official client raises on the error frame.
    with pytest.raises(openai.APIError, match="grammar"):
        list(client.chat.completions.create(**body, stream=True))
