"""Chat threads (``thread-<id>`` streams): durable conversations, and the reply job that answers
each message sent to one (``reply-<id>`` streams, docs/chat-threads.md).

Pure: what a thread holds, the events that change it, the fold that rebuilds it, and how a reply's
prompt is made from the turns before it. A message sent is a turn: the user's message and, once
its reply job completes, the assistant's answer (``reply_recorded``, appended in the transaction
that completes the job). Turns are numbered in the order they were sent, and a reply waits for the
turns before it to end, so two sends to one thread are answered one after the other, each with the
other in its history. A turn whose reply failed or was cancelled is left out of later prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.errors import NotFound
from domain.events import DomainEvent, stream_id
from domain.fields import FieldError
from domain.kinds import JobKind, declare

CATEGORY = "thread"
REPLY_CATEGORY = "reply"
BASE_URL = "/v1/chat/threads"
THREAD_OBJECT = "chat.thread"
MESSAGE_OBJECT = "chat.thread.message"

MAX_TITLE_CHARS = 200
MAX_CONTENT_CHARS = 100_000
MAX_SYSTEM_PROMPT_CHARS = 20_000
MAX_ATTACHMENTS = 8
DEFAULT_TITLE = "New chat"
TITLE_FROM_MESSAGE_CHARS = 60


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Attachment(_Frozen):
    """An audio part of a message: a media object (``/v1/media/<path>``), read as its transcript."""

    index: int
    """The part's place in the message's ``content_parts``."""
    kind: Literal["audio"] = "audio"
    path: str
    digest: str
    content_type: str | None = None


class AttachmentTranscript(_Frozen):
    index: int
    text: str
    model: str


# --- events -------------------------------------------------------------------------------------


class ThreadCreated(DomainEvent):
    verb = "created"
    thread_id: str
    title: str | None = None
    """None: untitled, until its first message names it (``title_from``)."""
    model: str | None = None
    system_prompt: str | None = None
    agent_session_id: str | None = None
    """The agent session whose thread it is (its turns go through ``/v1/agent/sessions``)."""


class ThreadChanged(DomainEvent):
    verb = "changed"
    changes: dict[str, Any]
    """Only the settings that changed: ``title``, ``model``, ``system_prompt``."""


class MessageSent(DomainEvent):
    verb = "message_sent"
    turn: int
    message_id: str
    content: str
    attachments: tuple[Attachment, ...] = ()
    reply_job_id: str
    reply_category: str = REPLY_CATEGORY
    """The job that answers it: a thread reply, or an agent turn."""
    model: str


class ReplyRecorded(DomainEvent):
    verb = "reply_recorded"
    turn: int
    message_id: str
    content: str
    model: str
    transcripts: tuple[AttachmentTranscript, ...] = ()
    """What the turn's audio attachments said, as the model read them."""
    history_turns_used: int
    history_turns_left_out: int
    stats: dict[str, Any]


class ThreadDeleted(DomainEvent):
    verb = "deleted"


class AttachmentTranscribed(DomainEvent):
    """In a reply job's stream: what one of its turn's audio attachments says."""

    verb = "attachment_transcribed"
    index: int
    text: str
    model: str


SETTINGS = ("title", "model", "system_prompt")


# --- the thread ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    message_id: str
    content: str
    model: str
    history_turns_used: int
    history_turns_left_out: int
    stats: Mapping[str, Any]
    recorded_at: float


@dataclass(frozen=True)
class Turn:
    number: int
    message_id: str
    content: str
    attachments: tuple[Attachment, ...]
    reply_job_id: str
    reply_category: str
    model: str
    sent_at: float
    transcripts: tuple[AttachmentTranscript, ...] = ()
    reply: Reply | None = None

    @property
    def reply_stream(self) -> str:
        return stream_id(self.reply_category, self.reply_job_id)

    def user_text(self) -> str:
        """The message as the model reads it: its text, then each attachment's transcript."""
        heard = [f"[Audio attachment {t.index}: {t.text.strip()}]" for t in self.transcripts]
        return "\n\n".join(part for part in (self.content, *heard) if part)


@dataclass(frozen=True)
class Thread:
    id: str
    title: str | None
    model: str | None
    system_prompt: str | None
    created_at: float
    updated_at: float
    version: int
    turns: tuple[Turn, ...] = ()
    deleted: bool = False
    agent_session_id: str | None = None

    def turn(self, number: int) -> Turn:
        if not 1 <= number <= len(self.turns):
            raise NotFound(f"Thread {self.id} has no turn {number}.")
        return self.turns[number - 1]

    @property
    def next_turn(self) -> int:
        return len(self.turns) + 1


def evolve(
    thread: Thread | None, verb: str, data: Mapping[str, Any], version: int, at: float
) -> Thread | None:
    if verb == ThreadCreated.verb:
        created = ThreadCreated.model_validate(data)
        return Thread(
            created.thread_id,
            created.title,
            created.model,
            created.system_prompt,
            at,
            at,
            version,
            agent_session_id=created.agent_session_id,
        )
    if thread is None:
        return None
    thread = replace(thread, version=version, updated_at=at)
    if verb == ThreadChanged.verb:
        return replace(thread, **{k: v for k, v in data["changes"].items() if k in SETTINGS})
    if verb == MessageSent.verb:
        sent = MessageSent.model_validate(data)
        turn = Turn(
            sent.turn,
            sent.message_id,
            sent.content,
            sent.attachments,
            sent.reply_job_id,
            sent.reply_category,
            sent.model,
            at,
        )
        return replace(thread, turns=(*thread.turns, turn))
    if verb == ReplyRecorded.verb:
        recorded = ReplyRecorded.model_validate(data)
        reply = Reply(
            recorded.message_id,
            recorded.content,
            recorded.model,
            recorded.history_turns_used,
            recorded.history_turns_left_out,
            recorded.stats,
            at,
        )
        turns = list(thread.turns)
        index = recorded.turn - 1
        turns[index] = replace(turns[index], reply=reply, transcripts=recorded.transcripts)
        return replace(thread, turns=tuple(turns))
    if verb == ThreadDeleted.verb:
        return replace(thread, deleted=True)
    return thread


def fold(events: Iterable[tuple[str, Mapping[str, Any], int, float]]) -> Thread | None:
    """The thread from its events as ``(verb, data, version, recorded_at)``."""
    thread: Thread | None = None
    for verb, data, version, at in events:
        thread = evolve(thread, verb, data, version, at)
    return thread


# --- checks -------------------------------------------------------------------------------------


def check_title(value: object, param: str = "title") -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"`{param}` must be a non-empty string.", param)
    if len(value) > MAX_TITLE_CHARS:
        raise FieldError(f"`{param}` is longer than {MAX_TITLE_CHARS} characters.", param)
    return value.strip()


def check_system_prompt(value: object, param: str = "system_prompt") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(f"`{param}` must be a string.", param)
    if len(value) > MAX_SYSTEM_PROMPT_CHARS:
        raise FieldError(f"`{param}` is longer than {MAX_SYSTEM_PROMPT_CHARS} characters.", param)
    return value or None


def title_from(content: str) -> str:
    """A first message's opening words, as the title of a thread created without one."""
    words = " ".join(content.split())
    if len(words) <= TITLE_FROM_MESSAGE_CHARS:
        return words or DEFAULT_TITLE
    return words[:TITLE_FROM_MESSAGE_CHARS].rsplit(" ", 1)[0] + "…"


# --- the reply job ------------------------------------------------------------------------------


class ThreadReplyParams(BaseModel):
    """A reply job's params: the turn it answers and how (``system_prompt`` overrides the thread's
    for this reply only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    thread_id: str
    turn: int
    model: str
    max_tokens: int | None = None
    temperature: float | None = None
    system_prompt: str | None = None
    enable_thinking: bool | None = None


THREAD_REPLY: JobKind[ThreadReplyParams] = declare(
    JobKind(
        name="thread_reply",
        category=REPLY_CATEGORY,
        actor="reply_in_thread",
        params=ThreadReplyParams,
        capability=Capability.OPENAI_CHAT_COMPLETIONS,
    )
)


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, str]]
    turns_used: int
    """Earlier turns in the prompt."""
    turns_left_out: int
    """Earlier turns answered but left out (the oldest), for the model's context."""


Exchange = tuple[str, str]
"""One answered turn as a prompt shows it: what the user said, and the answer."""


def answered_before(thread: Thread, number: int) -> list[Exchange]:
    """The turns before ``number`` that have a reply: a prompt's history."""
    return [
        (turn.user_text(), turn.reply.content)
        for turn in thread.turns[: number - 1]
        if turn.reply is not None
    ]


def reply_prompt(
    system_prompt: str | None,
    history: Sequence[Exchange],
    current: str,
    fits: Callable[[list[dict[str, str]]], bool],
) -> Prompt | None:
    """The messages for a reply: the system prompt (never left out), as many of the latest answered
    turns as ``fits`` allows, and the message being answered. None when even the system prompt and
    the message alone do not fit. ``fits`` is monotonic in the turns kept, so it is asked about
    log2(turns) prompts, not one per turn. Chat threads, agent turns and voice turns share it."""

    def messages(kept: int) -> list[dict[str, str]]:
        shown: list[dict[str, str]] = [{"role": "system", "content": system_prompt}] if system_prompt else []
        for user, assistant in history[len(history) - kept :] if kept else ():
            shown.append({"role": "user", "content": user})
            shown.append({"role": "assistant", "content": assistant})
        shown.append({"role": "user", "content": current})
        return shown

    if fits(messages(len(history))):
        return Prompt(messages(len(history)), len(history), 0)
    low, high = 0, len(history) - 1  # the most turns that fit lies in [low, high], if any do
    if not fits(messages(0)):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if fits(messages(middle)):
            low = middle
        else:
            high = middle - 1
    return Prompt(messages(low), low, len(history) - low)
