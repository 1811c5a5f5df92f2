"""Sign and verify paygate webhook payloads. Standard library only: copy this file into your
server as it is, or import it from the paygate package.

Every webhook request carries

    Paygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw request body>">

keyed with the endpoint's signing secret (the `whsec_...` string shown once when the endpoint was
created, used as it is, UTF-8). Verify the raw body bytes exactly as received, before parsing the
JSON; a re-serialized body will not match. The timestamp bounds replays: by default a signature
older or newer than 5 minutes is refused.

    from webhook_signature import SignatureVerificationError, verify

    try:
        verify(request_body, request.headers["Paygate-Signature"], secret)
    except SignatureVerificationError as error:
        return 400, str(error)
    event = json.loads(request_body)   # {"id", "type", "created", "data": {"object": {...}}}

The same event may arrive more than once (delivery is at least once): deduplicate on event["id"].
"""
from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["HEADER", "SignatureVerificationError", "sign", "signature_header", "verify"]

HEADER = "Paygate-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureVerificationError(ValueError):
    """The payload is not what paygate signed with this secret, or the signature is too old."""


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<payload>" under the secret."""
    message = str(int(timestamp)).encode() + b"." + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """The full header value: "t=<timestamp>,v1=<signature>"."""
    return f"t={int(timestamp)},{SCHEME}={sign(payload, secret, timestamp)}"


def verify(payload: bytes, header: str, secret: str, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> int:
    """Check a Paygate-Signature header against the raw payload; return its timestamp.

    Raises SignatureVerificationError when the header is missing or malformed, when no v1
    signature matches, or when the timestamp is more than `tolerance_seconds` away from `now`
    (default: the current time; pass tolerance_seconds=None to skip the time check).

    A known answer (for checking a port to another language too):

    >>> body, secret = b'{"id":"evt_1","type":"payment.succeeded"}', "whsec_test"
    >>> header = signature_header(body, secret, timestamp=1_700_000_000)
    >>> header
    't=1700000000,v1=3d34f860ecc2c5fc3978518b0564a6649bd191eb2caa286ec3976e3bc9929d7d'
    >>> verify(body, header, secret, now=1_700_000_060)
    1700000000
    >>> verify(body.replace(b"succeeded", b"failed"), header, secret, now=1_700_000_060)
    Traceback (most recent call last):
      ...
    gateway.sdk.webhooks.SignatureVerificationError: No signature matches the payload: check the endpoint's signing secret and verify the raw request body.
    >>> verify(body, header, secret, now=1_700_000_000 + 3600)  # an hour later: a replay
    Traceback (most recent call last):
      ...
    gateway.sdk.webhooks.SignatureVerificationError: Signature timestamp 1700000000 is outside the tolerance of 300 s (now 1700003600): possibly a replayed request.
    """
    if isinstance(payload, str):
        payload = payload.encode()
    timestamp, signatures = _parse(header)
    expected = sign(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureVerificationError(
            "No signature matches the payload: check the endpoint's signing secret and verify the raw request body."
        )
    if tolerance_seconds is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance_seconds:
            raise SignatureVerificationError(
                f"Signature timestamp {timestamp} is outside the tolerance of {tolerance_seconds} s "
                f"(now {int(current)}): possibly a replayed request."
            )
    return timestamp


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SignatureVerificationError(f"No {HEADER} header.")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureVerificationError(f"Malformed {HEADER} header: t is not a unix time.") from None
        elif key == SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureVerificationError(f"Malformed {HEADER} header: no t=<timestamp>.")
    if not signatures:
        raise SignatureVerificationError(f"Malformed {HEADER} header: no {SCHEME}=<signature>.")
    return timestamp, signatures
