"""Agent sessions (``agent-<id>`` streams) and the turns they run (``agentturn-<id>`` jobs,
docs/agents.md).

Pure: the agents Sauti knows and the server tools they may call, the session's events and fold, a
turn's params and the events its job records. A session is created with its linked chat thread;
each turn is a turn of that thread too (the user's input, then the assistant's answer), so the
conversation is one history whichever route added to it. A turn's job records its plan, every tool
call it starts and each call's result as events, so a turn resumed after a worker died runs no
finished tool again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from domain.capabilities import Capability
from domain.events import DomainEvent
from domain.kinds import JobKind, declare

CATEGORY = "agent"
TURN_CATEGORY = "agentturn"
BASE_URL = "/v1/agent/sessions"
SESSION_OBJECT = "agent.session"
TURN_OBJECT = "agent.turn"

PlanningMode = Literal["off", "auto", "on"]
PLANNING_MODES: tuple[PlanningMode, ...] = ("off", "auto", "on")
MAX_PLAN_STEPS = 5
MAX_TOOL_STEPS = 4
"""Tool calls a turn may make before it must answer."""
RESPOND = "respond_to_user"
"""The choice, offered with the tools at each step, to stop calling tools and answer."""

SEARCH_RECORDINGS = "search_recordings"
GET_TRANSCRIPT = "get_transcript"
LIST_RECORDINGS = "list_recordings"
SYNTHESIZE_SPEECH = "synthesize_speech"
CURRENT_TIME = "current_time"


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


SERVER_TOOLS: dict[str, dict[str, Any]] = {
    SEARCH_RECORDINGS: _function(
        SEARCH_RECORDINGS,
        "Search the user's recorded and transcribed audio for what was said about something. "
        "Returns the passages that match best, with their record id and times.",
        {"query": {"type": "string", "description": "What to look for, in a few words."}},
        ["query"],
    ),
    GET_TRANSCRIPT: _function(
        GET_TRANSCRIPT,
        "The transcript of one recording, or of a time range of it (seconds).",
        {
            "record_id": {"type": "string"},
            "start": {"type": "number"},
            "end": {"type": "number"},
        },
        ["record_id"],
    ),
    LIST_RECORDINGS: _function(
        LIST_RECORDINGS,
        "The user's recordings, newest first: their ids, titles, lengths and dates.",
        {"limit": {"type": "integer", "minimum": 1, "maximum": 50}},
        [],
    ),
    SYNTHESIZE_SPEECH: _function(
        SYNTHESIZE_SPEECH,
        "Speak a text aloud: makes an audio file of it and returns its URL.",
        {"text": {"type": "string"}},
        ["text"],
    ),
    CURRENT_TIME: _function(CURRENT_TIME, "The current date and time (UTC).", {}, []),
}

RESPOND_TOOL = _function(RESPOND, "Answer the user now, with what you know.", {}, [])


@dataclass(frozen=True)
class Agent:
    id: str
    description: str
    server_tools: tuple[str, ...]
    system_prompt: str


AGENTS: dict[str, Agent] = {
    agent.id: agent
    for agent in (
        Agent(
            "sauti",
            "Answers from the user's own recordings and can speak; knows the time.",
            tuple(SERVER_TOOLS),
            "You are Sauti, a helpful assistant with access to the user's recordings and their "
            "transcripts. When the user asks about something said in a recording, search the "
            "recordings first, then answer from what you found and name the recording.",
        ),
        Agent(
            "plain",
            "A chat assistant: only the tools the client declares.",
            (),
            "You are a helpful assistant.",
        ),
    )
}
DEFAULT_AGENT = "sauti"


# --- the session ----------------------------------------------------------------------------


class SessionCreated(DomainEvent):
    verb = "created"
    session_id: str
    agent_id: str
    model: str
    system_prompt: str | None = None
    planning_mode: PlanningMode = "off"
    title: str | None = None
    thread_id: str


@dataclass(frozen=True)
class Session:
    id: str
    agent_id: str
    model: str
    system_prompt: str | None
    planning_mode: PlanningMode
    title: str | None
    thread_id: str
    created_at: float
    version: int

    @property
    def agent(self) -> Agent:
        return AGENTS[self.agent_id]

    def instructions(self) -> str:
        """The system prompt of its turns: the session's own, else its agent's."""
        return self.system_prompt or self.agent.system_prompt


def fold_session(events: Iterable[tuple[str, Mapping[str, Any], int, float]]) -> Session | None:
    session: Session | None = None
    for verb, data, version, at in events:
        if verb == SessionCreated.verb:
            created = SessionCreated.model_validate(data)
            session = Session(
                created.session_id,
                created.agent_id,
                created.model,
                created.system_prompt,
                created.planning_mode,
                created.title,
                created.thread_id,
                at,
                version,
            )
    return session


# --- a turn ---------------------------------------------------------------------------------


class ToolResult(BaseModel):
    """What the client's own tool answered to a call the previous turn handed it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool_call_id: str
    content: str


class AgentTurnParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    thread_id: str
    turn: int
    agent_id: str
    model: str
    planning_mode: PlanningMode = "off"
    system_prompt: str
    server_tools: tuple[str, ...] | None = None
    """The agent's server tools this turn offers (None: all of them)."""
    client_tools: tuple[dict[str, Any], ...] = ()
    """Tools the client declared: a call to one ends the turn and goes back to the client."""
    tool_results: tuple[ToolResult, ...] = ()
    """The client's results for the calls the previous turn handed it."""
    max_tokens: int | None = None
    temperature: float | None = None


AGENT_TURN: JobKind[AgentTurnParams] = declare(
    JobKind(
        name="agent_turn",
        category=TURN_CATEGORY,
        actor="run_agent_turn",
        params=AgentTurnParams,
        capability=Capability.OPENAI_CHAT_COMPLETIONS,
    )
)


class PlanCreated(DomainEvent):
    verb = "plan_created"
    steps: tuple[str, ...]


class ToolCallStarted(DomainEvent):
    verb = "tool_call_started"
    step: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    runs_on: Literal["server", "client"] = "server"


class ToolCallCompleted(DomainEvent):
    verb = "tool_call_completed"
    step: int
    call_id: str
    name: str
    result: Any = None
    error: str | None = None


class AssistantMessage(DomainEvent):
    verb = "assistant_message"
    text: str


TURN_EVENTS = {
    "started": "turn_started",
    PlanCreated.verb: PlanCreated.verb,
    ToolCallStarted.verb: ToolCallStarted.verb,
    ToolCallCompleted.verb: ToolCallCompleted.verb,
    AssistantMessage.verb: AssistantMessage.verb,
    "completed": "turn_completed",
    "failed": "turn_failed",
    "cancelled": "turn_cancelled",
}
"""A turn job's events by verb, as the contract names them in a turn's answer."""


def turn_event(verb: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """One of a turn's ordered events as a client sees it (None for the job's bookkeeping)."""
    name = TURN_EVENTS.get(verb)
    if name is None:
        return None
    shown = {key: value for key, value in data.items() if key not in ("result", "worker", "attempt")}
    if verb == "completed":
        shown = {"status": dict(data.get("result") or {}).get("status", "completed")}
    if verb == ToolCallCompleted.verb:
        shown["result"] = data.get("result")
    return {"type": name, **shown}


class TurnEvents:
    """A turn's events as a client sees them, in order, fed one at a time (a list, or an SSE
    stream): a redelivered turn starts again, and only its first start is shown."""

    def __init__(self) -> None:
        self.started = False

    def shown(self, verb: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        item = turn_event(verb, data)
        if item is not None and item["type"] == TURN_EVENTS["started"]:
            if self.started:
                return None
            self.started = True
        return item


def plan_schema(mode: PlanningMode) -> dict[str, Any]:
    """The JSON a plan is sampled as (grammar-constrained): ``auto`` may plan nothing."""
    return {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1 if mode == "on" else 0,
                "maxItems": MAX_PLAN_STEPS,
            }
        },
        "required": ["steps"],
        "additionalProperties": False,
    }


def kept_plan(mode: PlanningMode, steps: Iterable[str]) -> tuple[str, ...]:
    """The plan worth recording: ``on`` keeps any, ``auto`` only a plan of two steps or more."""
    cleaned = tuple(step.strip() for step in steps if step.strip())[:MAX_PLAN_STEPS]
    if mode == "auto" and len(cleaned) < 2:
        return ()
    return cleaned if mode != "off" else ()
