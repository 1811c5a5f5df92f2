"""Webhook endpoints (what a merchant registers) and the delivery queue (what the `webhooks` worker
claims and settles). Events and their fan-out to deliveries are in gateway/services/events.py.

Claiming: a worker locks due deliveries with SELECT ... FOR UPDATE SKIP LOCKED (other workers
skip them instead of waiting), moves their next_attempt_at one lease ahead and stamps them with
its lease token, and commits. The HTTP calls happen outside any transaction. If the worker dies,
the deliveries fall due again when the lease runs out; a worker whose lease was taken over does
not record its result (the new holder records its own)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from urllib.parse import urlsplit

from gateway.adapters.db.models import Event
from gateway.adapters.webhook_http import literal_host_is_private
from gateway.adapters.db.webhook_models import WebhookDelivery, WebhookEndpoint
from gateway.domain.clock import as_utc
from gateway.domain.errors import InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.domain.webhooks import (
    MAX_ENDPOINTS_PER_MERCHANT,
    DeliveryStatus,
    event_payload,
    is_success,
    retry_delay,
)
from gateway.services.ports import SettingsPort, VaultPorts
from gateway.services.read_models import WebhookEndpointView

log = logging.getLogger(__name__)


@runtime_checkable
class WebhookPorts(VaultPorts, SettingsPort, Protocol):
    """Transactions, the clock, the vault (signing secrets) and which endpoint addresses are allowed."""


ENABLED = "enabled"
DELETED = "deleted"


# ---- endpoints ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpointView
    secret: str  # shown once, at creation; stored only encrypted


def allow_private_networks(gw: WebhookPorts) -> bool:
    """May webhooks go to loopback/private/link-local addresses? In test mode (sandbox endpoints
    on) yes, so a developer's local receiver works; in production only with
    PAYGATE_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1."""
    allowed = gw.settings.webhook_allow_private_networks
    return gw.settings.sandbox_endpoints if allowed is None else allowed


def check_url(gw: WebhookPorts, url: str) -> None:
    """Production endpoints must use HTTPS and must not name an internal host."""
    parts = urlsplit(url)
    if not gw.settings.sandbox_endpoints and parts.scheme != "https":
        raise InvalidRequest("url_https_required", "Webhook endpoints must use https.", "url")
    if not allow_private_networks(gw) and literal_host_is_private(parts.hostname or ""):
        raise InvalidRequest("url_not_allowed", "Webhook endpoints must be reachable on the public internet.", "url")


def create_endpoint(gw: WebhookPorts, merchant_id: str, url: str, enabled_events: list[str], description: str | None = None) -> CreatedEndpoint:
    check_url(gw, url)
    endpoint_id = new_id("we")
    secret = new_id("whsec", 32)
    with gw.db.unit_of_work() as session:
        count = len(list(session.execute(_enabled(merchant_id)).scalars()))
        if count >= MAX_ENDPOINTS_PER_MERCHANT:
            raise InvalidRequest("too_many_endpoints", f"A merchant may have at most {MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints.")
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            merchant_id=merchant_id,
            url=url,
            enabled_events=sorted(set(enabled_events)),
            description=description,
            secret_ciphertext=gw.vault.encrypt(secret.encode(), associated=endpoint_id),
            status=ENABLED,
            created_at=as_utc(gw.clock()),
        )
        session.add(endpoint)
    log.info("webhook endpoint %s for %s: %s %s", endpoint.id, merchant_id, url, endpoint.enabled_events)
    return CreatedEndpoint(WebhookEndpointView.from_row(endpoint), secret)


def list_endpoints(gw: WebhookPorts, merchant_id: str, limit: int, starting_after: str | None) -> tuple[list[WebhookEndpointView], bool]:
    with gw.db.unit_of_work() as session:
        query = _enabled(merchant_id)
        if starting_after:
            query = query.where(WebhookEndpoint.seq < _owned(session, merchant_id, starting_after, "starting_after").seq)
        rows = list(session.execute(query.order_by(WebhookEndpoint.seq.desc()).limit(limit + 1)).scalars())
    return [WebhookEndpointView.from_row(row) for row in rows[:limit]], len(rows) > limit


def get_endpoint(gw: WebhookPorts, merchant_id: str, endpoint_id: str) -> WebhookEndpointView:
    with gw.db.unit_of_work() as session:
        return WebhookEndpointView.from_row(_owned(session, merchant_id, endpoint_id))


def delete_endpoint(gw: WebhookPorts, merchant_id: str, endpoint_id: str) -> WebhookEndpointView:
    """The endpoint stops receiving events; what was still pending for it is canceled."""
    now = as_utc(gw.clock())
    with gw.db.unit_of_work() as session:
        endpoint = _owned(session, merchant_id, endpoint_id, lock=True)
        endpoint.status = DELETED
        endpoint.deleted_at = now
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.CANCELED.value, next_attempt_at=None, lease_token=None)
        )
    log.info("webhook endpoint %s deleted", endpoint_id)
    return WebhookEndpointView.from_row(endpoint)


def endpoint_secret(gw: WebhookPorts, endpoint: WebhookEndpoint) -> str:
    return gw.vault.decrypt(endpoint.secret_ciphertext, associated=endpoint.id).decode()


def _enabled(merchant_id: str):
    return select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.status == ENABLED)


def _owned(session: Session, merchant_id: str, endpoint_id: str, param: str | None = None, lock: bool = False) -> WebhookEndpoint:
    query = _enabled(merchant_id).where(WebhookEndpoint.id == endpoint_id)
    if lock:
        query = query.with_for_update()
    endpoint = session.execute(query).scalar_one_or_none()
    if endpoint is None:
        raise NotFound("webhook endpoint", endpoint_id, param)
    return endpoint


# ---- the delivery queue -------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryJob:
    """One claimed attempt: everything needed to make the HTTP call without the database."""

    delivery_id: str
    lease_token: str
    event_id: str
    endpoint_id: str
    url: str
    secret: str
    payload: bytes
    attempt: int  # 1 for the first attempt


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None  # None: no HTTP answer (refused, timed out, TLS error)
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return is_success(self.status_code)


def claim_due(gw: WebhookPorts, limit: int, lease: timedelta) -> list[DeliveryJob]:
    """Claim up to `limit` due deliveries for one lease; nobody else gets them meanwhile."""
    now = as_utc(gw.clock())
    token = new_id("lease", 20)
    with gw.db.unit_of_work() as session:
        rows = list(
            session.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.seq)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not rows:
            return []
        for row in rows:
            row.next_attempt_at = now + lease
            row.lease_token = token
        endpoints = {
            row.id: row
            for row in session.execute(select(WebhookEndpoint).where(WebhookEndpoint.id.in_({r.endpoint_id for r in rows}))).scalars()
        }
        events = {row.id: row for row in session.execute(select(Event).where(Event.id.in_({r.event_id for r in rows}))).scalars()}
        jobs = []
        for row in rows:
            endpoint, event = endpoints[row.endpoint_id], events[row.event_id]
            jobs.append(
                DeliveryJob(
                    delivery_id=row.id,
                    lease_token=token,
                    event_id=event.id,
                    endpoint_id=endpoint.id,
                    url=endpoint.url,
                    secret=endpoint_secret(gw, endpoint),
                    payload=event_payload(event.id, event.type, event.created_at, event.data),
                    attempt=row.attempts + 1,
                )
            )
    return jobs


def record_attempt(gw: WebhookPorts, job: DeliveryJob, result: AttemptResult) -> str | None:
    """Settle one attempt: delivered, due again later, or failed for good. Returns the new status,
    or None when the lease was lost (taken over, redelivered or canceled meanwhile)."""
    now = as_utc(gw.clock())
    with gw.db.unit_of_work() as session:
        row = session.execute(select(WebhookDelivery).where(WebhookDelivery.id == job.delivery_id).with_for_update()).scalar_one()
        if row.lease_token != job.lease_token or row.status != DeliveryStatus.PENDING.value:
            log.info("webhook delivery %s: lease lost, result of attempt %d not recorded", row.id, job.attempt)
            return None
        row.attempts += 1
        row.last_attempt_at = now
        row.last_status_code = result.status_code
        row.last_error = (result.error or None) and result.error[:255]
        row.lease_token = None
        if result.delivered:
            row.status = DeliveryStatus.SUCCEEDED.value
            row.delivered_at = now
            row.next_attempt_at = None
            return row.status
        delay = retry_delay(row.attempts)
        if delay is None:
            row.status = DeliveryStatus.FAILED.value
            row.next_attempt_at = None
            log.warning(
                "webhook delivery %s of %s to %s failed after %d attempts (last: %s)",
                row.id, job.event_id, job.url, row.attempts, result.error or result.status_code,
            )
        else:
            row.next_attempt_at = now + delay
            log.info("webhook delivery %s attempt %d failed (%s); next at %s", row.id, row.attempts, result.error or result.status_code, row.next_attempt_at)
        return row.status
