"""Real Mosquitto with the rendered TLS/ACL/CRL configuration: who may connect and publish where."""
from __future__ import annotations

import ssl
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device_agents import wire
from tests.devices.conftest import api_enroller, enroll_agent, wait_for


def tls_client(home, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(home / "ca.cert.pem"), certfile=str(home / "tls.cert.pem"),
                   keyfile=str(home / "tls.key.pem"))
    return client


def gateway_client(ca, client_id: str = "gateway-observer") -> mqtt.Client:
    cert, key = ca.service_paths("gateway")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(ca.cert_path), certfile=str(cert), keyfile=str(key))
    return client


def connect(client: mqtt.Client, broker) -> None:
    connected = []
    client.on_connect = lambda c, u, f, rc, p: connected.append(rc)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    wait_for(lambda: connected, message="CONNACK")
    assert not connected[0].is_failure, connected[0]


def test_rendered_config_requires_certificates_and_cn_as_username(broker):
    conf = broker.conf.read_text()
    for line in ("require_certificate true", "use_identity_as_username true", "allow_anonymous false", "crlfile "):
        assert line in conf
    acl = broker.conf.with_name("mosquitto.acl").read_text()
    assert "pattern write devices/%u/telemetry" in acl and "pattern read devices/%u/commands" in acl
    assert "user paygate-gateway\ntopic readwrite devices/#" in acl


def test_a_device_cannot_publish_or_listen_on_another_devices_topics(broker, ca, device_shop, tmp_path):
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    my_id, their_id = enroll_agent(device_shop, mine), enroll_agent(device_shop, theirs)

    observer = gateway_client(ca)
    seen = []
    observer.on_message = lambda c, u, m: seen.append(m.topic)
    connect(observer, broker)
    observer.subscribe("devices/#", qos=1)

    device = tls_client(mine, my_id)
    acks, subacks = {}, []
    device.on_publish = lambda c, u, mid, rc, p: acks.__setitem__(mid, rc)
    device.on_subscribe = lambda c, u, mid, rcs, p: subacks.extend(rcs)
    connect(device, broker)
    own = device.publish(wire.telemetry_topic(my_id), b"x", qos=1).mid
    foreign = device.publish(wire.telemetry_topic(their_id), b"x", qos=1).mid
    forged_command = device.publish(wire.commands_topic(their_id), b"x", qos=1).mid
    device.subscribe(wire.commands_topic(their_id), qos=1)
    wait_for(lambda: len(acks) == 3 and subacks, message="PUBACKs and SUBACK")

    assert not acks[own].is_failure
    assert acks[foreign].value == 0x87 and acks[forged_command].value == 0x87  # Not authorized
    time.sleep(0.3)
    assert seen == [wire.telemetry_topic(my_id)]  # only the message on its own topic got through
    device.loop_stop()
    observer.loop_stop()


def test_a_revoked_certificate_cannot_connect(broker, ca, device_shop, tmp_path):
    home = tmp_path / "revoked"
    device_id = enroll_agent(device_shop, home)
    assert device_shop.post(f"/v1/devices/{device_id}/revoke").status_code == 200
    broker.restart()  # Mosquitto reads the CRL when its listener starts

    client = tls_client(home, device_id)
    outcome = []
    client.on_connect = lambda c, u, f, rc, p: outcome.append(rc)
    try:
        client.connect("127.0.0.1", broker.port)
        for _ in range(20):
            if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
    except (ssl.SSLError, OSError):
        pass  # refused during the handshake
    assert not any(not rc.is_failure for rc in outcome), "the revoked certificate got a successful CONNACK"

    healthy_home = tmp_path / "healthy"
    healthy_id = enroll_agent(device_shop, healthy_home)
    connect(tls_client(healthy_home, healthy_id), broker)  # the same broker still admits good ones


def test_a_client_without_a_certificate_is_refused(broker, ca):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anonymous", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(ca.cert_path))
    outcome = []
    client.on_connect = lambda c, u, f, rc, p: outcome.append(rc)
    try:
        client.connect("127.0.0.1", broker.port)
        for _ in range(20):
            if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
    except (ssl.SSLError, OSError):
        pass
    assert not any(not rc.is_failure for rc in outcome)


def test_enrollment_answer_carries_a_chain_to_the_ca_and_the_topics(device_shop, ca):
    from cryptography import x509
    from device_agents.keys import csr_pem, new_signing_key, new_tls_key

    answer = api_enroller(device_shop)({"csr": csr_pem(new_tls_key(), "i-would-like-to-be-someone-else"),
                                        "model": "X1", "kind": "phone",
                                        "signing_key": wire.public_key_pem(new_signing_key("ES256"))})
    certificate = x509.load_pem_x509_certificate(answer["certificate"].encode())
    assert certificate.subject.rfc4514_string() == f"CN={answer['id']}"  # not what the CSR asked for
    certificate.verify_directly_issued_by(ca.certificate)
    assert answer["certificate_chain"][1] == answer["ca_certificate"] == ca.cert_pem
    assert answer["broker"]["telemetry_topic"] == f"devices/{answer['id']}/telemetry"
    assert answer["signing_algorithm"] == "ES256" and answer["state"] == "active"
