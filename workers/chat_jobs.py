"""The text generation actor behind chat completions and responses.

Params (written by the HTTP routes, see ``app.routes.chat.requests``): ``model``, ``messages`` (OpenAI
chat messages, already normalised), the sampling options ``max_tokens``, ``temperature``,
``top_p``, ``presence_penalty``, ``frequency_penalty``, ``stop``, ``seed``, and ``tools``
(OpenAI chat-shaped definitions), ``tool_choice`` (``"auto"``, ``"none"``, ``"required"`` or
``{"type": "function", "function": {"name": …}}``), ``grammar`` (GBNF). Other params
(``enable_thinking``, ``user``) are recorded with the request and not used here. The stream's
category (``chat`` or ``response``) only names the events; the work is the same.

Offered tools are rendered by the model's chat template, and the output is split as it is
generated (``domain.tool_calls.ToolCallFilter``): ``<category>.text_generated`` events carry
only content, never a tool call's JSON. A forced ``tool_choice`` constrains sampling with a
grammar built from the tool's parameters schema, so the answer is always a valid call.

The completed result: ``model``, ``text`` (the raw output), ``content`` (the text outside tool
calls; what the ``text_generated`` events add up to), ``tool_calls`` (OpenAI shape, ids
``call_…``), ``finish_reason`` (``tool_calls`` when there are calls), ``usage``, and timings.

Generation cannot resume half-way (sampling is not repeatable), so a message redelivered
after a worker died mid-generation fails the job visibly instead of appending a second,
different continuation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.chat_threads import Exchange, Prompt, reply_prompt
from domain.generation import CHAT, TextGenerated, usage
from domain.responses import RESPONSE
from domain.tool_calls import ToolCallFilter, forced_call_schema, tool_names
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.engines.base import CapabilityError, ChatModel, CompletionRequest
from workflows.jobs import JobInputError, JobRun

FLUSH_SECONDS = 0.1
"""Deltas after the first are batched into one event at most this often (and checked for a
cancel). Each event costs the worker an append and the web process a read, both on the cores
that generate: at 0.05 s served chat ran at 0.94 of llama.cpp's own speed on 2 cores, at 0.1 s
0.97 (bench/openai_overhead.py)."""


def forced_tool_grammar(tools: Sequence[Mapping[str, Any]], tool_choice: object) -> str | None:
    """The GBNF grammar that makes the output one call a forced ``tool_choice`` allows, else None."""
    try:
        schema = forced_call_schema(tools, tool_choice)
    except ValueError as error:
        raise JobInputError(str(error), param="tool_choice") from error
    if schema is None:
        return None
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema), prop_order=["name", "arguments"])
    except Exception as error:  # the converter raises many kinds for schemas it cannot express
        raise JobInputError(
            f"The tool's parameters schema cannot be turned into a grammar: {error}", param="tools"
        ) from error


def _request(params: dict[str, Any], tools: list[dict[str, Any]], grammar: str | None) -> CompletionRequest:
    return CompletionRequest(
        messages=params["messages"],
        max_tokens=params.get("max_tokens"),
        temperature=params.get("temperature"),
        top_p=params.get("top_p"),
        presence_penalty=params.get("presence_penalty"),
        frequency_penalty=params.get("frequency_penalty"),
        stop=tuple(params.get("stop") or ()),
        grammar=grammar,
        tools=tuple(tools),
        extra={key: params[key] for key in ("seed", "top_k") if params.get(key) is not None},
    )


def _tool_setup(params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None, ToolCallFilter | None]:
    """The tools to render, the grammar to sample with, and the splitter for the output."""
    tools = list(params.get("tools") or ())
    choice = params.get("tool_choice") or "auto"
    grammar = params.get("grammar")
    if choice == "none" or (not tools and choice == "auto"):
        return [], grammar, None
    forced = forced_tool_grammar(tools, choice)  # a forced choice with no matching tool is refused
    if forced is not None:
        if grammar:
            raise JobInputError(
                "A forced tool_choice cannot be combined with a grammar.", param="tool_choice"
            )
        grammar = forced
    return tools, grammar, ToolCallFilter(tool_names(tools))


@dataclass
class Generated:
    """What one streamed generation produced, and how fast."""

    text: str
    """The raw output."""
    content: str
    """The text outside tool calls (what the ``text_generated`` events add up to)."""
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    elapsed: float
    first_token_ms: float | None

    def stats(self) -> dict[str, Any]:
        return {
            "usage": usage(self.prompt_tokens, self.completion_tokens),
            "generation_time_ms": round(self.elapsed * 1000, 1),
            "time_to_first_token_ms": round(self.first_token_ms, 1)
            if self.first_token_ms is not None
            else None,
            "tokens_per_second": round(self.completion_tokens / self.elapsed, 2)
            if self.elapsed > 0
            else None,
        }


def generate(
    run: JobRun,
    engine: ChatModel,
    request: CompletionRequest,
    splitter: ToolCallFilter | None = None,
    on_content: Callable[[str], None] | None = None,
) -> Generated:
    """Stream the engine's answer into ``<category>.text_generated`` events (the first delta at
    once, the rest batched), checking for a cancel at each. ``on_content`` gets each piece of the
    answer's content as it comes (a voice turn speaks each sentence once it is whole)."""
    started = time.perf_counter()
    try:
        chunks = engine.complete(request)
    except CapabilityError as error:
        raise JobInputError(str(error), param="messages") from error

    pieces: list[str] = []
    pending: list[str] = []
    sequence = 0
    last_flush = time.perf_counter()
    first_token_ms: float | None = None
    final = None

    def flush() -> None:
        nonlocal sequence, last_flush
        text = "".join(pending)
        pending.clear()
        if text:
            run.append(TextGenerated(sequence=sequence, text=text), sequence)
            sequence += 1
        last_flush = time.perf_counter()
        run.check_cancelled(caught_up=bool(text))  # an append reads the stream after itself

    try:
        for chunk in chunks:
            if chunk.text:
                if first_token_ms is None:
                    first_token_ms = (time.perf_counter() - started) * 1000
                pieces.append(chunk.text)
                content = splitter.feed(chunk.text) if splitter else chunk.text
                pending.append(content)
                if on_content is not None and content:
                    on_content(content)
            if chunk.finish_reason is not None:
                final = chunk
            if (sequence == 0 and any(pending)) or time.perf_counter() - last_flush >= FLUSH_SECONDS:
                flush()  # the first delta at once: time to first token is not batched
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()  # a cancel mid-stream releases the model at once
    if splitter:
        rest = splitter.finish()
        pending.append(rest)
        if on_content is not None and rest:
            on_content(rest)
    flush()
    text = "".join(pieces)
    calls = [call.to_openai() for call in splitter.tool_calls] if splitter else []
    finish_reason = final.finish_reason if final and final.finish_reason else "stop"
    return Generated(
        text=text,
        content=splitter.content if splitter else text,
        tool_calls=calls,
        finish_reason="tool_calls" if calls else finish_reason,
        prompt_tokens=(final.prompt_tokens or 0) if final else 0,
        completion_tokens=(final.completion_tokens or 0) if final else 0,
        elapsed=time.perf_counter() - started,
        first_token_ms=first_token_ms,
    )


def fitted_prompt(
    engine: ChatModel,
    model_id: str,
    system: str | None,
    history: Sequence[Exchange],
    current: str,
    *,
    answer_tokens: int,
    param: str,
    spare_tokens: int = 0,
) -> Prompt:
    """``reply_prompt`` on the model's context, with ``answer_tokens`` (and ``spare_tokens``, for
    what the prompt will grow by) kept free; a message that alone does not fit is refused."""
    room = engine.context_length - answer_tokens - spare_tokens
    prompt = reply_prompt(
        system, history, current, lambda messages: engine.count_prompt_tokens(messages) <= room
    )
    if prompt is None:
        raise JobInputError(
            f"The message and system prompt take more than the {room} tokens model {model_id} has "
            f"for them ({engine.context_length} in its context, {answer_tokens} kept for the answer): "
            "send a shorter message, or a lower max_tokens.",
            param=param,
        )
    return prompt


def stopped_mid_answer(run: JobRun, what: str) -> bool:
    """Fail a redelivered job that had begun streaming its answer (sampling cannot resume where it
    stopped): True when it was failed so."""
    if not run.kind_events(TextGenerated.verb):
        return False
    run.fail(
        f"The worker stopped in the middle of generating this {what}; the partial text is kept "
        "in the stream's events. Send the request again.",
        "runtime_error",
    )
    return True


@job_actor(CHAT, RESPONSE)
def generate_text(run: JobRun) -> dict[str, Any] | None:
    params = run.params
    if stopped_mid_answer(run, "answer"):
        return None
    kind = RESPONSE if run.category == RESPONSE.category else CHAT
    variant = job_model(kind, str(params.get("model", "")), job_params(kind, run))
    tools, grammar, splitter = _tool_setup(params)
    engine = runtime.engines().get(variant)
    generated = generate(run, engine, _request(params, tools, grammar), splitter)
    return {
        "model": variant.id,
        "text": generated.text,
        "content": generated.content,
        "tool_calls": generated.tool_calls,
        "finish_reason": generated.finish_reason,
        **generated.stats(),
    }
