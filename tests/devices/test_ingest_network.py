"""Ingest's side of the MQTT session: paho's reads served from one buffer, a batch's PUBACKs sent
in one write, and what the broker makes of them."""
from __future__ import annotations

import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.entrypoints.mqtt.ingest import _buffer_reads, acknowledge
from tests.devices.conftest import RunningIngest, enroll_agent, make_agent, wait_for
from tests.devices.test_agents_end_to_end import stored_seqs


def test_a_batch_of_pubacks_goes_out_as_the_same_packets_in_one_write():
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    acknowledge(client, [1, 2, 513])
    acknowledge(client, [])
    queued = [packet["packet"] for packet in client._out_packet]
    assert queued == [b"\x40\x02\x00\x01" b"\x40\x02\x00\x02" b"\x40\x02\x02\x01"]


class FakeSocketReads:
    """Stands in for paho's own _sock_recv(): hands out the chunks it is given, then 'nothing yet'."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks, self.sizes = list(chunks), []

    def __call__(self, size: int) -> bytes:
        self.sizes.append(size)
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)


def test_reads_are_served_from_one_buffer_of_all_that_arrived_and_start_afresh_on_a_new_socket(monkeypatch):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    reads = FakeSocketReads([b"\x30\x05hello", b"\x30\x02ok"])  # two TLS records waiting
    client._sock_recv = reads
    current = {"socket": object()}
    monkeypatch.setattr(client, "socket", lambda: current["socket"])
    buffer = _buffer_reads(client)

    assert [client._sock_recv(1), client._sock_recv(1), client._sock_recv(5)] == [b"\x30", b"\x05", b"hello"]
    assert buffer.unread() == 4  # both records in one fill, for three of paho's reads
    assert reads.sizes == [65536, 65536 - 7, 65536 - 11]  # the last found nothing more waiting
    assert client._sock_recv(100) == b"\x30\x02ok"  # never more than the buffer holds
    reads.chunks = [b"\x30\x03new"]
    current["socket"] = object()  # reconnected: whatever the old socket had is gone
    assert client._sock_recv(2) == b"\x30\x03"
    assert buffer.unread() == 3
    current["socket"] = object()
    try:
        client._sock_recv(1)
    except BlockingIOError:
        pass  # paho's "nothing to read yet", passed through as paho's own read raises it
    else:
        raise AssertionError("an empty socket must read as BlockingIOError")


def test_a_close_after_data_reaches_paho_once_the_data_is_read(monkeypatch):
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client._sock_recv = FakeSocketReads([b"\xd0\x00", b""])  # a PINGRESP, then the peer closed
    monkeypatch.setattr(client, "socket", lambda: "the socket")
    _buffer_reads(client)
    assert [client._sock_recv(1), client._sock_recv(1), client._sock_recv(1)] == [b"\xd0", b"\x00", b""]


def test_acknowledged_messages_are_not_redelivered_to_the_same_session(broker, device_gw, device_shop, tmp_path):
    """If the broker had not taken the batched PUBACKs, it would redeliver those messages when an
    ingest resumes the same persistent session."""
    name = f"acks-{time.monotonic_ns()}"
    first = RunningIngest(device_gw, broker.url, name)
    try:
        home = tmp_path / "acked"
        enroll_agent(device_shop, home)
        agent = make_agent(home, broker.url)
        for _ in range(300):
            agent.queue_telemetry()
        assert agent.drain(15)
        wait_for(lambda: len(stored_seqs(device_gw, agent.device_id)) == 300, message="300 stored")
        agent.close()
    finally:
        first.stop()
    assert first.stats.stored == 300 and first.stats.batches > 1
    resumed = RunningIngest(device_gw, broker.url, name)
    try:
        time.sleep(1.5)  # a redelivery comes at once on reconnection
        assert resumed.stats.received == 0
    finally:
        resumed.stop()


def publish_packet(topic: bytes, payload: bytes, *, qos: int, mid: int = 7, properties: bytes = b"") -> tuple[int, bytes]:
    """(fixed header byte, the rest after the remaining length) of an MQTT 5 PUBLISH."""
    variable = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    return 0x30 | (qos << 1), variable + bytes([len(properties)]) + properties + payload


def test_qos1_publishes_are_read_off_the_packet_and_the_rest_left_to_paho():
    from gateway.entrypoints.mqtt.ingest import _take_qos1_publishes

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    taken, by_paho = [], []
    client.on_message = lambda _c, _u, message: by_paho.append((message.qos, message.topic, message.payload))
    _take_qos1_publishes(client, lambda mid, topic, payload: taken.append((mid, topic, payload)))
    # message expiry (0x02, four bytes) and a user property (0x26, two strings)
    properties = b"\x02\x00\x00\x00\x3c" + b"\x26\x00\x01k\x00\x01v"
    packets = [publish_packet(b"devices/d1/telemetry", b"\xd2\x84signed", qos=1, mid=513, properties=properties),
               publish_packet(b"devices/d2/telemetry", b"", qos=1, mid=1),
               publish_packet(b"devices/d3/telemetry", b"qos zero", qos=0)]
    for header, packet in packets:
        client._in_packet.update(command=header, packet=packet)
        assert client._handle_publish() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
    assert taken == [(513, b"devices/d1/telemetry", b"\xd2\x84signed"), (1, b"devices/d2/telemetry", b"")]
    assert by_paho == [(0, "devices/d3/telemetry", b"qos zero")]


def whole_packet(header: int, rest: bytes) -> bytes:
    assert len(rest) < 128
    return bytes([header, len(rest)]) + rest


def test_whole_qos1_publishes_in_the_buffer_are_taken_and_the_rest_left_to_paho_in_order():
    from gateway.entrypoints.mqtt.ingest import _ReadBuffer, _take_buffered_publishes

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    taken = []
    buffer = _ReadBuffer()
    take = _take_buffered_publishes(client, buffer, lambda mid, topic, payload: taken.append((mid, topic, payload)))
    first = whole_packet(*publish_packet(b"devices/d1/telemetry", b"one", qos=1, mid=1))
    dup_retained = whole_packet(0x3B, publish_packet(b"devices/d1/telemetry", b"two", qos=1, mid=2)[1])
    pingresp = b"\xd0\x00"
    partial = whole_packet(*publish_packet(b"devices/d1/telemetry", b"three", qos=1, mid=3))[:-2]
    buffer.data = first + dup_retained + pingresp + partial

    client._in_packet["command"] = 0x30  # paho is in the middle of a packet: it reads on
    take()
    assert taken == [] and buffer.position == 0
    client._in_packet["command"] = 0
    take()
    assert taken == [(1, b"devices/d1/telemetry", b"one"), (2, b"devices/d1/telemetry", b"two")]
    assert buffer.data[buffer.position:] == pingresp + partial  # paho reads these, in order
    buffer.position += len(pingresp)
    take()
    assert len(taken) == 2 and buffer.unread() == len(partial)  # not all here yet: left to paho
