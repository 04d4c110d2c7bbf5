"""The bodies of the voice profile and voice session routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from app.http.request_body import AUDIO_FILE_PARTS, JSON, MULTIPART, BodyModel, audio_base64_field, one_of
from domain import fields as read
from domain.chat_threads import MAX_CONTENT_CHARS, MAX_SYSTEM_PROMPT_CHARS, MAX_TITLE_CHARS
from domain.fields import Passed

SystemPrompt = Annotated[str | None, read.text(max_chars=MAX_SYSTEM_PROMPT_CHARS)]


class VoiceProfileBody(BodyModel):
    """The voice profile's settings that a PATCH may change (each optional)."""

    name: Annotated[str | None, read.text(strip=True, max_chars=MAX_TITLE_CHARS)] = Field(
        None, description="What the assistant is called.", examples=["Sauti"]
    )
    system_prompt: SystemPrompt = Field(None, description="The system prompt of new voice sessions.")
    observational_memory: Annotated[bool | None, read.flag()] = Field(
        None, description="Remember durable facts about the user from voice turns."
    )


class VoiceSessionBody(BodyModel):
    """A new voice session (each field optional): the default profile, modular mode and the
    profile's system prompt unless given."""

    optional = True
    profile_id: Annotated[str | None, read.text(strip=True)] = Field(None, description="Only `default`.")
    mode: Annotated[str | None, read.one_of(("modular", "unified"), "modular")] = Field(
        None,
        description="`modular`: speech to text, chat, text to speech; `unified` needs an audio chat model.",
    )
    system_prompt: SystemPrompt = None
    title: Annotated[str | None, read.text(strip=True, max_chars=MAX_TITLE_CHARS)] = None


class VoiceSessionUpdateBody(BodyModel):
    system_prompt: SystemPrompt = Field(None, description="The session's system prompt from now on.")
    title: Annotated[str | None, read.text(strip=True, max_chars=MAX_TITLE_CHARS)] = None
    ended: Annotated[bool | None, read.flag()] = Field(None, description="`true` ends the session.")


class VoiceTurnBody(BodyModel):
    """One voice turn: the user's speech (a `file` or `audio` part, or `audio_base64`), or `text`
    typed instead; answered in speech, sentence by sentence."""

    encodings = (JSON, MULTIPART)
    file_parts = AUDIO_FILE_PARTS
    requires = (one_of("file", "audio", "audio_base64", "text"),)

    audio_base64: Annotated[str | None, Passed] = audio_base64_field()
    text: Annotated[str | None, read.text(max_chars=MAX_CONTENT_CHARS)] = Field(
        None, description="Typed input instead of speech."
    )
    voice: Annotated[str | None, read.text(strip=True)] = Field(None, description="The answer's voice.")
    language: Annotated[str | None, read.text(strip=True)] = Field(None, description="The speech's language.")
    max_tokens: Annotated[int | None, read.integer(1)] = Field(None, description="The answer's budget.")
    temperature: Annotated[float | None, read.number(0.0, 2.0)] = None
    stream: Annotated[bool | None, read.flag()] = Field(None, description="Send the turn's events as SSE.")
