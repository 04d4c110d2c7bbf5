"""The ``voice_sessions`` read model: one row per voice session, for the list (its title, mode,
whether it ended, how many turns it has). A session's turns are folded from its stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, update

from app.projections.pages import listing_columns
from app.projections.tables import voice_sessions
from domain.voice import (
    SESSION_CATEGORY,
    VoiceSessionChanged,
    VoiceSessionCreated,
    VoiceSessionDeleted,
    VoiceSessionEnded,
    VoiceTurnRequested,
)
from eventstore.base import RecordedEvent


class VoiceSessionsProjection:
    name = "voice_sessions"

    @property
    def tables(self) -> Sequence[Table]:
        return [voice_sessions]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.category != SESSION_CATEGORY:
            return
        verb = event.type.partition(".")[2]
        table = voice_sessions
        if verb == VoiceSessionCreated.verb:
            created = VoiceSessionCreated.model_validate(event.data)
            connection.execute(
                insert(table).values(
                    id=created.session_id,
                    title=created.title,
                    mode=created.mode,
                    ended=False,
                    turn_count=0,
                    **listing_columns(event),
                )
            )
            return
        this = table.c.stream_id == event.stream_id
        if verb == VoiceSessionDeleted.verb:
            connection.execute(delete(table).where(this))
            return
        changes: dict[str, Any] = {"updated_at": event.recorded_at, "last_position": event.position}
        if verb == VoiceSessionChanged.verb:
            if "title" in event.data["changes"]:
                changes["title"] = event.data["changes"]["title"]
        elif verb == VoiceSessionEnded.verb:
            changes["ended"] = True
        elif verb == VoiceTurnRequested.verb:
            changes["turn_count"] = table.c.turn_count + 1
        connection.execute(update(table).where(this).values(**changes))
