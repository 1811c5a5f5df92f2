"""Idempotency-Key rules: the same key and the same request replay the first response;
the same key with another request is refused; keys live 24 hours."""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from enum import Enum

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class KeyState(str, Enum):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """A hash of what the request asks for. JSON bodies are canonicalised so that key order and
    whitespace do not make a retry look like a different request."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
        payload = canonical.encode()
    except ValueError:
        payload = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + payload).hexdigest()
