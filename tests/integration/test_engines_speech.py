"""Speech engines on real audio: FFmpeg decode/encode, Whisper, Silero VAD and both forced aligners."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from domain.catalog import find_variant
from tests.conftest import JFK, JFK_TEXT
from tests.recordings import (
    PAUSE_SECONDS,
    TWO_SENTENCES_SECONDS,
    TWO_SENTENCES_TEXT,
    noise,
    seconds,
    silence,
    two_sentences,
)
from tests.two_speakers import LEFT_SENTENCE, STEREO
from tests.wer import normalize, word_error_rate
from workers.engines.alignment import PocketSphinxAligner, WhisperWordAligner
from workers.engines.audio import (
    COMPRESSED_FORMATS,
    NATIVE_FORMATS,
    AudioDecodeError,
    content_type_for,
    decode_audio,
    encode_audio,
    encoder_available,
    ffmpeg_binary,
    iter_decoded,
)
from workers.engines.base import SAMPLE_RATE, Audio, CapabilityError, ForcedAligner, Segment, Word
from workers.engines.model_files import ModelFiles
from workers.engines.vad import SileroVad
from workers.engines.whisper import WhisperEngine

JFK_SECONDS = 11.0


def test_word_error_rate() -> None:
    assert word_error_rate("Ask not, what.", "ask not what") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5
    assert word_error_rate("a b", "a b c d") == 1.0


@pytest.fixture(scope="module")
def jfk() -> Audio:
    return decode_audio(JFK)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    return ModelFiles(tmp_path_factory.mktemp("models"))


def _whisper(models: ModelFiles, model_id: str) -> Iterator[WhisperEngine]:
    pytest.importorskip("faster_whisper")
    variant = find_variant(model_id)
    assert variant is not None
    if not models.bundle_available(variant):
        pytest.skip(f"the bundled {model_id} packages are not installed")
    engine = WhisperEngine.load(models.materialize(variant), model_id=model_id)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def tiny_en(models_dir: ModelFiles) -> Iterator[WhisperEngine]:
    yield from _whisper(models_dir, "Whisper-Tiny.en")


@pytest.fixture(scope="module")
def base(models_dir: ModelFiles) -> Iterator[WhisperEngine]:
    yield from _whisper(models_dir, "Whisper-Base")


@pytest.fixture(scope="module")
def transcripts(tiny_en: WhisperEngine, base: WhisperEngine, jfk: Audio) -> dict[str, list[Segment]]:
    """jfk.flac transcribed once per model, with word timestamps."""
    result: dict[str, list[Segment]] = {}
    for engine in (tiny_en, base):
        info, segments = engine.transcribe(jfk, word_timestamps=True)
        assert info.language == "en"
        assert info.duration == pytest.approx(JFK_SECONDS, abs=0.1)
        result[engine.model_id] = list(segments)
    return result


# Decoding


def test_decode_flac_to_16k_mono_float32(jfk: Audio) -> None:
    assert jfk.dtype == np.float32
    assert jfk.ndim == 1
    assert len(jfk) / SAMPLE_RATE == pytest.approx(JFK_SECONDS, abs=0.05)
    assert 0.01 < float(np.abs(jfk).max()) <= 1.0


def test_decode_bytes_matches_path(jfk: Audio) -> None:
    np.testing.assert_array_equal(decode_audio(JFK.read_bytes()), jfk)


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [("mp3", "libmp3lame"), ("m4a", "aac"), ("ogg", "libopus"), ("webm", "libopus"), ("wav", "pcm_s16le")],
)
def test_decode_common_containers(tmp_path: Path, suffix: str, codec: str) -> None:
    target = tmp_path / f"jfk.{suffix}"
    subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-v", "error", "-i", str(JFK), "-c:a", codec, str(target)],
        check=True,
        timeout=60,
    )
    for source in (target, target.read_bytes()):
        samples = decode_audio(source)
        assert samples.dtype == np.float32
        assert len(samples) / SAMPLE_RATE == pytest.approx(JFK_SECONDS, abs=0.1)


def test_decode_selects_one_channel() -> None:
    left, right = decode_audio(STEREO, channel=0), decode_audio(STEREO, channel=1)
    mixed = decode_audio(STEREO)
    assert len(left) == len(right) == len(mixed)
    assert not np.allclose(left, right, atol=1e-3)
    with pytest.raises(AudioDecodeError, match="channel"):
        decode_audio(STEREO, channel=5)


@pytest.mark.parametrize("garbage", [b"definitely not audio" * 50, bytes(range(256)) * 8, b""])
def test_decode_garbage_is_a_clear_error(garbage: bytes) -> None:
    with pytest.raises(AudioDecodeError, match="could not decode the audio"):
        decode_audio(garbage)


def test_decode_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError, match="does not exist"):
        decode_audio(tmp_path / "missing.wav")


def test_iter_decoded_chunks_concatenate_to_the_whole(jfk: Audio) -> None:
    chunks = list(iter_decoded(JFK, chunk_seconds=3.0))
    assert [len(c) for c in chunks[:-1]] == [3 * SAMPLE_RATE] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= 3 * SAMPLE_RATE
    np.testing.assert_array_equal(np.concatenate(chunks), jfk)


def test_iter_decoded_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"not audio at all" * 100)
    with pytest.raises(AudioDecodeError):
        list(iter_decoded(bad))


# Encoding


@pytest.mark.parametrize("fmt", sorted(NATIVE_FORMATS))
def test_native_formats_round_trip(jfk: Audio, fmt: str) -> None:
    data = encode_audio(jfk, SAMPLE_RATE, fmt)
    assert content_type_for(fmt)
    if fmt in ("raw_f32", "pcm_f32"):
        back = np.frombuffer(data, dtype="<f4")
        np.testing.assert_array_equal(back, jfk)
        return
    if fmt == "wav":
        assert data[:4] == b"RIFF"
        back = decode_audio(data)
    else:
        back = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0
    assert len(back) == len(jfk)
    np.testing.assert_allclose(back, jfk, atol=2e-4)


@pytest.mark.parametrize("fmt", sorted(COMPRESSED_FORMATS))
def test_compressed_formats_decode_back(jfk: Audio, fmt: str) -> None:
    if not encoder_available(fmt):
        pytest.skip(f"this ffmpeg cannot encode {fmt}")
    for rate in (SAMPLE_RATE, 22_050):
        samples = jfk if rate == SAMPLE_RATE else decode_audio(JFK, rate)
        data = encode_audio(samples, rate, fmt)
        assert content_type_for(fmt).startswith("audio/")
        back = decode_audio(data)
        assert len(back) / SAMPLE_RATE == pytest.approx(JFK_SECONDS, abs=0.1)


def test_unknown_formats() -> None:
    assert encoder_available("nonsense") is False
    with pytest.raises(ValueError, match="nonsense"):
        encode_audio(np.zeros(10, np.float32), SAMPLE_RATE, "nonsense")


# Speech to text


def _check_segments(segments: Sequence[Segment]) -> None:
    assert segments
    previous_end = 0.0
    for index, segment in enumerate(segments):
        assert segment.id == index
        assert previous_end - 0.01 <= segment.start <= segment.end <= JFK_SECONDS + 0.01
        previous_end = segment.end


def _check_words(words: Sequence[Word], *, duration: float = JFK_SECONDS) -> None:
    previous_end = 0.0
    for word in words:
        assert word.word and word.word == word.word.strip()
        assert previous_end - 0.01 <= word.start <= word.end <= duration + 0.01, word
        previous_end = word.end


@pytest.mark.parametrize("model_id", ["Whisper-Tiny.en", "Whisper-Base"])
def test_transcription_accuracy(transcripts: dict[str, list[Segment]], model_id: str) -> None:
    segments = transcripts[model_id]
    text = " ".join(segment.text for segment in segments)
    assert word_error_rate(JFK_TEXT, text) <= 0.10, text
    _check_segments(segments)
    words = [word for segment in segments for word in segment.words]
    assert len(words) == pytest.approx(len(normalize(JFK_TEXT)), abs=2)
    _check_words(words)


def test_transcription_is_lazy(tiny_en: WhisperEngine, jfk: Audio) -> None:
    info, segments = tiny_en.transcribe(jfk, language="en", prompt="A speech by President Kennedy.")
    assert info.language == "en"
    first = next(segments)
    assert first.id == 0
    assert first.text and not first.words


@pytest.mark.parametrize("tail", ["silence", "noise"])
def test_nothing_is_transcribed_after_the_speech(tiny_en: WhisperEngine, jfk: Audio, tail: str) -> None:
    """Whisper given silence or noise invents words ("Thank you.", "you"): only speech is decoded."""
    after = silence(15.0) if tail == "silence" else noise(15.0)
    info, found = tiny_en.transcribe(np.concatenate([jfk, after]), word_timestamps=True)
    segments = list(found)
    assert info.duration == pytest.approx(JFK_SECONDS + 15.0, abs=0.1)
    assert word_error_rate(JFK_TEXT, " ".join(s.text for s in segments)) <= 0.10
    # JFK's speech ends about 10.5 s in, before the end of jfk.flac.
    assert all(s.start < JFK_SECONDS and s.end <= JFK_SECONDS + 0.5 for s in segments), segments
    words = [word for segment in segments for word in segment.words]
    assert words and all(w.start < JFK_SECONDS and w.end <= JFK_SECONDS + 0.5 for w in words), words


@pytest.mark.parametrize("model_id", ["Whisper-Tiny.en", "Whisper-Base"])
def test_silence_and_noise_have_no_transcript(
    tiny_en: WhisperEngine, base: WhisperEngine, model_id: str
) -> None:
    engine = tiny_en if model_id == "Whisper-Tiny.en" else base
    for audio in (silence(10.0), noise(10.0), noise(10.0, level=0.02, seed=1)):
        info, segments = engine.transcribe(audio, word_timestamps=True)
        assert list(segments) == []
        assert info.language and info.duration == pytest.approx(10.0, abs=0.01)


def test_speech_on_either_side_of_a_pause_is_never_one_segment(tiny_en: WhisperEngine) -> None:
    audio = two_sentences()
    info, found = tiny_en.transcribe(audio, word_timestamps=True)
    segments = list(found)
    assert seconds(audio) == TWO_SENTENCES_SECONDS
    assert info.duration == pytest.approx(TWO_SENTENCES_SECONDS, abs=0.1)
    assert word_error_rate(TWO_SENTENCES_TEXT, " ".join(s.text for s in segments)) <= 0.10
    pause_start, pause_end = JFK_SECONDS, JFK_SECONDS + PAUSE_SECONDS
    assert not [s for s in segments if s.start < pause_start and s.end > pause_end], segments
    assert any(s.end <= pause_end for s in segments) and any(s.start >= pause_start for s in segments)
    _check_words([word for segment in segments for word in segment.words], duration=seconds(audio))


def test_english_only_model_rejects_other_languages(tiny_en: WhisperEngine, jfk: Audio) -> None:
    with pytest.raises(CapabilityError, match=r"Whisper-Tiny\.en") as caught:
        tiny_en.transcribe(jfk, language="fr")
    assert caught.value.model == "Whisper-Tiny.en"
    assert "fr" in caught.value.capability


def test_multilingual_model_accepts_language_codes(base: WhisperEngine) -> None:
    assert base.is_multilingual
    assert "fr" in base.languages
    with pytest.raises(CapabilityError):
        base.transcribe(np.zeros(SAMPLE_RATE, np.float32), language="klingon")


# Voice activity


@pytest.fixture(scope="module")
def vad() -> Iterator[SileroVad]:
    pytest.importorskip("faster_whisper")
    detector = SileroVad.load()
    yield detector
    detector.close()


def test_vad_finds_the_speech(vad: SileroVad, jfk: Audio) -> None:
    spans = vad.detect(jfk)
    assert spans
    assert all(0.0 <= s.start < s.end <= JFK_SECONDS for s in spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert spans[0].start < 1.0 and spans[-1].end > 10.0
    assert sum(s.end - s.start for s in spans) > 0.6 * JFK_SECONDS


def test_vad_silence_has_no_speech(vad: SileroVad, jfk: Audio) -> None:
    assert vad.detect(np.zeros(2 * SAMPLE_RATE, np.float32)) == []
    assert vad.detect(np.zeros(0, np.float32)) == []
    delayed = vad.detect(np.concatenate([np.zeros(3 * SAMPLE_RATE, np.float32), jfk]))
    assert delayed[0].start > 2.5


# Forced alignment


@pytest.fixture(scope="module")
def pocketsphinx_aligner() -> Iterator[PocketSphinxAligner]:
    pytest.importorskip("pocketsphinx")
    aligner = PocketSphinxAligner.load()
    yield aligner
    aligner.close()


@pytest.fixture(scope="module")
def whisper_aligner(tiny_en: WhisperEngine) -> WhisperWordAligner:
    return WhisperWordAligner(tiny_en, model_id=tiny_en.model_id)


@pytest.fixture(params=["pocketsphinx", "whisper"])
def aligner(
    request: pytest.FixtureRequest,
    pocketsphinx_aligner: PocketSphinxAligner,
    whisper_aligner: WhisperWordAligner,
) -> ForcedAligner:
    return pocketsphinx_aligner if request.param == "pocketsphinx" else whisper_aligner


def test_alignment_of_the_reference(aligner: ForcedAligner, jfk: Audio) -> None:
    words = aligner.align(jfk, JFK_TEXT)
    assert [w.word for w in words] == JFK_TEXT.split()
    _check_words(words)
    by_word = {w.word: w for w in words}
    americans = by_word["Americans,"]
    assert 1.2 <= americans.start <= 2.0 and 1.9 <= americans.end <= 2.6, americans
    assert words[-1].start >= 9.5 and words[-1].end <= JFK_SECONDS
    assert words[0].start < 0.8


def test_alignment_does_not_depend_on_what_was_aligned_before(aligner: ForcedAligner, jfk: Audio) -> None:
    first = aligner.align(jfk, JFK_TEXT)
    assert aligner.align(jfk, JFK_TEXT) == first
    aligner.align(decode_audio(STEREO, channel=0), LEFT_SENTENCE)
    assert aligner.align(jfk, JFK_TEXT) == first


def test_alignment_survives_unknown_words_and_extra_text(aligner: ForcedAligner, jfk: Audio) -> None:
    text = (
        "And so my fellow Amerikans — ask not what your GPU & Sauti can do for you in 1961, "
        "ask what you can do for your country's future. Thank you!"
    )
    words = aligner.align(jfk, text)
    assert [w.word for w in words] == text.split()
    _check_words(words)
    assert words[0].start < 1.0
    assert 1.2 <= words[4].start <= 2.2


def test_alignment_edge_cases(aligner: ForcedAligner, jfk: Audio) -> None:
    assert aligner.align(jfk, "   ") == []
    short = aligner.align(np.zeros(0, np.float32), "nothing here")
    assert [(w.start, w.end) for w in short] == [(0.0, 0.0), (0.0, 0.0)]
    silence = aligner.align(np.zeros(2 * SAMPLE_RATE, np.float32), "hello there world")
    assert len(silence) == 3
    _check_words(silence, duration=2.0)
