"""The gateway's own MQTT client: MQTT 5, persistent session, TLS with the gateway certificate."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SESSION_EXPIRY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL must be mqtt:// or mqtts://, not {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls)


def connect_properties(receive_maximum: int | None = None) -> Properties:
    properties = Properties(PacketTypes.CONNECT)
    # The broker keeps our subscriptions and queued QoS 1 messages this long while we are away.
    properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
    if receive_maximum:
        properties.ReceiveMaximum = receive_maximum
    return properties


def gateway_client(client_id: str, pki_dir: Path, broker: BrokerAddress, *, manual_ack: bool = False) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                         manual_ack=manual_ack)
    if broker.tls:
        pki_dir = Path(pki_dir)
        client.tls_set(ca_certs=str(pki_dir / "ca.cert.pem"), certfile=str(pki_dir / "gateway.cert.pem"),
                       keyfile=str(pki_dir / "gateway.key.pem"))
    return client
