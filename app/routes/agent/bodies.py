"""The bodies of the agent session routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from app.http.request_body import BodyModel, one_of
from domain import fields as read
from domain.agents import DEFAULT_AGENT
from domain.chat_threads import MAX_SYSTEM_PROMPT_CHARS, MAX_TITLE_CHARS
from domain.fields import Passed


class AgentSessionBody(BodyModel):
    """A new agent session (every field optional): which agent, its chat model, its system prompt
    (the agent's own by default), planning, and a title for its thread."""

    optional = True
    agent_id: Annotated[str | None, read.text(strip=True)] = Field(
        None, description=f"The agent (default `{DEFAULT_AGENT}`).", examples=[DEFAULT_AGENT]
    )
    model_id: Annotated[str | None, read.text(strip=True)] = Field(
        None, description="The chat model of its turns (the default chat model otherwise)."
    )
    system_prompt: Annotated[str | None, read.text(max_chars=MAX_SYSTEM_PROMPT_CHARS)] = None
    planning_mode: Annotated[str | None, read.one_of(("off", "auto", "on"), "off")] = Field(
        None, description="`on`: plan every turn first; `auto`: when the task has several steps."
    )
    title: Annotated[str | None, read.text(strip=True, max_chars=MAX_TITLE_CHARS)] = None


class ToolResultBody(BaseModel):
    tool_call_id: str
    content: str


class AgentTurnBody(BodyModel):
    """One turn: the user's `input`, and optionally tools the client runs itself (OpenAI function
    definitions; a call to one ends the turn with `requires_action`), or names of the agent's
    server tools to offer alone, and the results of the calls the previous turn handed back."""

    requires = (one_of("input", "tool_results"),)

    input: Annotated[str | None, Passed] = Field(
        None, description="What the user says.", examples=["What did Sheila say about the deadline?"]
    )
    tools: Annotated[list[dict[str, Any] | str] | None, Passed] = Field(
        None, description="Client tools (function definitions), or server tool names to offer alone."
    )
    tool_results: Annotated[list[ToolResultBody] | None, Passed] = Field(
        None, description="`{tool_call_id, content}` for the calls the previous turn handed back."
    )
    stream: Annotated[bool | None, read.flag()] = Field(None, description="Send the turn's events as SSE.")
    max_tokens: Annotated[int | None, read.integer(1)] = Field(None, description="The answer's budget.")
    temperature: Annotated[float | None, read.number(0.0, 2.0)] = None
