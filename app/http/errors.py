"""The contract's JSON error envelope, for every error the HTTP layer returns."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, jsonify
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from domain.errors import InvalidTransition, NotFound
from domain.fields import FieldError
from eventstore.base import ConcurrencyError

log = logging.getLogger(__name__)

ERROR_TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    501: "not_implemented_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, error_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.error_type = error_type or ERROR_TYPES.get(status, "server_error")

    @classmethod
    def from_field_error(cls, error: FieldError) -> ApiError:
        """A request field the domain refused: a 400 naming it."""
        return cls(400, error.message, param=error.param)


def envelope(
    status: int, message: str, *, param: str | None = None, error_type: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": error_type or ERROR_TYPES.get(status, "server_error"),
            "param": param,
            "code": str(status),
        }
    }


def error_response(
    status: int, message: str, *, param: str | None = None, error_type: str | None = None
) -> Response:
    response = jsonify(envelope(status, message, param=param, error_type=error_type))
    response.status_code = status
    return response


def validation_message(error: ValidationError | Exception) -> tuple[str, str | None]:
    if isinstance(error, ValidationError) and error.errors():
        first = error.errors()[0]
        param = ".".join(str(part) for part in first.get("loc", ())) or None
        return (f"{param}: {first['msg']}" if param else first["msg"]), param
    return str(error) or "invalid request", None


_HTTP_MESSAGES = {
    404: "Not found: no route matches this path. See /docs for the API reference.",
    405: "Method not allowed on this path.",
    413: "Request body too large: it exceeds this route's upload limit.",
    415: "Unsupported content type: send application/json or multipart/form-data.",
}


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.message, param=error.param, error_type=error.error_type)

    @app.errorhandler(FieldError)
    async def _field_error(error: FieldError) -> Response:
        return await _api_error(ApiError.from_field_error(error))

    @app.errorhandler(RequestSchemaValidationError)
    async def _schema_error(error: RequestSchemaValidationError) -> Response:
        message, param = validation_message(error.validation_error)
        return error_response(400, message, param=param)

    @app.errorhandler(NotFound)
    async def _not_found(error: NotFound) -> Response:
        return error_response(404, str(error))

    @app.errorhandler(InvalidTransition)
    async def _conflict(error: InvalidTransition) -> Response:
        return error_response(409, str(error))

    @app.errorhandler(ConcurrencyError)
    async def _concurrent_change(error: ConcurrencyError) -> Response:
        # Another request changed the same stream first; the client can simply retry.
        return error_response(
            409, f"{error.stream_id} was changed by another request at the same time; retry."
        )

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = _HTTP_MESSAGES.get(status) or error.description or error.name
        response = error_response(status, message)
        allowed = getattr(error, "valid_methods", None)
        if status == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, f"Internal server error: {type(error).__name__}")
