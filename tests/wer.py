"""Word and character error rates, as the fixtures README defines them: lower-cased, punctuation
removed. The character rate ignores where words break ("France is" heard as "Francis" is one
character wrong, not two words): the fair measure for a sentence or two of synthesized speech."""

from __future__ import annotations

import re


def normalize(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def _distance_rate(ref: list[str], hyp: list[str]) -> float:
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1] / max(1, len(ref))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference length."""
    return _distance_rate(normalize(reference), normalize(hypothesis))


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Character-level Levenshtein distance over the reference length, spaces left out."""
    return _distance_rate(list("".join(normalize(reference))), list("".join(normalize(hypothesis))))
