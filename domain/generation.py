"""Text generation jobs (chat completions and responses): their events and the pure fold.

The worker appends the generated text as ``<category>.text_generated`` events, each holding
the deltas produced since the previous one (batched, so a fast model does not pay one
database write per token). They carry only the answer's content: a tool call's text is held
back by the worker and never appears in them. The completed result holds the whole outcome:
``model``, ``text`` (the raw output), ``content`` (what the ``text_generated`` events add up
to), ``tool_calls`` (OpenAI shape), ``finish_reason``, ``usage`` (``usage()`` below) and
timings (``generation_time_ms``, ``time_to_first_token_ms``, ``tokens_per_second``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.events import DomainEvent
from domain.kinds import JobKind, declare

ACTOR = "generate_text"
CHAT_CATEGORY = "chat"


class GenerationParams(BaseModel):
    """A generation job's params: the model, the normalised messages, the sampling options and
    tools (checked by the routes, see ``workers.chat_jobs``)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    model: str


CHAT: JobKind[GenerationParams] = declare(
    JobKind(
        name="chat_completion",
        category=CHAT_CATEGORY,
        actor=ACTOR,
        params=GenerationParams,
        capability=Capability.OPENAI_CHAT_COMPLETIONS,
    )
)

TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
"""Content part types that carry text (chat and Responses shapes)."""
PART_CAPABILITIES: dict[str, str] = {
    "image_url": "image input",
    "image": "image input",
    "input_image": "image input",
    "input_audio": "audio input",
    "audio": "audio input",
    "audio_url": "audio input",
    "video_url": "video input",
    "video": "video input",
    "input_video": "video input",
    "file": "file input",
    "input_file": "file input",
}
"""The capability a non-text content part needs, named in the error for a model without it."""


class TextGenerated(DomainEvent):
    verb = "text_generated"
    sequence: int
    text: str


def is_text_generated(event_type: str) -> bool:
    return event_type.partition(".")[2] == TextGenerated.verb


def generated_text(events: Iterable[tuple[str, dict[str, Any]]]) -> str:
    """The text so far, from ``(type, data)`` pairs of one stream, in order."""
    return "".join(str(data.get("text", "")) for kind, data in events if is_text_generated(kind))


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
