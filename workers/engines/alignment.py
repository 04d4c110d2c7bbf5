"""Forced alignment: word start and end times for a known text spoken in an audio clip.

``PocketSphinxAligner`` aligns with the en-us acoustic model and CMUdict that ship in the pocketsphinx
wheel; words missing from the dictionary get a guessed pronunciation. ``WhisperWordAligner`` maps the
text onto Whisper's word timestamps. Both return one ``Word`` per whitespace-separated word of the
text, with its original spelling and punctuation, in order, never overlapping, inside the audio.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workers.engines.base import SAMPLE_RATE, Audio, SpeechToText, Word

logger = logging.getLogger(__name__)

Span = tuple[float, float]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_PART = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*", re.IGNORECASE)
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_ALTERNATE = re.compile(r"\(\d+\)$")
_MIN_ALIGN_SECONDS = 0.1
_BEAMS: tuple[float, ...] = (1e-48, 1e-150)

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

# Letter-to-sound guesses for words missing from the dictionary, longest spelling first.
_GRAPHEMES: dict[str, str] = {
    "tch": "CH",
    "igh": "AY",
    "sch": "S K",
    "th": "TH",
    "sh": "SH",
    "ch": "CH",
    "ph": "F",
    "wh": "W",
    "ng": "NG",
    "ck": "K",
    "qu": "K W",
    "gh": "G",
    "kn": "N",
    "ee": "IY",
    "ea": "IY",
    "oo": "UW",
    "ou": "AW",
    "ow": "OW",
    "oi": "OY",
    "oy": "OY",
    "ai": "EY",
    "ay": "EY",
    "au": "AO",
    "aw": "AO",
    "ie": "IY",
    "ei": "EY",
    "er": "ER",
    "ir": "ER",
    "ur": "ER",
    "ar": "AA R",
    "or": "AO R",
    "a": "AE",
    "b": "B",
    "c": "K",
    "d": "D",
    "e": "EH",
    "f": "F",
    "g": "G",
    "h": "HH",
    "i": "IH",
    "j": "JH",
    "k": "K",
    "l": "L",
    "m": "M",
    "n": "N",
    "o": "AA",
    "p": "P",
    "q": "K",
    "r": "R",
    "s": "S",
    "t": "T",
    "u": "AH",
    "v": "V",
    "w": "W",
    "x": "K S",
    "y": "IY",
    "z": "Z",
}
_LONGEST_GRAPHEME = max(len(g) for g in _GRAPHEMES)


def normalize_word(token: str) -> str:
    """Lower-case letters, digits and inner apostrophes: how words are compared and looked up."""
    return "".join(_PART.findall(token.translate(_APOSTROPHES).lower()))


def number_words(digits: str) -> list[str]:
    """Spoken English for digits: cardinals below 10 000 (years read in pairs), else digit by digit."""
    if len(digits) > 4 or (len(digits) > 1 and digits.startswith("0")):
        return [_ONES[int(d)] for d in digits]
    value = int(digits)
    if len(digits) == 4 and value % 1000 >= 100 and value // 100 % 10 != 0:
        return _below_hundred(value // 100) + (
            ["hundred"] if value % 100 == 0 else _below_hundred(value % 100, oh=True)
        )
    words: list[str] = []
    if value >= 1000:
        words += [*_below_hundred(value // 1000), "thousand"]
        value %= 1000
    if value >= 100:
        words += [_ONES[value // 100], "hundred"]
        value %= 100
    if value or not words:
        words += _below_hundred(value)
    return words


def _below_hundred(value: int, *, oh: bool = False) -> list[str]:
    if value < 10 and oh:
        return ["oh", _ONES[value]]
    if value < 20:
        return [_ONES[value]]
    tens, ones = divmod(value, 10)
    return [_TENS[tens]] + ([_ONES[ones]] if ones else [])


def spread(tokens: Sequence[str], start: float, end: float) -> list[Span]:
    """Share ``[start, end]`` among tokens in proportion to their spoken length (none for punctuation)."""
    weights = [len(normalize_word(token)) for token in tokens]
    total = sum(weights)
    spans: list[Span] = []
    cursor = start
    for weight in weights:
        following = cursor + (end - start) * weight / total if total else start
        spans.append((cursor, following))
        cursor = following
    return spans


def finalize(
    tokens: Sequence[str],
    spans: Sequence[Span | None],
    duration: float,
    probabilities: Sequence[float | None] | None = None,
) -> list[Word]:
    """Fill words without a time between their neighbours, then make times ordered and in range."""
    filled: list[Span | None] = list(spans)
    index = 0
    while index < len(filled):
        if filled[index] is not None:
            index += 1
            continue
        run_end = index
        while run_end < len(filled) and filled[run_end] is None:
            run_end += 1
        before = filled[index - 1] if index else None
        after = filled[run_end] if run_end < len(filled) else None
        gap_start = before[1] if before else 0.0
        gap_end = max(gap_start, after[0] if after else duration)
        filled[index:run_end] = spread(tokens[index:run_end], gap_start, gap_end)
        index = run_end
    words: list[Word] = []
    cursor = 0.0
    for index, (token, span) in enumerate(zip(tokens, filled, strict=True)):
        assert span is not None
        start = min(max(span[0], cursor), duration)
        end = min(max(span[1], start), duration)
        probability = probabilities[index] if probabilities else None
        words.append(Word(word=token, start=round(start, 3), end=round(end, 3), probability=probability))
        cursor = end
    return words


def _int16_bytes(audio: Audio) -> bytes:
    clipped = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    return bytes(np.round(clipped * 32767.0).astype("<i2").tobytes())


class PronunciationGuesser:
    """Pronunciations for words missing from the dictionary, built from dictionary words and spellings."""

    def __init__(self, lookup: Callable[[str], str | None]) -> None:
        self._lookup = functools.lru_cache(maxsize=4096)(lookup)

    def lookup(self, word: str) -> str | None:
        return self._lookup(word)

    def guess(self, word: str) -> str:
        letters = word.replace("'", "")
        best: list[tuple[int, list[str]] | None] = [None] * (len(letters) + 1)
        best[0] = (0, [])
        for end in range(1, len(letters) + 1):
            for begin in range(end):
                previous = best[begin]
                if previous is None:
                    continue
                phones = self._piece(letters[begin:end])
                if phones is None:
                    continue
                candidate = (previous[0] + 1, [*previous[1], phones])
                current = best[end]
                if current is None or candidate[0] < current[0]:
                    best[end] = candidate
        result = best[-1]
        return " ".join(result[1]) if result and result[1] else "AH"

    def _piece(self, piece: str) -> str | None:
        if piece.isdigit():
            return " ".join(p for word in number_words(piece) if (p := self.lookup(word)))
        if len(piece) >= 3 and (phones := self.lookup(piece)):
            return phones
        if len(piece) <= _LONGEST_GRAPHEME:
            return _GRAPHEMES.get(piece)
        return None


class PocketSphinxAligner:
    """Forced alignment with PocketSphinx (US English acoustic model and CMUdict).

    Alignment runs with PocketSphinx's default beam (1e-48, also used as the word beam), then once more
    with a very wide one (1e-150) if that does not reach the end of the text (text that differs from what
    is said). When only the start of the text can be aligned the rest shares the remaining audio; when
    nothing can, all words share the whole clip.

    Every alignment starts with the feature extraction reset: PocketSphinx carries its cepstral mean
    over from one utterance to the next, so the same clip would otherwise be timed a frame apart
    depending on what the engine aligned before.
    """

    def __init__(
        self,
        *,
        model_id: str = "PocketSphinx-en-us",
        hmm: Path | None = None,
        dictionary: Path | None = None,
    ) -> None:
        self.model_id = model_id
        self._options: dict[str, Any] = {"lm": None, "loglevel": "FATAL"}
        if hmm is not None:
            self._options["hmm"] = str(hmm)
        if dictionary is not None:
            self._options["dict"] = str(dictionary)
        self._lock = threading.Lock()
        self._added: dict[str, str] = {}
        self._decoders: dict[float, Any] = {}
        self._decoder(_BEAMS[0])
        self._closed = False
        self._guesser = PronunciationGuesser(self._lookup)

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        model_id: str = "PocketSphinx-en-us",
        dictionary: Path | None = None,
    ) -> PocketSphinxAligner:
        """``path`` is an acoustic model directory; by default the en-us model inside the wheel."""
        return cls(model_id=model_id, hmm=path, dictionary=dictionary)

    def _new_decoder(self, beam: float) -> Any:
        from pocketsphinx import Decoder

        decoder = Decoder(**self._options, beam=beam, pbeam=beam, wbeam=beam)
        last = len(self._added) - 1
        for index, (word, phones) in enumerate(self._added.items()):
            decoder.add_word(word, phones, index == last)
        return decoder

    def _decoder(self, beam: float) -> Any:
        decoder = self._decoders.get(beam)
        if decoder is None:
            decoder = self._decoders[beam] = self._new_decoder(beam)
        return decoder

    def _lookup(self, word: str) -> str | None:
        phones = self._decoder(_BEAMS[0]).lookup_word(word)
        return str(phones) if phones else None

    def _add(self, word: str, phones: str) -> None:
        self._added[word] = phones
        for decoder in self._decoders.values():
            decoder.add_word(word, phones, True)

    def _dictionary_words(self, token: str) -> list[str]:
        """The dictionary words that say one token of the text (none for bare punctuation)."""
        units: list[str] = []
        for part in _PART.findall(_THOUSANDS.sub("", token.translate(_APOSTROPHES))):
            word = part.lower()
            if word in self._added or self._guesser.lookup(word):
                units.append(word)
            elif word.isdigit():
                units += number_words(word)
            elif part.isupper() and len(part) <= 5 and part.isalpha():
                units += list(word)
            else:
                base = word[:-2] if word.endswith("'s") else None
                base_phones = self._guesser.lookup(base) if base else None
                self._add(word, f"{base_phones} Z" if base_phones else self._guesser.guess(word))
                units.append(word)
        return units

    def align(self, audio: Audio, text: str) -> list[Word]:
        tokens = text.split()
        if not tokens:
            return []
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        duration = samples.size / SAMPLE_RATE
        if duration < _MIN_ALIGN_SECONDS:
            return finalize(tokens, spread(tokens, 0.0, duration), duration)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.model_id} engine is closed")
            spans = self._align_locked(samples, tokens)
        if spans is None:
            logger.warning("%s could not align %d words: spreading them evenly", self.model_id, len(tokens))
            return finalize(tokens, spread(tokens, 0.0, duration), duration)
        return finalize(tokens, spans, duration)

    def _align_locked(self, samples: Audio, tokens: list[str]) -> list[Span | None] | None:
        owners: list[int] = []
        units: list[str] = []
        for index, token in enumerate(tokens):
            for unit in self._dictionary_words(token):
                owners.append(index)
                units.append(unit)
        if not units:
            return [None] * len(tokens)
        raw = _int16_bytes(samples)
        aligned: list[Span] = []
        for beam in _BEAMS:
            attempt = self._run(beam, units, raw)
            if len(attempt) > len(aligned):
                aligned = attempt
            if len(aligned) == len(units):
                break
        if not aligned:
            return None
        spans: list[Span | None] = [None] * len(tokens)
        for owner, (start, end) in zip(owners, aligned, strict=False):
            current = spans[owner]
            spans[owner] = (current[0], end) if current else (start, end)
        return spans

    def _run(self, beam: float, units: list[str], raw: bytes) -> list[Span]:
        """Unit times for the longest start of ``units`` that could be aligned (empty on failure)."""
        decoder = self._decoder(beam)
        frame_rate = float(decoder.config["frate"])
        try:
            decoder.reinit_feat()
            decoder.set_align_text(" ".join(units))
            decoder.start_utt()
            decoder.process_raw(raw, full_utt=True)
            decoder.end_utt()
            segments = decoder.seg()
            aligned = [
                (_ALTERNATE.sub("", s.word), s.start_frame / frame_rate, (s.end_frame + 1) / frame_rate)
                for s in (segments if segments is not None else ())
                if not s.word.startswith(("<", "["))
            ]
        except (RuntimeError, ValueError, IndexError, TypeError):
            aligned = []
        if not aligned or [word for word, _, _ in aligned] != units[: len(aligned)]:
            del self._decoders[beam]
            return []
        return [(start, end) for _, start, end in aligned]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._decoders.clear()


class WhisperWordAligner:
    """Alignment from Whisper's word timestamps: the text's words are matched, in order, to the
    recognised words; words Whisper heard differently or missed take times from their neighbours."""

    def __init__(
        self,
        engine: SpeechToText,
        *,
        model_id: str,
        language: str | None = None,
        owns_engine: bool = False,
    ) -> None:
        self._engine: SpeechToText | None = engine
        self.model_id = model_id
        self.language = language
        self._owns_engine = owns_engine

    @classmethod
    def load(cls, path: Path, *, model_id: str, language: str | None = None) -> WhisperWordAligner:
        from workers.engines.whisper import WhisperEngine

        engine = WhisperEngine.load(path, model_id=model_id)
        return cls(engine, model_id=model_id, language=language, owns_engine=True)

    def align(self, audio: Audio, text: str) -> list[Word]:
        tokens = text.split()
        if not tokens:
            return []
        if self._engine is None:
            raise RuntimeError(f"the {self.model_id} aligner is closed")
        samples = np.asarray(audio, dtype=np.float32).reshape(-1)
        duration = samples.size / SAMPLE_RATE
        if duration < _MIN_ALIGN_SECONDS:
            return finalize(tokens, spread(tokens, 0.0, duration), duration)
        _, segments = self._engine.transcribe(samples, language=self.language, word_timestamps=True)
        heard = [word for segment in segments for word in segment.words]
        expected = [normalize_word(token) for token in tokens]
        matcher = difflib.SequenceMatcher(
            None, expected, [normalize_word(w.word) for w in heard], autojunk=False
        )
        spans: list[Span | None] = [None] * len(tokens)
        probabilities: list[float | None] = [None] * len(tokens)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                spans[i1:i2] = [(w.start, w.end) for w in heard[j1:j2]]
                probabilities[i1:i2] = [w.probability for w in heard[j1:j2]]
            elif tag == "replace":
                spans[i1:i2] = spread(tokens[i1:i2], heard[j1].start, heard[j2 - 1].end)
        return finalize(tokens, spans, duration, probabilities)

    def close(self) -> None:
        if self._engine is not None and self._owns_engine:
            self._engine.close()
        self._engine = None
