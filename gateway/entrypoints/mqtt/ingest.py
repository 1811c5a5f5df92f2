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
import queue
import select
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

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
                 batch_size: int = 500, batch_wait: float = 0.02, receive_maximum: int = 2000) -> None:
        self.gw = gw
        self.name = name
        self.broker = BrokerAddress.parse(broker_url or gw.settings.mqtt_url)
        self.batch_size, self.batch_wait, self.receive_maximum = batch_size, batch_wait, receive_maximum
        self.ingestor = Ingestor(gw)
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
        _read_in_bursts(client)
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

    # ---- the work side (the caller's thread) ----

    def run(self, stop: threading.Event) -> IngestStats:
        """Three threads: paho's network thread reads and queues, this one verifies batches, a
        writer commits the previous batch and acknowledges it. Ed25519 checks (libsodium) and the
        database round trips release the GIL, so they overlap the network thread's Python work."""
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30, clean_start=False,
                                   properties=connect_properties(self.receive_maximum))
        self._client.loop_start()
        writes: queue.Queue = queue.Queue(maxsize=1)
        writer = threading.Thread(target=self._write_batches, args=(writes, stop), name=f"{self.name}-writer")
        writer.start()
        log.info("ingest %s threads: verify=%d writer=%d", self.name, threading.get_native_id(), writer.native_id)
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
            self._client.disconnect()
            self._client.loop_stop()
        return self.stats

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
        for item in batch:
            if item.qos > 0 and item.generation == self._generation:
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


def _read_in_bursts(client: mqtt.Client) -> None:
    """Let paho's network thread read the packets that have arrived in one go.

    paho's loop reads one packet per select() (loop_read() stops after one unless QoS 2 or
    outgoing messages are in flight), so at thousands of messages a second every message paid a
    whole loop turn: select() over two sockets, keepalive bookkeeping, the wake-up socket. This
    wraps the public loop_read() (which paho's loop calls) to go on reading while the TLS layer
    has bytes buffered or the socket is readable, up to READ_BURST packets, so acknowledgements
    and keepalives still go out between bursts. It saved ~10 us of the network thread's ~50 us a
    message (bench/telemetry.py prints the thread's CPU per message), most of it under the GIL."""
    read_one = client.loop_read

    def loop_read(max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = read_one(max_packets)
        for _ in range(READ_BURST - 1):
            sock = client.socket()
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None:
                break
            try:
                pending = sock.pending() if hasattr(sock, "pending") else 0  # TLS bytes already decrypted
                if not pending and not select.select([sock], [], [], 0)[0]:
                    break
            except (OSError, ValueError):  # closed under us (disconnect()): paho's loop notices
                break
            rc = read_one(max_packets)
        return rc

    client.loop_read = loop_read
