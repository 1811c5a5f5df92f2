"""`paygate ingest`: consume device messages from the broker, verify and store them in batches.

Delivery is at least once end to end: messages are acknowledged (PUBACK, manual) only after the
batch that holds them is committed, so a crash or a database outage means redelivery, never loss;
redeliveries land once thanks to the (device, seq) dedupe. Several processes share the load through
the shared subscription; each needs its own stable --name, because its persistent session (and the
messages the broker queues for it while it is away) is keyed by it.

The same loop relays queued device commands and expires/announces payment confirmations.
"""
from __future__ import annotations

import gc
import logging
import os
import queue
import select
import struct
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import paho.mqtt.client as mqtt
from sqlalchemy.exc import DBAPIError

from gateway.adapters.mqtt.client import BrokerAddress, connect_properties, gateway_client
from gateway.entrypoints.mqtt.command_relay import CommandRelay
from gateway.services import device_confirmations
from gateway.bootstrap import Gateway
from gateway.observability import metrics
from gateway.services.device_ingest import BatchResult, Incoming, Ingestor, Verified

log = logging.getLogger(__name__)

SHARE_GROUP = "paygate"
SUBSCRIPTIONS = (f"$share/{SHARE_GROUP}/devices/+/telemetry", f"$share/{SHARE_GROUP}/devices/+/confirmations")
HOUSEKEEPING_SECONDS = 0.5
READ_BURST = 100  # packets read per wake-up of paho's network thread, at most
GC_THRESHOLD = 50_000  # allocations (net of frees) between young-generation collections; CPython's default is 700


@dataclass
class IngestStats:
    received: int = 0
    stored: int = 0
    rejections: Counter = field(default_factory=Counter)
    batches: int = 0
    dropped_internal_errors: int = 0  # messages that crashed our own code twice: logged and acked

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())

    def add(self, result: BatchResult) -> None:
        self.stored += result.stored
        self.rejections.update(result.rejections)
        self.batches += 1
        metrics.INGEST_STORED.inc(result.stored)
        for reason, count in result.rejections.items():
            metrics.INGEST_REJECTED.labels(reason).inc(count)


class _Received(NamedTuple):
    """A message as the network thread queues it: as little work as possible there (a tuple, the
    topic still bytes), because that thread must keep reading and every step holds the GIL."""

    generation: int  # which connection delivered it: a PUBACK is only valid on that connection
    mid: int
    qos: int
    topic: bytes
    payload: bytes

    @property
    def incoming(self) -> Incoming:
        # A non-UTF-8 topic is a rejection, not a crash.
        return Incoming(self.topic.decode("utf-8", "replace"), self.payload)


class IngestLoop:
    def __init__(self, gw: Gateway, name: str = "ingest-1", *, broker_url: str | None = None,
                 batch_size: int = 500, batch_wait: float = 0.02, receive_maximum: int = 2000,
                 verifiers: int | None = None) -> None:
        self.gw = gw
        self.name = name
        self.broker = BrokerAddress.parse(broker_url or gw.settings.mqtt_url)
        self.batch_size, self.batch_wait, self.receive_maximum = batch_size, batch_wait, receive_maximum
        # The verification pool: threads, one per core. libsodium (Ed25519, through cffi) and
        # cryptography (P-256; its releases of 2026 on) release the GIL while they check a
        # signature, so the parts of a batch verify in parallel, without the pickling, the result
        # copies and the second interpreters a process pool would cost on every message.
        self.verifiers = verifiers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.verifiers, thread_name_prefix=f"{name}-verify",
                                        initializer=self._announce_thread, initargs=("verify",))
        self.ingestor = Ingestor(gw, chunk_map=self._pool.map, chunks=self.verifiers)
        self.stats = IngestStats()
        self.connected = threading.Event()
        self._queue: queue.SimpleQueue[_Received] = queue.SimpleQueue()
        self._generation = 0
        self._client = self._make_client()
        self.relay = CommandRelay(gw, self._client)
        self._client.on_publish = self.relay.on_publish

    # ---- the broker side (paho's network thread) ----

    def _make_client(self) -> mqtt.Client:
        client = gateway_client(f"paygate-{self.name}", self.gw.settings.pki_dir, self.broker, manual_ack=True)
        client.reconnect_delay_set(min_delay=0.1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        _read_in_bursts(client, self._queue_publish)
        _take_qos1_publishes(client, self._queue_publish)
        return client

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("ingest %s: broker refused the connection: %s", self.name, reason_code)
            return
        self._generation += 1
        log.info("ingest %s threads: network=%d", self.name, threading.get_native_id())
        client.subscribe([(topic, 1) for topic in SUBSCRIPTIONS])
        self.connected.set()
        metrics.MQTT_CONNECTED.labels(self.name).set(1)
        log.info("ingest %s connected to %s:%s", self.name, self.broker.host, self.broker.port)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self.connected.clear()
        metrics.MQTT_CONNECTED.labels(self.name).set(0)
        log.warning("ingest %s disconnected (%s); reconnecting", self.name, reason_code)

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        # Only queue here: this runs on the network thread, which must keep reading.
        self._queue.put(_Received(self._generation, message.mid, message.qos, message._topic, message.payload))

    def _queue_publish(self, mid: int, topic: bytes, payload: bytes) -> None:
        """A QoS 1 PUBLISH as _take_qos1_publishes() reads it (on the network thread too)."""
        self._queue.put(_Received(self._generation, mid, 1, topic, payload))

    # ---- the work side (the caller's thread) ----

    def run(self, stop: threading.Event) -> IngestStats:
        """paho's network thread reads and queues; this one makes batches, reads their devices and
        hands each batch's verification to the pool (a part per thread); a writer commits the
        previous batch and acknowledges it. Signature checks and database round trips release the
        GIL, so they overlap each other and the network thread's Python work."""
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30, clean_start=False,
                                   properties=connect_properties(self.receive_maximum))
        self._client.loop_start()
        writes: queue.Queue = queue.Queue(maxsize=1)
        writer = threading.Thread(target=self._write_batches, args=(writes, stop), name=f"{self.name}-writer")
        writer.start()
        log.info("ingest %s threads: batch=%d writer=%d", self.name, threading.get_native_id(), writer.native_id)
        next_housekeeping = 0.0
        try:
            while not stop.is_set():
                batch = self._next_batch()
                if batch:
                    self.stats.received += len(batch)
                    verified = self._verify(batch, stop)
                    while not stop.is_set():
                        try:
                            writes.put((batch, verified), timeout=0.1)
                            break
                        except queue.Full:
                            continue
                if time.monotonic() >= next_housekeeping:
                    self._housekeeping()
                    next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        finally:
            stop.set()
            writer.join()
            self._pool.shutdown()
            self._client.disconnect()
            self._client.loop_stop()
        return self.stats

    def _announce_thread(self, role: str) -> None:
        # The bench reads these ids to report CPU per message by thread.
        log.info("ingest %s threads: %s=%d", self.name, role, threading.get_native_id())

    def _verify(self, batch: list[_Received], stop: threading.Event) -> Verified | None:
        """None when verifying failed on our side: the writer then takes it message by message."""
        delay = 0.2
        while not stop.is_set():
            try:
                return self.ingestor.verify([item.incoming for item in batch])
            except DBAPIError as exc:
                log.error("ingest %s: database error reading devices, retrying in %.1fs: %s",
                          self.name, delay, exc.__class__.__name__)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                log.exception("ingest %s: verifying a batch failed; it will go message by message", self.name)
                return None
        return None

    def _write_batches(self, writes: queue.Queue, stop: threading.Event) -> None:
        while not (stop.is_set() and writes.empty()):
            try:
                batch, verified = writes.get(timeout=0.1)
            except queue.Empty:
                continue
            self._handle(batch, verified, stop)

    def _next_batch(self) -> list[_Received]:
        try:
            batch = [self._queue.get(timeout=0.1)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: list[_Received], verified: Verified | None, stop: threading.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            try:
                try:
                    if verified is None:
                        raise RuntimeError("the batch could not be verified as a whole")
                    self.stats.add(self.ingestor.store(verified))
                except DBAPIError:
                    raise
                except Exception:
                    log.exception("ingest %s: batch failed; retrying message by message", self.name)
                    self._handle_one_by_one(batch)
                self._acknowledge(batch)
                return
            except DBAPIError as exc:
                # Database unreachable or failing: acknowledge nothing, try the same batch again
                # (a batch is one transaction, so nothing of it was stored).
                log.error("ingest %s: database error, retrying batch of %d in %.1fs: %s",
                          self.name, len(batch), delay, exc.__class__.__name__)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
        # Stopping with the batch unstored: unacknowledged, so the broker redelivers it.

    def _handle_one_by_one(self, batch: list[_Received]) -> None:
        for item in batch:
            try:
                self.stats.add(self.ingestor.process([item.incoming]))
            except DBAPIError:
                raise
            except Exception:
                # Our bug, not the sender's: log it, count it, and let the rest of the stream flow.
                log.exception("ingest %s: dropping a message that fails processing (topic %.80s)",
                              self.name, item.incoming.topic)
                self.stats.dropped_internal_errors += 1

    def _acknowledge(self, batch: list[_Received]) -> None:
        # A packet id is only valid on the connection that delivered it: after a reconnect the
        # broker redelivers, and the dedupe refuses the copy.
        current = [item for item in batch if item.qos > 0 and item.generation == self._generation]
        acknowledge(self._client, [item.mid for item in current if item.qos == 1])
        for item in current:
            if item.qos == 2:  # never with our QoS 1 subscriptions; paho's own path if it were
                self._client.ack(item.mid, item.qos)

    def _housekeeping(self) -> None:
        try:
            self.relay.relay()
            device_confirmations.expire_due(self.gw)
            device_confirmations.deliver_outcomes(self.gw)
        except Exception:
            log.exception("ingest %s: housekeeping failed; will retry", self.name)


def tune_gc_for_ingest() -> None:
    """For a process whose main work is ingest (`paygate ingest`), called once start-up is done.

    The cyclic GC is pure overhead there: per message ingest makes a dozen short-lived objects that
    reference counting frees, yet a collection ran every 700 allocations, and now and then a full
    one over every module and ORM object loaded: ~10 us a message, in pauses that stall paho's
    network thread too. Freeze what start-up made (never scanned again) and collect rarely."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def _read_in_bursts(client: mqtt.Client, deliver: Callable[[int, bytes, bytes], None]) -> None:
    """Let paho's network thread read the packets that have arrived in one go.

    paho's loop reads one packet per select() (loop_read() stops after one unless QoS 2 or
    outgoing messages are in flight), so at thousands of messages a second every message paid a
    whole loop turn: select() over two sockets, keepalive bookkeeping, the wake-up socket. This
    wraps the public loop_read() (which paho's loop calls) to go on reading while bytes are
    buffered (ours, or the TLS layer's) or the socket is readable, up to READ_BURST packets, so
    acknowledgements and keepalives still go out between bursts. It saved ~10 us of the network
    thread's ~50 us a message (bench/telemetry.py prints the thread's CPU per message), most of it
    under the GIL. _buffer_reads() takes most of the rest of the socket reads' cost, and
    _take_buffered_publishes() most of paho's own per-packet work."""
    buffer = _buffer_reads(client)
    read_one = client.loop_read
    take_buffered = _take_buffered_publishes(client, buffer, deliver)

    def loop_read(max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = read_one(max_packets)
        for _ in range(READ_BURST - 1):
            sock = client.socket()
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None:
                break
            take_buffered()
            if not buffer.unread():
                try:
                    pending = sock.pending() if hasattr(sock, "pending") else 0  # TLS bytes already decrypted
                    if not pending and not select.select([sock], [], [], 0)[0]:
                        break
                except (OSError, ValueError):  # closed under us (disconnect()): paho's loop notices
                    break
            rc = read_one(max_packets)
        # paho's select() cannot see our buffer: never leave bytes in it (at most one read's worth).
        while rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and buffer.unread():
            take_buffered()
            if buffer.unread():
                rc = read_one(max_packets)
        return rc

    client.loop_read = loop_read


class _ReadBuffer:
    """What the socket reads brought and paho has not taken yet."""

    def __init__(self) -> None:
        self.socket = None
        self.data = b""
        self.position = 0
        self.closed = False  # the peer closed the connection after the bytes still here

    def unread(self) -> int:
        return len(self.data) - self.position


def _buffer_reads(client: mqtt.Client, read_size: int = 65536) -> _ReadBuffer:
    """Serve paho's socket reads from one buffer, filled with whatever has arrived.

    paho reads a packet in three or four recv() calls (the type byte, the length bytes one by one,
    then the rest), each a trip through the ssl module, which hands over one TLS record per call
    (the broker sends each message in its own). Here, when the buffer is empty, one fill reads
    records until none is waiting (or 64 KiB), so a burst of messages arrives in one buffer that
    _take_buffered_publishes() can read in one pass. paho has no public hook for this, so this
    replaces its _sock_recv() (paho-mqtt 2.x); where that is missing, paho reads as it always did.
    The buffer belongs to one socket: a reconnect starts empty (paho starts a fresh packet then too)."""
    buffer = _ReadBuffer()
    recv = getattr(client, "_sock_recv", None)
    if recv is None:
        return buffer

    def fill() -> bytes:
        first = recv(read_size)  # raises as paho's own does (BlockingIOError: nothing to read yet)
        if not first:
            return first  # closed: paho sees the empty read
        chunks, total = [first], len(first)
        while total < read_size:
            try:
                more = recv(read_size - total)
            except OSError:  # BlockingIOError: nothing more yet; anything else: paho's next read meets it
                break
            if not more:
                buffer.closed = True  # handed to paho once what came before is read
                break
            chunks.append(more)
            total += len(more)
        return first if len(chunks) == 1 else b"".join(chunks)

    def sock_recv(size: int) -> bytes:
        sock = client.socket()
        if sock is not buffer.socket:
            buffer.socket, buffer.data, buffer.position, buffer.closed = sock, b"", 0, False
        if not buffer.unread():
            if buffer.closed:
                return b""
            data = fill()
            if not data:
                return data
            buffer.data, buffer.position = data, 0
        start = buffer.position
        buffer.position = min(start + size, len(buffer.data))
        return buffer.data[start:buffer.position]

    client._sock_recv = sock_recv
    return buffer


def acknowledge(client: mqtt.Client, mids: list[int]) -> None:
    """PUBACK these QoS 1 messages in one write.

    paho's ack() queues one 4-byte packet per message, wakes its network thread for each, and the
    thread sends each in its own TLS record: at thousands of messages a second, about a tenth of
    ingest's CPU. The same packets (PUBACK, remaining length 2, the packet id; MQTT 5 lets a
    success omit the reason code, as paho's own does) go out here concatenated, queued once
    through paho's outgoing queue (paho-mqtt 2.x), so they keep their order with everything else
    paho sends. Where that is missing, ack() one by one."""
    if not mids:
        return
    queue_packet = getattr(client, "_packet_queue", None)
    if queue_packet is None:
        for mid in mids:
            client.ack(mid, 1)
        return
    queue_packet(PUBACK, b"".join(_PUBACK.pack(PUBACK, 2, mid) for mid in mids), 0, 1)


PUBACK = 0x40
_PUBACK = struct.Struct("!BBH")


def _read_qos1_publish(packet) -> tuple[int, bytes, bytes] | None:
    """(packet id, topic, payload) of a QoS 1 PUBLISH's variable header and payload (everything
    after the fixed header), or None if it is not one we read ourselves (MQTT 5, section 3.3:
    topic length and name, packet id, properties length and properties, payload). None for an
    empty topic name (a topic alias; we never allow the broker one), a packet id of 0, or bytes
    that do not parse: paho then decides, and refuses what is malformed as it always did."""
    if len(packet) < 5:
        return None
    topic_end = 2 + ((packet[0] << 8) | packet[1])
    if topic_end == 2 or topic_end + 3 > len(packet):
        return None
    mid = (packet[topic_end] << 8) | packet[topic_end + 1]
    position, properties_length, shift = topic_end + 2, 0, 0
    while True:  # variable byte integer, at most four bytes
        byte = packet[position]
        position += 1
        properties_length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 21 or position >= len(packet):
            return None
    payload_start = position + properties_length
    if payload_start > len(packet) or mid == 0:
        return None
    return mid, packet[2:topic_end], packet[payload_start:]


def _take_qos1_publishes(client: mqtt.Client, deliver: Callable[[int, bytes, bytes], None]) -> None:
    """Read each QoS 1 PUBLISH (our subscriptions' QoS) that paho has read straight off its input.

    For every message paho decodes the MQTT 5 properties into a Properties object, builds an
    MQTTMessage, formats a debug log call and walks its topic matcher before on_message: about a
    third of the network thread's work, under the GIL. Ingest needs the packet id, the topic and
    the payload: _read_qos1_publish() reads them, and deliver(mid, topic, payload) is called
    instead of on_message; acknowledging stays ingest's (manual acks). Anything else - QoS 0 or 2,
    or what _read_qos1_publish() leaves to paho - goes through paho's own _handle_publish()
    (paho-mqtt 2.x; where that is missing, paho reads as always)."""
    handle_publish = getattr(client, "_handle_publish", None)
    if handle_publish is None:
        return

    def take_publish() -> mqtt.MQTTErrorCode:
        if (client._in_packet["command"] & 0x06) != 0x02:  # QoS bits other than 1
            return handle_publish()
        publish = _read_qos1_publish(client._in_packet["packet"])
        if publish is None:
            return handle_publish()
        deliver(*publish)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    client._handle_publish = take_publish


def _take_buffered_publishes(client: mqtt.Client, buffer: _ReadBuffer,
                             deliver: Callable[[int, bytes, bytes], None]) -> Callable[[], None]:
    """A function that takes the whole QoS 1 PUBLISH packets at the front of the read buffer
    and hands them to deliver(mid, topic, payload), leaving paho everything else.

    paho reads a packet in three or four calls (the type byte, the length bytes one by one, the
    rest), each with its bookkeeping in Python; here a burst of complete packets costs one pass.
    Only at a packet boundary (paho is not in the middle of one), only whole packets, and it
    stops at the first packet that is not a QoS 1 PUBLISH we read ourselves: paho reads that one
    and the rest from the same buffer, in order. The time of the last bytes received is kept
    up to date for paho's keepalive (paho-mqtt 2.x; without its input state, nothing is taken)."""
    if not hasattr(client, "_in_packet"):
        return lambda: None

    def take_buffered() -> None:
        if client._in_packet["command"] != 0:
            return
        data, position, end = buffer.data, buffer.position, len(buffer.data)
        start = position
        while position + 2 <= end and (data[position] & 0xF6) == 0x32:  # PUBLISH, QoS 1 (DUP, RETAIN any)
            length, shift, cursor = 0, 0, position + 1
            while cursor < end:
                byte = data[cursor]
                cursor += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80 or shift > 21:
                    break
            if byte & 0x80 or cursor + length > end:  # a length past four bytes, or not all here yet
                break
            publish = _read_qos1_publish(data[cursor:cursor + length])
            if publish is None:
                break
            deliver(*publish)
            position = cursor + length
        if position != start:
            buffer.position = position
            client._last_bytes_received = time.monotonic()

    return take_buffered
