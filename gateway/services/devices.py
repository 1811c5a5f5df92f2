"""Device use cases: enroll (certificate + signing key), revoke, read, daily usage."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol, runtime_checkable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from device_agents import wire
from gateway.adapters.db.device_models import Device, DeviceConfirmation, DeviceMessage
from gateway.adapters.pki import CertificateAuthority, PkiError
from gateway.adapters.db.lookup import owned
from gateway.domain.clock import as_utc
from gateway.domain.devices import (
    ConfirmationState,
    DeviceKind,
    DeviceState,
    Reading,
    daily_usage,
    ensure_can_revoke,
)
from gateway.domain.errors import InvalidRequest
from gateway.domain.ids import new_id
from gateway.domain.consent import ConsentKind
from gateway.services import device_credit
from gateway.services import enrollment_tokens
from gateway.services.ports import StoragePorts, SettingsPort
from gateway.services.customers import has_consent
from gateway.services.read_models import Broker, DeviceView, EnrolledDevice, PaygCredentials

log = logging.getLogger(__name__)


@runtime_checkable
class DevicePorts(StoragePorts, SettingsPort, Protocol):
    """Transactions, the clock, the deployment's CA directory and the broker devices are sent to."""


MAX_USAGE_DAYS = 92


@dataclass(frozen=True)
class Enrollment:
    csr: str  # PEM; the CA sets the certificate's CN to the new device id
    model: str
    kind: DeviceKind
    signing_key: str  # PEM SubjectPublicKeyInfo, Ed25519 or P-256


def may_store_usage(session: Session, device: Device) -> bool:
    """Whether this device's usage telemetry may be kept: only with its owner's separate
    `device_usage` consent (PIPL). A device no customer owns (a merchant's own fleet, a device
    not yet sold) carries nobody's personal data, so its telemetry is kept."""
    if device.owner_customer_id is None:
        return True
    return has_consent(session, device.owner_customer_id, ConsentKind.DEVICE_USAGE)


def certificate_authority(gw: DevicePorts) -> CertificateAuthority:
    try:
        return CertificateAuthority.open(gw.settings.pki_dir)
    except PkiError as exc:
        log.error("device enrollment unavailable: %s", exc)
        raise InvalidRequest("pki_not_configured", "Device enrollment is not set up on this gateway.") from exc


def enroll_device(gw: DevicePorts, merchant_id: str, enrollment: Enrollment, enrollment_token: str | None = None) -> EnrolledDevice:
    """Enroll a device for the merchant; with an enrollment token, the token is spent in the same
    transaction (used once, and only if the enrollment commits)."""
    signing_key = _signing_key(enrollment.signing_key)
    ca = certificate_authority(gw)
    device_id = new_id("dev")
    try:
        issued = ca.sign_device_csr(enrollment.csr, device_id)
    except PkiError as exc:
        raise InvalidRequest("csr_invalid", str(exc), "csr") from exc
    device = Device(
        id=device_id, merchant_id=merchant_id, kind=enrollment.kind.value, model=enrollment.model,
        state=DeviceState.ACTIVE.value, signing_algorithm=wire.algorithm_of(signing_key),
        signing_public_key=wire.public_key_pem(signing_key), cert_serial=issued.serial_hex,
        cert_fingerprint=issued.fingerprint, cert_not_after=issued.certificate.not_valid_after_utc,
        messages_stored=0, messages_rejected=0, created_at=gw.clock(),
    )
    try:
        with gw.db.unit_of_work() as session:
            if enrollment_token is not None:
                enrollment_tokens.redeem(gw, session, enrollment_token, device_id)
            session.add(device)
            secret_hex, starting_code = device_credit.provision(gw, session, device_id)
    except Exception:
        ca.revoke(issued.serial_hex)  # never leave a live certificate without its device record
        raise
    log.info("device %s enrolled (%s %s) by %s", device_id, enrollment.kind.value, enrollment.model, merchant_id)
    return EnrolledDevice.from_row(
        device,
        certificate=issued.pem,
        certificate_chain=[issued.pem, ca.cert_pem],
        ca_certificate=ca.cert_pem,
        broker=Broker(gw.settings.device_broker_url, wire.telemetry_topic(device_id), wire.confirmations_topic(device_id),
                      wire.commands_topic(device_id)),
        payg=PaygCredentials(secret_hex, starting_code),
    )


def _signing_key(pem: str) -> wire.VerifyingKey:
    try:
        return wire.load_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest("signing_key_invalid", "signing_key must be a PEM Ed25519 or P-256 public key.",
                             "signing_key") from exc


def get_device(gw: DevicePorts, merchant_id: str, device_id: str) -> DeviceView:
    with gw.db.unit_of_work() as session:
        return DeviceView.from_row(_owned(session, merchant_id, device_id))


def _owned(session: Session, merchant_id: str, device_id: str, lock: bool = False) -> Device:
    return owned(session, Device, merchant_id, device_id, "device", lock=lock)


def revoke_device(gw: DevicePorts, merchant_id: str, device_id: str) -> DeviceView:
    """Revoke the device: ingest refuses its messages from this commit on, its pending payment
    confirmations expire, and its certificate goes on the CRL (the broker refuses it once it
    has re-read the CRL)."""
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        device = _owned(session, merchant_id, device_id, lock=True)
        ensure_can_revoke(DeviceState(device.state))
        device.state, device.revoked_at = DeviceState.REVOKED.value, now
        session.execute(
            update(DeviceConfirmation)
            .where(DeviceConfirmation.device_id == device_id, DeviceConfirmation.state == ConfirmationState.PENDING.value)
            .values(state=ConfirmationState.EXPIRED.value, decided_at=now)
        )
    ca = certificate_authority(gw)
    ca.revoke(device.cert_serial)
    log.info("device %s revoked by %s (certificate %s on the CRL)", device_id, merchant_id, device.cert_serial)
    return DeviceView.from_row(device)


def device_usage(gw: DevicePorts, merchant_id: str, device_id: str, start: date, end: date) -> list[dict]:
    """Daily usage aggregates for [start, end] (UTC days, both included)."""
    if end < start:
        raise InvalidRequest("parameter_invalid", "'to' must not be before 'from'.", "to")
    if (end - start).days >= MAX_USAGE_DAYS:
        raise InvalidRequest("parameter_invalid", f"Ask for at most {MAX_USAGE_DAYS} days at a time.", "to")
    since = datetime.combine(start, time.min, tzinfo=timezone.utc)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=timezone.utc)
    with gw.db.unit_of_work() as session:
        device = _owned(session, merchant_id, device_id)
        rows = session.execute(
            select(DeviceMessage.sent_at, DeviceMessage.body).where(
                DeviceMessage.device_id == device_id, DeviceMessage.kind == wire.TELEMETRY,
                DeviceMessage.sent_at >= since, DeviceMessage.sent_at < until, DeviceMessage.body.is_not(None))
        ).all()
    return daily_usage(DeviceKind(device.kind), (Reading(as_utc(row.sent_at), row.body) for row in rows))
