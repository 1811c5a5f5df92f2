"""The one guard at the HTTP edge: requests no endpoint should ever see are answered here with
the one error object, before routing, authentication or the database.

Stopped here (and why here): a NUL byte or a lone UTF-16 surrogate anywhere in the path, the
query or a JSON body (PostgreSQL refuses NUL in text and psycopg cannot encode a surrogate, so
either would otherwise surface as a 500 deep inside a transaction); JSON nested deeper or wider
than any request of ours needs (the parser recurses); an over-long path (414) or header (431).
Over-large bodies are refused by Flask's MAX_CONTENT_LENGTH (413) as before.

A WSGI middleware rather than a Flask hook, so that it also covers what Flask itself decodes
before any hook runs (the path, the query string) and every blueprint, present and future.
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote_to_bytes

MAX_PATH_BYTES = 2048
MAX_HEADER_BYTES = 8192
MAX_JSON_DEPTH = 32
MAX_JSON_ITEMS = 1000  # elements of one array or members of one object

_FORBIDDEN_TEXT = re.compile("[\x00\ud800-\udfff]")

Refusal = tuple[int, str, str]  # (status, code, message)


def check_text(text: str) -> str | None:
    """Why a decoded string may not enter the system, or None."""
    found = _FORBIDDEN_TEXT.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate"


def check_json(value, depth: int = 1) -> str | None:
    """Why a parsed JSON document may not enter the system, or None: too deep, too wide, or a
    key or string with a NUL or a lone surrogate."""
    if isinstance(value, str):
        return check_text(value)
    if not isinstance(value, (dict, list)):
        return None
    if depth > MAX_JSON_DEPTH:
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    if len(value) > MAX_JSON_ITEMS:
        return f"a JSON object or array with more than {MAX_JSON_ITEMS} entries"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, member in items:
        reason = (check_text(key) if isinstance(key, str) else None) or check_json(member, depth + 1)
        if reason:
            return reason
    return None


def check_environ(environ: dict) -> Refusal | None:
    """The path, query string and headers of a WSGI request."""
    path = environ.get("PATH_INFO", "")
    # WSGI hands the path over as latin-1 text of its raw (percent-decoded) bytes.
    raw_path = path.encode("latin-1", "replace")
    if len(raw_path) + len(environ.get("QUERY_STRING", "")) > MAX_PATH_BYTES:
        return 414, "uri_too_long", f"The request line is longer than {MAX_PATH_BYTES} bytes."
    for key, value in environ.items():
        if key.startswith("HTTP_") and len(value) > MAX_HEADER_BYTES:
            name = key[5:].replace("_", "-").title()
            return 431, "header_too_large", f"The {name} header is longer than {MAX_HEADER_BYTES} bytes."
    for part, raw in (("path", raw_path), ("query string", unquote_to_bytes(environ.get("QUERY_STRING", "")))):
        try:
            reason = check_text(raw.decode("utf-8"))
        except UnicodeDecodeError:
            reason = "bytes that are not UTF-8"
        if reason:
            return 400, "invalid_characters", f"The {part} contains {reason}."
    return None


def check_json_body(body: bytes) -> Refusal | None:
    """A JSON body that parses but holds what must not enter; bodies that do not parse are left
    to the endpoint's own 400 invalid_json."""
    try:
        document = json.loads(body)
    except RecursionError:
        return 400, "json_too_deep", f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels."
    except ValueError:
        return None
    reason = check_json(document)
    if reason:
        return 400, "invalid_json", f"The JSON body contains {reason}."
    return None


class EdgeGuard:
    """WSGI middleware: `app.wsgi_app = EdgeGuard(app.wsgi_app, max_body_bytes)`."""

    def __init__(self, app: Callable, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        refusal = check_environ(environ)
        if refusal is None and _is_json(environ):
            body = self._read_body(environ)
            if body is not None:
                refusal = check_json_body(body)
                environ["wsgi.input"] = io.BytesIO(body)  # the endpoint reads it again
                environ["CONTENT_LENGTH"] = str(len(body))
        if refusal is None:
            return self.app(environ, start_response)
        status, code, message = refusal
        return _error(start_response, status, code, message)

    def _read_body(self, environ: dict) -> bytes | None:
        """The body when its declared length is within the limit; None leaves the request to
        Flask (which answers 413 for an over-large one)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length <= 0 or length > self.max_body_bytes:
            return None
        return environ["wsgi.input"].read(length)


def _is_json(environ: dict) -> bool:
    content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


_REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


def _error(start_response: Callable, status: int, code: str, message: str) -> list[bytes]:
    body = json.dumps({"error": {"type": "invalid_request_error", "code": code, "message": message, "param": None}}).encode()
    start_response(f"{status} {_REASONS[status]}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
