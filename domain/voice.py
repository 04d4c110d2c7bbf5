"""Voice mode's persisted state (docs/voice.md): the profile (``voiceprofile-default``), the
observational memory (``voicememory-default``), voice sessions (``voicesession-<id>``) and the voice
turn job that answers one spoken input (``voiceturn-<id>``).

Pure: the events, their folds, the defaults, and the prompt a turn is answered with. A turn is
requested in its session's stream with its job, and recorded there when the job ends (what the
user said, the answer, its audio), so a session holds its own conversation. With memory on, a turn
also records what it learned about the user as observations; forgetting one removes it from every
later prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.events import DomainEvent, stream_id
from domain.kinds import JobKind, declare

PROFILE_CATEGORY = "voiceprofile"
MEMORY_CATEGORY = "voicememory"
SESSION_CATEGORY = "voicesession"
TURN_CATEGORY = "voiceturn"
DEFAULT_PROFILE_ID = "default"
BASE_URL = "/v1/voice"
SESSION_OBJECT = "voice.session"
TURN_OBJECT = "voice.turn"
OBSERVATION_OBJECT = "voice.observation"

Mode = Literal["modular", "unified"]
MODES: tuple[Mode, ...] = ("modular", "unified")
MAX_OBSERVATIONS_IN_PROMPT = 20
MAX_OBSERVATION_CHARS = 200
MAX_FACTS_PER_TURN = 3


# --- the profile ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    id: str = DEFAULT_PROFILE_ID
    name: str = "Sauti"
    system_prompt: str = (
        "You are Sauti, a friendly voice assistant. Your answers are spoken aloud: keep them to one "
        "to three short sentences, with no lists, markdown or emoji."
    )
    observational_memory: bool = False
    updated_at: float | None = None


PROFILE_FIELDS = ("name", "system_prompt", "observational_memory")


class ProfileChanged(DomainEvent):
    verb = "changed"
    changes: dict[str, Any]


def fold_profile(events: Iterable[tuple[str, Mapping[str, Any], float]]) -> Profile:
    profile = Profile()
    for verb, data, at in events:
        if verb == ProfileChanged.verb:
            changes = {k: v for k, v in data["changes"].items() if k in PROFILE_FIELDS}
            profile = replace(profile, **changes, updated_at=at)
    return profile


# --- observational memory -------------------------------------------------------------------


class ObservationRecorded(DomainEvent):
    verb = "observation_recorded"
    observation_id: str
    text: str
    session_id: str | None = None
    turn: int | None = None


class ObservationForgotten(DomainEvent):
    verb = "observation_forgotten"
    observation_id: str


class ObservationsCleared(DomainEvent):
    verb = "observations_cleared"


@dataclass(frozen=True)
class Observation:
    id: str
    text: str
    session_id: str | None
    turn: int | None
    recorded_at: float


def fold_memory(events: Iterable[tuple[str, Mapping[str, Any], float]]) -> list[Observation]:
    """What is remembered now, oldest first."""
    kept: dict[str, Observation] = {}
    for verb, data, at in events:
        if verb == ObservationRecorded.verb:
            seen = ObservationRecorded.model_validate(data)
            kept[seen.observation_id] = Observation(
                seen.observation_id, seen.text, seen.session_id, seen.turn, at
            )
        elif verb == ObservationForgotten.verb:
            kept.pop(str(data["observation_id"]), None)
        elif verb == ObservationsCleared.verb:
            kept.clear()
    return list(kept.values())


def new_facts(facts: Iterable[object], known: Iterable[str]) -> list[str]:
    """The extracted facts worth keeping: strings, trimmed, not already remembered (any case)."""
    seen = {text.strip().lower() for text in known}
    kept: list[str] = []
    for fact in facts:
        if not isinstance(fact, str):
            continue
        text = " ".join(fact.split())[:MAX_OBSERVATION_CHARS]
        if len(text) >= 3 and text.lower() not in seen:
            seen.add(text.lower())
            kept.append(text)
    return kept[:MAX_FACTS_PER_TURN]


FACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_FACTS_PER_TURN}},
    "required": ["facts"],
    "additionalProperties": False,
}


def facts_prompt(user_text: str) -> list[dict[str, str]]:
    """Asks the chat model for durable facts about the user in what they just said."""
    return [
        {
            "role": "system",
            "content": "You extract durable facts about the user from what they say: their name, where "
            "they live, their work, family, pets, likes and how they want to be answered. Only facts "
            "the user states about themselves; nothing about the conversation itself. Write each as "
            'a short sentence about "the user". Answer JSON: {"facts": [...]}, an empty list when '
            "there are none.",
        },
        {"role": "user", "content": user_text},
    ]


def system_prompt_with(prompt: str, observations: Iterable[Observation]) -> str:
    """The system prompt of a turn: the session's, then what is remembered about the user."""
    remembered = [o.text for o in observations][-MAX_OBSERVATIONS_IN_PROMPT:]
    if not remembered:
        return prompt
    return prompt + "\n\nWhat you remember about the user:\n" + "\n".join(f"- {text}" for text in remembered)


# --- sessions -------------------------------------------------------------------------------


class VoiceSessionCreated(DomainEvent):
    verb = "created"
    session_id: str
    profile_id: str = DEFAULT_PROFILE_ID
    mode: Mode = "modular"
    system_prompt: str
    title: str | None = None


class VoiceSessionChanged(DomainEvent):
    verb = "changed"
    changes: dict[str, Any]


class VoiceSessionEnded(DomainEvent):
    verb = "ended"


class VoiceSessionDeleted(DomainEvent):
    verb = "deleted"


class SpokenSentence(BaseModel):
    """One sentence of the answer, spoken: a media object (``media``, its digest) at ``path``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence: int
    text: str
    path: str
    media: str
    sample_rate: int
    sample_count: int


class AudioChunk(SpokenSentence):
    """A spoken sentence as the session's turn keeps it."""


class VoiceTurnRequested(DomainEvent):
    verb = "turn_requested"
    turn: int
    job_id: str


class VoiceTurnRecorded(DomainEvent):
    verb = "turn_recorded"
    turn: int
    job_id: str
    status: str
    """``ok``, ``no_input`` (nothing was said), ``interrupted``, ``error``."""
    user_text: str
    assistant_text: str
    audio: tuple[AudioChunk, ...] = ()
    observations_used: tuple[str, ...] = ()
    """The ids of the observations its prompt held."""
    observations_added: tuple[str, ...] = ()


@dataclass(frozen=True)
class VoiceTurn:
    number: int
    job_id: str
    requested_at: float
    recorded: VoiceTurnRecorded | None = None
    recorded_at: float | None = None

    @property
    def job_stream(self) -> str:
        return stream_id(TURN_CATEGORY, self.job_id)


@dataclass(frozen=True)
class VoiceSession:
    id: str
    profile_id: str
    mode: Mode
    system_prompt: str
    title: str | None
    created_at: float
    updated_at: float
    version: int
    ended: bool = False
    ended_at: float | None = None
    deleted: bool = False
    turns: tuple[VoiceTurn, ...] = ()

    @property
    def next_turn(self) -> int:
        return len(self.turns) + 1

    def exchanges_before(self, number: int) -> list[tuple[str, str]]:
        """The earlier turns that were answered, as a prompt's history."""
        return [
            (t.recorded.user_text, t.recorded.assistant_text)
            for t in self.turns[: number - 1]
            if t.recorded is not None and t.recorded.user_text and t.recorded.assistant_text
        ]


SESSION_FIELDS = ("system_prompt", "title")


def evolve_session(
    session: VoiceSession | None, verb: str, data: Mapping[str, Any], version: int, at: float
) -> VoiceSession | None:
    if verb == VoiceSessionCreated.verb:
        created = VoiceSessionCreated.model_validate(data)
        return VoiceSession(
            created.session_id,
            created.profile_id,
            created.mode,
            created.system_prompt,
            created.title,
            at,
            at,
            version,
        )
    if session is None:
        return None
    session = replace(session, version=version, updated_at=at)
    if verb == VoiceSessionChanged.verb:
        return replace(session, **{k: v for k, v in data["changes"].items() if k in SESSION_FIELDS})
    if verb == VoiceSessionEnded.verb:
        return replace(session, ended=True, ended_at=at)
    if verb == VoiceSessionDeleted.verb:
        return replace(session, deleted=True)
    if verb == VoiceTurnRequested.verb:
        requested = VoiceTurnRequested.model_validate(data)
        return replace(session, turns=(*session.turns, VoiceTurn(requested.turn, requested.job_id, at)))
    if verb == VoiceTurnRecorded.verb:
        recorded = VoiceTurnRecorded.model_validate(data)
        turns = list(session.turns)
        turns[recorded.turn - 1] = replace(turns[recorded.turn - 1], recorded=recorded, recorded_at=at)
        return replace(session, turns=tuple(turns))
    return session


def fold_session(events: Iterable[tuple[str, Mapping[str, Any], int, float]]) -> VoiceSession | None:
    session: VoiceSession | None = None
    for verb, data, version, at in events:
        session = evolve_session(session, verb, data, version, at)
    return session


def transcript_text(session: VoiceSession, profile_name: str) -> str:
    """A session as text: one line per utterance, who said it first."""
    lines = [f"Voice session {session.id}" + (f": {session.title}" if session.title else "")]
    for turn in session.turns:
        if turn.recorded is None:
            continue
        if turn.recorded.user_text:
            lines.append(f"User: {turn.recorded.user_text}")
        if turn.recorded.assistant_text:
            lines.append(f"{profile_name}: {turn.recorded.assistant_text}")
    return "\n".join(lines) + "\n"


# --- the voice turn job ---------------------------------------------------------------------


class VoiceTurnParams(BaseModel):
    """A voice turn's params: the input (audio as a media digest, or typed text), the three models,
    and the prompt's parts as they were when it was asked (memory is read when it runs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    turn: int
    audio: str | None = None
    text: str | None = None
    asr_model: str
    chat_model: str
    tts_model: str
    voice: str | None = None
    language: str | None = None
    system_prompt: str
    memory: bool = False
    max_tokens: int | None = None
    temperature: float | None = None


VOICE_TURN: JobKind[VoiceTurnParams] = declare(
    JobKind(name="voice_turn", category=TURN_CATEGORY, actor="run_voice_turn", params=VoiceTurnParams)
)


class UserTranscribed(DomainEvent):
    verb = "user_transcribed"
    text: str
    language: str | None = None


class ChunkSynthesized(DomainEvent, SpokenSentence):
    """In the turn's stream, as each sentence is spoken (its ``media`` is claimed by the stream)."""

    verb = "chunk_synthesized"
