"""What a model can be used for: one enum, read by the catalog, the routes and the workers.

Each member is a route capability of the contract (``route_capabilities`` in the model list): a
route checks that the model a request names has it, and the worker running the job checks the same
member, taken from the job kind's declaration (``domain.kinds``).
"""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    OPENAI_CHAT_COMPLETIONS = "openai_chat_completions"
    OPENAI_RESPONSES = "openai_responses"
    OPENAI_AUDIO_SPEECH = "openai_audio_speech"
    OPENAI_AUDIO_TRANSCRIPTIONS = "openai_audio_transcriptions"
    SPEECH_TO_TEXT_JOBS = "speech_to_text_jobs"
    SPEECH_TO_TEXT_REALTIME = "speech_to_text_realtime"
    DIARIZATION_RECORDS = "diarization_records"
    TEXT_TO_SPEECH_RECORDS = "text_to_speech_records"
    VOICE_DESIGN_RECORDS = "voice_design_records"
    VOICE_CLONE_RECORDS = "voice_clone_records"
    SAVED_VOICE_REUSE = "saved_voice_reuse"
    STUDIO_PROJECTS = "studio_projects"
    VOICE_REALTIME_TEXT_MODEL = "voice_realtime_text_model"
    VOICE_REALTIME_MODULAR_ASR = "voice_realtime_modular_asr"
    VOICE_REALTIME_MODULAR_TTS = "voice_realtime_modular_tts"
    VOICE_REALTIME_UNIFIED = "voice_realtime_unified"
    FORCED_ALIGNMENT = "forced_alignment"
    TOKENIZER = "tokenizer"
