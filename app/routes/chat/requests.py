"""Chat request fields, checked and normalised into the ``generate_text`` actor's params.

Shared by ``POST /v1/chat/completions`` and the responses route. Every check raises
``FieldError(…, param=<the field>)`` (a 400) before anything is submitted. The OpenAI compatibility
profile (``SAUTI_OPENAI_COMPAT_PROFILE``) decides what is refused: ``strict`` (the default)
refuses fields Sauti cannot honour exactly (a non-zero ``frequency_penalty``, a ``stop``, a
forced ``tool_choice``); ``relaxed`` passes them to the runtime.

What the responses route reuses:

- ``generation_params(body, variant, profile, *, messages=None, fields=CHAT_FIELDS)``: the
  actor's params from a request body: sampling options (named as ``fields`` says), ``tools``
  and ``tool_choice``, ``enable_thinking``; the messages given, or the body's ``messages``.
- ``tool_params(tools, tool_choice, profile)``: ``{"tools": [...], "tool_choice": ...}`` for
  OpenAI chat-shaped tools (convert Responses' flat tools to that shape first).
- ``normalize_messages(raw, variant)``: chat messages checked (roles, content parts against
  the model's modalities, assistant ``tool_calls``, tool results).
- ``sampling_params(body, profile, fields)``: the sampling options alone.

The actor's result then holds ``content``, ``tool_calls``, ``finish_reason`` and ``usage``
(see ``workers.chat_jobs``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from domain.catalog import ModelVariant
from domain.fields import FieldError, optional_bool, optional_int, optional_number, optional_str
from domain.generation import PART_CAPABILITIES, TEXT_PART_TYPES
from workers.engines.base import CapabilityError

Profile = Literal["strict", "relaxed"]
ROLES = ("system", "user", "assistant", "tool")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RELAXED_HINT = "set SAUTI_OPENAI_COMPAT_PROFILE=relaxed to pass it to the runtime"


def _stop(body: Mapping[str, Any], profile: Profile) -> list[str]:
    value = body.get("stop")
    if value is None or value == "" or value == []:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise FieldError("`stop` must be a string or a list of up to 4 non-empty strings.", "stop")
    if profile == "strict":
        raise FieldError(
            f"`stop` is not supported in the strict compatibility profile; {_RELAXED_HINT}.", "stop"
        )
    return stops


# --- sampling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldNames:
    """Which request fields carry the sampling options (the responses route names fewer)."""

    max_tokens: tuple[str, ...] = ("max_completion_tokens", "max_tokens")
    """The output budget: the first one present wins."""
    sampling: tuple[str, ...] = (
        "temperature",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "stop",
        "seed",
    )


CHAT_FIELDS = FieldNames()
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


def sampling_params(
    body: Mapping[str, Any], profile: Profile, fields: FieldNames = CHAT_FIELDS
) -> dict[str, Any]:
    """``max_tokens`` and the sampling options present in ``body``, as the actor takes them."""
    params: dict[str, Any] = {}
    for name in fields.max_tokens:
        budget = optional_int(body, name, minimum=1)
        if budget is not None and "max_tokens" not in params:
            params["max_tokens"] = budget
    for name in fields.sampling:
        if name == "stop":
            stops = _stop(body, profile)
            if stops:
                params["stop"] = stops
        elif name == "seed":
            seed = optional_int(body, "seed")
            if seed is not None:
                params["seed"] = seed
        else:
            number = optional_number(body, name, *_RANGES[name])
            if number is not None:
                params[name] = number
    penalty = params.get("frequency_penalty")
    if profile == "strict" and penalty:
        raise FieldError(
            f"`frequency_penalty` must be 0 or null in the strict compatibility profile; {_RELAXED_HINT}.",
            "frequency_penalty",
        )
    return params


# --- messages --------------------------------------------------------------------------------


def check_parts(parts: list[Any], variant: ModelVariant, where: str, param: str) -> None:
    for index, part in enumerate(parts):
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            raise FieldError(f"{where}.content[{index}] must be an object with a `type`.", param)
        kind = part["type"]
        if kind in TEXT_PART_TYPES:
            if not isinstance(part.get("text"), str):
                raise FieldError(f"{where}.content[{index}].text must be a string.", param)
            continue
        capability = PART_CAPABILITIES.get(kind)
        if capability is None:
            raise FieldError(f"{where}.content[{index}] has an unsupported type {kind!r}.", param)
        if capability.replace(" ", "_") not in variant.modalities:
            inputs = [m.removesuffix("_input") for m in variant.modalities if m.endswith("_input")]
            detail = "it reads text only" if inputs == ["text"] else f"it reads {', '.join(inputs)}"
            raise FieldError(str(CapabilityError(variant.id, capability, detail)) + ".", param)


def _tool_call(raw: Any, where: str, param: str) -> dict[str, Any]:
    function = raw.get("function") if isinstance(raw, Mapping) else None
    if (
        not isinstance(raw, Mapping)
        or not isinstance(raw.get("id"), str)
        or raw.get("type", "function") != "function"
        or not isinstance(function, Mapping)
        or not isinstance(function.get("name"), str)
        or not isinstance(function.get("arguments"), str | Mapping)
    ):
        raise FieldError(
            f"{where} must be {{'id': str, 'type': 'function', "
            "'function': {'name': str, 'arguments': JSON string}}.",
            param,
        )
    arguments = function["arguments"]
    if isinstance(arguments, str):
        # Chat templates render the arguments as JSON themselves: give them the object. Malformed
        # JSON (the model's own output, sent back) stays the string it was.
        with contextlib.suppress(ValueError):
            arguments = json.loads(arguments) if arguments.strip() else {}
    return {
        "id": raw["id"],
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }


def _message(raw: Any, index: int, variant: ModelVariant, param: str) -> dict[str, Any]:
    where = f"{param}[{index}]"
    if not isinstance(raw, Mapping):
        raise FieldError(f"{where} must be an object with a `role` and `content`.", param)
    role = raw.get("role")
    if role not in ROLES:
        raise FieldError(f"{where}.role must be one of {', '.join(ROLES)}; got {role!r}.", param)
    message: dict[str, Any] = {"role": role}
    calls = raw.get("tool_calls")
    if calls is not None:
        if role != "assistant" or not isinstance(calls, list):
            raise FieldError(f"{where}.tool_calls must be a list, on an assistant message.", param)
        if calls:
            message["tool_calls"] = [
                _tool_call(c, f"{where}.tool_calls[{i}]", param) for i, c in enumerate(calls)
            ]
    content = raw.get("content")
    if isinstance(content, list):
        check_parts(content, variant, where, param)
        message["content"] = [dict(part) for part in content]
    elif isinstance(content, str):
        message["content"] = content
    elif content is None and role == "assistant" and "tool_calls" in message:
        message["content"] = ""  # templates that concatenate content fail on None
    else:
        raise FieldError(f"{where}.content must be a string or a list of content parts.", param)
    if role == "tool":
        if not isinstance(raw.get("tool_call_id"), str):
            raise FieldError(f"{where}.tool_call_id must be the id of the call this answers.", param)
        message["tool_call_id"] = raw["tool_call_id"]
    if raw.get("name") is not None:
        if not isinstance(raw["name"], str):
            raise FieldError(f"{where}.name must be a string.", param)
        message["name"] = raw["name"]
    return message


def normalize_messages(
    raw: object, variant: ModelVariant, *, param: str = "messages"
) -> list[dict[str, Any]]:
    """Chat messages checked and reduced to what chat templates read.

    Media parts the model cannot read are refused here, naming the model (the engine's
    CapabilityError stays the backstop). Assistant ``tool_calls`` arguments become objects.
    """
    if not isinstance(raw, list) or not raw:
        raise FieldError(f"`{param}` must be a non-empty array of messages.", param)
    return [_message(item, index, variant, param) for index, item in enumerate(raw)]


# --- tools -----------------------------------------------------------------------------------


def _tool(raw: Any, index: int, param: str) -> dict[str, Any]:
    function = raw.get("function") if isinstance(raw, Mapping) else None
    if not isinstance(raw, Mapping) or raw.get("type") != "function" or not isinstance(function, Mapping):
        raise FieldError(
            f"{param}[{index}] must be {{'type': 'function', 'function': {{'name': …}}}}.", param
        )
    name = function.get("name")
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        raise FieldError(f"{param}[{index}].function.name must be 1-64 letters, digits, _ or -.", param)
    tool: dict[str, Any] = {"name": name}
    description = function.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise FieldError(f"{param}[{index}].function.description must be a string.", param)
        tool["description"] = description
    parameters = function.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, Mapping):
            raise FieldError(f"{param}[{index}].function.parameters must be a JSON schema object.", param)
        tool["parameters"] = dict(parameters)
    return {"type": "function", "function": tool}


def normalize_tools(raw: object, *, param: str = "tools") -> list[dict[str, Any]]:
    """OpenAI chat-shaped tool definitions, checked (unique names, schema objects)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FieldError(f"`{param}` must be an array of tools.", param)
    tools = [_tool(item, index, param) for index, item in enumerate(raw)]
    names = [tool["function"]["name"] for tool in tools]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise FieldError(f"`{param}` names a function more than once: {', '.join(duplicates)}.", param)
    return tools


def normalize_tool_choice(
    raw: object, tools: Sequence[Mapping[str, Any]], profile: Profile, *, param: str = "tool_choice"
) -> str | dict[str, Any]:
    """``"auto"`` (the default with tools), ``"none"`` (the default without), or, in the relaxed
    profile only, a forced choice: ``"required"`` or ``{"type": "function", "function": {"name": X}}``."""
    if raw is None:
        return "auto" if tools else "none"
    if raw in ("auto", "none"):
        return str(raw)
    if profile == "strict":
        raise FieldError(
            f"`{param}` must be auto, none or null in the strict compatibility profile; "
            "set SAUTI_OPENAI_COMPAT_PROFILE=relaxed to force a tool call.",
            param,
        )
    if raw == "required":
        if not tools:
            raise FieldError(f"`{param}` is required, but no tools are given.", param)
        return "required"
    function = raw.get("function") if isinstance(raw, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(raw, Mapping) or raw.get("type") != "function" or not isinstance(name, str):
        raise FieldError(
            f"`{param}` must be auto, none, required or {{'type': 'function', 'function': {{'name': …}}}}.",
            param,
        )
    if name not in {tool["function"]["name"] for tool in tools}:
        raise FieldError(f"`{param}` names the function {name!r}, which is not among the tools.", param)
    return {"type": "function", "function": {"name": name}}


def tool_params(
    tools: object,
    tool_choice: object,
    profile: Profile,
    *,
    tools_param: str = "tools",
    choice_param: str = "tool_choice",
) -> dict[str, Any]:
    """The actor's ``tools`` and ``tool_choice``; with ``none``, no tools are rendered at all."""
    checked = normalize_tools(tools, param=tools_param)
    choice = normalize_tool_choice(tool_choice, checked, profile, param=choice_param)
    if choice == "none":
        return {"tool_choice": "none"} if checked else {}
    return {"tools": checked, "tool_choice": choice}


# --- whole requests --------------------------------------------------------------------------


def generation_params(
    body: Mapping[str, Any],
    variant: ModelVariant,
    profile: Profile,
    *,
    messages: list[dict[str, Any]] | None = None,
    fields: FieldNames = CHAT_FIELDS,
) -> dict[str, Any]:
    """The ``generate_text`` params for a request body (``messages`` replaces the body's).

    ``enable_thinking`` is accepted and recorded; the bundled models have no thinking mode, so
    it changes nothing there.
    """
    params: dict[str, Any] = {
        "model": variant.id,
        "messages": messages if messages is not None else normalize_messages(body.get("messages"), variant),
    }
    params.update(sampling_params(body, profile, fields))
    params.update(tool_params(body.get("tools"), body.get("tool_choice"), profile))
    thinking = optional_bool(body, "enable_thinking")
    if thinking is not None:
        params["enable_thinking"] = thinking
    return params


@dataclass(frozen=True)
class ChatRequest:
    params: dict[str, Any]
    stream: bool
    include_usage: bool


def parse_chat_request(body: Mapping[str, Any], variant: ModelVariant, profile: Profile) -> ChatRequest:
    """A chat completions body: the actor's params and how to answer (stream, usage chunk)."""
    n = optional_int(body, "n")
    if n is not None and n != 1:
        raise FieldError("`n` must be 1: one choice per request is supported.", "n")
    stream = bool(optional_bool(body, "stream"))
    options = body.get("stream_options")
    if options is not None and not isinstance(options, Mapping):
        raise FieldError("`stream_options` must be an object.", "stream_options")
    include_usage = (options or {}).get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise FieldError(
            "`stream_options.include_usage` must be true or false.", "stream_options.include_usage"
        )
    params = generation_params(body, variant, profile)
    user = optional_str(body, "user")
    if user is not None:
        params["user"] = user
    return ChatRequest(params=params, stream=stream, include_usage=bool(include_usage))
