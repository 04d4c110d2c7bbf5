"""Chat threads through a real ``sauti serve`` with its worker processes: a thread of three messages
survives a server restart, and the reply after it is made over all three turns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SautiServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

THREADS = "/v1/chat/threads"
SLOW = httpx.Timeout(10.0, read=180.0)
QUESTIONS = ("My name is Ana.", "I live in Lisbon.", "I have a cat called Tom.")


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _send(client: httpx.Client, thread_id: str, content: str) -> dict[str, Any]:
    body = {"content": content, "temperature": 0, "max_tokens": 24}
    sent: dict[str, Any] = _ok(client.post(f"{THREADS}/{thread_id}/messages", json=body, timeout=SLOW))
    return sent


def test_a_thread_of_three_messages_survives_a_restart(server_factory: Callable[..., SautiServer]) -> None:
    server = server_factory()
    with server.client() as client:
        thread = _ok(client.post(THREADS, json={"system_prompt": "Answer in a few words."}), 201)
        for content in QUESTIONS:
            _send(client, thread["id"], content)
        before = _ok(client.get(f"{THREADS}/{thread['id']}"))
    server.stop_and_check()

    again = server_factory(server.data_dir)
    with again.client() as client:
        after = _ok(client.get(f"{THREADS}/{thread['id']}"))
        assert after == before
        assert [m["content"] for m in after["messages"] if m["role"] == "user"] == list(QUESTIONS)
        assert len(after["messages"]) == 6 and all(m["content"] for m in after["messages"])
        listed = _ok(client.get(THREADS))["records"]
        assert [t["message_count"] for t in listed if t["id"] == thread["id"]] == [6]
        fourth = _send(client, thread["id"], "What is my name, and what is my cat called?")
    reply = fourth["assistant_message"]
    assert reply["history_turns_used"] == 3 and reply["history_turns_left_out"] == 0
    assert "Ana" in reply["content"] or "Tom" in reply["content"], reply["content"]
