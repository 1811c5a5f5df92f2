"""Per request: the request id (taken from X-Request-Id or made, and returned in it), fields every
log line of the request carries, one access log line, and the HTTP metrics."""
from __future__ import annotations

import re
import secrets
import time

from flask import Flask, Response, g, request

from gateway.observability import logs, metrics

# What we accept as a caller's request id: short, printable, nothing a log line could be tricked by.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Scraped and probed every few seconds: their access lines are debug, not info.
_QUIET_ROUTES = ("/metrics", "/healthz")

log = logs.get_logger("gateway.access")


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(lambda _exc: logs.clear())


def _route() -> str:
    """The route template (/v1/payments/<payment_id>), never the raw path: bounded label values."""
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def _start() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else f"req_{secrets.token_hex(12)}"
    g.request_started = time.perf_counter()
    logs.clear()
    logs.bind(request_id=g.request_id, method=request.method, route=_route())


def _finish(response: Response) -> Response:
    if "request_started" not in g:  # a request rejected before before_request ran
        return response
    duration = time.perf_counter() - g.request_started
    route = _route()
    response.headers["X-Request-Id"] = g.request_id
    metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    metrics.HTTP_LATENCY.labels(request.method, route).observe(duration)
    if response.headers.get("Idempotent-Replayed") == "true":
        metrics.IDEMPOTENT_REPLAYS.inc()
    principal = g.get("principal")
    level = log.debug if route in _QUIET_ROUTES else log.info
    level("request", path=request.path, status=response.status_code, duration_ms=round(duration * 1000, 2),
          merchant_id=principal.merchant_id if principal else None)
    return response
