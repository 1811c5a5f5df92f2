"""Rate limits (flask-limiter): failed authentication per client address and per presented key
prefix, card tokenization per publishable key. Exceeding one answers 429 with `Retry-After` and
the one error object.

Counters live in Redis when `PAYGATE_REDIS_URL` is set, so every gateway process of a deployment
shares them; on the embedded default they live in the process's memory (each process counts on
its own: fine for a demo, not for production). The limits themselves are settings
(`PAYGATE_RATE_LIMIT_*`, in the "N per period" notation of the `limits` library).

Only what identifies a client goes to the counter store, and keys only as hashes: a presented
API key, even a wrong one, is never written to Redis.
"""
from __future__ import annotations

import hashlib

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address

from gateway.config import Settings

# How much of a presented key counts as its "prefix": the type (sk_/pk_/enr_, test) and a few
# characters after it, enough to group guesses at one key without telling keys apart.
KEY_PREFIX_LENGTH = 12


def build_limiter(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        key_prefix=settings.rate_limit_namespace,
        headers_enabled=True,  # Retry-After (and X-RateLimit-*) on every limited response
        application_limits=[
            ApplicationLimit(settings.rate_limit_failed_auth_per_address, key_function=get_remote_address,
                             deduct_when=_authentication_failed, scope="failed-auth-address",
                             error_message="Too many failed authentications from this address."),
            ApplicationLimit(settings.rate_limit_failed_auth_per_key_prefix, key_function=_presented_key_prefix,
                             exempt_when=_no_key_presented, deduct_when=_authentication_failed, scope="failed-auth-key",
                             error_message="Too many failed authentications with this key."),
        ],
    )
    # A route limit is checked by the wrapper the decorator returns, so it replaces the view
    # (decorating in the blueprint would need the settings at import time).
    app.view_functions["tokens.create_token"] = limiter.limit(
        settings.rate_limit_tokenization, key_func=_presented_key_digest,
        error_message="Too many card tokenizations with this key.",
    )(app.view_functions["tokens.create_token"])
    return limiter


def _authentication_failed(response: Response) -> bool:
    return response.status_code == 401


def _presented_key() -> str:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def _no_key_presented() -> bool:
    return not _presented_key()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _presented_key_prefix() -> str:
    return _digest(_presented_key()[:KEY_PREFIX_LENGTH])


def _presented_key_digest() -> str:
    return _digest(_presented_key())
