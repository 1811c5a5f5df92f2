"""Webhook endpoints a merchant registers, and the events it can list and have redelivered."""
from __future__ import annotations

from dataclasses import asdict

from flask import request

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.schemas import ListQuery
from gateway.entrypoints.api.webhook_schemas import (
    EventDetailOut,
    EventList,
    EventListQuery,
    RedeliverIn,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointOut,
)
from gateway.services import events, webhooks

endpoints_blp = ApiBlueprint(
    "webhook_endpoints",
    __name__,
    url_prefix="/v1/webhook_endpoints",
    description="Where paygate POSTs signed events (Paygate-Signature: t=...,v1=...).",
)
events_blp = ApiBlueprint("events", __name__, url_prefix="/v1/events", description="What happened to your objects, and its webhook deliveries.")
blueprints = (endpoints_blp, events_blp)


@endpoints_blp.before_request
@events_blp.before_request
def _authenticate() -> None:
    require_key()


@endpoints_blp.route("", methods=["POST"])
@endpoints_blp.arguments(WebhookEndpointCreate)
@endpoints_blp.response(200, WebhookEndpointCreated)
def create_endpoint(body):
    """Register an endpoint; the response carries its signing secret, shown this once."""
    created = webhooks.create_endpoint(gateway(), principal().merchant_id, body["url"], body["enabled_events"], body["description"])
    # Attribute names, not JSON names: the response schema maps them (created_at -> created).
    return {**asdict(created.endpoint), "secret": created.secret}


@endpoints_blp.route("", methods=["GET"])
@endpoints_blp.arguments(ListQuery, location="query")
@endpoints_blp.response(200, WebhookEndpointList)
def list_endpoints(query):
    rows, has_more = webhooks.list_endpoints(gateway(), principal().merchant_id, query["limit"], query["starting_after"])
    return {"data": rows, "has_more": has_more, "url": request.path}


@endpoints_blp.route("/<endpoint_id>", methods=["GET"])
@endpoints_blp.response(200, WebhookEndpointOut)
def get_endpoint(endpoint_id):
    return webhooks.get_endpoint(gateway(), principal().merchant_id, endpoint_id)


@endpoints_blp.route("/<endpoint_id>", methods=["DELETE"])
@endpoints_blp.response(200, WebhookEndpointOut)
def delete_endpoint(endpoint_id):
    """Stop sending events to this endpoint; its pending deliveries are canceled."""
    return webhooks.delete_endpoint(gateway(), principal().merchant_id, endpoint_id)


@events_blp.route("", methods=["GET"])
@events_blp.arguments(EventListQuery, location="query")
@events_blp.response(200, EventList)
def list_events(query):
    """Events, newest first, with cursor pagination; filter by `type` or `delivery_status`."""
    rows, has_more = events.list_events(
        gateway(), principal().merchant_id, query["limit"], query["starting_after"], query["type"], query["delivery_status"]
    )
    return {"data": rows, "has_more": has_more, "url": request.path}


@events_blp.route("/<event_id>", methods=["GET"])
@events_blp.response(200, EventDetailOut)
def get_event(event_id):
    """One event with the state of its webhook deliveries."""
    return events.get_event(gateway(), principal().merchant_id, event_id)


@events_blp.route("/<event_id>/redeliver", methods=["POST"])
@events_blp.arguments(RedeliverIn)
@events_blp.response(200, EventDetailOut)
def redeliver(body, event_id):
    """Send the event again now (same id, same body), to one endpoint or all that receive it."""
    return events.redeliver(gateway(), principal().merchant_id, event_id, body["endpoint"])
