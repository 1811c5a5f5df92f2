"""Telemetry through faults: `kill -9` of `paygate ingest` mid-stream, and a Mosquitto restart
(its own TLS broker on a free port, with persistence, as deployed). Devices publish signed
messages at QoS 1; afterwards every message the broker acknowledged is stored exactly once (no
loss, no double) and each device's sequence has no gap."""
from __future__ import annotations

import queue
import threading
from argparse import Namespace
from pathlib import Path

import pytest

from bench.telemetry import make_ca, make_fleet, publish_slice
from gateway.adapters.db.sandbox_clock import system_clock
from gateway.adapters.mqtt.broker_config import default_broker_user, write_broker_config
from tests.integration.conftest import make_gateway
from tests.support import services
from tests.support.processes import Process, wait_for

pytestmark = pytest.mark.faults


class TelemetryRig:
    """A CA, a TLS broker with persistence on a free port, and `paygate ingest` processes."""

    def __init__(self, deployment, work: Path) -> None:
        self.deployment, self.work = deployment, work
        self.ca = make_ca(work / "ca")
        self.port = services.free_port()
        self.config = write_broker_config(self.ca, work / "broker", self.port, persistence_dir=work / "broker-data",
                                          broker_user=default_broker_user()).read_text()
        self.broker = services.start_mosquitto(self.config, self.port)
        self.gw = make_gateway(deployment.url, deployment.var_dir, base_clock=system_clock, pki_dir=self.ca.directory)
        self.env = deployment.env(pki_dir=str(self.ca.directory), mqtt_url=f"mqtts://127.0.0.1:{self.port}")
        self.ingests: list[Process] = []
        self.fleets = 0

    def fleet(self, devices: int, messages: int):
        self.fleets += 1
        return make_fleet(self.gw, self.work / f"fleet-{self.fleets}", Namespace(devices=devices, messages=messages, algorithm="EdDSA"))

    def start_ingest(self, name: str = "fault-ingest") -> Process:
        log = self.work / f"{name}-{len(self.ingests)}.log"
        ingest = Process(["ingest", "--name", name], self.env, log).start()
        self.ingests.append(ingest)
        wait_for(lambda: " connected to " in log.read_text(), 30, what="ingest to connect", diagnose=ingest.tail)
        return ingest

    def publish(self, fleet) -> dict:
        """Publish every message of the fleet; returns once the broker acknowledged them all."""
        results: queue.Queue = queue.Queue()
        publish_slice(fleet, self.port, results)
        return results.get(timeout=5)

    def restart_broker(self) -> None:
        self.broker.stop()  # SIGTERM: Mosquitto writes its persistence file and exits
        self.broker = services.start_mosquitto(self.config, self.port)

    def stored(self, fleet) -> tuple[int, int]:
        return self.deployment.books.device_messages([device.device_id for device in fleet])

    def gaps(self, fleet) -> int:
        return self.deployment.books.scalar(
            "SELECT count(*) FROM (SELECT device_id FROM device_messages WHERE device_id = ANY(:ids) GROUP BY device_id "
            "HAVING max(seq) - min(seq) + 1 <> count(DISTINCT seq) OR min(seq) <> 1) g", ids=[d.device_id for d in fleet])

    def close(self) -> None:
        for ingest in self.ingests:
            ingest.stop()
        self.broker.stop()
        self.gw.db.dispose()


@pytest.fixture
def rig(deployment):
    work = services.broker_dir("paygate-faults-")  # a directory the broker's user can read
    rig = TelemetryRig(deployment, work)
    yield rig
    rig.close()


def assert_all_stored_once(rig: TelemetryRig, fleet, expected: int) -> None:
    wait_for(lambda: rig.stored(fleet)[1] >= expected, 60, what=f"all {expected} messages stored",
             diagnose=lambda: f"stored {rig.stored(fleet)}\n" + "\n".join(i.tail(10) for i in rig.ingests))
    rows, distinct = rig.stored(fleet)
    assert (rows, distinct) == (expected, expected), "lost or doubled"
    assert rig.gaps(fleet) == 0


def test_ingest_killed_mid_stream_loses_and_doubles_nothing(rig):
    fleet = rig.fleet(devices=4, messages=1_000)
    expected = 4 * 1_000
    ingest = rig.start_ingest()
    publisher = threading.Thread(target=rig.publish, args=(fleet,))
    publisher.start()
    wait_for(lambda: rig.stored(fleet)[1] >= 300, 30, what="ingest to store some", diagnose=ingest.tail)
    ingest.kill9()
    at_kill = rig.stored(fleet)[1]
    publisher.join(60)
    assert at_kill < expected, "every message was stored before the kill: nothing was tested"
    # The same name resumes the same persistent session: the broker kept what was unacknowledged.
    rig.start_ingest()
    assert_all_stored_once(rig, fleet, expected)
    rig.deployment.assert_books_clean()


def test_a_broker_restart_loses_and_doubles_nothing(rig):
    ingest = rig.start_ingest()
    before, after = rig.fleet(devices=3, messages=800), rig.fleet(devices=3, messages=300)
    # The broker restarts as soon as it has acknowledged the devices' messages, while ingest is
    # still taking them: what it had not delivered waits in its persistence file.
    assert rig.publish(before)["not_acked"] == 0
    rig.restart_broker()
    # The same ingest process reconnects by itself (and subscribes again: until then the broker
    # answers a device's publish with "no matching subscribers"), and devices publish again.
    wait_for(lambda: ingest.log.read_text().count(" connected to ") >= 2, 30, what="ingest to reconnect",
             diagnose=ingest.tail)
    assert rig.publish(after)["not_acked"] == 0
    assert_all_stored_once(rig, before, 3 * 800)
    assert_all_stored_once(rig, after, 3 * 300)
    assert ingest.running()
    rig.deployment.assert_books_clean()
