"""The voice turn actor (docs/voice.md): one spoken input answered in speech, for a voice session.

Modular pipeline: the input audio is transcribed (``voiceturn.user_transcribed``); the chat model
answers with the session's system prompt, what is remembered about the user, and the session's
earlier turns (the oldest left out when they outgrow the context); its text streams as
``voiceturn.text_generated`` events and each sentence, once whole, is spoken and recorded as a media
object (``voiceturn.chunk_synthesized``, served at ``/v1/media/voice/<session>/…``). A cancel stops it
between tokens and sentences. With memory on, durable facts about the user are then extracted as
grammar-constrained JSON and remembered. The completed job records the turn in its session, and the
new observations in the memory, in the same transaction.

As for chat, a turn cut off mid-answer by a worker's death fails visibly (sampling cannot resume);
one cut off while transcribing goes on from the recorded transcript.
"""

from __future__ import annotations

import json
from typing import Any

from domain.errors import NotFound
from domain.events import deterministic_event_id, new_id
from domain.generation import CHAT
from domain.sentences import split_sentences
from domain.speech import SPEECH, SpeechParams
from domain.transcription import TRANSCRIPTION
from domain.voice import (
    FACTS_SCHEMA,
    MAX_OBSERVATIONS_IN_PROMPT,
    MEMORY_CATEGORY,
    SESSION_CATEGORY,
    VOICE_TURN,
    AudioChunk,
    ChunkSynthesized,
    ObservationRecorded,
    UserTranscribed,
    VoiceTurnParams,
    VoiceTurnRecorded,
    facts_prompt,
    new_facts,
    system_prompt_with,
)
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.chat_jobs import fitted_prompt, generate, stopped_mid_answer
from workers.engines.audio import encode_audio
from workers.engines.base import ChatModel, CompletionRequest, SpeechToText
from workers.media_objects import publish
from workers.speech_jobs import Synthesis, speech_engine
from workers.transcription_jobs import stored_audio
from workflows.jobs import Along, JobInputError, JobRun, to_new_event
from workflows.voice import MEMORY_STREAM, load_memory, load_voice_session, session_stream, unfinished_turns

DEFAULT_ANSWER_TOKENS = 200
FACT_TOKENS = 120


def earlier_voice_turns_pending(run: JobRun) -> str | None:
    params = VoiceTurnParams.model_validate(run.params)
    try:
        session = load_voice_session(run.store, params.session_id)
    except NotFound:
        return None  # the job itself finds the session gone
    waiting = unfinished_turns(run.store, session, params.turn)
    return waiting[0] if waiting else None


def _heard(run: JobRun, params: VoiceTurnParams) -> UserTranscribed:
    recorded = run.kind_events(UserTranscribed.verb)
    if recorded:
        return UserTranscribed.model_validate(recorded[0].data)
    if params.audio is None:
        heard = UserTranscribed(text=(params.text or "").strip())
    else:
        variant = job_model(TRANSCRIPTION, params.asr_model, param="asr_model")
        engine: SpeechToText = runtime.engines().get(variant)
        info, segments = engine.transcribe(stored_audio(params.audio), language=params.language)
        text = " ".join(segment.text.strip() for segment in segments).strip()
        heard = UserTranscribed(text=text, language=info.language)
    run.append(heard)
    return heard


class Speaker:
    """Speaks the answer sentence by sentence as its text arrives, each sentence once it is whole."""

    def __init__(self, run: JobRun, params: VoiceTurnParams) -> None:
        variant = job_model(SPEECH, params.tts_model, param="tts_model")
        speech = SpeechParams(model=variant.id, input="-", voice=params.voice)
        self.synthesis = Synthesis(speech_engine(variant), variant, speech)
        self.synthesis.check()
        self.run = run
        self.prefix = f"voice/{params.session_id}/{params.turn}"
        self.pending = ""
        self.chunks: list[AudioChunk] = []

    def feed(self, text: str) -> None:
        self.pending += text
        sentences = split_sentences(self.pending)
        if len(sentences) > 1:  # the last one may still grow
            for sentence in sentences[:-1]:
                self._speak(sentence)
            self.pending = self.pending[self.pending.rindex(sentences[-1]) :]

    def finish(self) -> None:
        if self.pending.strip():
            self._speak(self.pending.strip())
        self.pending = ""

    def _speak(self, sentence: str) -> None:
        samples, rate = self.synthesis.speak(sentence)
        if not samples.size:
            return
        sequence = len(self.chunks)
        data = encode_audio(samples, rate, "wav")
        path = f"{self.prefix}-{sequence}.wav"
        digest, _url = publish(path, data, "audio/wav", causation_id=self.run.message_id)
        chunk = ChunkSynthesized(
            sequence=sequence,
            text=sentence,
            path=path,
            media=digest,
            sample_rate=rate,
            sample_count=int(samples.size),
        )
        self.run.append(chunk, sequence)
        self.chunks.append(AudioChunk.model_validate(chunk.payload()))
        self.run.check_cancelled(caught_up=True)


def _remembered(run: JobRun, engine: ChatModel, params: VoiceTurnParams, said: str) -> list[Along]:
    """The durable facts about the user in what they said, as memory events (none already known)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    request = CompletionRequest(
        messages=facts_prompt(said),
        max_tokens=FACT_TOKENS,
        temperature=0.0,
        grammar=json_schema_to_gbnf(json.dumps(FACTS_SCHEMA)),
    )
    text = "".join(chunk.text for chunk in engine.complete(request))
    try:
        facts = json.loads(text).get("facts", [])
    except (ValueError, AttributeError):
        return []
    known = [observation.text for observation in load_memory(run.store)]
    along: list[Along] = []
    for index, fact in enumerate(new_facts(facts, known)):
        event_id = deterministic_event_id(run.stream_id, "observation", index)
        recorded = ObservationRecorded(
            observation_id=new_id(), text=fact, session_id=params.session_id, turn=params.turn
        )
        along.append((MEMORY_STREAM, to_new_event(MEMORY_CATEGORY, recorded, event_id, dict(run.metadata))))
    return along


@job_actor(VOICE_TURN, waits=earlier_voice_turns_pending)
def run_voice_turn(run: JobRun) -> dict[str, Any] | None:
    params = job_params(VOICE_TURN, run)
    if stopped_mid_answer(run, "spoken answer"):
        return None
    try:
        session = load_voice_session(run.store, params.session_id)
    except NotFound as error:
        raise JobInputError(f"{error} It was deleted while its turn waited.", param="session_id") from error
    heard = _heard(run, params)
    run.checkpoint()
    chat = job_model(CHAT, params.chat_model, param="chat_model")
    text, chunks, facts, stats, used = "", [], [], {}, []
    status = "no_input"
    if heard.text:
        engine: ChatModel = runtime.engines().get(chat)
        observations = load_memory(run.store)[-MAX_OBSERVATIONS_IN_PROMPT:] if params.memory else []
        used = [observation.id for observation in observations]
        system = system_prompt_with(params.system_prompt, observations)
        budget = params.max_tokens or DEFAULT_ANSWER_TOKENS
        history = session.exchanges_before(params.turn)
        prompt = fitted_prompt(
            engine, chat.id, system, history, heard.text, answer_tokens=budget, param="audio"
        )
        speaker = Speaker(run, params)
        request = CompletionRequest(
            messages=prompt.messages, max_tokens=budget, temperature=params.temperature
        )
        generated = generate(run, engine, request, on_content=speaker.feed)
        speaker.finish()
        text, chunks, stats = generated.content.strip(), speaker.chunks, generated.stats()
        status = "ok"
        if params.memory:
            facts = _remembered(run, engine, params, heard.text)
    recorded = VoiceTurnRecorded(
        turn=params.turn,
        job_id=run.stream_id.partition("-")[2],
        status=status,
        user_text=heard.text,
        assistant_text=text,
        audio=tuple(chunks),
        observations_used=tuple(used),
        observations_added=tuple(event.data["text"] for _stream, event in facts),
    )
    stream = session_stream(params.session_id)
    event_id = deterministic_event_id(stream, recorded.verb, recorded.job_id)
    turn_event = to_new_event(SESSION_CATEGORY, recorded, event_id, dict(run.metadata))
    result = {**recorded.payload(), "language": heard.language, "chat_model": chat.id, **stats}
    run.complete(result, along=[(stream, turn_event), *facts])
    return result
