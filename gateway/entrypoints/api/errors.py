"""The one error object every failure is rendered as:
{"error": {"type", "code", "message", "param"}} with the matching HTTP status."""
from __future__ import annotations

from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

from gateway.domain.errors import DomainError
from gateway.observability.logs import get_logger

log = get_logger(__name__)

HTTP_CODES = {
    400: "invalid_request",
    401: "authentication_required",
    403: "permission_denied",
    404: "resource_missing",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_body(type_: str, code: str, message: str, param: str | None = None) -> dict:
    return {"error": {"type": type_, "code": code, "message": message, "param": param}}


def render(status: int, type_: str, code: str, message: str, param: str | None = None) -> Response:
    response = jsonify(error_body(type_, code, message, param))
    response.status_code = status
    return response


def error_response(exc: BaseException) -> Response:
    """Any exception a request may raise, as the one error object."""
    if isinstance(exc, DomainError):
        response = render(exc.status, exc.type, exc.code, exc.message, exc.param)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    # The one log line of an unhandled error (Flask's own is switched off); the engine hides SQL
    # parameters, and the log formatter masks card numbers and IDs in the traceback.
    log.error("unhandled_error", exc_info=exc)
    return render(500, "api_error", "internal_error", "An unexpected error occurred; it has been logged.")


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if messages:
        param, message = first_validation_error(messages)
        code = _validation_code(message, param)
        return render(400, "invalid_request_error", code, f"{param}: {message}" if param else message, param)
    if status >= 500:
        original = getattr(exc, "original_exception", None)
        if original is not None:
            return error_response(original)
    response = render(status, "invalid_request_error", HTTP_CODES.get(status, "http_error"), exc.description or exc.name)
    if getattr(exc, "valid_methods", None):  # 405: say which methods the resource has (RFC 9110)
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def first_validation_error(messages) -> tuple[str | None, str]:
    """Flatten webargs/marshmallow messages ({"json": {"amount": ["..."]}}) to (param, message)."""
    path: list[str] = []
    node = messages
    while isinstance(node, dict) and node:
        key, node = sorted(node.items(), key=lambda item: str(item[0]))[0]
        path.append(str(key))
    message = node[0] if isinstance(node, list) and node else str(node)
    location, *fields = path or [None]
    fields = [field for field in fields if field != "_schema"]
    if location not in ("json", "query", "headers", "path"):
        fields = [location, *fields] if location else fields
    return (".".join(fields) or None), str(message)


def _validation_code(message: str, param: str | None) -> str:
    if message == "Invalid JSON body.":
        return "invalid_json"
    if message == "Missing data for required field.":
        return "parameter_missing"
    if message == "Unknown field.":
        return "parameter_unknown"
    return "parameter_invalid" if param else "invalid_request"
