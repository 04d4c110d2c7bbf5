"""``/v1/responses``: OpenAI's Responses API over durable response streams.

Unlike the contract's process-local store, each response is the job stream
``response-<response id>``, run by the ``generate_text`` worker: it survives a server restart,
and its record (``GET``) is folded from the stream's events, in-progress ones included.

- ``store: false`` keeps no retrievable record: GET, input_items, cancel and DELETE answer 404.
  Its events remain the audit trail in ``/v1/events`` (category ``response``), like every job's.
- A client that disconnects does not cancel a stored response (it stays retrievable); it does
  cancel a ``store: false`` one, which nobody could fetch afterwards.
- Cancelling an in-flight response stops its generation; the call waits (bounded) for the
  worker to confirm. Cancelling one that already ended returns it unchanged.
- DELETE records ``response.deleted`` (cancelling first if it is still running).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, current_app, jsonify, request

from app.bootstrap import Container
from app.http.errors import ApiError
from app.http.job_follow import JobFollower, job_end, shutting_down
from app.http.model_choice import resolve_model
from app.http.request_body import receive_body, request_body
from app.http.sse import sse_frame, sse_response
from app.records import deletion
from app.routes.chat.bodies import ResponseBody
from app.routes.chat.requests import FieldNames, generation_params, normalize_messages
from domain.events import stream_id as make_stream_id
from domain.fields import optional_bool, optional_str
from domain.jobs import JobFailed
from domain.responses import (
    CATEGORY,
    RESPONSE,
    ResponseDeleted,
    ResponseState,
    ResponseStream,
    chat_messages,
    chat_tool_choice,
    chat_tools,
    fold,
    function_tools,
    new_response_id,
    normalize_input,
    page_items,
    response_object,
)

blueprint = Blueprint("responses", __name__)

CANCEL_WAIT_SECONDS = 30.0
"""How long a cancel call waits for the worker to stop before answering with the current state."""
UNSUPPORTED_FIELDS = ("previous_response_id", "conversation", "prompt")
"""Requests that Sauti cannot honour: rejected rather than silently ignored."""


def _container() -> Container:
    return current_app.config["SAUTI_CONTAINER"]


def _stream_id(response_id: str) -> str:
    return make_stream_id(CATEGORY, response_id)


# --- reading the request ------------------------------------------------------------------

RESPONSE_FIELDS = FieldNames(max_tokens=("max_output_tokens",), sampling=("temperature", "top_p"))


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ApiError(400, "`metadata` must map string keys to string values.", param="metadata")
    return value


def _reject_unsupported(body: Mapping[str, Any]) -> None:
    for key in UNSUPPORTED_FIELDS:
        if body.get(key) not in (None, ""):
            raise ApiError(400, f"`{key}` is not supported by this server.", param=key)
    if body.get("background"):
        raise ApiError(
            400,
            "`background` is not supported: every response already runs as a durable job; "
            "create it with stream=true or fetch it with GET /v1/responses/{id}.",
            param="background",
        )


@dataclass(frozen=True)
class Submission:
    response_id: str
    params: dict[str, Any]
    stream: bool
    store: bool


async def _submission(container: Container, body: dict[str, Any]) -> Submission:
    """The generation params for a create request, after checking every field (400 otherwise).

    Responses' items and flat function tools are turned into chat messages and chat-shaped
    tools, then checked like a chat completions request (``app.routes.chat.requests``).
    """
    _reject_unsupported(body)
    variant = await resolve_model(container, body.get("model"), RESPONSE.capability, what="responses")
    response_id = new_response_id()
    instructions = optional_str(body, "instructions")
    items = normalize_input(body.get("input"), response_id)
    tools = function_tools(body.get("tools"))
    chat_body = {
        **body,
        "tools": chat_tools(tools) if body.get("tools") is not None else None,
        "tool_choice": chat_tool_choice(body.get("tool_choice")),
    }
    if not items and not instructions:
        raise ApiError(400, "`instructions` is required when `input` is empty.", param="input")
    messages = normalize_messages(chat_messages(instructions, items), variant, param="input")
    profile = container.settings.openai_compat_profile
    params = generation_params(chat_body, variant, profile, messages=messages, fields=RESPONSE_FIELDS)
    store = optional_bool(body, "store") is not False
    user = optional_str(body, "user")
    params["user"] = user
    params["record"] = {
        "instructions": instructions,
        "input": items,
        "max_output_tokens": params.get("max_tokens"),
        "temperature": params.get("temperature"),
        "top_p": params.get("top_p"),
        "metadata": _metadata(body.get("metadata")),
        "user": user,
        "store": store,
        "tools": tools,
        "tool_choice": body.get("tool_choice") or "auto",
        "parallel_tool_calls": optional_bool(body, "parallel_tool_calls") is not False,
    }
    return Submission(response_id, params, bool(optional_bool(body, "stream")), store)


# --- the record -------------------------------------------------------------------------------


async def _state(response_id: str) -> ResponseState:
    """The folded record of a retrievable response; 404 for unknown, deleted or unstored ones."""
    events = await asyncio.to_thread(_container().store.read_stream, _stream_id(response_id))
    state = fold(events)
    if not state.exists:
        raise ApiError(404, f"No response with id {response_id!r}.", param="response_id")
    if not state.stored:
        reason = "was deleted" if state.deleted else "was created with store=false"
        raise ApiError(
            404,
            f"Response {response_id!r} {reason}: it is not retrievable "
            f"(its events remain in /v1/events?stream={_stream_id(response_id)}).",
            param="response_id",
        )
    return state


# --- streaming --------------------------------------------------------------------------------


async def _frames(
    follower: JobFollower, stream_id: str, *, starting_after: int, cancel_on_disconnect: bool
) -> AsyncIterator[bytes]:
    """The contract's event sequence for the stream (from the start), then ``[DONE]``."""
    builder = ResponseStream()
    events = follower.events(stream_id, cancel_on_disconnect=cancel_on_disconnect)
    try:
        async for event in events:
            for frame in builder.feed(event):
                if frame["sequence_number"] > starting_after:
                    yield sse_frame(frame, event=frame["type"])
        if not builder.ended:
            frame = builder.error(shutting_down("fetch the response later").message, "server_error")
            yield sse_frame(frame, event="error")
    except ApiError as error:  # no progress before the request timeout
        yield sse_frame(builder.error(error.message, error.error_type), event="error")
    finally:
        await events.aclose()
    yield sse_frame("[DONE]")


def _stream_response(follower: JobFollower, stream_id: str, *, starting_after: int, cancel: bool) -> Response:
    frames = _frames(follower, stream_id, starting_after=starting_after, cancel_on_disconnect=cancel)
    return sse_response(frames, _container().settings.sse_heartbeat_seconds)


# --- routes -------------------------------------------------------------------------------------


@blueprint.post("/v1/responses")
@request_body(ResponseBody)
async def create_response() -> Response:
    """Create a response; ``stream: true`` answers with the contract's SSE event sequence."""
    container = _container()
    submission = await _submission(container, (await receive_body(ResponseBody)).fields)
    follower = JobFollower.for_request()
    stream_id = await follower.submit(
        RESPONSE, RESPONSE.parse(submission.params), job_id=submission.response_id
    )
    if submission.stream:
        return _stream_response(follower, stream_id, starting_after=-1, cancel=not submission.store)
    events = await follower.until_terminal(stream_id, cancel_on_disconnect=not submission.store)
    end = job_end(events[-1]) if events else None
    if end is None:
        raise shutting_down(f"fetch the response later: {submission.response_id}")
    if end.event.type == f"{RESPONSE.category}.{JobFailed.verb}":
        raise end.error()
    return jsonify(response_object(fold(events)))


@blueprint.get("/v1/responses/<response_id>")
async def get_response(response_id: str) -> Response:
    """The response as recorded so far; ``?stream=true`` replays (and follows) its event sequence,
    after ``starting_after`` (a sequence number) when given."""
    state = await _state(response_id)
    if request.args.get("stream", "").lower() not in ("true", "1"):
        return jsonify(response_object(state))
    try:
        starting_after = int(request.args.get("starting_after", "-1"))
    except ValueError:
        raise ApiError(400, "`starting_after` must be an integer.", param="starting_after") from None
    follower = JobFollower.for_request()
    return _stream_response(follower, _stream_id(response_id), starting_after=starting_after, cancel=False)


@blueprint.delete("/v1/responses/<response_id>")
async def delete_response(response_id: str) -> dict[str, Any]:
    await _state(response_id)
    container = _container()
    deleted = await asyncio.to_thread(
        deletion.delete_record,
        container,
        _stream_id(response_id),
        ResponseDeleted(),
        reason="the response was deleted",
    )
    if not deleted:
        raise ApiError(404, f"No response {response_id!r}: it was deleted.")
    return {"id": response_id, "object": "response.deleted", "deleted": True}


@blueprint.post("/v1/responses/<response_id>/cancel")
async def cancel_response(response_id: str) -> Response:
    """Stop an in-flight response and return it (``cancelled``); an ended one is returned as is."""
    state = await _state(response_id)
    if state.is_terminal:
        return jsonify(response_object(state))
    stream_id = _stream_id(response_id)
    follower = JobFollower.for_request()
    await asyncio.to_thread(follower.cancel, stream_id, "cancelled by the client")
    events = follower.events(stream_id, cancel_on_disconnect=False)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CANCEL_WAIT_SECONDS):
            async for _ in events:
                pass
    await events.aclose()
    return jsonify(response_object(await _state(response_id)))


@blueprint.get("/v1/responses/<response_id>/input_items")
async def list_input_items(response_id: str) -> dict[str, Any]:
    """The normalised input items, newest first unless ``order=asc`` (OpenAI's list shape)."""
    state = await _state(response_id)
    order = request.args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, '`order` must be "asc" or "desc".', param="order")
    try:
        limit = int(request.args.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ApiError(400, "`limit` must be an integer from 1 to 100.", param="limit")
    return page_items(
        state.record.get("input") or [], limit=limit, order=order, after=request.args.get("after")
    )
