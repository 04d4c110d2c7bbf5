"""Chat threads through the routes, answered by the real Qwen2.5-Coder 0.5B on the embedded broker:
a thread that remembers its turns, two sends answered one after the other, a streamed reply, the
oldest turns left out when the history outgrows the context, audio attachments read as their
transcripts (Whisper), and bad input refused with nothing written."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import dramatiq
import pytest
from quart.typing import TestClientProtocol as Client

from app.bootstrap import Container
from app.settings import Settings
from tests.conftest import FIXTURES
from tests.integration.conftest import json_answer

pytestmark = pytest.mark.usefixtures("runtime")

THREADS = "/v1/chat/threads"
QWEN = "Qwen2.5-Coder-0.5B-Instruct-GGUF"
JFK = FIXTURES / "audio" / "jfk.flac"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No retries: a failed reply is an outcome under test, not something to try again."""
    return settings.model_copy(update={"job_max_retries": 0})


@pytest.fixture(autouse=True)
def running_worker(worker: Callable[[], dramatiq.Worker]) -> dramatiq.Worker:
    return worker()


async def _thread(client: Client, **fields: Any) -> dict[str, Any]:
    thread: dict[str, Any] = await json_answer(await client.post(THREADS, json=fields), 201)
    return thread


async def _send(client: Client, thread_id: str, content: str, **fields: Any) -> dict[str, Any]:
    body = {"content": content, "temperature": 0, "max_tokens": 40, **fields}
    sent: dict[str, Any] = await json_answer(
        await client.post(f"{THREADS}/{thread_id}/messages", json=body), 200
    )
    return sent


def _events(container: Container, stream_id: str) -> list[str]:
    return [event.type for event in container.store.read_stream(stream_id)]


async def test_a_thread_remembers_its_turns(client: Client, container: Container) -> None:
    thread = await _thread(client, system_prompt="You are a helpful assistant. Answer in one short sentence.")
    assert thread["title"] == "New chat" and thread["messages"] == []
    first = await _send(client, thread["id"], "My name is Ana. Please remember it.")
    assert first["user_message"]["turn"] == 1 and first["assistant_message"]["history_turns_used"] == 0
    second = await _send(client, thread["id"], "What is my name?")
    answer = second["assistant_message"]
    assert answer["history_turns_used"] == 1 and answer["history_turns_left_out"] == 0
    assert "Ana" in answer["content"], answer["content"]
    assert (
        answer["stats"]["usage"]["prompt_tokens"]
        > first["assistant_message"]["stats"]["usage"]["prompt_tokens"]
    )

    shown = await json_answer(await client.get(f"{THREADS}/{thread['id']}"), 200)
    assert [(m["role"], m["turn"]) for m in shown["messages"]] == [
        ("user", 1),
        ("assistant", 1),
        ("user", 2),
        ("assistant", 2),
    ]
    assert shown["title"] == "My name is Ana. Please remember it." and shown["message_count"] == 4
    assert all(m["reply"]["status"] == "completed" for m in shown["messages"] if m["role"] == "user")
    listed = await json_answer(await client.get(THREADS), 200)
    row = next(t for t in listed["records"] if t["id"] == thread["id"])
    assert row["message_count"] == 4 and row["last_message"] == answer["content"][:200]
    assert row["title"] == shown["title"]
    # Each reply is a job, and the thread's stream holds both sides of the conversation.
    assert _events(container, f"thread-{thread['id']}") == [
        "thread.created",
        "thread.changed",
        "thread.message_sent",
        "thread.reply_recorded",
        "thread.message_sent",
        "thread.reply_recorded",
    ]


async def test_two_sends_at_once_are_answered_one_after_the_other(
    client: Client, container: Container
) -> None:
    thread = await _thread(client, title="Race")
    first, second = await asyncio.gather(
        _send(client, thread["id"], "Say the word apple."), _send(client, thread["id"], "Say the word pear.")
    )
    answers = sorted([first, second], key=lambda sent: sent["user_message"]["turn"])
    assert [a["user_message"]["turn"] for a in answers] == [1, 2]
    assert [a["assistant_message"]["history_turns_used"] for a in answers] == [0, 1]
    # The second reply started only after the first completed: never interleaved.
    one, two = (container.store.read_stream(f"reply-{a['user_message']['reply']['job_id']}") for a in answers)
    completed = next(e.position for e in one if e.type == "reply.completed")
    started = next(e.position for e in two if e.type == "reply.started")
    assert started > completed
    assert sum(e.type == "reply.started" for e in two) == 1  # waiting recorded nothing


async def test_a_streamed_reply_sends_start_deltas_and_done(client: Client) -> None:
    thread = await _thread(client)
    body = {"content": "Count from one to five.", "stream": True, "temperature": 0, "max_tokens": 40}
    response = await client.post(f"{THREADS}/{thread['id']}/messages", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    frames = []
    for block in (await response.get_data(as_text=True)).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines:
            frames.append((lines["event"], json.loads(lines["data"])))
    names = [name for name, _ in frames]
    assert names[0] == "start" and names[-1] == "done" and set(names[1:-1]) == {"delta"}, names
    start, done = frames[0][1], frames[-1][1]
    assert start["thread_id"] == thread["id"] and start["message"]["content"] == "Count from one to five."
    assert start["model_id"] == QWEN
    streamed = "".join(data["delta"] for name, data in frames if name == "delta")
    assert done["message"]["content"] == streamed.strip() and done["stats"]["usage"]["completion_tokens"] > 0
    stored = await json_answer(await client.get(f"{THREADS}/{thread['id']}/messages"), 200)
    assert stored["data"][-1]["content"] == done["message"]["content"]


async def test_the_oldest_turns_are_left_out_when_the_history_outgrows_the_context(client: Client) -> None:
    """4,096 tokens of context, 3,500 of them kept for the answer: room for one long turn only."""
    thread = await _thread(client, system_prompt="Reply with the single word OK.")
    long = "Here is a note about the weather in the hills, which was calm. " * 24  # about 330 tokens
    budget = {"max_tokens": 3500, "temperature": 0}
    first = await _send(client, thread["id"], long + "Reply OK.", **budget)
    second = await _send(client, thread["id"], long + "Reply OK again.", **budget)
    assert first["assistant_message"]["history_turns_used"] == 0
    kept = second["assistant_message"]
    assert (kept["history_turns_used"], kept["history_turns_left_out"]) == (0, 1)
    # A message that alone does not fit fails its reply, saying why; the thread keeps the message.
    refused = await client.post(
        f"{THREADS}/{thread['id']}/messages", json={"content": long * 3, "max_tokens": 3500}
    )
    error = (await json_answer(refused, 400))["error"]
    assert error["param"] == "content" and QWEN in error["message"]
    shown = await json_answer(await client.get(f"{THREADS}/{thread['id']}"), 200)
    assert shown["messages"][-1]["reply"]["status"] == "failed"
    # Streamed, the same refusal ends the stream as its `error` event.
    streamed = await client.post(
        f"{THREADS}/{thread['id']}/messages", json={"content": long * 3, "max_tokens": 3500, "stream": True}
    )
    blocks = [b for b in (await streamed.get_data(as_text=True)).split("\n\n") if b.startswith("event: ")]
    assert [b.splitlines()[0] for b in blocks] == ["event: start", "event: error"]
    error = json.loads(blocks[-1].splitlines()[1].removeprefix("data: "))
    assert (error["status"], error["param"]) == (400, "content") and QWEN in error["error"]


async def test_an_audio_attachment_is_read_as_its_transcript(client: Client) -> None:
    upload = {
        "data_base64": base64.b64encode(JFK.read_bytes()).decode(),
        "content_type": "audio/flac",
        "filename": "jfk.flac",
        "namespace": "chat/attachments",
    }
    stored = await json_answer(await client.post("/v1/media", json=upload), 201)
    thread = await _thread(client)
    parts = [
        {"type": "text", "text": "Here is a recording."},
        {"type": "audio_url", "audio_url": {"url": stored["url"]}},
    ]
    sent = await _send(client, thread["id"], "", content_parts=parts)
    attachment = sent["user_message"]["attachments"][0]
    assert attachment["index"] == 1 and attachment["path"] == "chat/attachments/jfk.flac"
    assert "ask not what your country can do for you" in attachment["transcript"].lower()
    assert sent["user_message"]["content"] == "Here is a recording."
    assert sent["assistant_message"]["content"]


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    client: Client, container: Container
) -> None:
    for method, path in (
        ("GET", f"{THREADS}/nope"),
        ("PATCH", f"{THREADS}/nope"),
        ("DELETE", f"{THREADS}/nope"),
        ("GET", f"{THREADS}/nope/messages"),
        ("POST", f"{THREADS}/nope/messages"),
    ):
        body = {"content": "hi"} if method in ("PATCH", "POST") else None
        answer = await json_answer(await client.open(path, method=method, json=body), 404)
        assert "nope" in answer["error"]["message"]
    thread = await _thread(client, title="Kept")
    stream = f"thread-{thread['id']}"
    version = container.store.stream_version(stream)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    for body, param, says in (
        ({"content": ""}, "content", "empty"),
        ({"content": "   "}, "content", "empty"),
        ({"content": "hi", "role": "assistant"}, "role", "user"),
        ({"content": "hi", "model": "no-such-model"}, "model", "no-such-model"),
        ({"content": "hi", "model": "Piper-Joe-Medium"}, "model", "Piper-Joe-Medium"),
        ({"content_parts": [image]}, "content_parts[0]", "image input"),
        (
            {"content_parts": [{"type": "audio_url", "audio_url": {"url": "/v1/media/none.wav"}}]},
            "content_parts[0]",
            "none.wav",
        ),
        (
            {"content_parts": [{"type": "audio_url", "audio_url": {"url": "/v1/media/../x.wav"}}]},
            "content_parts[0]",
            "",
        ),
        (
            {"content_parts": [{"type": "audio_url", "audio_url": {"url": "https://elsewhere/x.wav"}}]},
            "content_parts[0]",
            "/v1/media/",
        ),
        ({"content_parts": [{"type": "mystery"}]}, "content_parts[0]", "mystery"),
        ({"content": "hi", "max_tokens": 0}, "max_tokens", ""),
        ({"content": "hi", "temperature": 3}, "temperature", ""),
    ):
        answer = await json_answer(await client.post(f"{THREADS}/{thread['id']}/messages", json=body), 400)
        assert answer["error"]["param"] == param, (body, answer)
        assert says in answer["error"]["message"], (body, answer)
    for body, param in (({"title": ""}, "title"), ({"model": "Piper-Joe-Medium"}, "model")):
        answer = await json_answer(await client.patch(f"{THREADS}/{thread['id']}", json=body), 400)
        assert answer["error"]["param"] == param
    assert container.store.stream_version(stream) == version
    renamed = await json_answer(
        await client.patch(f"{THREADS}/{thread['id']}", json={"title": "Renamed"}), 200
    )
    assert renamed["title"] == "Renamed"
    await json_answer(await client.delete(f"{THREADS}/{thread['id']}"), 200)
    await json_answer(await client.get(f"{THREADS}/{thread['id']}"), 404)
    listed = await json_answer(await client.get(THREADS), 200)
    assert thread["id"] not in {t["id"] for t in listed["records"]}
