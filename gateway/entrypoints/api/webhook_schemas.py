"""Schemas of webhook endpoints and events (part of the contract at /openapi.json)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.entrypoints.api.schemas import ListQuery, UnixTime
from gateway.domain.webhooks import ALL_EVENTS, DeliveryStatus
from gateway.services.events import EVENT_TYPES


class WebhookEndpointCreate(Schema):
    url = fields.URL(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
        metadata={"description": "Where to POST events (HTTPS in production)."},
    )
    enabled_events = fields.List(
        fields.String(validate=validate.OneOf([*EVENT_TYPES, ALL_EVENTS])),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_TYPES) + 1),
        metadata={"description": f'Event types to receive, or ["{ALL_EVENTS}"] for all: {", ".join(EVENT_TYPES)}.'},
    )
    description = fields.String(load_default=None, validate=validate.Length(max=500))


class WebhookEndpointOut(Schema):
    id = fields.String()
    object = fields.Constant("webhook_endpoint")
    url = fields.String()
    enabled_events = fields.List(fields.String())
    description = fields.String(allow_none=True)
    status = fields.String()
    created = UnixTime(attribute="created_at")


class WebhookEndpointCreated(WebhookEndpointOut):
    secret = fields.String(metadata={"description": "The signing secret (whsec_...). Shown only in this response."})


class WebhookEndpointList(Schema):
    object = fields.Constant("list")
    data = fields.List(fields.Nested(WebhookEndpointOut))
    has_more = fields.Boolean()
    url = fields.String()


class EventListQuery(ListQuery):
    type = fields.String(load_default=None, validate=validate.OneOf(EVENT_TYPES))
    delivery_status = fields.String(
        load_default=None,
        validate=validate.OneOf([status.value for status in DeliveryStatus]),
        metadata={"description": "Only events with a delivery in this status (e.g. failed)."},
    )


class EventOut(Schema):
    id = fields.String()
    object = fields.Constant("event")
    type = fields.String()
    created = UnixTime(attribute="created_at")
    data = fields.Function(lambda event: {"object": event.data})


class WebhookDeliveryOut(Schema):
    id = fields.String()
    object = fields.Constant("webhook_delivery")
    endpoint = fields.String(attribute="endpoint_id")
    url = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt = UnixTime(attribute="next_attempt_at", allow_none=True)
    last_attempt = UnixTime(attribute="last_attempt_at", allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    delivered = UnixTime(attribute="delivered_at", allow_none=True)


class EventDetailOut(EventOut):
    deliveries = fields.List(fields.Nested(WebhookDeliveryOut))


class EventList(Schema):
    object = fields.Constant("list")
    data = fields.List(fields.Nested(EventOut))
    has_more = fields.Boolean()
    url = fields.String()


class RedeliverIn(Schema):
    endpoint = fields.String(load_default=None, metadata={"description": "Only to this endpoint (we_...); default: every endpoint for the event."})
