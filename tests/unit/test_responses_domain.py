"""Responses, pure: request input → items and chat messages, the record fold, the stream sequence.

Shapes are checked against the official ``openai`` package's own models (strict validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from openai.types.responses import Response, ResponseItem, ResponseStreamEvent
from pydantic import TypeAdapter

from domain.events import DomainEvent
from domain.fields import FieldError
from domain.generation import TextGenerated
from domain.jobs import (
    JobCancelled,
    JobCancelRequested,
    JobCompleted,
    JobFailed,
    JobQueued,
    JobRequested,
    JobStarted,
)
from domain.responses import (
    CATEGORY,
    ResponseDeleted,
    ResponseStream,
    chat_messages,
    chat_tool_choice,
    chat_tools,
    fold,
    function_tools,
    message_id,
    new_response_id,
    normalize_input,
    page_items,
    response_object,
)

RESPONSE_ID = "resp_0123456789abcdef0123456789abcdef"
STREAM_EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
ITEMS: TypeAdapter[Any] = TypeAdapter(ResponseItem)


@dataclass(frozen=True)
class Stored:
    type: str
    data: dict[str, Any]
    recorded_at: float


def stored(event: DomainEvent, at: float = 1_700_000_000.0) -> Stored:
    return Stored(event.type_for(CATEGORY), event.payload(), at)


def requested(**record: Any) -> list[Stored]:
    record = {
        "instructions": "Be brief.",
        "input": normalize_input("Say hi.", RESPONSE_ID),
        "max_output_tokens": 16,
        "metadata": {"k": "v"},
        "store": True,
        "tools": [],
        "tool_choice": "auto",
        **record,
    }
    params = {"model": "Qwen2.5-Coder-0.5B-Instruct-GGUF", "messages": [], "record": record}
    return [
        stored(JobRequested(job_id=RESPONSE_ID, params=params)),
        stored(JobQueued(actor="generate_text", message_id="m1")),
    ]


def started() -> list[Stored]:
    return [stored(JobStarted(attempt=1, worker="w1"), 1_700_000_001.0)]


def texts(*pieces: str) -> list[Stored]:
    return [stored(TextGenerated(sequence=i, text=piece)) for i, piece in enumerate(pieces)]


def completed(text: str, finish_reason: str = "stop", **extra: Any) -> list[Stored]:
    result = {
        "model": "Qwen2.5-Coder-0.5B-Instruct-GGUF",
        "text": text,
        "content": text,
        "tool_calls": [],
        "finish_reason": finish_reason,
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        **extra,
    }
    return [stored(JobCompleted(result=result), 1_700_000_002.0)]


def validated(body: dict[str, Any]) -> Response:
    return Response.model_validate(body, strict=False)


# --- input ---------------------------------------------------------------------------------


def test_a_string_input_is_one_user_message_with_a_stable_id() -> None:
    items = normalize_input("Hello", RESPONSE_ID)
    assert items == [
        {
            "type": "message",
            "id": items[0]["id"],
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": "Hello"}],
        }
    ]
    assert items[0]["id"].startswith("msg_")
    assert normalize_input("Hello", RESPONSE_ID) == items
    assert normalize_input("Hello", new_response_id())[0]["id"] != items[0]["id"]
    ITEMS.validate_python(items[0])


def test_items_of_every_kind_are_normalised() -> None:
    items = normalize_input(
        [
            {"role": "developer", "content": [{"type": "text", "text": "Rules."}]},
            {"type": "message", "role": "user", "content": "Weather?", "id": "msg_given"},
            {"role": "assistant", "content": "Checking."},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ],
        RESPONSE_ID,
    )
    assert [item["type"] for item in items] == [
        "message",
        "message",
        "message",
        "function_call",
        "function_call_output",
    ]
    assert items[0]["content"] == [{"type": "input_text", "text": "Rules."}]
    assert items[1]["id"] == "msg_given"
    assert items[2]["content"] == [{"type": "output_text", "text": "Checking.", "annotations": []}]
    assert items[3]["id"].startswith("fc_") and items[4]["output"] == "sunny"
    assert len({item["id"] for item in items}) == 5
    for item in items:
        ITEMS.validate_python(item)

    assert chat_messages("Be brief.", items) == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]


def test_a_function_call_without_an_assistant_message_starts_one_and_media_parts_are_kept() -> None:
    image = {"type": "input_image", "image_url": "https://example.com/a.png"}
    items = normalize_input(
        [
            {"role": "user", "content": [{"type": "input_text", "text": "Look"}, image]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        ],
        RESPONSE_ID,
    )
    messages = chat_messages(None, items)
    assert messages[0] == {"role": "user", "content": [{"type": "input_text", "text": "Look"}, image]}
    assert messages[1]["role"] == "assistant" and messages[1]["content"] is None
    assert messages[1]["tool_calls"][0]["id"] == "c"


@pytest.mark.parametrize(
    ("value", "param"),
    [
        (42, "input"),
        (["text"], "input[0]"),
        ([{"role": "robot", "content": "x"}], "input[0].role"),
        ([{"role": "user", "content": 3}], "input[0].content"),
        ([{"role": "user", "content": [{"type": "input_video"}]}], "input[0].content[0].type"),
        ([{"role": "user", "content": [{"type": "input_text"}]}], "input[0].content[0].text"),
        ([{"type": "function_call_output", "output": "x"}], "input[0].call_id"),
        ([{"type": "item_reference", "id": "x"}], "input[0].type"),
    ],
)
def test_bad_input_names_the_field(value: object, param: str) -> None:
    with pytest.raises(FieldError) as raised:
        normalize_input(value, RESPONSE_ID)
    assert raised.value.param == param


def test_empty_input_is_no_items() -> None:
    assert normalize_input(None, RESPONSE_ID) == []
    assert normalize_input("", RESPONSE_ID) == []
    assert normalize_input([], RESPONSE_ID) == []


def test_flat_function_tools_become_chat_tools() -> None:
    tools = function_tools(
        [{"type": "function", "name": "weather", "description": "Now.", "parameters": {"type": "object"}}]
    )
    assert chat_tools(tools) == [
        {
            "type": "function",
            "function": {"name": "weather", "description": "Now.", "parameters": {"type": "object"}},
        }
    ]
    assert chat_tool_choice({"type": "function", "name": "weather"}) == {
        "type": "function",
        "function": {"name": "weather"},
    }
    assert chat_tool_choice("auto") == "auto"
    assert chat_tool_choice(None) is None
    with pytest.raises(FieldError):
        function_tools([{"type": "web_search"}])
    with pytest.raises(FieldError):
        chat_tool_choice("always")


def test_input_item_pages() -> None:
    items = [{"id": f"msg_{n}"} for n in range(5)]
    first = page_items(items, limit=2, order="desc", after=None)
    assert [i["id"] for i in first["data"]] == ["msg_4", "msg_3"]
    assert first["has_more"] and first["first_id"] == "msg_4" and first["last_id"] == "msg_3"
    rest = page_items(items, limit=10, order="desc", after="msg_3")
    assert [i["id"] for i in rest["data"]] == ["msg_2", "msg_1", "msg_0"] and not rest["has_more"]
    ascending = page_items(items, limit=10, order="asc", after=None)
    assert [i["id"] for i in ascending["data"]] == [f"msg_{n}" for n in range(5)]
    with pytest.raises(FieldError):
        page_items(items, limit=1, order="asc", after="msg_missing")


# --- the fold -----------------------------------------------------------------------------------


def test_queued() -> None:
    state = fold(requested())
    body = response_object(state)
    assert (body["status"], body["output"], body["usage"]) == ("queued", [], None)
    assert body["id"] == RESPONSE_ID and body["created_at"] == 1_700_000_000
    assert body["instructions"] == "Be brief." and body["metadata"] == {"k": "v"}
    assert body["max_output_tokens"] == 16 and body["store"] is True
    validated(body)


def test_in_progress_shows_the_text_so_far() -> None:
    body = response_object(fold(requested() + started() + texts("Hel", "lo")))
    assert body["status"] == "in_progress"
    assert body["output"][0]["status"] == "in_progress"
    assert validated(body).output_text == "Hello"


def test_completed() -> None:
    body = response_object(fold(requested() + started() + texts("Hi", "!") + completed("Hi!")))
    parsed = validated(body)
    assert body["status"] == "completed" and parsed.output_text == "Hi!"
    assert body["output"][0]["id"] == message_id(RESPONSE_ID)
    assert body["output"][0]["status"] == "completed"
    assert body["usage"]["input_tokens"] == 7 and body["usage"]["output_tokens"] == 3
    assert body["usage"]["total_tokens"] == 10
    assert body["completed_at"] == 1_700_000_002
    assert body["error"] is None and body["incomplete_details"] is None


def test_stopped_at_the_token_budget_is_incomplete() -> None:
    body = response_object(fold(requested() + started() + texts("Hi") + completed("Hi", "length")))
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert body["output"][0]["status"] == "incomplete"
    validated(body)


def test_failed() -> None:
    failure = stored(JobFailed(error="the model crashed", error_type="runtime_error"))
    body = response_object(fold([*requested(), *started(), failure]))
    assert body["status"] == "failed" and body["output"] == []
    assert body["error"] == {"code": "server_error", "message": "the model crashed"}
    validated(body)
    bad = stored(JobFailed(error="bad", error_type="invalid_request_error", param="input"))
    assert response_object(fold([*requested(), bad]))["error"]["code"] == "invalid_prompt"


def test_cancelled_keeps_the_partial_text() -> None:
    events = [
        *requested(),
        *started(),
        *texts("Once upon"),
        stored(JobCancelRequested(reason="by the client")),
        stored(JobCancelled(reason="cancelled while running")),
    ]
    body = response_object(fold(events))
    assert body["status"] == "cancelled" and body["error"] is None
    assert body["output"][0]["status"] == "incomplete"
    assert validated(body).output_text == "Once upon"


def test_deleted_and_unstored_responses_are_not_retrievable() -> None:
    assert fold(requested()).stored
    assert not fold([*requested(), stored(ResponseDeleted())]).stored
    assert not fold(requested(store=False)).stored
    assert not fold([]).exists


def test_tool_calls_become_function_call_items() -> None:
    call = {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": '{"c":1}'}}
    events = [*requested(), *started(), *completed("", "tool_calls", content="", tool_calls=[call])]
    body = response_object(fold(events))
    assert body["output"] == [
        {
            "type": "function_call",
            "id": body["output"][0]["id"],
            "call_id": "call_9",
            "name": "weather",
            "arguments": '{"c":1}',
            "status": "completed",
        }
    ]
    validated(body)


# --- streaming ----------------------------------------------------------------------------------


def frames_of(events: list[Stored]) -> tuple[list[dict[str, Any]], ResponseStream]:
    builder = ResponseStream()
    frames = [frame for event in events for frame in builder.feed(event)]
    return frames, builder


CONTRACT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_the_stream_follows_the_contract_and_matches_the_record() -> None:
    events = requested() + started() + texts("Hel", "lo") + completed("Hello")
    frames, builder = frames_of(events)
    assert [frame["type"] for frame in frames] == CONTRACT_ORDER
    assert [frame["sequence_number"] for frame in frames] == list(range(len(frames)))
    assert [frame["delta"] for frame in frames if frame["type"].endswith(".delta")] == ["Hel", "lo"]
    assert frames[6]["text"] == "Hello"
    assert frames[0]["response"]["status"] == "queued"
    assert frames[1]["response"]["status"] == "in_progress"
    assert frames[-1]["response"] == response_object(fold(events))
    assert builder.ended
    for frame in frames:
        STREAM_EVENTS.validate_python(frame)


def test_replaying_the_events_gives_the_same_frames() -> None:
    events = requested() + started() + texts("a", "b", "c") + completed("abc", "length")
    assert frames_of(events)[0] == frames_of(events)[0]
    assert frames_of(events)[0][-1]["type"] == "response.incomplete"


def test_a_cancelled_stream_closes_its_message_and_ends_cancelled() -> None:
    events = [*requested(), *started(), *texts("Once"), stored(JobCancelled(reason="x"))]
    frames, _ = frames_of(events)
    assert [frame["type"] for frame in frames][-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.cancelled",
    ]
    assert frames[-2]["item"]["status"] == "incomplete"
    assert frames[-1]["response"]["status"] == "cancelled"
    # Events after the end (a late worker write) add nothing.
    builder = frames_of(events)[1]
    assert builder.feed(texts("late")[0]) == []


def test_a_failure_before_any_text() -> None:
    events = [*requested(), *started(), stored(JobFailed(error="boom"))]
    frames, _ = frames_of(events)
    assert [frame["type"] for frame in frames] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    assert frames[-1]["response"]["error"]["message"] == "boom"
    STREAM_EVENTS.validate_python(frames[-1])


def test_an_answer_without_deltas_is_still_streamed() -> None:
    frames, _ = frames_of(requested() + started() + completed("Hi"))
    assert [frame["type"] for frame in frames][2:6] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
    ]


def test_tool_calls_are_streamed_as_function_call_items() -> None:
    call = {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    events = [
        *requested(),
        *started(),
        *texts("Let me check."),
        *completed("Let me check.", tool_calls=[call]),
    ]
    frames, _ = frames_of(events)
    kinds = [frame["type"] for frame in frames]
    assert kinds[-5:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert frames[-2]["item"]["call_id"] == "call_9" and frames[-2]["output_index"] == 1
    assert [item["type"] for item in frames[-1]["response"]["output"]] == ["message", "function_call"]
    for frame in frames:
        STREAM_EVENTS.validate_python(frame)


def test_an_error_frame_ends_the_stream() -> None:
    builder = ResponseStream()
    builder.feed(requested()[0])
    frame = builder.error("no progress", "timeout_error")
    assert frame == {
        "type": "error",
        "code": "timeout_error",
        "message": "no progress",
        "param": None,
        "sequence_number": 1,
    }
    assert builder.feed(started()[0]) == []
