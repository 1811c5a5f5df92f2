"""The webhooks queue: claim due deliveries, POST each signed event, settle the attempt.

Settings (environment): PAYGATE_WEBHOOK_TIMEOUT_SECONDS (default 10) per HTTP call,
PAYGATE_WEBHOOK_BATCH (default 10) deliveries claimed at a time, and
PAYGATE_WEBHOOK_ALLOW_PRIVATE_NETWORKS (default: only in test mode) to deliver to loopback or
private addresses. A claim's lease covers the whole batch at the timeout plus a minute, so a slow
batch is never taken over by another worker while it is still running, and a crashed worker's
claims come back after that."""
from __future__ import annotations

import logging
from datetime import timedelta

from gateway.adapters import webhook_http
from gateway.services import webhooks
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.observability.metrics import WEBHOOK_DELIVERIES, WEBHOOK_RETRIES
from gateway.sdk.webhooks import HEADER, signature_header

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = Settings.webhook_timeout_seconds
DEFAULT_BATCH = Settings.webhook_batch


def run_once(gw: Gateway) -> int:
    return deliver_due(gw, batch=gw.settings.webhook_batch, timeout=gw.settings.webhook_timeout_seconds)


def deliver_due(gw: Gateway, batch: int = DEFAULT_BATCH, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> int:
    """One batch: returns the number of attempts made (delivered or not)."""
    lease = timedelta(seconds=batch * timeout + 60)
    allow_private = webhooks.allow_private_networks(gw)
    jobs = webhooks.claim_due(gw, batch, lease)
    for job in jobs:
        result = attempt(gw, job, timeout, allow_private)
        webhooks.record_attempt(gw, job, result)
    return len(jobs)


def attempt(gw: Gateway, job: webhooks.DeliveryJob, timeout: float, allow_private: bool = False) -> webhooks.AttemptResult:
    """POST the event's body, signed now: the same id and bytes on every attempt, a fresh
    timestamp (so the receiver's replay window applies to this attempt)."""
    timestamp = int(gw.clock().timestamp())
    headers = {
        HEADER: signature_header(job.payload, job.secret, timestamp),
        "Paygate-Event-Id": job.event_id,
        "Paygate-Delivery-Attempt": str(job.attempt),
    }
    answer = webhook_http.post(job.url, job.payload, headers, timeout, allow_private)
    log.info("webhook %s -> %s attempt %d: %s", job.event_id, job.url, job.attempt, answer.error or answer.status_code)
    delivered = answer.error is None and answer.status_code is not None and 200 <= answer.status_code < 300
    WEBHOOK_DELIVERIES.labels("delivered" if delivered else "failed").inc()
    if job.attempt > 1:
        WEBHOOK_RETRIES.inc()
    return webhooks.AttemptResult(answer.status_code, answer.error)
