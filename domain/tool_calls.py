"""Tool calls in model output: parsing them, holding them back from streamed text, forcing them.

Chat models announce a call in one of two ways, and both are recognised:

- a ``<tool_call>`` block (what Qwen's chat template asks for)::

      <tool_call>
      {"name": "get_weather", "arguments": {"city": "Paris"}}
      </tool_call>

- a bare JSON answer: the whole answer is one or more ``{"name": …, "arguments": {…}}``
  objects (or a list of them), optionally inside a fenced code block. Small models often do this.

A block or answer that does not parse as a call to an offered tool stays ordinary content.

``ToolCallFilter`` does the splitting incrementally, so a streamed answer never shows a call's
JSON as content: text that may still turn out to be a call is held back until it is decided.
An answer that *starts* like a bare JSON call is held back to its end, because only the end tells.

``forced_call_schema`` is the JSON schema of the one call a forced ``tool_choice`` allows; the
worker turns it into a grammar for the model's sampler.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"

_FENCED = re.compile(r"\A```(?:json)?[ \t]*\n?(?P<body>.*?)\s*```\Z", re.DOTALL | re.IGNORECASE)


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    """The arguments as JSON text (OpenAI's shape)."""

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


def tool_names(tools: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The function names of OpenAI chat-shaped tool definitions."""
    return frozenset(str(tool["function"]["name"]) for tool in tools)


def call_from_object(
    value: object, allowed: Collection[str] | None, make_id: Callable[[], str] = new_call_id
) -> ToolCall | None:
    """``{"name": …, "arguments": …}`` as a call, or None when it is not one (or names no offered tool)."""
    if not isinstance(value, Mapping):
        return None
    name = value.get("name")
    if not isinstance(name, str) or not name or (allowed is not None and name not in allowed):
        return None
    arguments = value.get("arguments", value.get("parameters"))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, Mapping):
        return None
    return ToolCall(make_id(), name, json.dumps(arguments, ensure_ascii=False))


def _json_values(text: str) -> list[Any] | None:
    """The JSON values that make up all of ``text`` (separated by whitespace), or None."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position, end = 0, len(text)
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position == end:
            return values
        try:
            value, position = decoder.raw_decode(text, position)
        except ValueError:
            return None
        values.append(value)


def parse_bare_calls(
    text: str, allowed: Collection[str] | None, make_id: Callable[[], str] = new_call_id
) -> list[ToolCall] | None:
    """The calls when the whole of ``text`` is bare JSON calls (maybe fenced), else None."""
    body = text.strip()
    fenced = _FENCED.match(body)
    if fenced:
        body = fenced.group("body")
    values = _json_values(body)
    if not values:
        return None
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    calls = [call_from_object(value, allowed, make_id) for value in values]
    if not calls or any(call is None for call in calls):
        return None
    return [call for call in calls if call is not None]


def _may_start_bare_call(text: str) -> bool:
    """Whether an answer beginning with ``text`` (left-stripped) could still be a bare JSON call."""
    if not text or text.startswith("{") or text.startswith("["):
        return True
    if len(text) < 3:
        return "```".startswith(text)
    if not text.startswith("```"):
        return False
    rest = text[3:]
    if rest[:4].lower() == "json":
        rest = rest[4:]
    elif "json".startswith(rest.lower()):
        return True
    rest = rest.lstrip()
    return not rest or rest[0] in "{["


def _partial_tag_length(text: str) -> int:
    """How many trailing characters of ``text`` could be the start of ``OPEN_TAG``."""
    for size in range(min(len(text), len(OPEN_TAG) - 1), 0, -1):
        if OPEN_TAG.startswith(text[-size:]):
            return size
    return 0


@dataclass
class ToolCallFilter:
    """Splits generated text, fed piece by piece, into content and tool calls.

    ``feed`` returns the content that is safe to show now; ``finish`` returns the rest once
    the output has ended. Everything returned, joined, is ``content``. Whitespace around the
    calls is dropped, and trailing whitespace is held back until it is known not to precede a call.
    """

    allowed: Collection[str] | None = None
    """Offered tool names; a call naming another tool stays content. None accepts any name."""
    make_id: Callable[[], str] = new_call_id
    tool_calls: list[ToolCall] = field(default_factory=list, init=False)
    _buffer: str = field(default="", init=False)
    _at_start: bool = field(default=True, init=False)
    _after_call: bool = field(default=False, init=False)
    _emitted: list[str] = field(default_factory=list, init=False)

    @property
    def content(self) -> str:
        return "".join(self._emitted)

    def feed(self, text: str) -> str:
        self._buffer += text
        return self._drain(final=False)

    def finish(self) -> str:
        return self._drain(final=True)

    def _emit(self, text: str) -> str:
        if self._after_call:
            text = text.lstrip()
            if not text:
                return ""
            self._after_call = False
        if text:
            self._emitted.append(text)
        return text

    def _drain(self, *, final: bool) -> str:
        out: list[str] = []
        while True:
            if self._at_start:
                if not final and _may_start_bare_call(self._buffer.lstrip()):
                    break
                self._at_start = False
                calls = parse_bare_calls(self._buffer, self.allowed, self.make_id) if final else None
                if calls:
                    self.tool_calls.extend(calls)
                    self._buffer = ""
                    break
            start = self._buffer.find(OPEN_TAG)
            if start < 0:
                out.append(self._emit_safe_prefix(final))
                break
            before = self._buffer[:start]
            body_start = start + len(OPEN_TAG)
            end = self._buffer.find(CLOSE_TAG, body_start)
            if end < 0 and not final:
                # The block is still open: show what precedes it, keep its surrounding space.
                kept = before.rstrip()
                out.append(self._emit(kept))
                self._buffer = self._buffer[len(kept) :]
                break
            body = self._buffer[body_start:end] if end >= 0 else self._buffer[body_start:]
            after = end + len(CLOSE_TAG) if end >= 0 else len(self._buffer)
            call = call_from_object(_single_json(body), self.allowed, self.make_id)
            if call is None:
                out.append(self._emit(self._buffer[:after]))
            else:
                out.append(self._emit(before.rstrip()))
                self.tool_calls.append(call)
                self._after_call = True
            self._buffer = self._buffer[after:]
            if not self._buffer:
                break
        return "".join(out)

    def _emit_safe_prefix(self, final: bool) -> str:
        """Emit the buffer except what may begin a tag or be whitespace before a call."""
        if final:
            text, self._buffer = self._buffer, ""
            return self._emit(text.rstrip() if self.tool_calls else text)
        keep = _partial_tag_length(self._buffer)
        safe = self._buffer[: len(self._buffer) - keep]
        stripped = safe.rstrip()
        self._buffer = self._buffer[len(stripped) :]
        return self._emit(stripped)


def _single_json(text: str) -> Any:
    values = _json_values(text.strip())
    return values[0] if values and len(values) == 1 else None


def split_tool_calls(
    text: str, allowed: Collection[str] | None = None, make_id: Callable[[], str] = new_call_id
) -> tuple[str, list[ToolCall]]:
    """A whole answer's content and tool calls (what ``ToolCallFilter`` yields, at once)."""
    splitter = ToolCallFilter(allowed, make_id)
    splitter.feed(text)
    splitter.finish()
    return splitter.content, splitter.tool_calls


# --- forced tool choice --------------------------------------------------------------------


def forced_tools(tools: Sequence[Mapping[str, Any]], tool_choice: object) -> list[Mapping[str, Any]] | None:
    """The tools a forced ``tool_choice`` lets the model call; None when the choice is not forced.

    ``"required"`` allows any offered tool, ``{"type": "function", "function": {"name": X}}`` only X.
    """
    if tool_choice == "required":
        return list(tools)
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        return [tool for tool in tools if tool["function"]["name"] == name]
    return None


def forced_call_schema(tools: Sequence[Mapping[str, Any]], tool_choice: object) -> dict[str, Any] | None:
    """The JSON schema of the answer a forced choice allows: one bare ``{"name", "arguments"}`` call.

    None when the choice is not forced. Raises ValueError when it names no offered tool.
    """
    chosen = forced_tools(tools, tool_choice)
    if chosen is None:
        return None
    if not chosen:
        raise ValueError(f"tool_choice {tool_choice!r} matches none of the offered tools.")
    alternatives: list[dict[str, Any]] = []
    definitions: dict[str, Any] = {}
    for tool in chosen:
        name = tool["function"]["name"]
        arguments, defined = _hoisted(tool["function"].get("parameters") or {"type": "object"}, f"{name}-")
        definitions.update(defined)
        alternatives.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": arguments},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    schema = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    return {**schema, "$defs": definitions} if definitions else schema


_DEFINITION_KEYS = ("$defs", "definitions")


def _hoisted(parameters: Mapping[str, Any], prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A parameters schema without its local definitions, and those definitions renamed with
    ``prefix``: nested in the call's schema, its ``#/$defs/…`` refs must point at the new root."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {
                key: _moved_ref(value, prefix) if key == "$ref" and isinstance(value, str) else rewrite(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    body = {key: rewrite(value) for key, value in parameters.items() if key not in _DEFINITION_KEYS}
    definitions = {
        f"{prefix}{name}": rewrite(definition)
        for key in _DEFINITION_KEYS
        if isinstance(parameters.get(key), Mapping)
        for name, definition in parameters[key].items()
    }
    return body, definitions


def _moved_ref(ref: str, prefix: str) -> str:
    for key in _DEFINITION_KEYS:
        if ref.startswith(f"#/{key}/"):
            return f"#/$defs/{prefix}{ref.removeprefix(f'#/{key}/')}"
    return ref
