"""The error statuses each operation can return, written into /openapi.json from one rule set so
that the contract says them all (and a fuzzer can hold the API to it) without every view listing
them by hand.

Every answer that is not a success is the one error object (`ErrorOut`). Which statuses an
operation can give follows from what it is:
- any request: 400 (bad input, refused at the edge or by its schema), 414/431 (over-long path or
  header), 429 (rate limited), 500 (a bug, logged), 503 (the database is unreachable for now:
  nothing was done, retry after `Retry-After` seconds);
- an authenticated one: 401 (no or bad key), 403 (a key of the wrong kind, a missing consent),
  404 (an id it names, in the path, a cursor or the body, is none of this merchant's);
- one with a body: 413 (over the body limit);
- one naming an object in its path: 404 (none, or not one of the caller's);
- a write: 402 (the bank or wallet refused), 409 (the object's state forbids it, or the same
  Idempotency-Key is still in flight), 422 (an Idempotency-Key reused with another body).
The catch-all `default` response flask-smorest adds is removed: a status not listed here is a
contract violation, and the fuzz test treats it as one.
"""
from __future__ import annotations

from apispec import BasePlugin

ERROR_DESCRIPTIONS = {
    400: "Bad input: the one error object names the field (`param`) and the reason (`code`).",
    401: "No API key, or not a valid one.",
    402: "The bank or wallet refused.",
    403: "A key of the wrong kind (publishable where a secret key is needed), or a consent missing.",
    404: "No such object (or it belongs to another merchant).",
    409: "The object's state does not allow this, or the same Idempotency-Key is still in flight.",
    413: "The body is larger than the limit (PAYGATE_MAX_BODY_BYTES).",
    414: "The path and query are longer than the limit.",
    422: "The Idempotency-Key was used before with another request body.",
    429: "Rate limited: wait `Retry-After` seconds.",
    431: "A header is longer than the limit.",
    500: "An unexpected error; it has been logged.",
    503: "The database is unreachable for now; nothing was done: retry after `Retry-After` seconds.",
}

_WRITES = {"post", "put", "patch", "delete"}


def error_statuses(method: str, path: str, operation: dict) -> set[int]:
    """The error statuses of one operation, by the rules in the module docstring."""
    statuses = {400, 414, 429, 431, 500, 503}
    if operation.get("security") != []:
        statuses |= {401, 403, 404}
    if "requestBody" in operation:
        statuses.add(413)
    if "{" in path:
        statuses.add(404)
    if method in _WRITES:
        statuses |= {402, 409, 422}
    return statuses


class ErrorResponsesPlugin(BasePlugin):
    """An apispec plugin: runs for each path as flask-smorest registers it."""

    def init_spec(self, spec) -> None:
        super().init_spec(spec)
        self.spec = spec
        for status, description in ERROR_DESCRIPTIONS.items():
            spec.components.response(f"ERROR_{status}", {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
            })

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            responses.pop("default", None)
            for status in sorted(error_statuses(method, path or "", operation)):
                responses.setdefault(str(status), {"$ref": f"#/components/responses/ERROR_{status}"})
