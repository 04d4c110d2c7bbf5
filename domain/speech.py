"""Speech generation (``speech-<id>`` streams): the request's rules, its events and its summary.

Pure: which response formats exist and how a request for one is answered, what a speech
request may contain for a given model, and the events a synthesis job records. Audio itself
never enters an event: each chunk's samples are a media object the chunk event references.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from domain import fields as read
from domain.capabilities import Capability
from domain.catalog import ModelVariant
from domain.events import DomainEvent
from domain.fields import FieldError, optional_int, optional_str
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


def _input(body: Mapping[str, Any], name: str, form: bool) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise FieldError("`input` is required: the text to speak, a non-empty string.", param="input")
    return value


def _form(info: ValidationInfo) -> bool:
    return bool((info.context or {}).get("form"))


RESPONSE_FORMATS: tuple[str, ...] = (
    "wav",
    "pcm",
    "pcm16",
    "pcm_i16",
    "raw_i16",
    "raw_f32",
    "pcm_f32",
    *sorted(COMPRESSED_FORMATS),
)


class SpeechFields(BaseModel):
    """A speech request's fields (all but ``model``), read in this order with the ``domain.fields``
    readers; ``form``, in the validation context, reads them as a multipart form's text."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    input: Annotated[str, read.Reads(_input)] = Field(
        None,  # read, and refused when missing, by _input
        validate_default=True,
        description="The text to speak.",
        examples=["Hello from Sauti."],
    )
    voice: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="A voice (speaker) of the model; `default` or none: the model's default voice."
    )
    speed: Annotated[float | None, read.number(MIN_SPEED, MAX_SPEED)] = Field(
        None, description="Speaking rate (1.0 when left out)."
    )
    max_output_tokens: Annotated[int | None, read.integer(0)] = Field(
        None, description="Output token budget, for the models that generate tokens."
    )
    max_tokens: int | None = Field(
        None,
        description="Alias of `max_output_tokens` (read when that is not sent).",
        json_schema_extra={"minimum": 0},
    )
    response_format: Annotated[str | None, read.text(strip=True, enum=list(RESPONSE_FORMATS))] = Field(
        None,
        description="wav (the default), pcm/pcm16/pcm_i16/raw_i16 (16-bit PCM), raw_f32/pcm_f32 (float "
        "PCM); mp3, opus, ogg, aac and flac need FFmpeg (or `allow_format_fallback`).",
    )
    allow_format_fallback: Annotated[bool, read.flag()] = Field(
        False, description="Answer WAV when the compressed format asked for has no encoder here."
    )
    stream: Annotated[bool, read.flag()] = Field(False, description="Answer with SSE audio events.")
    stream_format: str | None = Field(
        None,
        description="`sse`: SSE audio events (as `stream: true`); `audio`: the audio bytes.",
        json_schema_extra={"enum": ["sse", "audio"]},
    )
    language: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="A language hint (`en`, `English`, `Auto`)."
    )
    temperature: Annotated[float | None, read.number(0.0, 2.0)] = Field(
        None, description="Sampling temperature, for the models that sample."
    )
    top_k: Annotated[int | None, read.integer(1)] = Field(
        None, description="Top-k sampling, for the models that sample."
    )
    instructions: Annotated[str | None, read.text(strip=True)] = Field(
        None,
        description="A description of the voice to design, for the models that take one.",
        examples=["A calm, low voice."],
    )
    reference_audio: Annotated[str | None, read.text(strip=True)] = Field(
        None,
        description="A clip of the voice to clone, in base64, for the models that clone voices.",
        examples=[read.EXAMPLE_AUDIO_BASE64],
        json_schema_extra=read.BASE64_AUDIO,
    )
    reference_text: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="The transcript of `reference_audio`.", examples=["And so my fellow Americans"]
    )
    saved_voice_id: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="A saved voice (`/v1/voices`) to speak with, instead of `reference_audio`."
    )

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _max_tokens(cls, value: Any, info: ValidationInfo) -> int | None:
        """Read only when ``max_output_tokens`` is not given."""
        if info.data.get("max_output_tokens") is not None:
            return None
        return optional_int({"max_tokens": value}, "max_tokens", 0, form=_form(info))

    @field_validator("stream_format", mode="before")
    @classmethod
    def _stream_format(cls, value: Any, info: ValidationInfo) -> str | None:
        """OpenAI's ``stream_format: audio`` asks for the audio bytes as the body, which is what a
        non-SSE response is."""
        stream_format = optional_str({"stream_format": value}, "stream_format", strip=True)
        if stream_format is not None and stream_format.lower() not in ("sse", "audio"):
            raise FieldError(
                f"Unsupported stream_format {stream_format!r}: use sse (or audio for the bytes).",
                param="stream_format",
            )
        return stream_format

    @model_validator(mode="after")
    def _one_reference(self) -> SpeechFields:
        if self.saved_voice_id and (self.reference_audio or self.reference_text):
            raise FieldError(
                "Use either `saved_voice_id` or `reference_audio`/`reference_text`, not both.",
                param="saved_voice_id",
            )
        if self.reference_text and not self.reference_audio and not self.saved_voice_id:
            raise FieldError(
                "`reference_text` is the transcript of `reference_audio`: send the audio too.",
                param="reference_text",
            )
        return self

    def request(self) -> SpeechRequest:
        """The request the fields make: SSE with ``stream: true`` or ``stream_format: sse``."""
        voice = self.voice
        return SpeechRequest(
            input=self.input,
            voice=None if voice is None or voice.lower() == DEFAULT_VOICE else voice,
            response_format=self.response_format,
            allow_format_fallback=self.allow_format_fallback,
            stream=self.stream if self.stream_format is None else self.stream_format.lower() == "sse",
            speed=1.0 if self.speed is None else self.speed,
            language=language_code(self.language),
            temperature=self.temperature,
            top_k=self.top_k,
            max_tokens=self.max_output_tokens if self.max_output_tokens is not None else self.max_tokens,
            instructions=self.instructions,
            reference_audio=self.reference_audio,
            reference_text=self.reference_text,
            saved_voice_id=self.saved_voice_id,
        )


def parse_speech_request(body: Mapping[str, Any], *, form: bool = False) -> SpeechRequest:
    """Every field but ``model``, checked; raises ``FieldError`` naming the field at fault.

    ``form``: the values are a multipart form's strings (numbers and booleans as text)."""
    return SpeechFields.model_validate(body, context={"form": form}).request()


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
