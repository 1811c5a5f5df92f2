"""Request and response schemas of the device endpoints (part of the /openapi.json contract)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.entrypoints.api.schemas import UnixTime


class DeviceCreate(Schema):
    csr = fields.String(required=True, validate=validate.Length(min=100, max=8000),
                        metadata={"description": "PEM certificate signing request for the device's P-256 TLS key. "
                                                 "The certificate's CN will be the new device id."})
    model = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf(["phone", "iot"]))
    signing_key = fields.String(required=True, validate=validate.Length(min=50, max=1000),
                                metadata={"description": "PEM public key (Ed25519 or P-256) that signs the "
                                                         "device's message envelopes (COSE_Sign1)."})


class UsageQuery(Schema):
    from_ = fields.Date(required=True, data_key="from", metadata={"description": "First UTC day, YYYY-MM-DD."})
    to = fields.Date(required=True, metadata={"description": "Last UTC day (included), at most 92 days after 'from'."})


class DeviceOut(Schema):
    id = fields.String()
    object = fields.Constant("device")
    kind = fields.String()
    model = fields.String()
    state = fields.String(metadata={"description": "active | suspended | revoked"})
    owner_customer = fields.String(attribute="owner_customer_id", allow_none=True)
    signing_algorithm = fields.String(metadata={"description": "EdDSA | ES256"})
    certificate_serial = fields.String(attribute="cert_serial")
    certificate_fingerprint = fields.String(attribute="cert_fingerprint", metadata={"description": "SHA-256, hex"})
    certificate_expires = UnixTime(attribute="cert_not_after")
    last_seen = UnixTime(attribute="last_seen_at", allow_none=True)
    last_seq = fields.Integer(allow_none=True)
    messages_stored = fields.Integer()
    messages_rejected = fields.Integer()
    created = UnixTime(attribute="created_at")
    revoked = UnixTime(attribute="revoked_at", allow_none=True)


class BrokerOut(Schema):
    url = fields.String()
    telemetry_topic = fields.String()
    confirmations_topic = fields.String()
    commands_topic = fields.String()


class PaygCredentialsOut(Schema):
    secret_key = fields.String(metadata={"description": "OpenPAYGO Token secret key, 32 hex digits."})
    starting_code = fields.Integer(metadata={"description": "OpenPAYGO Token starting code."})


class DeviceEnrolled(DeviceOut):
    certificate = fields.String(metadata={"description": "PEM device certificate (CN = device id)."})
    certificate_chain = fields.List(fields.String(), metadata={"description": "Device certificate, then the CA."})
    ca_certificate = fields.String()
    broker = fields.Nested(BrokerOut)
    payg = fields.Nested(PaygCredentialsOut, metadata={"description": (
        "The device lock's OpenPAYGO Token credentials, for the agent to keep (`paygate-agent enroll` stores "
        "them 0600). Shown once: only in this response (and its Idempotency-Key replay, kept sealed for 24 h); "
        "the gateway keeps the secret sealed to issue the device's unlock tokens and never shows it again.")})


class UsageDay(Schema):
    date = fields.Date()
    messages = fields.Integer()
    # phone
    screen_seconds = fields.Integer()
    app_sessions = fields.Integer()
    data_bytes = fields.Integer()
    battery_pct_min = fields.Integer(allow_none=True)
    regions = fields.List(fields.String())
    # iot
    run_seconds = fields.Integer()
    energy_wh = fields.Integer()
    distance_m = fields.Integer()
    health_last = fields.String(allow_none=True)
    health_faults = fields.Integer()


class UsageOut(Schema):
    object = fields.Constant("device_usage")
    device = fields.String()
    data = fields.List(fields.Nested(UsageDay))


class EnrollmentTokenCreate(Schema):
    expires_in = fields.Integer(strict=True, load_default=3600, validate=validate.Range(min=60, max=7 * 24 * 3600))


class EnrollmentTokenOut(Schema):
    object = fields.Constant("enrollment_token")
    token = fields.String(metadata={"description": "enr_...: use once as the Bearer key of POST /v1/devices. Shown once."})
    expires = UnixTime(attribute="expires_at")
