"""The bodies of ``POST /v1/chat/completions`` and ``POST /v1/responses``.

The models list every field the routes accept, for ``/openapi.json``; their fields are checked by
``app.routes.chat.requests`` and ``domain.responses`` once the model is resolved, since what is
accepted depends on it (the content parts it reads) and on the compatibility profile (``strict``
refuses a `stop`, a non-zero `frequency_penalty` and a forced `tool_choice`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.http.request_body import BodyModel, one_of
from domain import fields as read
from domain.chat_threads import MAX_SYSTEM_PROMPT_CHARS, MAX_TITLE_CHARS
from domain.fields import Passed

SMALL_CHAT_MODEL = "SmolLM2-135M-Instruct-GGUF"
STRICT = "Refused in the strict compatibility profile (the default) unless {what}."

# --- chat completions ----------------------------------------------------------------------


class _Open(BaseModel):
    """A documented shape whose other keys are kept (content parts carry their own fields)."""

    model_config = ConfigDict(extra="allow")


class ChatContentPart(_Open):
    """A content part: text (`text`, `input_text`), or media the model must be able to read
    (`image_url`, `input_image`, `input_audio`, `video_url`, `file`…, with their own fields)."""

    type: str = Field(examples=["text"])
    text: str | None = Field(None, description="The text of a text part.")


class ChatFunctionCall(BaseModel):
    name: str
    arguments: str | dict[str, Any] = Field(description="The arguments, as a JSON string (or object).")


class ChatToolCall(BaseModel):
    """A tool call the assistant made, sent back in the conversation."""

    id: str
    type: Literal["function"] = "function"
    function: ChatFunctionCall


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ChatContentPart] | None = Field(
        description="Text, or content parts; null only on an assistant message with `tool_calls`."
    )
    name: str | None = None
    tool_calls: list[ChatToolCall] | None = Field(None, description="On an assistant message.")
    tool_call_id: str | None = Field(None, description="On a tool message: the call it answers.")


class ChatFunction(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = Field(None, description="A JSON schema of the arguments.")


class ChatTool(BaseModel):
    type: Literal["function"]
    function: ChatFunction


class ChatToolChoiceFunction(BaseModel):
    name: str


class ChatToolChoice(BaseModel):
    type: Literal["function"]
    function: ChatToolChoiceFunction


class ChatStreamOptions(BaseModel):
    include_usage: bool | None = Field(None, description="End the stream with a usage chunk.")


class ChatCompletionBody(BodyModel):
    """An OpenAI chat completions request."""

    requires = ("model", "messages")

    model: Annotated[str | None, Passed] = Field(
        None, description="A chat model id.", examples=[SMALL_CHAT_MODEL]
    )
    messages: Annotated[list[ChatMessage] | None, Passed] = Field(
        None,
        description="The conversation so far (at least one message).",
        examples=[[{"role": "user", "content": "Say hello."}]],
        json_schema_extra={"minItems": 1},
    )
    n: Annotated[Literal[1] | None, Passed] = Field(None, description="Only one choice is supported.")
    stream: Annotated[bool | None, Passed] = Field(
        None, description="Answer with SSE chat chunks, ending with `[DONE]`."
    )
    stream_options: Annotated[ChatStreamOptions | None, Passed] = None
    max_completion_tokens: Annotated[int | None, Passed] = Field(
        None, ge=1, description="The output budget (wins over `max_tokens`)."
    )
    max_tokens: Annotated[int | None, Passed] = Field(None, ge=1, description="The output budget.")
    temperature: Annotated[float | None, Passed] = Field(None, ge=0, le=2)
    top_p: Annotated[float | None, Passed] = Field(None, ge=0, le=1)
    presence_penalty: Annotated[float | None, Passed] = Field(None, ge=-2, le=2)
    frequency_penalty: Annotated[float | None, Passed] = Field(
        None, ge=-2, le=2, description=STRICT.format(what="0 or null")
    )
    stop: Annotated[str | list[str] | None, Passed] = Field(
        None, description="Up to 4 stop sequences. " + STRICT.format(what="empty")
    )
    seed: Annotated[int | None, Passed] = None
    tools: Annotated[list[ChatTool] | None, Passed] = Field(None, description="Functions the model may call.")
    tool_choice: Annotated[Literal["auto", "none", "required"] | ChatToolChoice | None, Passed] = Field(
        None,
        description="`auto` (the default with tools), `none`, or a forced call. "
        + STRICT.format(what="auto, none or null"),
    )
    enable_thinking: Annotated[bool | None, Passed] = Field(
        None, description="Recorded; the bundled models have no thinking mode."
    )
    user: Annotated[str | None, Passed] = Field(None, description="Recorded; not used for auth.")


# --- responses -----------------------------------------------------------------------------


class ResponseContentPart(_Open):
    """`input_text` / `output_text` (with `text`), `refusal`, or `input_image`, `input_file`,
    `input_audio` (with their own fields)."""

    type: str = Field(examples=["input_text"])
    text: str | None = None


class ResponseMessageItem(BaseModel):
    type: Literal["message"] | None = Field(None, description="`message` (implied by `role`).")
    id: str | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ResponseContentPart]


class ResponseFunctionCallItem(BaseModel):
    type: Literal["function_call"]
    id: str | None = None
    call_id: str
    name: str
    arguments: str


class ResponseFunctionCallOutputItem(BaseModel):
    type: Literal["function_call_output"]
    id: str | None = None
    call_id: str
    output: str | list[ResponseContentPart] = Field(description="Text, or text parts.")


ResponseItem = ResponseMessageItem | ResponseFunctionCallItem | ResponseFunctionCallOutputItem


class ResponseFunctionTool(BaseModel):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = Field(None, description="A JSON schema of the arguments.")
    strict: bool | None = None


class ResponseToolChoice(BaseModel):
    type: Literal["function"]
    name: str


class ResponseBody(BodyModel):
    """An OpenAI Responses request. `previous_response_id`, `conversation`, `prompt` and
    `background` are refused (400)."""

    requires = ("model", one_of("input", "instructions"))

    model: Annotated[str | None, Passed] = Field(
        None, description="A chat model id.", examples=[SMALL_CHAT_MODEL]
    )
    input: Annotated[str | ResponseItem | list[ResponseItem] | None, Passed] = Field(
        None,
        description="Text (one user message), an input item, or a list of them.",
        examples=["Say hello."],
    )
    instructions: Annotated[str | None, Passed] = Field(
        None, description="A system instruction; required when `input` is empty."
    )
    max_output_tokens: Annotated[int | None, Passed] = Field(None, ge=1, description="The output budget.")
    temperature: Annotated[float | None, Passed] = Field(None, ge=0, le=2)
    top_p: Annotated[float | None, Passed] = Field(None, ge=0, le=1)
    stream: Annotated[bool | None, Passed] = Field(None, description="Answer with the SSE event sequence.")
    store: Annotated[bool | None, Passed] = Field(
        None, description="false: keep no retrievable record (the default keeps one)."
    )
    metadata: Annotated[dict[str, str] | None, Passed] = Field(None, description="Kept with the record.")
    user: Annotated[str | None, Passed] = None
    tools: Annotated[list[ResponseFunctionTool] | None, Passed] = Field(
        None, description="Function tools only."
    )
    tool_choice: Annotated[Literal["auto", "none", "required"] | ResponseToolChoice | None, Passed] = Field(
        None,
        description=STRICT.format(what="auto, none or null").replace("Refused", "A forced choice is refused"),
    )
    parallel_tool_calls: Annotated[bool | None, Passed] = Field(None, description="Recorded (default true).")
    enable_thinking: Annotated[bool | None, Passed] = Field(
        None, description="Recorded; the bundled models have no thinking mode."
    )


# --- chat threads --------------------------------------------------------------------------

ThreadTitle = Annotated[str | None, read.text(strip=True, max_chars=MAX_TITLE_CHARS)]
SystemPrompt = Annotated[str | None, read.text(max_chars=MAX_SYSTEM_PROMPT_CHARS)]


class ThreadSettingsBody(BodyModel):
    """A thread's settings (each optional): its `title`, its default `model` and `system_prompt`."""

    optional = True
    title: ThreadTitle = Field(None, description="The thread's title.", examples=["Trip planning"])
    model: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="The chat model its replies use unless a message names another."
    )
    system_prompt: SystemPrompt = Field(None, description="The system prompt of every reply.")


class ThreadMessageBody(BodyModel):
    """A user message to the thread: `content` (text), or `content_parts` (text parts, and audio
    parts naming media objects: `{"type": "audio_url", "audio_url": {"url": "/v1/media/<path>"}}`,
    read as their transcripts). The reply is generated by a worker over the thread's history."""

    requires = (one_of("content", "content_parts"),)

    role: Annotated[Literal["user"] | None, Passed] = Field(None, description="Only `user` may send.")
    model: Annotated[str | None, Passed] = Field(None, description="The chat model for this reply.")
    content: Annotated[str | None, Passed] = Field(
        None, description="The message's text.", examples=["What did we decide about the deadline?"]
    )
    content_parts: Annotated[list[ChatContentPart] | None, Passed] = Field(
        None, description="Text and audio parts, in OpenAI-like shape."
    )
    max_tokens: Annotated[int | None, read.integer(1)] = Field(None, description="The reply's budget.")
    temperature: Annotated[float | None, read.number(0.0, 2.0)] = Field(
        None, description="Sampling temperature (a first-party extension; the model's default otherwise)."
    )
    stream: Annotated[bool | None, read.flag()] = Field(
        None, description="Answer with SSE events `start`, `delta`, `done` (or `error`)."
    )
    system_prompt: SystemPrompt = Field(None, description="The system prompt for this reply only.")
    enable_thinking: Annotated[bool | None, read.flag()] = Field(
        None, description="Recorded; the bundled models have no thinking mode."
    )
