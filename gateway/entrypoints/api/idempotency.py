"""The Idempotency-Key decorator for endpoints that create or move money."""
from __future__ import annotations

import functools
from copy import deepcopy

from flask import Response, g, jsonify, request

from gateway.entrypoints.api.base import gateway, principal
from gateway.entrypoints.api.errors import error_response
from gateway.domain.idempotency import request_fingerprint
from gateway.services import idempotency

IDEMPOTENCY_HEADER_DOC = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "Makes the request safe to retry: the same key with the same body replays the first "
    "response (errors too) for 24 h; with another body it is 422; while the first is in flight, 409.",
}


def idempotent(view=None, *, sealed: bool = False, claimed_by_view=None):
    """`@idempotent`, or `@idempotent(sealed=True)` for an answer that holds a secret shown once
    (device credentials): the stored copy is then sealed by the vault and opened only to replay it.
    `@idempotent(claimed_by_view=Schema)`: the view's use case claims the key in its own first
    transaction and stores the response in its last (payments: no transactions of the key's
    own, and recovery points a retry can resume from); the view finds the key in
    `g.idempotency_key` (a KeyClaim rendering answers with the schema; None without the header)
    and answers `stored_response(...)`."""
    if view is None:
        return functools.partial(idempotent, sealed=sealed, claimed_by_view=claimed_by_view)

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if claimed_by_view is not None:
            g.idempotency_key = None if key is None else _key_claim(key, claimed_by_view)
            return view(*args, **kwargs)
        if key is None:
            return view(*args, **kwargs)
        gw, merchant_id = gateway(), principal().merchant_id
        associated = f"idempotency:{merchant_id}:{key}"
        fingerprint = request_fingerprint(request.method, request.path, request.get_data())
        stored = idempotency.claim(gw, merchant_id, key, fingerprint)
        if stored is not None:
            body = gw.vault.decrypt(stored.body, associated).decode() if sealed else stored.body
            return stored_response(idempotency.StoredResponse(stored.status, body), replayed=True)
        try:
            response = view(*args, **kwargs)
        except Exception as exc:  # the failure is the answer, and is replayed as such
            response = error_response(exc)
        body = response.get_data(as_text=True)
        if sealed:
            body = gw.vault.encrypt(body.encode(), associated)
        idempotency.complete(gw, merchant_id, key, idempotency.StoredResponse(response.status_code, body))
        return response

    wrapper._apidoc = deepcopy(getattr(view, "_apidoc", {}))
    params = wrapper._apidoc.setdefault("manual_doc", {}).setdefault("parameters", [])
    params.append(IDEMPOTENCY_HEADER_DOC)
    return wrapper


@functools.cache
def _schema(schema_class):
    return schema_class()  # one instance per schema: dumping is stateless, making one is not cheap


def _key_claim(key: str, schema) -> idempotency.KeyClaim:
    idempotency.check_key(key)
    rendered: list = []  # (result, response): the use case stores what it answers, rendered once

    def render(result) -> idempotency.StoredResponse:
        if not rendered or rendered[0][0] != result:
            rendered[:] = [(result, idempotency.StoredResponse(200, jsonify(_schema(schema).dump(result)).get_data(as_text=True)))]
        return rendered[0][1]

    def render_error(exc: BaseException) -> idempotency.StoredResponse:
        response = error_response(exc)
        return idempotency.StoredResponse(response.status_code, response.get_data(as_text=True))

    fingerprint = request_fingerprint(request.method, request.path, request.get_data())
    return idempotency.KeyClaim(principal().merchant_id, key, fingerprint, render, render_error)


def stored_response(stored: idempotency.StoredResponse, replayed: bool) -> Response:
    """The answer a use case stored under its key (first time or replayed)."""
    response = Response(stored.body, status=stored.status, mimetype="application/json")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
