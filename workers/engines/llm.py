"""Chat models in GGUF through llama.cpp (``llama-cpp-python``), streamed token by token.

The model's own chat template (from the GGUF) formats the messages. llama.cpp's stream carries
no usage, so the last chunk's counts come from the model's tokenizer: the prompt is rendered
with the same template and tokenized, the completion is re-tokenized (or is exactly
``max_tokens`` long when it stopped for length).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.generation import PART_CAPABILITIES, TEXT_PART_TYPES
from workers.engines.base import CapabilityError, CompletionChunk, CompletionRequest
from workers.engines.engine_thread import EngineThread

if TYPE_CHECKING:
    from llama_cpp import Llama

DEFAULT_CONTEXT = 4096

_EXTRA_SAMPLING = ("seed", "top_k", "min_p", "repeat_penalty")
"""Sampling options a request may pass through ``CompletionRequest.extra``."""


def cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def text_only_messages(messages: Sequence[Mapping[str, Any]], model_id: str) -> list[dict[str, Any]]:
    """Messages with each list of content parts joined into one string.

    A part that is not text (an image, audio, video, a file) raises CapabilityError: these
    models read text only.
    """
    flattened: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            texts: list[str] = []
            for part in content:
                kind = part.get("type", "text") if isinstance(part, Mapping) else "text"
                if kind not in TEXT_PART_TYPES:
                    raise CapabilityError(
                        model_id, PART_CAPABILITIES.get(kind, f"{kind!r} content"), "it reads text only"
                    )
                texts.append(str(part.get("text", "")) if isinstance(part, Mapping) else str(part))
            message = {**message, "content": "".join(texts)}
        flattened.append(dict(message))
    return flattened


class LlamaEngine:
    """A GGUF chat model loaded by llama.cpp (ChatModel). It generates on a thread of its own
    (``EngineThread``: one OpenMP team, whichever worker thread asks)."""

    def __init__(self, llm: Llama, *, model_id: str, thread: EngineThread | None = None) -> None:
        self._llm: Llama | None = llm
        self.model_id = model_id
        self._thread = thread or EngineThread(f"llama-{model_id}")
        self._lock = threading.Lock()
        self._owner: int | None = None
        """The thread generating, so that a second stream it opens fails instead of deadlocking."""
        self._formatter = self._prompt_formatter(llm)

    @classmethod
    def load(
        cls, path: Path, *, model_id: str, n_ctx: int = DEFAULT_CONTEXT, n_threads: int | None = None
    ) -> LlamaEngine:
        """Load a ``.gguf`` file (or the single one in a directory)."""
        from llama_cpp import Llama

        if path.is_dir():
            found = sorted(path.glob("*.gguf"))
            if len(found) != 1:
                raise FileNotFoundError(f"expected one .gguf model in {path}, found {len(found)}")
            path = found[0]
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        thread = EngineThread(f"llama-{model_id}")
        threads = n_threads or cpu_threads()
        llm = thread.call(lambda: Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, verbose=False))
        return cls(llm, model_id=model_id, thread=thread)

    @staticmethod
    def _prompt_formatter(llm: Llama) -> Any:
        """The GGUF's chat template, to render (and so count) prompts as the chat handler does."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None

        def text_of(token: int) -> str:
            if token < 0:
                return ""
            return llm.detokenize([token], special=True).decode("utf-8", "replace")

        return Jinja2ChatFormatter(
            template=template, eos_token=text_of(llm.token_eos()), bos_token=text_of(llm.token_bos())
        )

    @property
    def context_length(self) -> int:
        return int(self._loaded().n_ctx())

    def tokenize(self, text: str) -> list[int]:
        return list(self._loaded().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def count_prompt_tokens(
        self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> int:
        """Tokens the prompt for these messages takes, chat template and special tokens included."""
        llm = self._loaded()
        flattened = text_only_messages(messages, self.model_id)
        if self._formatter is not None:
            prompt = self._formatter(messages=flattened, tools=list(tools) if tools else None).prompt
            return len(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        # No template in the file: llama.cpp falls back to a generic format; estimate its overhead.
        return sum(self.count_tokens(str(m.get("content") or "")) + 4 for m in flattened) + 2

    def complete(self, request: CompletionRequest) -> Iterator[CompletionChunk]:
        """Text deltas as generated; the last chunk has the finish_reason and token counts.

        The messages and grammar are checked here, before the first chunk is asked for.
        """
        self._loaded()
        messages = text_only_messages(request.messages, self.model_id)
        options: dict[str, Any] = {}
        for name in ("max_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty"):
            value = getattr(request, name)
            if value is not None:
                options[name] = value
        if request.stop:
            options["stop"] = list(request.stop)
        if request.tools:
            options["tools"] = [dict(tool) for tool in request.tools]
        if request.grammar:
            from llama_cpp import LlamaGrammar

            options["grammar"] = LlamaGrammar.from_string(request.grammar, verbose=False)
        for name in _EXTRA_SAMPLING:
            if request.extra.get(name) is not None:
                options[name] = request.extra[name]
        return self._stream(messages, options)

    def _stream(self, messages: list[dict[str, Any]], options: dict[str, Any]) -> Iterator[CompletionChunk]:
        if self._owner == threading.get_ident():
            raise RuntimeError(
                f"a completion from {self.model_id} is still open in this thread: finish or close it first"
            )
        with self._lock:
            self._owner = threading.get_ident()
            try:
                llm = self._loaded()
                prompt_tokens = self.count_prompt_tokens(messages, options.get("tools"))
                finish_reason: str | None = None
                generated: list[str] = []
                create: Any = llm.create_chat_completion
                for event in self._thread.stream(lambda: create(messages=messages, stream=True, **options)):
                    choice = event["choices"][0]
                    text = choice["delta"].get("content") or ""
                    if text:
                        generated.append(text)
                        yield CompletionChunk(text=text)
                    if choice.get("finish_reason"):
                        finish_reason = str(choice["finish_reason"])
                finish_reason = finish_reason or "stop"
                completion_tokens = self.count_tokens("".join(generated))
                max_tokens = options.get("max_tokens")
                if finish_reason == "length" and max_tokens:
                    completion_tokens = min(int(max_tokens), int(llm.n_ctx()) - prompt_tokens)
            finally:
                self._owner = None
        yield CompletionChunk(
            finish_reason=finish_reason, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    def _loaded(self) -> Llama:
        if self._llm is None:
            raise RuntimeError(f"{self.model_id} is closed")
        return self._llm

    def close(self) -> None:
        llm, self._llm = self._llm, None
        self._formatter = None
        if llm is not None:
            close = getattr(llm, "close", None)
            if callable(close):
                close()
            del llm
            gc.collect()
        self._thread.close()
