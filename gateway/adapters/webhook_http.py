"""POST one webhook over HTTP(S) with the standard library: a short timeout, no redirects
followed, at most a few KB of the answer read. Any failure comes back as a value, never raised."""
from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_AGENT = "paygate-webhooks/1"
MAX_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class HttpAnswer:
    status_code: int | None
    error: str | None = None


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> HttpAnswer:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return HttpAnswer(None, f"unsupported URL {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        port = parts.port
    except ValueError:
        return HttpAnswer(None, f"bad port in {url!r}")
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        if 300 <= response.status < 400:
            return HttpAnswer(response.status, f"redirect to {response.getheader('Location')!r} not followed")
        if response.status >= 300:
            return HttpAnswer(response.status, f"HTTP {response.status}")
        return HttpAnswer(response.status)
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, TLS
        return HttpAnswer(None, f"{type(exc).__name__}: {exc}"[:255])
    finally:
        connection.close()
