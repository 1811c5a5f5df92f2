"""Ingest without a broker, for the demo where Mosquitto is not installed: what devices would
publish goes straight to ingest's checks (the same verification as `paygate ingest`), and the
commands the relay would publish are handed over here."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from gateway.adapters.db.device_models import DeviceCommand
from gateway.bootstrap import Gateway
from gateway.services.device_ingest import Incoming, Ingestor


class Loopback:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.ingestor = Ingestor(gw)

    def deliver(self, messages: list[tuple[str, bytes]]) -> Counter:
        """(topic, envelope) pairs through ingest, committed as one batch; the rejections by reason."""
        return self.ingestor.process([Incoming(topic, envelope) for topic, envelope in messages]).rejections

    def take_command(self, device_id: str) -> bytes:
        """The newest command queued for a device and not sent yet (what the relay would publish
        to devices/<id>/commands), marked sent."""
        with self.gw.db.unit_of_work() as session:
            command = session.scalars(select(DeviceCommand).where(DeviceCommand.device_id == device_id,
                                                                  DeviceCommand.sent_at.is_(None))
                                      .order_by(DeviceCommand.id.desc())).first()
            if command is None:
                raise LookupError(f"no command is queued for {device_id}")
            command.sent_at = self.gw.clock()
            return bytes(command.payload)
