"""Transcription and forced-alignment jobs: their parameters, events and results, and the
transcript documents (text, SRT, WebVTT, verbose JSON) folded from segment events.

A transcription job appends ``transcription.language_detected`` once, then one
``transcription.segment_transcribed`` per segment as decoding goes; the completed result holds
the joined text and the measurements, not the segments (they are folded from their events).
An alignment job needs one step only: its completed result holds the aligned words.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.events import DomainEvent
from domain.jobs import RECORD_STATUSES
from domain.kinds import JobKind, RecordKind, declare

TRANSCRIPTION_CATEGORY = "transcription"
ALIGNMENT_CATEGORY = "alignment"
TRANSCRIBE_ACTOR = "transcribe_audio"
ALIGN_ACTOR = "align_audio"

TranscriptFormat = Literal["json", "verbose_json", "text", "srt", "vtt"]
TRANSCRIPT_FORMATS: tuple[str, ...] = ("json", "verbose_json", "text", "srt", "vtt")
ALIGNMENT_FORMATS: tuple[str, ...] = ("json", "verbose_json", "text")
TIMESTAMP_GRANULARITIES: tuple[str, ...] = ("word", "segment")
WordTimingSource = Literal["model", "forced_alignment"]

# Language names a client may send instead of a code (the contract's examples say "English").
LANGUAGE_NAMES: dict[str, str] = {
    "arabic": "ar",
    "chinese": "zh",
    "czech": "cs",
    "danish": "da",
    "dutch": "nl",
    "english": "en",
    "finnish": "fi",
    "french": "fr",
    "german": "de",
    "greek": "el",
    "hebrew": "he",
    "hindi": "hi",
    "hungarian": "hu",
    "indonesian": "id",
    "italian": "it",
    "japanese": "ja",
    "korean": "ko",
    "norwegian": "no",
    "polish": "pl",
    "portuguese": "pt",
    "romanian": "ro",
    "russian": "ru",
    "spanish": "es",
    "swahili": "sw",
    "swedish": "sv",
    "thai": "th",
    "turkish": "tr",
    "ukrainian": "uk",
    "vietnamese": "vi",
}


def language_code(hint: str | None) -> str | None:
    """``"English"`` / ``"en-US"`` / ``"en"`` → ``"en"``; blank or ``"auto"`` → None (detect).

    Anything else is returned lower-cased, for the engine to accept or refuse.
    """
    if hint is None:
        return None
    value = hint.strip().lower()
    if value in ("", "auto"):
        return None
    if value in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[value]
    return value.replace("_", "-").split("-")[0]


# --- job parameters and results ---------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TranscriptionParams(_Frozen):
    """What a transcription job is asked to do. The audio is a media digest, never the bytes."""

    audio: str
    model: str
    language: str | None = None
    prompt: str | None = None
    word_timestamps: bool = False
    aligner_model: str | None = None
    """Times words with this forced aligner instead of the ASR model's own word timestamps."""
    # Persisted speech-to-text records (docs/speech-to-text-records.md); OpenAI-route calls
    # leave these at their defaults.
    record: bool = False
    job_kind: Literal["transcription", "speaker_attributed_asr"] = "transcription"
    title: str | None = None
    filename: str | None = None
    content_type: str | None = None
    generate_summary: bool = False
    min_speakers: int | None = None
    max_speakers: int | None = None
    diarization_model: str | None = None
    """The diarizer that attributes speakers (speaker-attributed ASR only)."""


class AlignmentParams(_Frozen):
    audio: str
    text: str
    model: str
    language: str | None = None


class WordTiming(_Frozen):
    word: str
    start: float
    end: float
    probability: float | None = None


class TranscriptionResult(_Frozen):
    text: str
    language: str
    duration: float
    segment_count: int
    processing_time_ms: float
    rtf: float
    diagnostics: dict[str, Any] = {}
    speaker_count: int | None = None
    """Speaker-attributed ASR only (left out of the result otherwise)."""


class AlignmentResult(_Frozen):
    alignments: tuple[WordTiming, ...]
    duration: float
    model: str
    language: str | None
    word_count: int
    processing_time_ms: float


# --- events -----------------------------------------------------------------------------


class LanguageDetected(DomainEvent):
    """Recorded once, before the first segment: a resumed job keeps decoding in this language."""

    verb = "language_detected"
    language: str
    probability: float | None = None
    duration: float
    """Of the whole audio, in seconds."""


class SegmentTranscribed(DomainEvent):
    """One decoded segment, times in seconds from the start of the audio."""

    verb = "segment_transcribed"
    id: int
    start: float
    end: float
    text: str
    words: tuple[WordTiming, ...] = ()
    speaker: str | None = None
    """Speaker-attributed ASR: the diarized speaker whose speech the segment was decoded from."""


def is_event(event_type: str, event: type[DomainEvent]) -> bool:
    return event_type.partition(".")[2] == event.verb


def transcribed_segments(events: Iterable[tuple[str, dict[str, Any]]]) -> list[SegmentTranscribed]:
    """The segments of one stream from its ``(type, data)`` pairs, by id, each id once."""
    by_id: dict[int, SegmentTranscribed] = {}
    for event_type, data in events:
        if is_event(event_type, SegmentTranscribed):
            segment = SegmentTranscribed.model_validate(data)
            by_id.setdefault(segment.id, segment)
    return [by_id[key] for key in sorted(by_id)]


# --- transcript documents ---------------------------------------------------------------


class TimedText(Protocol):
    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def text(self) -> str: ...


def transcript_text(segments: Iterable[TimedText]) -> str:
    """The whole transcript: segment texts joined by one space (stream deltas add up to it)."""
    return " ".join(text for segment in segments if (text := _one_line(segment.text)))


def text_delta(text: str, *, first: bool) -> str:
    """What a segment adds to the transcript so far."""
    line = _one_line(text)
    return line if first else f" {line}"


def extend_transcript(text: str | None, segment_texts: Iterable[str]) -> str | None:
    """``text`` with the segments after it added one by one, as ``text_delta`` says (a blank
    segment adds nothing; an empty or absent text takes the next segment's line as its first)."""
    added = " ".join(line for segment_text in segment_texts if (line := _one_line(segment_text)))
    if not added:
        return text
    return f"{text} {added}" if text else added


def format_timestamp(seconds: float, decimal_marker: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or with ``.`` (WebVTT), rounded to the millisecond; negatives are 0.

    Hours keep counting past 99 rather than wrapping.
    """
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def _one_line(text: str) -> str:
    # A blank line ends a cue in SRT and WebVTT: cue text stays on one line.
    return " ".join(text.split())


def _cues(segments: Iterable[TimedText]) -> list[tuple[float, float, str]]:
    cues = []
    for segment in segments:
        text = _one_line(segment.text)
        if text:
            start = max(0.0, segment.start)
            cues.append((start, max(start, segment.end), text))
    return cues


def to_srt(segments: Iterable[TimedText]) -> str:
    """SubRip: numbered cues from 1; segments without text are left out."""
    blocks = [
        f"{number}\n{format_timestamp(start)} --> {format_timestamp(end)}\n{text}\n"
        for number, (start, end, text) in enumerate(_cues(segments), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: Iterable[TimedText]) -> str:
    """WebVTT: a header, then one cue per segment with text."""
    blocks = [
        f"{format_timestamp(start, '.')} --> {format_timestamp(end, '.')}\n{text.replace('-->', '->')}\n"
        for start, end, text in _cues(segments)
    ]
    return "\n".join(["WEBVTT\n", *blocks])


def verbose_transcript(
    result: TranscriptionResult,
    segments: Sequence[SegmentTranscribed],
    *,
    granularities: Iterable[str],
    diagnostics_key: str,
) -> dict[str, Any]:
    """The ``verbose_json`` body: segments when ``segment`` is asked, words when ``word`` is."""
    wanted = set(granularities)
    body: dict[str, Any] = {
        "text": result.text,
        "language": result.language,
        "duration": result.duration,
    }
    if "word" in wanted:
        body["words"] = [
            {"word": word.word, "start": word.start, "end": word.end}
            for segment in segments
            for word in segment.words
        ]
    if "segment" in wanted:
        body["segments"] = [
            {"id": s.id, "start": s.start, "end": s.end, "text": _one_line(s.text)} for s in segments
        ]
    body["processing_time_ms"] = result.processing_time_ms
    body["rtf"] = result.rtf
    body[diagnostics_key] = result.diagnostics
    return body


def alignment_text(words: Iterable[WordTiming]) -> str:
    """One word a line, ``start<TAB>end<TAB>word`` in seconds: Audacity's label-track format."""
    return "".join(f"{word.start:.3f}\t{word.end:.3f}\t{word.word}\n" for word in words)


def alignment_json(result: AlignmentResult, *, verbose: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "alignments": [{"word": w.word, "start": w.start, "end": w.end} for w in result.alignments],
        "duration": result.duration,
    }
    if verbose:
        body.update(
            model=result.model,
            language=result.language,
            word_count=result.word_count,
            processing_time_ms=result.processing_time_ms,
        )
    return body


# --- the job kinds -----------------------------------------------------------------------

TRANSCRIPTION: JobKind[TranscriptionParams] = declare(
    JobKind(
        name="transcription",
        category=TRANSCRIPTION_CATEGORY,
        actor=TRANSCRIBE_ACTOR,
        params=TranscriptionParams,
        result=TranscriptionResult,
        capability=Capability.OPENAI_AUDIO_TRANSCRIPTIONS,
        modality="text_output",
        record=RecordKind("stt_records", RECORD_STATUSES, capability=Capability.SPEECH_TO_TEXT_JOBS),
    )
)
"""OpenAI transcriptions and speech-to-text records (plain and speaker-attributed)."""
ALIGNMENT: JobKind[AlignmentParams] = declare(
    JobKind(
        name="alignment",
        category=ALIGNMENT_CATEGORY,
        actor=ALIGN_ACTOR,
        params=AlignmentParams,
        result=AlignmentResult,
        capability=Capability.FORCED_ALIGNMENT,
    )
)
