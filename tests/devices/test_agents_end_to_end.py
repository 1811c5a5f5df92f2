"""Agents, real Mosquitto (rendered TLS config) and ingest, on PostgreSQL: nothing lost, nothing twice."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from device_agents import wire
from gateway.adapters.db.device_models import DeviceMessage
from gateway.services import device_confirmations
from tests.devices.conftest import enroll_agent, make_agent, run_agent_until, wait_for
from tests.support.services import free_port


def stored_seqs(gw, device_id: str) -> list[int]:
    with gw.db.unit_of_work() as session:
        return list(session.scalars(select(DeviceMessage.seq).where(DeviceMessage.device_id == device_id)
                                    .order_by(DeviceMessage.seq)))


def test_agents_telemetry_is_verified_and_stored(broker, device_gw, device_shop, start_ingest, tmp_path):
    ingest = start_ingest(broker.url)
    agents = [make_agent(tmp_path / name, broker.url, kind)
              for name, kind in (("meter", "iot"), ("phone", "phone"))
              if enroll_agent(device_shop, tmp_path / name, kind, "ES256" if kind == "phone" else "EdDSA")]
    for agent in agents:
        for _ in range(5):
            agent.queue_telemetry()
        assert agent.drain(15), "the broker did not ack the outbox"
    for agent in agents:
        wait_for(lambda: stored_seqs(device_gw, agent.device_id) == [1, 2, 3, 4, 5], message="messages stored")
        device = device_shop.get(f"/v1/devices/{agent.device_id}").json
        assert device["messages_stored"] == 5 and device["last_seen"] is not None
        agent.close()
    assert ingest.stats.rejected == 0


def test_malformed_payloads_on_the_wire_never_stop_ingest(broker, device_gw, device_shop, start_ingest, tmp_path):
    ingest = start_ingest(broker.url)
    home = tmp_path / "noisy"
    device_id = enroll_agent(device_shop, home)
    raw = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv5)
    raw.tls_set(ca_certs=str(home / "ca.cert.pem"), certfile=str(home / "tls.cert.pem"), keyfile=str(home / "tls.key.pem"))
    raw.connect("127.0.0.1", broker.port)
    raw.loop_start()
    garbage = [b"", b"\x00" * 5000, os.urandom(300), b"\xd2\x84" + os.urandom(50), b"{}", b"\xff" * 20000]
    infos = [raw.publish(wire.telemetry_topic(device_id), payload, qos=1) for payload in garbage]
    for info in infos:
        info.wait_for_publish(5)
    raw.disconnect()
    raw.loop_stop()

    agent = make_agent(home, broker.url)
    agent.queue_telemetry()
    assert agent.drain(15)
    wait_for(lambda: stored_seqs(device_gw, device_id) == [1], message="the good message after the garbage")
    assert ingest.stats.rejections["malformed"] == len(garbage)
    agent.close()


def test_confirmations_over_mqtt_approve_decline_and_expire(broker, device_gw, device_shop, start_ingest, tmp_path,
                                                            monkeypatch):
    outcomes = []
    monkeypatch.setattr(device_gw, "confirmation_decided",
                        lambda payment_id, approved, reason: outcomes.append((payment_id, approved, reason)))
    start_ingest(broker.url)
    vending = make_agent(tmp_path / "vending", broker.url, "iot", auto_approve_limit=10_000) \
        if enroll_agent(device_shop, tmp_path / "vending", "iot") else None
    phone = make_agent(tmp_path / "phone", broker.url, "phone") if enroll_agent(device_shop, tmp_path / "phone", "phone") else None
    for agent in (vending, phone):
        run_agent_until(agent, lambda: agent.ready)

    request = device_confirmations.request_confirmation
    request(device_gw, "pay_small", vending.device_id, 9_900, "CNY", "Vending Co")  # under the limit: approved
    request(device_gw, "pay_big", vending.device_id, 10_001, "CNY", "Vending Co")  # over it: declined
    request(device_gw, "pay_phone", phone.device_id, 399_900, "CNY", "Phone Shop")
    request(device_gw, "pay_ignored", phone.device_id, 100, "CNY", "Phone Shop", ttl_seconds=1)

    run_agent_until(vending, lambda: vending.stats.confirmations == 2)
    run_agent_until(phone, lambda: len(phone.open_prompts) == 2)  # the user is asked, nothing sent yet
    prompt = next(p for p in phone.open_prompts if p.payment_id == "pay_phone")
    assert (prompt.amount, prompt.merchant) == (399_900, "Phone Shop")
    assert phone.answer(prompt.nonce, approved=False)
    for agent in (vending, phone):
        assert agent.drain(15)

    wait_for(lambda: len(outcomes) == 4, message="four outcomes")
    assert sorted(outcomes) == [("pay_big", False, "declined"), ("pay_ignored", False, "expired"),
                                ("pay_phone", False, "declined"), ("pay_small", True, "approved")]
    vending.close()
    phone.close()


def test_broker_restart_while_agents_publish_loses_and_duplicates_nothing(broker, device_gw, device_shop,
                                                                          start_ingest, tmp_path):
    ingest = start_ingest(broker.url)
    agents = []
    for index in range(3):
        home = tmp_path / f"agent-{index}"
        enroll_agent(device_shop, home)
        agents.append(make_agent(home, broker.url, telemetry_interval=0.01))
    stop = threading.Event()
    threads = [threading.Thread(target=agent.run, args=(stop,)) for agent in agents]
    for thread in threads:
        thread.start()
    wait_for(lambda: all(agent.stats.acked > 20 for agent in agents), message="traffic before the restart")
    acked_before = sum(agent.stats.acked for agent in agents)
    broker.restart()
    wait_for(lambda: sum(agent.stats.acked for agent in agents) > acked_before + 60, message="traffic after the restart")
    stop.set()
    for thread in threads:
        thread.join()
    for agent in agents:
        agent.telemetry_interval = 0
        assert agent.drain(20), "outbox not emptied after the restart"
        assert agent.stats.connects >= 2  # it really was cut off and came back

    for agent in agents:
        last = agent.outbox.last_seq()
        wait_for(lambda: len(stored_seqs(device_gw, agent.device_id)) >= last, timeout=20,
                 message=f"all {last} messages of {agent.device_id}")
        assert stored_seqs(device_gw, agent.device_id) == list(range(1, last + 1))  # none lost, none twice
        agent.close()
    assert ingest.stats.rejected == ingest.stats.rejections["duplicate_sequence"]  # redeliveries only


AGENT_SCRIPT = """
import sys, time
from device_agents.agent import Agent
from device_agents.profiles import profile_for
agent = Agent(sys.argv[1], profile_for("iot"), broker_url=sys.argv[2], telemetry_interval=0)
for _ in range(int(sys.argv[3])):
    agent.queue_telemetry()
print("queued", flush=True)
while True:
    agent.step(0.05)   # the broker is unreachable: everything stays in the outbox
"""


def test_messages_published_before_any_ingest_subscribed_are_sent_again_and_stored(broker, device_gw, device_shop,
                                                                                   start_ingest, tmp_path):
    """With nobody subscribed (a broker just restarted, ingest not back yet), the broker answers a
    publish with "no matching subscribers" (0x10) and drops it: the agent keeps the messages and
    sends them again once ingest is there."""
    home = tmp_path / "early"
    device_id = enroll_agent(device_shop, home)
    agent = make_agent(home, broker.url)
    for _ in range(3):
        agent.queue_telemetry()
    assert not agent.drain(2), "the broker took the messages with nobody subscribed"
    assert agent.outbox.count() == 3 and agent.stats.acked == 0
    start_ingest(broker.url)
    assert agent.drain(30), "the agent did not send its messages again"
    wait_for(lambda: stored_seqs(device_gw, device_id) == [1, 2, 3], message="all 3 stored, once each")
    agent.close()


def test_agent_killed_with_unsent_messages_delivers_them_after_restart(broker, device_gw, device_shop,
                                                                       start_ingest, tmp_path):
    start_ingest(broker.url)
    home = tmp_path / "killed"
    device_id = enroll_agent(device_shop, home)
    unreachable = f"mqtts://127.0.0.1:{free_port()}"
    process = subprocess.Popen([sys.executable, "-c", AGENT_SCRIPT, str(home), unreachable, "25"],
                               stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert process.stdout.readline().strip() == "queued"
        time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert stored_seqs(device_gw, device_id) == []

    agent = make_agent(home, broker.url)
    assert agent.outbox.count() == 25
    assert agent.drain(15)
    assert agent.queue_telemetry() == 26  # the sequence carries on where the dead process left it
    assert agent.drain(15)
    wait_for(lambda: stored_seqs(device_gw, device_id) == list(range(1, 27)), message="all 26 stored")
    agent.close()


def test_two_ingest_processes_share_the_subscription_without_duplicates(broker, device_gw, device_shop,
                                                                        start_ingest, tmp_path):
    first, second = start_ingest(broker.url, "share-a"), start_ingest(broker.url, "share-b")
    agents = []
    for index in range(2):
        home = tmp_path / f"shared-{index}"
        enroll_agent(device_shop, home)
        agents.append(make_agent(home, broker.url))
    for agent in agents:
        for _ in range(100):
            agent.queue_telemetry()
        assert agent.drain(15)
    for agent in agents:
        wait_for(lambda: len(stored_seqs(device_gw, agent.device_id)) == 100, message="100 stored")
        assert stored_seqs(device_gw, agent.device_id) == list(range(1, 101))
        agent.close()
    assert first.stats.stored > 0 and second.stats.stored > 0  # both took a share
    assert first.stats.stored + second.stats.stored == 200
