"""The text generation actor behind chat completions and responses.

Params (written by the HTTP routes): ``model``, ``messages`` (OpenAI chat messages, already
normalised), and the sampling options ``max_tokens``, ``temperature``, ``top_p``,
``presence_penalty``, ``frequency_penalty``, ``stop``, ``tools``, ``grammar``. The stream's
category (``chat`` or ``response``) only names the events; the work is the same.

Generation cannot resume half-way (sampling is not repeatable), so a message redelivered
after a worker died mid-generation fails the job visibly instead of appending a second,
different continuation.
"""

from __future__ import annotations

import time
from typing import Any

from domain.generation import ACTOR, TextGenerated, usage
from workers import runtime
from workers.actors import job_actor
from workers.engines.base import CapabilityError, CompletionRequest
from workflows.jobs import JobInputError, JobRun

FLUSH_SECONDS = 0.05
"""Deltas are batched into one event at most this often (and checked for a cancel)."""


def _request(params: dict[str, Any]) -> CompletionRequest:
    return CompletionRequest(
        messages=params["messages"],
        max_tokens=params.get("max_tokens"),
        temperature=params.get("temperature"),
        top_p=params.get("top_p"),
        presence_penalty=params.get("presence_penalty"),
        frequency_penalty=params.get("frequency_penalty"),
        stop=tuple(params.get("stop") or ()),
        grammar=params.get("grammar"),
        tools=tuple(params.get("tools") or ()),
        extra={key: params[key] for key in ("seed", "top_k") if params.get(key) is not None},
    )


@job_actor(ACTOR, queue="default")
def generate_text(run: JobRun) -> dict[str, Any] | None:
    params = run.params
    if run.kind_events(TextGenerated.verb):
        run.fail(
            "The worker stopped in the middle of generating this answer; the partial text is kept "
            "in the stream's events. Send the request again.",
            "runtime_error",
        )
        return None
    variant = runtime.current().catalog.find(str(params.get("model", "")))
    if variant is None:
        raise JobInputError(f"Unknown model {params.get('model')!r}.", param="model")
    engine = runtime.engines().get(variant)
    started = time.perf_counter()
    try:
        chunks = engine.complete(_request(params))
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
        if pending:
            run.append(TextGenerated(sequence=sequence, text="".join(pending)), sequence)
            sequence += 1
            pending.clear()
        last_flush = time.perf_counter()
        run.check_cancelled()

    try:
        for chunk in chunks:
            if chunk.text:
                if first_token_ms is None:
                    first_token_ms = (time.perf_counter() - started) * 1000
                pieces.append(chunk.text)
                pending.append(chunk.text)
            if chunk.finish_reason is not None:
                final = chunk
            if time.perf_counter() - last_flush >= FLUSH_SECONDS:
                flush()
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()  # a cancel mid-stream releases the model at once
    flush()
    elapsed = time.perf_counter() - started
    prompt_tokens = final.prompt_tokens or 0 if final else 0
    completion_tokens = final.completion_tokens or 0 if final else 0
    return {
        "model": variant.id,
        "text": "".join(pieces),
        "finish_reason": final.finish_reason if final else "stop",
        "usage": usage(prompt_tokens, completion_tokens),
        "generation_time_ms": round(elapsed * 1000, 1),
        "time_to_first_token_ms": round(first_token_ms, 1) if first_token_ms is not None else None,
        "tokens_per_second": round(completion_tokens / elapsed, 2) if elapsed > 0 else None,
    }
