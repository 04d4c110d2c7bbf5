"""The agent turn actor (docs/agents.md): one turn of an agent session, as a job.

A turn waits, queued, for the thread's earlier turns. With planning on (or ``auto`` and a task of
several steps) it first samples a plan as grammar-constrained JSON (``agentturn.plan_created``).
Then, at each step, the model must choose (grammar-constrained) one of the agent's server tools,
one of the client's tools, or to answer (``respond_to_user``): a server tool runs here, its call and
its result recorded as ``tool_call_started`` and ``tool_call_completed``; a client tool ends the
turn with the call handed back (``requires_action``), as chat completions do. After at most
``MAX_TOOL_STEPS`` calls the model answers (``assistant_message``), and the completed job records
the answer in the session's thread in the same transaction.

Every decision and result is an event with an id made of the turn and step, so a turn resumed after
its worker died replays what it recorded (no finished tool runs again) and goes on from there.
"""

from __future__ import annotations

import json
from typing import Any

from domain.agents import (
    AGENT_TURN,
    AGENTS,
    MAX_TOOL_STEPS,
    RESPOND_TOOL,
    SERVER_TOOLS,
    AgentTurnParams,
    AssistantMessage,
    PlanCreated,
    ToolCallCompleted,
    ToolCallStarted,
    kept_plan,
    plan_schema,
)
from domain.chat_threads import CATEGORY as THREAD_CATEGORY
from domain.chat_threads import ReplyRecorded, Thread, answered_before
from domain.events import deterministic_event_id
from domain.generation import usage
from domain.tool_calls import tool_names
from workers import runtime
from workers.actors import job_actor, job_model, job_params
from workers.agent_tools import SERVER_TOOL_FUNCTIONS, ToolContext, ToolFailed
from workers.chat_jobs import fitted_prompt, forced_tool_grammar
from workers.engines.base import ChatModel, CompletionRequest
from workers.thread_jobs import earlier_turns_pending
from workflows.chat_threads import load_thread, thread_stream
from workflows.jobs import JobInputError, JobRun, load_job, to_new_event

ANSWER_TOKENS = 400
DECISION_TOKENS = 200
PLAN_TOKENS = 200
TOOL_EXCHANGE_TOKENS = 600
"""Room kept in the context for the tool calls and results a turn adds to its prompt."""
TOOL_RESULT_CHARS = 3000
"""How much of a tool's result the model reads (the event keeps all of it)."""


class Turn:
    """One run of a turn: what it recorded so far, and the conversation it makes of it."""

    def __init__(self, run: JobRun, params: AgentTurnParams, engine: ChatModel, thread: Thread) -> None:
        self.run = run
        self.params = params
        self.engine = engine
        self.thread = thread
        self.job_id = run.stream_id.partition("-")[2]
        names = AGENTS[params.agent_id].server_tools if params.server_tools is None else params.server_tools
        self.server_tools = [SERVER_TOOLS[name] for name in names]
        self.client_tools = list(params.client_tools)
        self.tokens = {"prompt": 0, "completion": 0}
        self.turns_used = self.turns_left_out = 0

    # -- sampling -------------------------------------------------------------------------

    def _complete(
        self,
        messages: list[dict[str, Any]],
        max_tokens: int,
        grammar: str | None = None,
        tools: tuple[dict[str, Any], ...] = (),
    ) -> str:
        """The whole answer (steps are not streamed), checking for a cancel after it."""
        request = CompletionRequest(
            messages=messages,
            max_tokens=max_tokens,
            temperature=self.params.temperature,
            grammar=grammar,
            tools=tools,
        )
        pieces: list[str] = []
        for chunk in self.engine.complete(request):
            pieces.append(chunk.text)
            if chunk.finish_reason is not None:
                self.tokens["prompt"] += chunk.prompt_tokens or 0
                self.tokens["completion"] += chunk.completion_tokens or 0
        self.run.check_cancelled()
        return "".join(pieces).strip()

    def _json(self, messages: list[dict[str, Any]], schema: dict[str, Any], max_tokens: int) -> Any:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        text = self._complete(messages, max_tokens, json_schema_to_gbnf(json.dumps(schema)))
        try:
            return json.loads(text)
        except ValueError:
            return None  # cut off by max_tokens: treated as no answer

    # -- the conversation -----------------------------------------------------------------

    def base_messages(self, plan: tuple[str, ...]) -> list[dict[str, Any]]:
        """The system prompt (with the plan), the thread's history that fits, and the input."""
        system = self.params.system_prompt
        if plan:
            system += "\n\nYour plan for this turn:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(plan, 1))
        turn = self.thread.turn(self.params.turn)
        prompt = fitted_prompt(
            self.engine,
            self.params.model,
            system,
            answered_before(self.thread, turn.number),
            turn.user_text(),
            answer_tokens=self.params.max_tokens or ANSWER_TOKENS,
            param="input",
            spare_tokens=TOOL_EXCHANGE_TOKENS,
        )
        messages: list[dict[str, Any]] = list(prompt.messages)
        if self.params.tool_results:
            messages[-1:-1] = self._answered_client_calls()
            if not messages[-1]["content"]:
                messages.pop()  # a turn that only answers the client's calls has no input of its own
        self.turns_used, self.turns_left_out = prompt.turns_used, prompt.turns_left_out
        return messages

    def _answered_client_calls(self) -> list[dict[str, Any]]:
        """The calls the previous turn handed the client, with the client's results."""
        previous = self.thread.turns[self.params.turn - 2] if self.params.turn > 1 else None
        calls: list[dict[str, Any]] = []
        if previous is not None:
            state, _version = load_job(self.run.store, previous.reply_stream)
            calls = list((state.result or {}).get("pending_tool_calls") or [])
        known = {call["id"]: call for call in calls}
        missing = [r.tool_call_id for r in self.params.tool_results if r.tool_call_id not in known]
        if missing:
            raise JobInputError(
                f"No tool call {missing[0]!r} waits for a result in this session.", param="tool_results"
            )
        answered = [_with_object_arguments(known[r.tool_call_id]) for r in self.params.tool_results]
        messages: list[dict[str, Any]] = [{"role": "assistant", "content": "", "tool_calls": answered}]
        messages += [
            {"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content}
            for r in self.params.tool_results
        ]
        return messages

    # -- the steps ------------------------------------------------------------------------

    def plan(self, messages: list[dict[str, Any]]) -> tuple[str, ...]:
        recorded = self.run.kind_events(PlanCreated.verb)
        if recorded:
            return tuple(recorded[0].data["steps"])
        mode = self.params.planning_mode
        if mode == "off" or self.params.tool_results:
            return ()  # a turn that goes on after the client's tools keeps the plan it had
        asking = [
            *messages[:-1],
            {
                "role": "user",
                "content": f"{messages[-1]['content']}\n\nBefore acting, list the steps to do this "
                f'(at most 5, each a short phrase), as JSON: {{"steps": [...]}}.'
                + (' A simple request needs no steps: answer {"steps": []}.' if mode == "auto" else ""),
            },
        ]
        answer = self._json(asking, plan_schema(mode), PLAN_TOKENS)
        steps = kept_plan(mode, answer.get("steps", ()) if isinstance(answer, dict) else ())
        if steps:
            self.run.append(PlanCreated(steps=steps))
        return steps

    def decide(
        self,
        step: int,
        messages: list[dict[str, Any]],
        ran: list[tuple[ToolCallStarted, ToolCallCompleted]],
    ) -> ToolCallStarted | None:
        """The step's tool call (recorded), or None: answer now (also instead of a call that only
        repeats one the turn made already)."""
        recorded = [e for e in self.run.kind_events(ToolCallStarted.verb) if e.data["step"] == step]
        if recorded:
            return ToolCallStarted.model_validate(recorded[0].data)
        offered = [*self.server_tools, *self.client_tools]
        if not offered or step >= MAX_TOOL_STEPS:
            return None
        choices = (*offered, RESPOND_TOOL)
        text = self._complete(messages, DECISION_TOKENS, forced_tool_grammar(choices, "required"), choices)
        try:
            call = json.loads(text)
        except ValueError:
            return None
        name = call.get("name") if isinstance(call, dict) else None
        if name not in tool_names(offered):
            return None  # respond_to_user, or a call cut off
        arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
        if any(done.name == name and done.arguments == arguments for done, _ in ran):
            return None
        started = ToolCallStarted(
            step=step,
            call_id="call_" + deterministic_event_id(self.run.stream_id, "call", step).replace("-", "")[:24],
            name=name,
            arguments=arguments,
            runs_on="client" if name in tool_names(self.client_tools) else "server",
        )
        self.run.append(started, step)
        return started

    def call(self, started: ToolCallStarted) -> ToolCallCompleted:
        recorded = [
            e for e in self.run.kind_events(ToolCallCompleted.verb) if e.data["call_id"] == started.call_id
        ]
        if recorded:
            return ToolCallCompleted.model_validate(recorded[0].data)
        recordings = runtime.current().recordings
        if recordings is None:
            raise RuntimeError("this worker runtime cannot read recordings")
        context = ToolContext(recordings, f"agent/{self.params.session_id}", started.call_id)
        try:
            result, error = SERVER_TOOL_FUNCTIONS[started.name](started.arguments, context), None
        except ToolFailed as failed:
            result, error = None, str(failed)
        completed = ToolCallCompleted(
            step=started.step, call_id=started.call_id, name=started.name, result=result, error=error
        )
        self.run.append(completed, started.step)
        return completed

    def answer(self, messages: list[dict[str, Any]]) -> str:
        recorded = self.run.kind_events(AssistantMessage.verb)
        if recorded:
            return str(recorded[0].data["text"])
        text = self._complete(messages, self.params.max_tokens or ANSWER_TOKENS)
        self.run.append(AssistantMessage(text=text))
        return text


def _exchange(started: ToolCallStarted, completed: ToolCallCompleted) -> list[dict[str, Any]]:
    call = {
        "id": started.call_id,
        "type": "function",
        # An object, not the JSON text OpenAI sends: the chat template writes it as JSON, where a
        # string would come out escaped, and small models copy the escapes into their next call.
        "function": {"name": started.name, "arguments": started.arguments},
    }
    said = _said(completed)
    return [
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": started.call_id, "content": said[:TOOL_RESULT_CHARS]},
    ]


def _with_object_arguments(call: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped call with its arguments as an object (see ``_exchange``)."""
    try:
        arguments = json.loads(call["function"]["arguments"])
    except (TypeError, ValueError):
        return call
    return {**call, "function": {**call["function"], "arguments": arguments}}


def _said(completed: ToolCallCompleted) -> str:
    return json.dumps({"error": completed.error} if completed.error else completed.result)[:TOOL_RESULT_CHARS]


def answer_messages(
    base: list[dict[str, Any]], calls: list[tuple[ToolCallStarted, ToolCallCompleted]]
) -> list[dict[str, Any]]:
    """The prompt of the answer: the turn's conversation with what its tools found written into the
    user's message as plain text. Shown as tool-call messages, a small model answers with one more
    call's JSON instead of sentences."""
    if not calls:
        return base
    found = "\n".join(
        f"- {started.name}({json.dumps(started.arguments)}) returned: {_said(completed)}"
        for started, completed in calls
    )
    last = base[-1]
    note = (
        f"{last['content']}\n\n(What your tools found for this:\n{found}\n"
        "Answer in plain sentences from these results, and name the recording you used. Do not write JSON.)"
    )
    return [*base[:-1], {**last, "content": note}]


def _citations(completed: list[ToolCallCompleted]) -> list[dict[str, Any]]:
    """The recordings the turn read from: each search's best passages and each transcript asked for."""
    cited: list[dict[str, Any]] = []
    for call in completed:
        result = call.result if isinstance(call.result, dict) else {}
        for hit in result.get("results", ())[:3]:
            cited.append({key: hit[key] for key in ("record_id", "title", "start", "end", "text", "score")})
        if "record_id" in result and "text" in result:
            cited.append({key: result[key] for key in ("record_id", "title", "start", "end")})
    return cited


@job_actor(AGENT_TURN, waits=earlier_turns_pending)
def run_agent_turn(run: JobRun) -> dict[str, Any] | None:
    params = job_params(AGENT_TURN, run)
    thread = load_thread(run.store, params.thread_id)
    if thread is None:
        raise JobInputError(f"The agent session's thread {params.thread_id} was deleted.", param="session_id")
    variant = job_model(AGENT_TURN, params.model, params)
    engine: ChatModel = runtime.engines().get(variant)
    turn = Turn(run, params, engine, thread)
    messages = turn.base_messages(())
    plan = turn.plan(messages)
    if plan:
        messages = turn.base_messages(plan)
    calls: list[tuple[ToolCallStarted, ToolCallCompleted | None]] = []
    ran: list[tuple[ToolCallStarted, ToolCallCompleted]] = []
    pending: list[ToolCallStarted] = []
    exchanges: list[dict[str, Any]] = []
    for step in range(MAX_TOOL_STEPS + 1):
        run.checkpoint()  # between steps: a cancel stops here, a worker's shutdown requeues the turn
        started = turn.decide(step, [*messages, *exchanges], ran)
        if started is None:
            break
        if started.runs_on == "client":
            pending.append(started)
            calls.append((started, None))
            break
        completed = turn.call(started)
        calls.append((started, completed))
        ran.append((started, completed))
        exchanges += _exchange(started, completed)
    run.checkpoint()
    text = "" if pending else turn.answer(answer_messages(messages, ran))
    done = [completed for _, completed in calls if completed is not None]
    stats = {"usage": usage(turn.tokens["prompt"], turn.tokens["completion"])}
    result = {
        "session_id": params.session_id,
        "thread_id": thread.id,
        "turn": params.turn,
        "status": "requires_action" if pending else "completed",
        "assistant_text": text,
        "plan": list(plan),
        "tool_calls": [
            {
                "id": started.call_id,
                "name": started.name,
                "arguments": started.arguments,
                "runs_on": started.runs_on,
                "result": completed.result if completed else None,
                "error": completed.error if completed else None,
            }
            for started, completed in calls
        ],
        "pending_tool_calls": [
            {
                "id": s.call_id,
                "type": "function",
                "function": {"name": s.name, "arguments": json.dumps(s.arguments)},
            }
            for s in pending
        ],
        "citations": _citations(done),
        **stats,
    }
    recorded = ReplyRecorded(
        turn=params.turn,
        message_id=turn.job_id,
        content=text,
        model=variant.id,
        history_turns_used=turn.turns_used,
        history_turns_left_out=turn.turns_left_out,
        stats={**stats, "tool_calls": len(calls), "status": result["status"]},
    )
    stream = thread_stream(thread.id)
    event_id = deterministic_event_id(stream, recorded.verb, turn.job_id)
    metadata = {**run.metadata, "causation_id": run.message_id}
    run.complete(result, along=[(stream, to_new_event(THREAD_CATEGORY, recorded, event_id, metadata))])
    return result
