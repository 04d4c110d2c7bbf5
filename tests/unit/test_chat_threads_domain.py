"""Chat threads, pure: the fold, and a reply's prompt (the system prompt always, then as many of the
latest answered turns as fit, then the message)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.chat_threads import (
    Attachment,
    AttachmentTranscript,
    MessageSent,
    ReplyRecorded,
    ThreadChanged,
    ThreadCreated,
    ThreadDeleted,
    answered_before,
    fold,
    reply_prompt,
    title_from,
)
from domain.errors import NotFound
from domain.events import DomainEvent

DIGEST = "d" * 64


def _events(*events: DomainEvent) -> list[tuple[str, dict[str, Any], int, float]]:
    return [(e.verb, e.payload(), version, 100.0 + version) for version, e in enumerate(events, start=1)]


def _sent(turn: int, content: str, **fields: Any) -> MessageSent:
    return MessageSent(
        turn=turn, message_id=f"m{turn}", content=content, reply_job_id=f"r{turn}", model="Q", **fields
    )


def _reply(turn: int, content: str, **fields: Any) -> ReplyRecorded:
    return ReplyRecorded(
        turn=turn,
        message_id=f"r{turn}",
        content=content,
        model="Q",
        history_turns_used=turn - 1,
        history_turns_left_out=0,
        stats={},
        **fields,
    )


def test_the_fold_keeps_turns_in_order_with_their_replies_and_settings() -> None:
    heard = AttachmentTranscript(index=1, text="ask not", model="W")
    thread = fold(
        _events(
            ThreadCreated(thread_id="t", title=None, system_prompt="Be brief."),
            ThreadChanged(changes={"title": "Names"}),
            _sent(1, "I am Ana.", attachments=(Attachment(index=1, path="a.wav", digest=DIGEST),)),
            _sent(2, "Who am I?"),
            _reply(2, "Ana."),
            _reply(1, "Hello Ana.", transcripts=(heard,)),
        )
    )
    assert thread is not None and thread.title == "Names" and thread.system_prompt == "Be brief."
    assert [t.number for t in thread.turns] == [1, 2] and thread.next_turn == 3
    first, second = thread.turns
    assert first.reply is not None and first.reply.content == "Hello Ana."
    assert first.user_text() == "I am Ana.\n\n[Audio attachment 1: ask not]"
    assert second.reply is not None and second.reply.content == "Ana."
    assert thread.version == 6 and thread.updated_at == 106.0
    with pytest.raises(NotFound):
        thread.turn(3)
    assert fold(_events(ThreadCreated(thread_id="t"), ThreadDeleted())).deleted  # type: ignore[union-attr]


def test_a_prompt_is_the_system_prompt_the_answered_turns_and_the_message() -> None:
    thread = fold(
        _events(
            ThreadCreated(thread_id="t"),
            _sent(1, "one"),
            _reply(1, "uno"),
            _sent(2, "two"),  # its reply failed: left out
            _sent(3, "three"),
            _reply(3, "tres"),
            _sent(4, "four"),
        )
    )
    assert thread is not None
    history = answered_before(thread, 4)
    assert history == [("one", "uno"), ("three", "tres")]
    prompt = reply_prompt("sys", history, "four", lambda messages: True)
    assert prompt is not None and (prompt.turns_used, prompt.turns_left_out) == (2, 0)
    assert [m["content"] for m in prompt.messages] == ["sys", "one", "uno", "three", "tres", "four"]
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]


@pytest.mark.parametrize("room", [0, 1, 2, 5, 9])
def test_the_oldest_turns_are_left_out_to_fit_and_the_system_prompt_never_is(room: int) -> None:
    events: list[DomainEvent] = [ThreadCreated(thread_id="t")]
    for turn in range(1, 10):
        events += [_sent(turn, f"q{turn}"), _reply(turn, f"a{turn}")]
    thread = fold(_events(*events, _sent(10, "now")))
    assert thread is not None
    asked: list[int] = []

    def fits(messages: list[dict[str, str]]) -> bool:
        asked.append(len(messages))
        return (len(messages) - 2) // 2 <= room  # the system prompt, the message, then turn pairs

    prompt = reply_prompt("sys", answered_before(thread, 10), "now", fits)
    assert prompt is not None
    assert (prompt.turns_used, prompt.turns_left_out) == (room, 9 - room)
    assert prompt.messages[0] == {"role": "system", "content": "sys"}
    assert prompt.messages[-1] == {"role": "user", "content": "now"}
    kept = [m["content"] for m in prompt.messages[1:-1]]
    assert kept == [text for turn in range(10 - room, 10) for text in (f"q{turn}", f"a{turn}")]
    assert len(asked) <= 6  # a binary search over the turns, not one question per turn


def test_no_prompt_when_the_message_alone_does_not_fit() -> None:
    assert reply_prompt("sys", [], "a very long message", lambda messages: False) is None


def test_an_untitled_thread_is_named_after_its_first_words() -> None:
    assert title_from("  What   did Sheila say?  ") == "What did Sheila say?"
    long = title_from("word " * 40)
    assert long.endswith("…") and len(long) <= 61 and "  " not in long
    assert title_from("   ") == "New chat"
