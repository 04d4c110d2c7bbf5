"""Which media objects an event claims for its stream, and which events give a stream's claims up.

A media object's file may be deleted only when no stream claims it any more: the same bytes
uploaded twice, or the same sentence synthesized twice, are one content-addressed object shared
by several streams. Pure: the ``media_references`` projection uses it (migration 0003 keeps its
own copy of these rules as they were when it was written: a migration never imports them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_DIGEST = re.compile(r"^[0-9a-f]{64}$")

MEDIA_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    # A job's input: the audio to transcribe, diarize or align; a speech job's reference voice.
    "requested": (("params", "audio"), ("params", "reference_audio")),
    # A speech job's sentence, and a speech record's whole audio.
    "chunk_synthesized": (("media",),),
    "completed": (("result", "audio"),),
    # A Studio segment's rendered audio, recorded in its project's stream.
    "segment_audio_rendered": (("media",),),
    # A saved voice's reference audio (one whose transcript came with it; the others are jobs).
    "saved": (("audio",),),
    # A media path's object (``/v1/media``).
    "uploaded": (("digest",),),
    # A chat thread message's audio attachments: the thread keeps them while it lasts.
    "message_sent": (("attachments", "*", "digest"),),
}
"""By event verb (in any category): where in the event's data a media digest may be (``*``: each
item of a list)."""

RELEASING_VERBS = frozenset({"record_deleted", "deleted"})
"""Events after which their stream claims no media object (a record, voice or media path deleted)."""

REPLACING_VERBS = frozenset({"uploaded"})
"""Events whose claims replace every earlier claim of their stream, a release included: a media path
uploaded again holds its new object only, even after it was deleted."""

RELEASED = "released"
"""The digest recorded for a released stream (never a sha256 digest): it claims nothing more."""


def verb_of(event_type: str) -> str:
    return event_type.partition(".")[2]


def claimed_media(event_type: str, data: Mapping[str, Any]) -> list[str]:
    """The media digests the event claims for its stream, each once."""
    found: list[str] = []
    for path in MEDIA_FIELDS.get(verb_of(event_type), ()):
        for value in _values_at(data, path):
            if isinstance(value, str) and _DIGEST.match(value) and value not in found:
                found.append(value)
    return found


def _values_at(value: Any, path: tuple[str, ...]) -> list[Any]:
    if not path:
        return [value]
    key, rest = path[0], path[1:]
    if key == "*":
        items = value if isinstance(value, list | tuple) else ()
        return [found for item in items for found in _values_at(item, rest)]
    return _values_at(value.get(key), rest) if isinstance(value, Mapping) else []


def releases_media(event_type: str) -> bool:
    return verb_of(event_type) in RELEASING_VERBS


def replaces_media(event_type: str) -> bool:
    return verb_of(event_type) in REPLACING_VERBS
