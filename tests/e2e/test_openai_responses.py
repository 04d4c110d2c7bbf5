"""``/v1/responses`` through a real server and real workers on the bundled chat model: the official
``openai`` client, raw HTTP and SSE, cancellation, ``store: false``, and durability across a
restart."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.e2e.conftest import (
    SautiServer,
    SSEFrame,
    event_types,
    iter_sse,
    stream_events,
    wait_for_terminal,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MODEL = "Qwen2.5-Coder-0.5B-Instruct-GGUF"
GENERATION_TIMEOUT = httpx.Timeout(180.0, connect=10.0)
CONTRACT_PREFIX = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
]
CONTRACT_SUFFIX = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
FINISHED = ("response.completed", "response.incomplete")
LONG_PROMPT = (
    "Write a very long, detailed story about a lighthouse keeper who finds a map in a bottle. "
    "Describe every room of the lighthouse, every person in the village, and every step of the journey."
)


def sdk(server: SautiServer) -> OpenAI:
    return server.openai_client(timeout=180.0)


@pytest.fixture(scope="module")
def client(sauti_server: SautiServer) -> Iterator[OpenAI]:
    with sdk(sauti_server) as openai_client:
        yield openai_client


def expect_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == str(status) and error["message"]
    if param is not None:
        assert error["param"] == param, error
    return dict(error)


def sse_frames(api: httpx.Client, body: dict[str, Any]) -> list[SSEFrame]:
    with api.stream("POST", "/v1/responses", json=body, timeout=GENERATION_TIMEOUT) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(iter_sse(response))


def assert_contract_sequence(kinds: list[str]) -> None:
    assert kinds[: len(CONTRACT_PREFIX)] == CONTRACT_PREFIX, kinds
    deltas = kinds[len(CONTRACT_PREFIX) - 1 :].count("response.output_text.delta")
    body = len(CONTRACT_PREFIX) - 1 + deltas
    assert kinds[len(CONTRACT_PREFIX) - 1 : body] == ["response.output_text.delta"] * deltas
    assert kinds[body:-1] == CONTRACT_SUFFIX, kinds
    assert kinds[-1] in FINISHED


# --- the official client ----------------------------------------------------------------------


def test_create_retrieve_and_list_input_items(client: OpenAI) -> None:
    created = client.responses.create(
        model=MODEL,
        input="Say hello to Ada.",
        instructions="Answer in one short sentence.",
        max_output_tokens=16,
        metadata={"case": "sdk"},
    )
    assert created.id.startswith("resp_")
    assert created.status in ("completed", "incomplete")
    assert created.output_text.strip()
    assert created.usage is not None and 0 < created.usage.output_tokens <= 16
    assert created.usage.input_tokens > 0
    assert created.instructions == "Answer in one short sentence."
    assert created.metadata == {"case": "sdk"} and created.max_output_tokens == 16
    assert created.output[0].id.startswith("msg_")

    fetched = client.responses.retrieve(created.id)
    assert fetched.model_dump() == created.model_dump()

    items = client.responses.input_items.list(created.id)
    assert [item.type for item in items.data] == ["message"]
    message = items.data[0]
    assert message.type == "message" and message.role == "user"
    assert message.id.startswith("msg_") and message.id != created.output[0].id
    assert [part.model_dump(exclude_none=True) for part in message.content] == [
        {"type": "input_text", "text": "Say hello to Ada."}
    ]
    assert items.first_id == items.last_id == message.id and items.has_more is False


def test_delete(client: OpenAI) -> None:
    created = client.responses.create(model=MODEL, input="Say yes.", max_output_tokens=4)
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_streaming_with_the_official_client(client: OpenAI) -> None:
    with client.responses.create(
        model=MODEL,
        input="Count from one to five in words.",
        max_output_tokens=16,
        stream=True,
    ) as stream:
        events = list(stream)
    kinds = [event.type for event in events]
    assert_contract_sequence(kinds)
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    done = next(event for event in events if event.type == "response.output_text.done")
    final = events[-1]
    assert final.type in FINISHED
    assert deltas.strip() and done.text == deltas == final.response.output_text
    assert events[0].type == "response.created" and events[0].response.status == "queued"

    fetched = client.responses.retrieve(final.response.id)
    assert fetched.output_text == deltas and fetched.status == final.response.status

    # The stream is durable: replaying it gives the same events, numbered the same.
    with client.responses.retrieve(final.response.id, stream=True) as replay:
        replayed = list(replay)
    assert [e.model_dump() for e in replayed] == [e.model_dump() for e in events]
    with client.responses.retrieve(final.response.id, stream=True, starting_after=2) as resumed:
        assert [e.sequence_number for e in resumed] == list(range(3, len(events)))


# --- raw HTTP -----------------------------------------------------------------------------------


def test_raw_stream_ends_with_done(api: httpx.Client) -> None:
    frames = sse_frames(api, {"model": MODEL, "input": "Say hi.", "max_output_tokens": 8, "stream": True})
    assert frames[-1].data == "[DONE]"
    bodies = [frame.json() for frame in frames[:-1]]
    assert_contract_sequence([body["type"] for body in bodies])
    assert [frame.event for frame in frames[:-1]] == [body["type"] for body in bodies]


def test_store_false_is_not_retrievable_but_audited(api: httpx.Client) -> None:
    body = {"model": MODEL, "input": "Say ok.", "max_output_tokens": 4, "store": False}
    created = api.post("/v1/responses", json=body, timeout=GENERATION_TIMEOUT)
    assert created.status_code == 200, created.text
    response = created.json()
    assert response["store"] is False and response["status"] in ("completed", "incomplete")
    response_id = response["id"]
    for method, path in [
        ("GET", f"/v1/responses/{response_id}"),
        ("GET", f"/v1/responses/{response_id}/input_items"),
        ("DELETE", f"/v1/responses/{response_id}"),
        ("POST", f"/v1/responses/{response_id}/cancel"),
    ]:
        expect_error(api.request(method, path), 404)
    audit = api.get("/v1/events", params={"stream": f"response-{response_id}", "limit": 500})
    assert audit.status_code == 200
    kinds = [event["type"] for event in audit.json()["records"]]
    assert kinds[0] == "response.requested" and kinds[-1] == "response.completed"
    assert "response.text_generated" in kinds


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "Hi"}, "model"),
        ({"model": MODEL, "input": ""}, "input"),
        ({"model": MODEL, "input": []}, "input"),
        ({"model": "No-Such-Model", "input": "Hi"}, "model"),
        ({"model": "Whisper-Base", "input": "Hi"}, "model"),
        ({"model": MODEL, "input": "Hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": MODEL, "input": "Hi", "temperature": 5}, "temperature"),
        ({"model": MODEL, "input": "Hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": MODEL, "input": [{"role": "robot", "content": "Hi"}]}, "input[0].role"),
        ({"model": MODEL, "input": "Hi", "previous_response_id": "resp_x"}, "previous_response_id"),
    ],
)
def test_bad_requests(api: httpx.Client, body: dict[str, Any], param: str) -> None:
    expect_error(api.post("/v1/responses", json=body), 400, param)


def test_media_on_a_text_only_model_names_the_model(api: httpx.Client) -> None:
    content = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "https://example.com/cat.png"},
    ]
    body = {"model": MODEL, "input": [{"role": "user", "content": content}]}
    error = expect_error(api.post("/v1/responses", json=body), 400)
    assert MODEL in error["message"] and "image" in error["message"]


def test_empty_input_with_instructions_is_enough(api: httpx.Client) -> None:
    body = {"model": MODEL, "instructions": "Say hi.", "max_output_tokens": 4}
    response = api.post("/v1/responses", json=body, timeout=GENERATION_TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["output"][0]["content"][0]["text"]


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("DELETE", ""), ("POST", "/cancel"), ("GET", "/input_items")]
)
def test_unknown_ids_are_404(api: httpx.Client, method: str, suffix: str) -> None:
    expect_error(api.request(method, f"/v1/responses/resp_doesnotexist{suffix}"), 404)


# --- cancellation and disconnects ---------------------------------------------------------------


def _start_long_stream(
    server: SautiServer, max_output_tokens: int
) -> tuple[Callable[[], list[dict[str, Any]]], str]:
    """Start a streamed response, wait for its first delta; return a function that reads the rest."""
    events: list[dict[str, Any]] = []
    first_delta = threading.Event()
    failure: list[BaseException] = []
    body = {"model": MODEL, "input": LONG_PROMPT, "max_output_tokens": max_output_tokens, "stream": True}

    def read() -> None:
        try:
            with (
                server.client(timeout=GENERATION_TIMEOUT) as http,
                http.stream("POST", "/v1/responses", json=body) as response,
            ):
                for frame in iter_sse(response):
                    events.append({"type": "[DONE]"} if frame.data == "[DONE]" else frame.json())
                    if events[-1]["type"] == "response.output_text.delta":
                        first_delta.set()
        except BaseException as error:
            failure.append(error)
        finally:
            first_delta.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first_delta.wait(120), "no delta within 120s"
    assert not failure, failure
    response_id = str(events[0]["response"]["id"])

    def rest() -> list[dict[str, Any]]:
        reader.join(120)
        assert not reader.is_alive(), "the stream did not end"
        assert not failure, failure
        return events

    return rest, response_id


def test_cancel_stops_an_in_flight_response(sauti_server: SautiServer, api: httpx.Client) -> None:
    rest, response_id = _start_long_stream(sauti_server, 400)
    cancelled = api.post(f"/v1/responses/{response_id}/cancel", timeout=GENERATION_TIMEOUT)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled" and body["usage"] is None

    events = rest()
    assert [event["type"] for event in events[-2:]] == ["response.cancelled", "[DONE]"]
    assert events[-2]["response"]["status"] == "cancelled"
    streamed = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert body["output"][0]["content"][0]["text"].startswith(streamed)

    # Generation really stopped: nothing is generated after the cancellation, even later.
    stream_id = f"response-{response_id}"
    time.sleep(1.5)
    stored = stream_events(api, stream_id)
    kinds = event_types(stored)
    assert kinds.count("response.cancelled") == 1 and "response.completed" not in kinds
    assert "response.text_generated" not in kinds[kinds.index("response.cancelled") :]
    assert len(stored) < 400  # far fewer batches than a full answer would need

    # Cancelling again returns it unchanged; so does GET.
    again = api.post(f"/v1/responses/{response_id}/cancel")
    assert again.status_code == 200 and again.json() == body
    assert api.get(f"/v1/responses/{response_id}").json() == body


def test_a_disconnect_does_not_cancel_a_stored_response(sauti_server: SautiServer, api: httpx.Client) -> None:
    body = {"model": MODEL, "input": "Name three colours.", "max_output_tokens": 12, "stream": True}
    with (
        sauti_server.client(timeout=GENERATION_TIMEOUT) as http,
        http.stream("POST", "/v1/responses", json=body) as response,
    ):
        first = next(iter_sse(response)).json()
    response_id = first["response"]["id"]
    wait_for_terminal(api, f"response-{response_id}", timeout=120)
    fetched = api.get(f"/v1/responses/{response_id}").json()
    assert fetched["status"] in ("completed", "incomplete"), fetched
    assert fetched["output"][0]["content"][0]["text"]


# --- durability ---------------------------------------------------------------------------------


def test_a_response_survives_a_restart(server_factory: Callable[..., SautiServer], tmp_path: Path) -> None:
    data_dir = tmp_path / "durable"
    first = server_factory(data_dir)
    with sdk(first) as before:
        created = before.responses.create(model=MODEL, input="Say hello.", max_output_tokens=6)
    first.stop_and_check()

    second = server_factory(data_dir)
    with sdk(second) as after:
        fetched = after.responses.retrieve(created.id)
        items = after.responses.input_items.list(created.id)
    assert fetched.model_dump() == created.model_dump()
    assert fetched.output_text and fetched.output_text == created.output_text
    assert [item.type for item in items.data] == ["message"]


# --- tools ----------------------------------------------------------------------------------------

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


def test_strict_profile_refuses_a_forced_tool_choice(api: httpx.Client) -> None:
    body = {
        "model": MODEL,
        "input": "Weather in Paris?",
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "name": "get_weather"},
    }
    expect_error(api.post("/v1/responses", json=body), 400, "tool_choice")


def test_a_tool_call_round_trip(server_factory: Callable[..., SautiServer]) -> None:
    server = server_factory(env={"SAUTI_OPENAI_COMPAT_PROFILE": "relaxed"})
    question = {"role": "user", "content": "What is the weather in Paris?"}
    with sdk(server) as client:
        called = client.responses.create(
            model=MODEL,
            input=[question],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            tool_choice={"type": "function", "name": "get_weather"},
            max_output_tokens=64,
        )
        assert [item.type for item in called.output] == ["function_call"], called.output
        call = called.output[0]
        assert call.type == "function_call" and call.name == "get_weather"
        assert call.call_id and call.id and call.id.startswith("fc_")
        assert "city" in json.loads(call.arguments)
        assert client.responses.retrieve(called.id).model_dump() == called.model_dump()

        answer = client.responses.create(
            model=MODEL,
            input=[
                question,
                {
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21 C"},
            ],
            tools=[WEATHER_TOOL],  # type: ignore[list-item]
            tool_choice="none",
            max_output_tokens=16,
        )
        assert answer.output_text.strip()
        items = client.responses.input_items.list(answer.id, order="asc")
    assert [item.type for item in items.data] == ["message", "function_call", "function_call_output"]
    assert items.data[2].type == "function_call_output" and items.data[2].call_id == call.call_id
