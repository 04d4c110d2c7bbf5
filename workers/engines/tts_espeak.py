"""espeak-ng text-to-speech through its C API (ctypes), over the library ``espeakng-loader`` ships.

espeak-ng is formant synthesis: robotic, but tiny, instant and in about a hundred languages.
The library keeps one global state per process, so every engine shares one initialisation and
synthesis is serialised by a lock; each sentence is synthesized synchronously and its samples
are collected by the synth callback.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from domain.sentences import split_sentences
from workers.engines.base import AudioChunk, CapabilityError
from workers.engines.bundled_paths import espeak_data_dir, espeak_library
from workers.engines.tts_piper import check_speed

DEFAULT_VOICE = "en"
DEFAULT_RATE_WPM = 175
MIN_RATE_WPM = 80
MAX_RATE_WPM = 450

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAMETER_RATE = 1
_BUFFER_MS = 500
_EE_OK = 0


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _languages(pointer: int | None) -> list[str]:
    """Decode ``espeak_VOICE.languages``: (priority byte, NUL-terminated name) pairs, then a 0 byte."""
    names: list[str] = []
    if not pointer:
        return names
    offset = 0
    while ctypes.string_at(pointer + offset, 1) != b"\0":
        name = ctypes.string_at(pointer + offset + 1)
        names.append(name.decode("utf-8", "replace"))
        offset += len(name) + 2
    return names


class _Espeak:
    """The process-wide espeak-ng library: loaded and initialised once."""

    def __init__(self, library: Path, data: Path) -> None:
        self.lock = threading.Lock()
        self._samples: list[np.ndarray] = []
        lib = ctypes.CDLL(str(library))
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, str(data).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with the data in {data}")
        self.sample_rate = rate
        self._callback = _SynthCallback(self._collect)  # kept referenced: the library calls it
        lib.espeak_SetSynthCallback(self._callback)
        self._lib = lib
        self.voices, self.aliases = self._list_voices()
        variants = data / "voices" / "!v"
        self.variants = {p.name.lower() for p in variants.iterdir()} if variants.is_dir() else set()
        """Voice variants a name may add after "+" (e.g. "en+f3")."""

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if count > 0 and wav:
            self._samples.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def _list_voices(self) -> tuple[list[str], set[str]]:
        """Language codes (what ``voices()`` offers) and every name espeak-ng accepts."""
        languages: set[str] = set()
        aliases: set[str] = set()
        listed = self._lib.espeak_ListVoices(None)
        index = 0
        while listed[index]:
            voice = listed[index].contents
            index += 1
            identifier = (voice.identifier or b"").decode("utf-8", "replace")
            if identifier.startswith("mb/"):
                continue  # MBROLA voices need the separate mbrola program and databases
            codes = _languages(voice.languages)
            languages.update(code.lower() for code in codes)
            aliases.update(code.lower() for code in codes)
            aliases.add(identifier.lower())
            aliases.add(identifier.rsplit("/", 1)[-1].lower())
            if voice.name:
                aliases.add(voice.name.decode("utf-8", "replace").lower())
        return sorted(languages), aliases

    def knows(self, name: str) -> bool:
        base, _, variant = name.lower().partition("+")
        return base in self.aliases and (not variant or variant in self.variants)

    def synthesize(self, text: str, voice: str, rate: int) -> np.ndarray:
        encoded = text.encode("utf-8") + b"\0"
        with self.lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise ValueError(f"espeak-ng could not select the voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAMETER_RATE, rate, 0)
            self._samples = []
            error = self._lib.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            samples, self._samples = self._samples, []
        if error != _EE_OK:
            raise RuntimeError(f"espeak-ng failed to synthesize (error {error})")
        if not samples:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(samples).astype(np.float32) / 32768.0).astype(np.float32)


_LIBRARY: _Espeak | None = None
_LIBRARY_LOCK = threading.Lock()


def _library(path: Path | None) -> _Espeak:
    global _LIBRARY
    with _LIBRARY_LOCK:
        if _LIBRARY is None:
            data = path if path is not None and (path / "phontab").is_file() else espeak_data_dir()
            _LIBRARY = _Espeak(espeak_library(), data)
        return _LIBRARY


def words_per_minute(speed: float) -> int:
    return max(MIN_RATE_WPM, min(MAX_RATE_WPM, round(DEFAULT_RATE_WPM * check_speed(speed))))


class EspeakEngine:
    """espeak-ng voices, by language code ("en", "en-us", "fr", "de", "sw", ...) (SpeechSynthesizer).

    ``voice`` may also be an espeak-ng voice identifier or name, with a ``+variant`` suffix
    (e.g. ``en-us+f3``); with no voice, ``language`` (or English) picks one.
    """

    def __init__(self, library: _Espeak, *, model_id: str) -> None:
        self._library: _Espeak | None = library
        self.model_id = model_id

    @classmethod
    def load(cls, path: Path | None = None, *, model_id: str = "espeak-ng") -> EspeakEngine:
        """``path``: an ``espeak-ng-data`` directory; by default the one ``espeakng-loader`` ships.

        The library is initialised once per process, with the data of the first load.
        """
        return cls(_library(path), model_id=model_id)

    @property
    def sample_rate(self) -> int:
        return self._loaded().sample_rate

    def voices(self) -> list[str]:
        return list(self._loaded().voices)

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0, language: str | None = None
    ) -> Iterator[AudioChunk]:
        """One chunk per sentence; the voice and speed are checked before the first is asked for."""
        library = self._loaded()
        requested = (voice or language or DEFAULT_VOICE).strip()
        # "en_US" is a locale; espeak-ng spells its languages "en-us"
        name = next((n for n in (requested, requested.replace("_", "-")) if library.knows(n)), None)
        if name is None:
            raise CapabilityError(
                self.model_id, f"voice {requested!r}", "use a language code from its voices (en, fr, sw, ...)"
            )
        return self._stream(library, split_sentences(text), name, words_per_minute(speed))

    def _stream(self, library: _Espeak, sentences: list[str], voice: str, rate: int) -> Iterator[AudioChunk]:
        for sentence in sentences:
            samples = library.synthesize(sentence, voice, rate)
            if samples.size:
                yield AudioChunk(samples=samples, sample_rate=library.sample_rate, text=sentence)

    def _loaded(self) -> _Espeak:
        if self._library is None:
            raise RuntimeError(f"{self.model_id} is closed")
        return self._library

    def close(self) -> None:
        """Forget the library; it stays initialised for the process (a few MB, shared)."""
        self._library = None
