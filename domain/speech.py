"""Speech generation (``speech-<id>`` streams): the request's rules, its events and its summary.

Pure: which response formats exist and how a request for one is answered, what a speech
request may contain for a given model, and the events a synthesis job records. Audio itself
never enters an event: each chunk's samples are a media object the chunk event references.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.catalog import ModelVariant
from domain.events import DomainEvent
from domain.fields import FieldError, optional_bool, optional_int, optional_number, optional_str
from domain.jobs import RECORD_STATUSES
from domain.kinds import JobKind, RecordKind, declare
from domain.transcription import language_code

CATEGORY = "speech"
ACTOR = "synthesize_speech"

# Speech history record families (docs/speech-records.md) and the capability each asks of a model.
TEXT_TO_SPEECH = "text_to_speech"
VOICE_DESIGN = "voice_design"
VOICE_CLONE = "voice_clone"
FAMILY_CAPABILITIES: dict[str, Capability] = {
    TEXT_TO_SPEECH: Capability.TEXT_TO_SPEECH_RECORDS,
    VOICE_DESIGN: Capability.VOICE_DESIGN_RECORDS,
    VOICE_CLONE: Capability.VOICE_CLONE_RECORDS,
}

# --- response formats -------------------------------------------------------------------

NATIVE_FORMATS: frozenset[str] = frozenset(
    {"wav", "pcm", "pcm16", "pcm_i16", "raw_i16", "raw_f32", "pcm_f32"}
)
COMPRESSED_FORMATS: frozenset[str] = frozenset({"mp3", "opus", "ogg", "aac", "flac"})
DEFAULT_FORMAT = "wav"
FALLBACK_FORMAT = "wav"

# The name each format is reported under (X-Actual-Response-Format, SSE audio_format): the
# raw PCM aliases are one format each.
_CANONICAL: dict[str, str] = {
    **dict.fromkeys(("pcm", "pcm16", "pcm_i16", "raw_i16"), "pcm_i16"),
    **dict.fromkeys(("raw_f32", "pcm_f32"), "pcm_f32"),
}

EXPOSED_HEADERS: tuple[str, ...] = (
    "X-Requested-Response-Format",
    "X-Actual-Response-Format",
    "X-Response-Format-Fallback",
    "Warning",
    "X-Sample-Rate",
    "X-Audio-Duration-Secs",
    "X-Generation-Time-Ms",
    "X-RTF",
)


@dataclass(frozen=True)
class FormatChoice:
    """What a request for ``requested`` is answered with."""

    requested: str
    actual: str
    fallback: str | None = None
    """``"<requested>-><actual>"`` when the client allowed a fallback and one was taken."""

    @property
    def fallback_note(self) -> str | None:
        if self.fallback is None:
            return None
        return f"Requested format fallback: {self.fallback} (no {self.requested} encoder is available)"

    def headers(self) -> dict[str, str]:
        headers = {
            "X-Requested-Response-Format": self.requested,
            "X-Actual-Response-Format": self.actual,
            "Access-Control-Expose-Headers": ", ".join(EXPOSED_HEADERS),
        }
        if self.fallback is not None:
            headers["X-Response-Format-Fallback"] = self.fallback
            headers["Warning"] = (
                f'299 Sauti "response_format {self.requested} returned {self.actual}: '
                f'no {self.requested} encoder is available and the fallback was explicitly allowed"'
            )
        return headers


def choose_format(
    requested: str | None, *, allow_fallback: bool, encoder_available: Callable[[str], bool]
) -> FormatChoice:
    """The format to answer with. A compressed format whose encoder is missing is a 400
    unless the client allowed the fallback to WAV; ``encoder_available`` is asked only then."""
    name = (requested or DEFAULT_FORMAT).strip().lower() or DEFAULT_FORMAT
    if name in NATIVE_FORMATS:
        return FormatChoice(requested=name, actual=_CANONICAL.get(name, name))
    if name not in COMPRESSED_FORMATS:
        native, compressed = ", ".join(sorted(NATIVE_FORMATS)), ", ".join(sorted(COMPRESSED_FORMATS))
        raise FieldError(
            f"Unsupported response_format {requested!r}. Native formats: {native}; compressed: {compressed}.",
            param="response_format",
        )
    if encoder_available(name):
        return FormatChoice(requested=name, actual=name)
    if allow_fallback:
        return FormatChoice(requested=name, actual=FALLBACK_FORMAT, fallback=f"{name}->{FALLBACK_FORMAT}")
    raise FieldError(
        f"response_format `{name}` is recognized, but no {name} encoder is available on this server "
        "(FFmpeg). Use wav, pcm_i16 or pcm_f32, or set `allow_format_fallback: true` to receive WAV bytes.",
        param="response_format",
    )


# --- the request ------------------------------------------------------------------------

MIN_SPEED = 0.25
MAX_SPEED = 4.0
DEFAULT_VOICE = "default"


@dataclass(frozen=True)
class SpeechRequest:
    """A ``POST /v1/audio/speech`` body, checked field by field (the model is resolved apart)."""

    input: str
    voice: str | None = None
    """None: the model's default voice."""
    response_format: str | None = None
    allow_format_fallback: bool = False
    stream: bool = False
    speed: float = 1.0
    language: str | None = None
    temperature: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    instructions: str | None = None
    reference_audio: str | None = None
    """Base64, as sent."""
    reference_text: str | None = None
    saved_voice_id: str | None = None


def _streaming(body: Mapping[str, Any], *, form: bool = False) -> bool:
    """SSE with ``stream: true`` or ``stream_format: sse``; OpenAI's ``stream_format: audio`` asks
    for the audio bytes as the body, which is what a non-SSE response is."""
    stream = bool(optional_bool(body, "stream", form=form))
    stream_format = optional_str(body, "stream_format", strip=True)
    if stream_format is None:
        return stream
    if stream_format.lower() not in ("sse", "audio"):
        raise FieldError(
            f"Unsupported stream_format {stream_format!r}: use sse (or audio for the bytes).",
            param="stream_format",
        )
    return stream_format.lower() == "sse"


def parse_speech_request(body: Mapping[str, Any], *, form: bool = False) -> SpeechRequest:
    """Every field but ``model``, checked; raises ``FieldError`` naming the field at fault.

    ``form``: the values are a multipart form's strings (numbers and booleans as text)."""
    raw_input = body.get("input")
    if not isinstance(raw_input, str) or not raw_input.strip():
        raise FieldError("`input` is required: the text to speak, a non-empty string.", param="input")
    voice = optional_str(body, "voice", strip=True)
    speed = optional_number(body, "speed", MIN_SPEED, MAX_SPEED, form=form)
    max_tokens = optional_int(body, "max_output_tokens", 0, form=form)
    if max_tokens is None:
        max_tokens = optional_int(body, "max_tokens", 0, form=form)
    request = SpeechRequest(
        input=raw_input,
        voice=None if voice is None or voice.lower() == DEFAULT_VOICE else voice,
        response_format=optional_str(body, "response_format", strip=True),
        allow_format_fallback=bool(optional_bool(body, "allow_format_fallback", form=form)),
        stream=_streaming(body, form=form),
        speed=1.0 if speed is None else speed,
        language=language_code(optional_str(body, "language", strip=True)),
        temperature=optional_number(body, "temperature", 0.0, 2.0, form=form),
        top_k=optional_int(body, "top_k", 1, form=form),
        max_tokens=max_tokens,
        instructions=optional_str(body, "instructions", strip=True),
        reference_audio=optional_str(body, "reference_audio", strip=True),
        reference_text=optional_str(body, "reference_text", strip=True),
        saved_voice_id=optional_str(body, "saved_voice_id", strip=True),
    )
    if request.saved_voice_id and (request.reference_audio or request.reference_text):
        raise FieldError(
            "Use either `saved_voice_id` or `reference_audio`/`reference_text`, not both.",
            param="saved_voice_id",
        )
    if request.reference_text and not request.reference_audio and not request.saved_voice_id:
        raise FieldError(
            "`reference_text` is the transcript of `reference_audio`: send the audio too.",
            param="reference_text",
        )
    return request


def check_model_support(request: SpeechRequest, variant: ModelVariant) -> None:
    """Refuse the fields the model's capabilities lack, naming the model and the field."""
    capabilities = variant.speech
    if request.instructions and not (capabilities and capabilities.supports_voice_description):
        raise FieldError(
            f"Model {variant.id} does not support `instructions` (voice design from a description).",
            param="instructions",
        )
    if request.reference_audio and not (capabilities and capabilities.supports_reference_voice):
        raise FieldError(
            f"Model {variant.id} does not support `reference_audio` (voice cloning from a reference clip).",
            param="reference_audio",
        )
    if request.saved_voice_id and not variant.can(Capability.SAVED_VOICE_REUSE):
        raise FieldError(
            f"Model {variant.id} does not support `saved_voice_id` (reusing a saved voice).",
            param="saved_voice_id",
        )


class SpeechParams(BaseModel):
    """What a speech job is asked to do (its ``requested`` event). Reference audio is a media
    digest, never the bytes; the response format is recorded for the audit only (the worker
    stores samples, the web process encodes them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    input: str
    voice: str | None = None
    speed: float = 1.0
    language: str | None = None
    temperature: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    reference_audio: str | None = None
    reference_text: str | None = None
    response_format: str = DEFAULT_FORMAT
    audio_format: str = DEFAULT_FORMAT
    instructions: str | None = None
    """A voice-design description, for the models that take one."""
    saved_voice_id: str | None = None
    """The saved voice whose reference (``reference_audio``/``reference_text``) this job uses."""
    record: bool = False
    """A speech history record (docs/speech-records.md): the worker also stores the whole audio
    as one WAV media object, the completed result's ``audio``."""
    family: str | None = None
    """The record's family (``text_to_speech``, ``voice_design``, ``voice_clone``)."""
    stream: bool = False
    """The client takes the audio chunk by chunk (SSE). In a compressed ``audio_format`` the worker
    then encodes each chunk (``chunk_synthesized.encoded``), else the whole audio once (the completed
    result's ``encoded_audio``): the web process never runs an encoder."""


# --- events -----------------------------------------------------------------------------

SampleFormat = Literal["f32le"]
SAMPLE_FORMAT: SampleFormat = "f32le"
"""How chunk media objects hold their samples: mono little-endian float32 in [-1, 1]."""


class SpeechSynthesisPlanned(DomainEvent):
    """The worker loaded the model, accepted the voice and split the input into sentences."""

    verb = "synthesis_planned"
    model: str
    voice: str
    sample_rate: int
    sentence_count: int


class SpeechChunkSynthesized(DomainEvent):
    """One sentence's audio, stored as the media object ``media`` (``sample_count`` may be 0 when
    the engine found nothing to say in it, so that the final chunk is always marked)."""

    verb = "chunk_synthesized"
    sequence: int
    """The sentence's index in the plan: every planned sentence has exactly one chunk."""
    text: str
    media: str
    sample_format: SampleFormat = SAMPLE_FORMAT
    sample_rate: int
    sample_count: int
    generation_ms: float
    is_final: bool
    encoded: str | None = None
    """The chunk encoded in the job's compressed ``audio_format``, as a media object (streamed jobs)."""


def is_speakable(sentence: str) -> bool:
    """Whether a sentence has anything to say (engines produce no audio for punctuation alone)."""
    return any(character.isalnum() for character in sentence)


@dataclass(frozen=True)
class SpeechSummary:
    """A finished synthesis, from its chunk events (so a resumed job counts every attempt's work)."""

    chunk_count: int
    sample_rate: int
    sample_count: int
    generation_time_ms: float
    tokens_generated: int | None = None
    """Piper and eSpeak generate no tokens: None, never an estimate."""

    @property
    def audio_duration_secs(self) -> float:
        return self.sample_count / self.sample_rate if self.sample_rate else 0.0

    @property
    def rtf(self) -> float | None:
        """Real-time factor: generation time over audio duration (below 1 is faster than real time)."""
        duration = self.audio_duration_secs
        return round(self.generation_time_ms / 1000 / duration, 4) if duration > 0 else None

    def result(self) -> dict[str, Any]:
        return {
            "chunk_count": self.chunk_count,
            "sample_rate": self.sample_rate,
            "sample_format": SAMPLE_FORMAT,
            "sample_count": self.sample_count,
            "audio_duration_secs": round(self.audio_duration_secs, 4),
            "generation_time_ms": round(self.generation_time_ms, 1),
            "rtf": self.rtf,
            "tokens_generated": self.tokens_generated,
        }


def summarize(chunks: Iterable[SpeechChunkSynthesized], sample_rate: int) -> SpeechSummary:
    listed = list(chunks)
    return SpeechSummary(
        chunk_count=len(listed),
        sample_rate=sample_rate,
        sample_count=sum(chunk.sample_count for chunk in listed),
        generation_time_ms=sum(chunk.generation_ms for chunk in listed),
    )


def speech_capability(params: SpeechParams) -> Capability:
    """A record family's capability, else the OpenAI speech route's."""
    if params.family is None:
        return Capability.OPENAI_AUDIO_SPEECH
    try:
        return FAMILY_CAPABILITIES[params.family]
    except KeyError:
        raise FieldError(f"unknown speech record family {params.family!r}", "family") from None


SPEECH: JobKind[SpeechParams] = declare(
    JobKind(
        name="speech",
        category=CATEGORY,
        actor=ACTOR,
        params=SpeechParams,
        capability=Capability.OPENAI_AUDIO_SPEECH,
        capability_of=speech_capability,
        modality="audio_output",
        record=RecordKind("speech_records", RECORD_STATUSES),
    )
)
"""OpenAI speech and the speech history records (text-to-speech, voice design, voice cloning)."""
