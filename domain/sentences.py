"""Splitting text into sentences, the unit speech is synthesized and streamed in: shared by the
speech engines and by Studio, which splits a long paragraph into segments. Pure."""

from __future__ import annotations

import re

_CLOSING = "\"'\u201d\u2019\u00bb)\\]"  # quotes and brackets that may follow a stop
_CJK_STOPS = "\u3002\uff01\uff1f"  # ideographic full stop, fullwidth ! and ?
_SENTENCE_END = re.compile(rf"[.!?\u2026]+[{_CLOSING}]*(?:\s+|$)|[{_CJK_STOPS}]+\s*|\n[ \t]*\n\s*")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "fig", "approx"}
)


def _ends_with_abbreviation(sentence: str) -> bool:
    if not sentence.endswith("."):
        return False
    words = sentence.split()
    last = words[-1].rstrip(".").lower() if words else ""
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def split_sentences(text: str) -> list[str]:
    """Split text into sentences at terminal punctuation or blank lines, keeping the punctuation.

    A stop followed by a lower-case word ("5 p.m. today"), a common abbreviation ("Dr.",
    "e.g.") or an initial does not end a sentence.
    """
    sentences: list[str] = []
    pending = ""
    start = 0
    for match in _SENTENCE_END.finditer(text):
        pending += text[start : match.end()]
        start = match.end()
        sentence = pending.strip()
        if not sentence:
            continue
        if match.group()[0] in ".!?…" and (
            text[match.end() : match.end() + 1].islower() or _ends_with_abbreviation(sentence)
        ):
            continue
        sentences.append(sentence)
        pending = ""
    rest = (pending + text[start:]).strip()
    if rest:
        sentences.append(rest)
    return [" ".join(sentence.split()) for sentence in sentences]
