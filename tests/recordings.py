"""The recordings the conversation tests ask about: two said by Piper (so their words are known) and
the JFK fixture, with the question whose answer is in one of them."""

from __future__ import annotations

from tests.conftest import FIXTURES

JFK = FIXTURES / "audio" / "jfk.flac"
SHEILA = (
    "Sheila said the deadline for the budget report moves to next Friday, "
    "and everyone should send her their numbers by Wednesday."
)
WEATHER = "Tomorrow will be sunny in Nairobi, with a light breeze from the east in the afternoon."
QUESTION = "What did Sheila say about the deadline?"
SPOKEN_QUESTION = "What is the capital city of France?"
