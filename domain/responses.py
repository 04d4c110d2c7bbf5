"""Responses (OpenAI's ``/v1/responses``): request input, the record, and the streaming sequence.

A response is the job stream ``response-<response id>`` run by the text generation actor.
Its ``response.requested`` params hold everything the record shows (under ``record``), so the
OpenAI ``response`` object is a fold of the stream's events: lifecycle events, the
``text_generated`` batches, and ``response.deleted``. The streaming event sequence is built
from the same events, in order, so replaying a stream yields the same frames and numbers.

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from domain.capabilities import Capability
from domain.events import DomainEvent, new_id
from domain.fields import FieldError
from domain.generation import ACTOR, TEXT_PART_TYPES, GenerationParams, TextGenerated
from domain.jobs import (
    JobCancelled,
    JobCompleted,
    JobFailed,
    JobRequested,
    JobStarted,
    JobState,
    lifecycle_event,
)
from domain.jobs import evolve as evolve_job
from domain.kinds import JobKind, declare

CATEGORY = "response"
ID_PREFIX = "resp_"
_ITEM_ID_NAMESPACE = uuid.UUID("0b4cbd9e-3d35-4a8e-a0de-6c2d8d3a6f57")

ResponseStatus = Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]

RESPONSE: JobKind[GenerationParams] = declare(
    JobKind(
        name="response",
        category=CATEGORY,
        actor=ACTOR,
        params=GenerationParams,
        capability=Capability.OPENAI_RESPONSES,
    )
)
"""A response of the Responses API: generated like a chat completion, kept as a durable record."""


class ResponseDeleted(DomainEvent):
    """The client deleted the response: it is no longer retrievable (its events stay)."""

    verb = "deleted"


def new_response_id() -> str:
    return ID_PREFIX + new_id()


def derived_id(prefix: str, response_id: str, *parts: object) -> str:
    """A stable item id: the same response and parts always give the same id."""
    name = "/".join(str(part) for part in (response_id, prefix, *parts))
    return f"{prefix}_{uuid.uuid5(_ITEM_ID_NAMESPACE, name).hex}"


def message_id(response_id: str) -> str:
    """The id of the response's output message."""
    return derived_id("msg", response_id, "output")


# --- request input --------------------------------------------------------------------

MEDIA_PART_TYPES = frozenset({"input_image", "input_file", "input_audio"})
"""Kept as sent: whether the model reads them is checked with the chat messages."""
MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})


def normalize_input(value: object, response_id: str) -> list[dict[str, Any]]:
    """The request's ``input`` as OpenAI input items, each with an id.

    A string is one user message; a single item may be sent without a list.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    elif isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        raise FieldError("`input` must be a string, an input item, or a list of items.", "input")
    return [_item(raw, index, response_id) for index, raw in enumerate(value)]


def _item(raw: object, index: int, response_id: str) -> dict[str, Any]:
    param = f"input[{index}]"
    if not isinstance(raw, Mapping):
        raise FieldError(f"`{param}` must be an object (a message or a function call item).", param)
    kind = raw.get("type", "message" if "role" in raw else None)
    given_id = raw.get("id")
    item_id = given_id if isinstance(given_id, str) and given_id else None
    if kind == "message":
        return _message(raw, param, item_id or derived_id("msg", response_id, "input", index))
    if kind == "function_call":
        return {
            "type": "function_call",
            "id": item_id or derived_id("fc", response_id, "input", index),
            "call_id": _string(raw, "call_id", param),
            "name": _string(raw, "name", param),
            "arguments": _string(raw, "arguments", param),
            "status": "completed",
        }
    if kind == "function_call_output":
        return {
            "type": "function_call_output",
            "id": item_id or derived_id("fco", response_id, "input", index),
            "call_id": _string(raw, "call_id", param),
            "output": _tool_output(raw.get("output"), f"{param}.output"),
            "status": "completed",
        }
    raise FieldError(
        f"Unsupported input item type {kind!r}: use message, function_call or function_call_output.",
        f"{param}.type",
    )


def _string(raw: Mapping[str, Any], key: str, param: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise FieldError(f"`{param}.{key}` must be a string.", f"{param}.{key}")
    return value


def _tool_output(value: object, param: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(part, Mapping) and part.get("type") in TEXT_PART_TYPES for part in value
    ):
        return "".join(str(part.get("text", "")) for part in value)
    raise FieldError(f"`{param}` must be a string (or a list of text parts).", param)


def _message(raw: Mapping[str, Any], param: str, item_id: str) -> dict[str, Any]:
    role = raw.get("role")
    if role not in MESSAGE_ROLES:
        raise FieldError(
            f"`{param}.role` must be one of {', '.join(sorted(MESSAGE_ROLES))}.", f"{param}.role"
        )
    text_type = "output_text" if role == "assistant" else "input_text"
    content = raw.get("content")
    if isinstance(content, str):
        parts = [_text_part(text_type, content)]
    elif isinstance(content, list):
        parts = [_part(part, text_type, f"{param}.content[{i}]") for i, part in enumerate(content)]
    else:
        raise FieldError(
            f"`{param}.content` must be a string or a list of content parts.", f"{param}.content"
        )
    return {"type": "message", "id": item_id, "role": role, "status": "completed", "content": parts}


def _text_part(kind: str, text: str) -> dict[str, Any]:
    return (
        {"type": kind, "text": text, "annotations": []}
        if kind == "output_text"
        else {"type": kind, "text": text}
    )


def _part(raw: object, text_type: str, param: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise FieldError(f"`{param}` must be a content part object.", param)
    kind = raw.get("type")
    if kind in TEXT_PART_TYPES:
        text = raw.get("text")
        if not isinstance(text, str):
            raise FieldError(f"`{param}.text` must be a string.", f"{param}.text")
        return _text_part(text_type, text)
    if kind == "refusal" and text_type == "output_text":
        return {"type": "refusal", "refusal": str(raw.get("refusal", ""))}
    if kind in MEDIA_PART_TYPES:
        return dict(raw)
    raise FieldError(
        f"Unsupported content part type {kind!r}: use input_text, input_image, input_file or input_audio.",
        f"{param}.type",
    )


def chat_messages(instructions: str | None, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI chat messages for the generation actor: instructions first, as a system message.

    Function call items join the assistant message before them (or start one), as chat
    ``tool_calls``; their outputs become ``tool`` messages.
    """
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        if item["type"] == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": _chat_content(item["content"])})
        elif item["type"] == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            previous = messages[-1] if messages else None
            if previous is not None and previous["role"] == "assistant":
                previous.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        else:
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]})
    return messages


def _chat_content(parts: Sequence[Mapping[str, Any]]) -> str | list[dict[str, Any]]:
    if all(part["type"] in TEXT_PART_TYPES or part["type"] == "refusal" for part in parts):
        return "".join(str(part.get("text", part.get("refusal", ""))) for part in parts)
    return [dict(part) for part in parts]


def function_tools(tools: object) -> list[dict[str, Any]]:
    """Responses function tools (``{"type": "function", "name", "parameters", …}``), checked."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise FieldError("`tools` must be a list of function tools.", "tools")
    checked = []
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, Mapping) else None
            raise FieldError(
                f"Unsupported tool type {kind!r}: only function tools are supported.", f"{param}.type"
            )
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise FieldError(f"`{param}.name` must be a non-empty string.", f"{param}.name")
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise FieldError(f"`{param}.parameters` must be a JSON schema object.", f"{param}.parameters")
        checked.append(
            {
                "type": "function",
                "name": name,
                "description": tool.get("description"),
                "parameters": dict(parameters) if parameters is not None else None,
                "strict": tool.get("strict"),
            }
        )
    return checked


def chat_tools(tools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The same tools in chat completions' shape (``{"type": "function", "function": {…}}``)."""
    converted = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
        function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
        converted.append({"type": "function", "function": function})
    return converted


def chat_tool_choice(choice: object) -> str | dict[str, Any] | None:
    """A Responses ``tool_choice`` in chat completions' shape."""
    if choice is None or (isinstance(choice, str) and choice in ("auto", "none", "required")):
        return choice
    if (
        isinstance(choice, Mapping)
        and choice.get("type") == "function"
        and isinstance(choice.get("name"), str)
    ):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise FieldError(
        '`tool_choice` must be "auto", "none", "required" or {"type": "function", "name": …}.',
        "tool_choice",
    )


def page_items(
    items: Sequence[Mapping[str, Any]], *, limit: int, order: str, after: str | None
) -> dict[str, Any]:
    """One page of input items in OpenAI's list shape (``after`` is the last id already seen)."""
    ordered = list(items) if order == "asc" else list(reversed(items))
    if after is not None:
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise FieldError(f"No input item {after!r} in this response.", "after")
        ordered = ordered[ids.index(after) + 1 :]
    data = [dict(item) for item in ordered[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(ordered) > limit,
    }


# --- the record: a fold of the response stream ------------------------------------------


class StoredEvent(Protocol):
    """What the fold reads of a recorded event (``eventstore.RecordedEvent`` has it)."""

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def recorded_at(self) -> float: ...


@dataclass(frozen=True)
class ResponseState:
    job: JobState = field(default_factory=JobState)
    created_at: float = 0.0
    finished_at: float | None = None
    text: str = ""
    """The text generated so far (the ``text_generated`` batches, as recorded)."""
    error_type: str | None = None
    deleted: bool = False

    @property
    def exists(self) -> bool:
        return self.job.exists

    @property
    def response_id(self) -> str:
        return self.job.job_id or ""

    @property
    def record(self) -> Mapping[str, Any]:
        """What the request asked for, as the response object echoes it."""
        return self.job.params.get("record") or {}

    @property
    def stored(self) -> bool:
        """Retrievable: created with ``store`` true and not deleted since."""
        return self.exists and not self.deleted and self.record.get("store", True) is not False

    @property
    def is_terminal(self) -> bool:
        return self.job.is_terminal

    @property
    def result(self) -> Mapping[str, Any]:
        return self.job.result or {}

    @property
    def status(self) -> ResponseStatus:
        match self.job.status:
            case "running":
                return "in_progress"
            case "completed":
                return "incomplete" if self.result.get("finish_reason") == "length" else "completed"
            case "failed" | "cancelled" as ended:
                return ended
        return "queued"

    @property
    def final_text(self) -> str:
        """The message text: the result's once completed (it may differ from the raw stream when
        the model called tools), the streamed text before that."""
        if self.job.result is None:
            return self.text
        content = self.result.get("content", self.result.get("text"))
        return str(content) if content is not None else ""

    @property
    def tool_calls(self) -> list[Mapping[str, Any]]:
        calls = self.result.get("tool_calls") or []
        return [call for call in calls if isinstance(call, Mapping)]

    @property
    def has_message(self) -> bool:
        """Whether the output holds an assistant message (a tool-call-only answer has none)."""
        # Text already streamed stays in the output, so a stream and the record always agree.
        if self.job.result is not None:
            return bool(self.final_text or self.text) or not self.tool_calls
        return bool(self.text)


def evolve(state: ResponseState, event: StoredEvent) -> ResponseState:
    verb = event.type.partition(".")[2]
    if verb == TextGenerated.verb:
        return replace(state, text=state.text + str(event.data.get("text", "")))
    if verb == ResponseDeleted.verb:
        return replace(state, deleted=True)
    decoded = lifecycle_event(event.type, event.data)
    if decoded is None:
        return state
    state = replace(state, job=evolve_job(state.job, decoded))
    match decoded:
        case JobRequested():
            state = replace(state, created_at=event.recorded_at)
        case JobFailed(error_type=error_type):
            state = replace(state, error_type=error_type, finished_at=event.recorded_at)
        case JobCompleted() | JobCancelled():
            state = replace(state, finished_at=event.recorded_at)
    return state


def fold(events: Iterable[StoredEvent]) -> ResponseState:
    state = ResponseState()
    for event in events:
        state = evolve(state, event)
    return state


def _item_status(state: ResponseState) -> str:
    if state.status == "completed":
        return "completed"
    return "in_progress" if state.status in ("queued", "in_progress") else "incomplete"


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(state: ResponseState, text: str, status: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": message_id(state.response_id),
        "status": status,
        "role": "assistant",
        "content": [output_text_part(text)],
    }


def function_call_items(state: ResponseState, status: str = "completed") -> list[dict[str, Any]]:
    items = []
    for index, call in enumerate(state.tool_calls):
        function = call.get("function") or {}
        items.append(
            {
                "type": "function_call",
                "id": derived_id("fc", state.response_id, "output", index),
                "call_id": str(call.get("id") or derived_id("call", state.response_id, index)),
                "name": str(function.get("name", "")),
                "arguments": "" if status == "in_progress" else str(function.get("arguments", "")),
                "status": status,
            }
        )
    return items


def output_items(state: ResponseState) -> list[dict[str, Any]]:
    items = [message_item(state, state.final_text, _item_status(state))] if state.has_message else []
    return items + function_call_items(state)


def _usage(result: Mapping[str, Any]) -> dict[str, Any] | None:
    usage = result.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _error(state: ResponseState) -> dict[str, str] | None:
    if state.status != "failed":
        return None
    code = "invalid_prompt" if state.error_type == "invalid_request_error" else "server_error"
    return {"code": code, "message": state.job.error or "the response failed"}


def response_object(state: ResponseState) -> dict[str, Any]:
    """The OpenAI ``response`` object for the stream folded so far."""
    record = state.record
    return {
        "id": state.response_id,
        "object": "response",
        "created_at": int(state.created_at),
        "status": state.status,
        "completed_at": int(state.finished_at) if state.status == "completed" and state.finished_at else None,
        "background": False,
        "error": _error(state),
        "incomplete_details": {"reason": "max_output_tokens"} if state.status == "incomplete" else None,
        "instructions": record.get("instructions"),
        "max_output_tokens": record.get("max_output_tokens"),
        "metadata": dict(record.get("metadata") or {}),
        "model": str(state.result.get("model") or state.job.params.get("model", "")),
        "output": output_items(state),
        "parallel_tool_calls": record.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": record.get("store", True),
        "temperature": record.get("temperature"),
        "text": {"format": {"type": "text"}},
        "tool_choice": record.get("tool_choice") or "auto",
        "tools": list(record.get("tools") or []),
        "top_p": record.get("top_p"),
        "truncation": "disabled",
        "usage": _usage(state.result) if state.status in ("completed", "incomplete") else None,
        "user": record.get("user"),
    }


# --- streaming ----------------------------------------------------------------------------

TERMINAL_STREAM_EVENTS: dict[str, str] = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
    # Not an OpenAI SDK type, which the SDK tolerates (it keeps unknown events as they are).
    "cancelled": "response.cancelled",
}


@dataclass
class ResponseStream:
    """The contract's streaming events, built from the response stream's events in order.

    response.created → response.in_progress → output_item.added → content_part.added →
    output_text.delta (one per ``text_generated`` batch) → output_text.done → content_part.done
    → output_item.done → (function_call items) → response.completed | response.incomplete |
    response.failed | response.cancelled. The same events always give the same frames.
    """

    state: ResponseState = field(default_factory=ResponseState)
    sequence_number: int = 0
    announced_in_progress: bool = False
    message_open: bool = False
    streamed: str = ""
    ended: bool = False

    def feed(self, event: StoredEvent) -> list[dict[str, Any]]:
        """The frames that ``event`` adds (none for events a client does not see)."""
        self.state = evolve(self.state, event)
        if self.ended:
            return []
        verb = event.type.partition(".")[2]
        if verb == JobRequested.verb:
            return [self._lifecycle("response.created")]
        if verb == JobStarted.verb and not self.announced_in_progress:
            self.announced_in_progress = True
            return [self._lifecycle("response.in_progress")]
        if verb == TextGenerated.verb:
            return self._delta(str(event.data.get("text", "")))
        if self.state.is_terminal:
            self.ended = True
            return self._finish()
        return []

    def error(self, message: str, code: str) -> dict[str, Any]:
        """An ``error`` frame, for a stream that ends without the response ending."""
        self.ended = True
        return self._frame({"type": "error", "code": code, "message": message, "param": None})

    def _frame(self, body: dict[str, Any]) -> dict[str, Any]:
        frame = {**body, "sequence_number": self.sequence_number}
        self.sequence_number += 1
        return frame

    def _lifecycle(self, kind: str) -> dict[str, Any]:
        return self._frame({"type": kind, "response": response_object(self.state)})

    def _location(self) -> dict[str, Any]:
        return {"item_id": message_id(self.state.response_id), "output_index": 0, "content_index": 0}

    def _open_message(self) -> list[dict[str, Any]]:
        if self.message_open:
            return []
        self.message_open = True
        item = message_item(self.state, "", "in_progress")
        item["content"] = []
        location = self._location()
        return [
            self._frame({"type": "response.output_item.added", "output_index": 0, "item": item}),
            self._frame({"type": "response.content_part.added", **location, "part": output_text_part("")}),
        ]

    def _delta(self, text: str) -> list[dict[str, Any]]:
        if not text:
            return []
        frames = self._open_message()
        self.streamed += text
        frames.append(
            self._frame(
                {"type": "response.output_text.delta", **self._location(), "delta": text, "logprobs": []}
            )
        )
        return frames

    def _finish(self) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        completed = self.state.job.result is not None
        if completed and self.state.has_message:
            final = self.state.final_text
            if final.startswith(self.streamed):
                frames += self._delta(final[len(self.streamed) :])
            frames += self._open_message()
        if self.message_open:
            frames += self._close_message(self.state.final_text if completed else self.streamed)
        if completed:
            frames += self._function_calls(output_index=1 if self.message_open else 0)
        frames.append(self._lifecycle(TERMINAL_STREAM_EVENTS[self.state.status]))
        return frames

    def _close_message(self, text: str) -> list[dict[str, Any]]:
        location = self._location()
        item = message_item(self.state, text, _item_status(self.state))
        return [
            self._frame({"type": "response.output_text.done", **location, "text": text, "logprobs": []}),
            self._frame({"type": "response.content_part.done", **location, "part": output_text_part(text)}),
            self._frame({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ]

    def _function_calls(self, output_index: int) -> list[dict[str, Any]]:
        frames = []
        pending = function_call_items(self.state, "in_progress")
        for offset, item in enumerate(function_call_items(self.state)):
            index = output_index + offset
            where = {"item_id": item["id"], "output_index": index}
            frames += [
                self._frame(
                    {"type": "response.output_item.added", "output_index": index, "item": pending[offset]}
                ),
                self._frame(
                    {"type": "response.function_call_arguments.delta", **where, "delta": item["arguments"]}
                ),
                self._frame(
                    {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]}
                ),
                self._frame({"type": "response.output_item.done", "output_index": index, "item": item}),
            ]
        return frames
