"""A device record for tests that need one on a plan without the PKI and broker around it
(the devices suite enrolls real devices through the API)."""
from __future__ import annotations

from datetime import timedelta

from gateway.adapters.db.device_models import Device
from gateway.domain.ids import new_id


def enrolled_device(shop) -> str:
    device_id = new_id("dev")
    now = shop.gw.clock()
    with shop.gw.db.unit_of_work() as session:
        session.add(Device(
            id=device_id, merchant_id=shop.id, kind="phone", model="Test Phone", state="active", signing_algorithm="EdDSA",
            signing_public_key="(not used)", cert_serial=new_id("ser"), cert_fingerprint="0" * 64, cert_not_after=now + timedelta(days=365),
            messages_stored=0, messages_rejected=0, created_at=now,
        ))
    return device_id
