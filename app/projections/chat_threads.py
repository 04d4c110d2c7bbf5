"""The ``chat_threads`` read model: one row per thread, for the list (its title, model, how many
messages it holds and the last one's opening). A thread's messages are folded from its stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, update

from app.projections.pages import listing_columns
from app.projections.tables import chat_threads
from domain.chat_threads import (
    CATEGORY,
    DEFAULT_TITLE,
    SETTINGS,
    MessageSent,
    ReplyRecorded,
    ThreadChanged,
    ThreadCreated,
    ThreadDeleted,
)
from eventstore.base import RecordedEvent

PREVIEW_CHARS = 200


class ChatThreadsProjection:
    name = "chat_threads"

    @property
    def tables(self) -> Sequence[Table]:
        return [chat_threads]

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.category != CATEGORY:
            return
        verb = event.type.partition(".")[2]
        table = chat_threads
        if verb == ThreadCreated.verb:
            created = ThreadCreated.model_validate(event.data)
            connection.execute(
                insert(table).values(
                    id=created.thread_id,
                    title=created.title or DEFAULT_TITLE,
                    model=created.model,
                    message_count=0,
                    last_message=None,
                    **listing_columns(event),
                )
            )
            return
        this = table.c.stream_id == event.stream_id
        if verb == ThreadDeleted.verb:
            connection.execute(delete(table).where(this))
            return
        changes: dict[str, Any] = {"updated_at": event.recorded_at, "last_position": event.position}
        if verb == ThreadChanged.verb:
            changes.update(
                {k: v for k, v in event.data["changes"].items() if k in SETTINGS and k != "system_prompt"}
            )
        elif verb in (MessageSent.verb, ReplyRecorded.verb):
            changes["message_count"] = table.c.message_count + 1
            changes["last_message"] = str(event.data["content"])[:PREVIEW_CHARS]
        else:
            return
        connection.execute(update(table).where(this).values(**changes))
