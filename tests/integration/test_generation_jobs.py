"""The text generation actor on the real embedded broker with the real Qwen2.5-Coder 0.5B model:
deltas as events, usage, tool calls (model-chosen and forced by a grammar), cancellation and
redelivery. The model loads once for the session (the shared ``engines`` registry)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import dramatiq
import pytest

from app.bootstrap import Container
from app.settings import Settings
from domain.generation import CHAT, TextGenerated
from eventstore.base import RecordedEvent, StoreTransaction
from tests.chat_tools import GET_WEATHER
from tests.integration.conftest import wait_for_terminal
from workers.dispatch import BrokerDispatcher
from workflows.jobs import JobRun, JobService

pytestmark = pytest.mark.usefixtures("runtime")

QWEN = "Qwen2.5-Coder-0.5B-Instruct-GGUF"
GENERATION_TIMEOUT = 120.0
CLOCK = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The current time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    },
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No retries: a failed generation is the outcome under test, not something to try again."""
    return settings.model_copy(update={"job_max_retries": 0})


@pytest.fixture(autouse=True)
def running_worker(worker: Callable[[], dramatiq.Worker]) -> dramatiq.Worker:
    """Every test here submits its jobs to a running worker."""
    return worker()


def generate(container: Container, **params: Any) -> tuple[dict[str, Any], list[RecordedEvent]]:
    stream_id = container.jobs.submit(CHAT, {"model": QWEN, "temperature": 0, **params})
    events = wait_for_terminal(container, stream_id, GENERATION_TIMEOUT)
    assert events[-1].type == "chat.completed", events[-1].data
    return events[-1].data["result"], events


def deltas(events: list[RecordedEvent]) -> list[str]:
    return [e.data["text"] for e in events if e.type == "chat.text_generated"]


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def assert_matches_schema(value: Any, schema: dict[str, Any]) -> None:
    """The JSON-schema subset the tool schemas here use: types, properties, required, enum."""
    kinds = {"object": dict, "string": str, "array": list, "boolean": bool, "integer": int}
    if "enum" in schema:
        assert value in schema["enum"], (value, schema)
    if "type" in schema:
        assert isinstance(value, kinds[schema["type"]]), (value, schema)
    if schema.get("type") == "object":
        properties = schema.get("properties", {})
        assert set(schema.get("required", [])) <= set(value), (value, schema)
        assert set(value) <= set(properties), (value, schema)
        for key, item in value.items():
            assert_matches_schema(item, properties[key])


def test_text_arrives_as_batched_deltas_and_the_result_has_usage(container: Container) -> None:
    result, events = generate(
        container, messages=ask("Count from 1 to 10, separated by spaces."), max_tokens=24
    )
    types = [e.type for e in events]
    assert types[:3] == ["chat.requested", "chat.queued", "chat.started"]
    pieces = deltas(events)
    assert len(pieces) >= 2, "deltas should be recorded while generating, not once at the end"
    sequences = [e.data["sequence"] for e in events if e.type == "chat.text_generated"]
    assert sequences == list(range(len(pieces)))
    assert "".join(pieces) == result["text"] == result["content"]
    assert "1 2 3" in result["text"]
    assert result["tool_calls"] == []
    assert result["finish_reason"] in ("stop", "length")
    usage = result["usage"]
    assert usage["prompt_tokens"] > 10
    assert 0 < usage["completion_tokens"] <= 24
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert result["model"] == QWEN
    assert result["time_to_first_token_ms"] > 0
    assert result["tokens_per_second"] > 0


def test_a_model_chosen_tool_call_is_parsed_and_never_recorded_as_content(container: Container) -> None:
    result, events = generate(
        container, messages=ask("What is the weather in Paris right now?"), tools=[GET_WEATHER], max_tokens=60
    )
    assert result["finish_reason"] == "tool_calls"
    [call] = result["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"])["city"] == "Paris"
    assert "get_weather" in result["text"]
    assert result["content"] == ""
    assert "".join(deltas(events)) == ""


def test_tool_choice_none_renders_no_tools(container: Container) -> None:
    result, _events = generate(
        container,
        messages=ask("What is the weather in Paris right now?"),
        tools=[GET_WEATHER],
        tool_choice="none",
        max_tokens=24,
    )
    assert result["tool_calls"] == []
    assert result["finish_reason"] in ("stop", "length")
    assert result["content"] == result["text"] != ""


def test_a_forced_tool_choice_always_yields_a_valid_call(container: Container) -> None:
    result, events = generate(
        container,
        messages=ask("Tell me a joke about cats."),
        tools=[GET_WEATHER, CLOCK],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=80,
    )
    assert result["finish_reason"] == "tool_calls"
    [call] = result["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert_matches_schema(json.loads(call["function"]["arguments"]), GET_WEATHER["function"]["parameters"])
    assert deltas(events) == []


def test_required_calls_one_of_the_tools(container: Container) -> None:
    result, _events = generate(
        container,
        messages=ask("What time is it in Tokyo?"),
        tools=[GET_WEATHER, CLOCK],
        tool_choice="required",
        max_tokens=80,
    )
    [call] = result["tool_calls"]
    tool = {"get_weather": GET_WEATHER, "get_time": CLOCK}[call["function"]["name"]]
    assert_matches_schema(json.loads(call["function"]["arguments"]), tool["function"]["parameters"])


def test_a_forced_choice_naming_no_tool_fails_as_bad_input(container: Container) -> None:
    stream_id = container.jobs.submit(
        CHAT,
        {
            "model": QWEN,
            "messages": ask("Hi"),
            "tools": [GET_WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "launch"}},
        },
    )
    failed = wait_for_terminal(container, stream_id, GENERATION_TIMEOUT)[-1]
    assert failed.type == "chat.failed"
    assert failed.data["error_type"] == "invalid_request_error"
    assert failed.data["param"] == "tool_choice"


def test_a_cancel_stops_generation_quickly(container: Container) -> None:
    stream_id = container.jobs.submit(
        CHAT,
        {"model": QWEN, "messages": ask("Write a long story about a lighthouse keeper."), "max_tokens": 400},
    )
    deadline = time.monotonic() + 60
    while not any(e.type == "chat.text_generated" for e in container.store.read_stream(stream_id)):
        assert time.monotonic() < deadline, "no text was generated"
        time.sleep(0.02)
    asked = time.monotonic()
    container.jobs.request_cancel(stream_id, "the client disconnected")
    events = wait_for_terminal(container, stream_id, timeout=10)
    assert time.monotonic() - asked < 5.0  # a token or two on a busy machine, not the whole story
    assert events[-1].type == "chat.cancelled"
    assert "chat.completed" not in [e.type for e in events]
    # Generation really stopped: far fewer than the 400 tokens asked for were produced.
    assert len("".join(deltas(events))) < 400


class HeldDispatcher:
    """Records the job without sending its message, so a test can stage a dead first attempt."""

    def __init__(self) -> None:
        self.held: list[tuple[str, str, str]] = []

    def dispatch(self, tx: StoreTransaction, actor_name: str, stream_id: str, message_id: str) -> None:
        self.held.append((actor_name, stream_id, message_id))


def test_a_redelivery_after_partial_output_fails_visibly(container: Container) -> None:
    held = HeldDispatcher()
    stream_id = JobService(container.store, held).submit(CHAT, {"model": QWEN, "messages": ask("Hi")})
    # A first attempt that recorded some text, then its worker died.
    dead = JobRun(container.store, stream_id, message_id=held.held[0][2], worker="dead-worker")
    assert dead.begin()
    dead.append(TextGenerated(sequence=0, text="Hello! How can"), 0)
    with container.store.transaction() as tx:
        BrokerDispatcher(container.broker).dispatch(tx, *held.held[0])
    events = wait_for_terminal(container, stream_id, timeout=30)
    types = [e.type for e in events]
    assert types[-1] == "chat.failed"
    second_start = max(i for i, kind in enumerate(types) if kind == "chat.started")
    assert types.count("chat.started") == 2
    assert types.index("chat.text_generated") < second_start
    assert events[-1].data["error_type"] == "runtime_error"
    assert "stopped in the middle" in events[-1].data["error"]
    assert deltas(events) == ["Hello! How can"]  # no second, different continuation
