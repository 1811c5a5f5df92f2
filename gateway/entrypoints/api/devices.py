"""/v1/devices: enrollment (certificate and signing key), revocation, release, usage, and the
single-use enrollment tokens (/v1/enrollment_tokens)."""
from __future__ import annotations

from datetime import timedelta

from flask import request
from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.device_schemas import DeviceCreate, DeviceEnrolled, DeviceOut, EnrollmentTokenCreate, EnrollmentTokenOut, UsageOut, UsageQuery
from gateway.entrypoints.api.idempotency import idempotent
from gateway.entrypoints.api.installment_schemas import DeviceTokenOut
from gateway.entrypoints.api.schemas import Empty
from gateway.domain.devices import DeviceKind
from gateway.services import device_credit, devices, enrollment_tokens

blp = ApiBlueprint("devices", __name__, url_prefix="/v1/devices",
                   description="Device enrollment (certificate + signing key), revocation and usage.")
tokens_blp = ApiBlueprint("enrollment_tokens", __name__, url_prefix="/v1/enrollment_tokens",
                          description="Single-use tokens for devices to enroll with.")


@blp.before_request
def _authenticate() -> None:
    # A device may enroll itself with a single-use enrollment token instead of the secret key.
    require_key(allow_enrollment=request.method == "POST" and request.path.rstrip("/") == "/v1/devices")


@blp.route("", methods=["POST"])
@idempotent(sealed=True)  # the answer holds the device's OpenPAYGO secret
@blp.arguments(DeviceCreate)
@blp.response(200, DeviceEnrolled)
def enroll_device(body):
    """Enroll a device: sign its CSR (CN = the new device id), register its signing key and give it
    OpenPAYGO Token credentials for its lock (`payg`, shown once)."""
    token = request.headers["Authorization"].split(" ", 1)[1].strip() if principal().kind == "enrollment" else None
    return devices.enroll_device(gateway(), principal().merchant_id, devices.Enrollment(
        csr=body["csr"], model=body["model"], kind=DeviceKind(body["kind"]), signing_key=body["signing_key"]), enrollment_token=token)


@tokens_blp.route("", methods=["POST"])
@tokens_blp.arguments(EnrollmentTokenCreate, required=False)
@tokens_blp.response(200, EnrollmentTokenOut)
def create_enrollment_token(body):
    """A single-use token a device enrolls with (POST /v1/devices), so devices never hold the
    merchant's secret key. Shown once; expires after `expires_in` seconds (default 3600)."""
    require_key()
    return enrollment_tokens.create(gateway(), principal().merchant_id, timedelta(seconds=body["expires_in"]))


@blp.route("/<device_id>", methods=["GET"])
@blp.response(200, DeviceOut)
def get_device(device_id):
    """A device: state, certificate, last contact and message counts."""
    return devices.get_device(gateway(), principal().merchant_id, device_id)


@blp.route("/<device_id>/revoke", methods=["POST"])
@idempotent
@blp.arguments(Empty)
@blp.response(200, DeviceOut)
def revoke_device(_body, device_id):
    """Revoke a device: its messages are refused from now on and its certificate joins the CRL."""
    return devices.revoke_device(gateway(), principal().merchant_id, device_id)


@blp.route("/<device_id>/release", methods=["POST"])
@idempotent
@blp.arguments(Empty)
@blp.response(200, DeviceTokenOut)
def release_device(_body, device_id):
    """Unlock a device that is not sold on installments (sold outright, or a merchant's own):
    issues its DISABLE_PAYG token, queued for the device and returned for keypad entry."""
    return device_credit.release(gateway(), principal().merchant_id, device_id)


@blp.route("/<device_id>/usage", methods=["GET"])
@blp.arguments(UsageQuery, location="query")
@blp.response(200, UsageOut)
def device_usage(query, device_id):
    """Daily usage aggregates (UTC days) from the device's stored telemetry."""
    days = devices.device_usage(gateway(), principal().merchant_id, device_id, query["from_"], query["to"])
    return {"device": device_id, "data": days}
