"""The device part of the demo: the deployment CA, a broker, two agents enrolled over the API (a
phone and an IoT meter), signed telemetry through ingest, a payment confirmed on the phone, and
rejected messages being counted.

The broker is Mosquitto with the rendered TLS configuration (client certificates, CN as username,
per-device ACL, CRL) on a free loopback port, started and stopped here. amqtt, the pure-Python
broker, cannot stand in for it: it speaks MQTT 3.1.1 only (agents and ingest speak MQTT 5 with
persistent sessions and shared subscriptions) and its certificate plugin checks a SPIFFE URI, not
the CN, with no CRL. Without Mosquitto the demo therefore says so and feeds the agents' signed
envelopes straight into ingest's verification (gateway.entrypoints.mqtt.loopback): real keys, real
envelopes, real checks, no broker.

`show_devices(gw, base_url, merchant_secret_key)` is called by `paygate demo`; tests call it too.
"""
from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from device_agents import wire
from device_agents.agent import Agent, Backoff, Identity
from device_agents.enroll import enroll, http_enroller
from device_agents.keys import load_private_key
from device_agents.profiles import ConfirmationRequest, Profile, profile_for
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.domain.clock import BEIJING
from gateway.domain.money import format_cny
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.entrypoints.cli.devices import ensure_device_ca
from gateway.entrypoints.mqtt.local_broker import LocalMosquitto, find_mosquitto
from gateway.entrypoints.mqtt.loopback import Loopback
from gateway.entrypoints.workers.runner import run
from gateway.sdk.client import Paygate

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
RUN_SECONDS = 2.0  # how long the agents publish telemetry
TELEMETRY_INTERVAL = 0.1  # seconds between an agent's readings; each reading covers a simulated minute
PAYMENT_AMOUNT = 29_900  # fen
# Loggers whose warnings this part of the demo provokes on purpose (the rejected messages, ingest
# disconnecting at the end); the printed lines report those events instead.
QUIET_LOGGERS = ("gateway.services.device_ingest", "gateway.entrypoints.mqtt.ingest", "gateway.entrypoints.mqtt.command_relay")
Out = Callable[[str], None]


def demo_pki_dir(settings: Settings) -> Path:
    """Where the demo keeps its device CA: PAYGATE_PKI_DIR when set, else var/pki (next to the demo
    database and removed by `make clean`, rather than certs/ca in the working tree)."""
    return settings.pki_dir if "PAYGATE_PKI_DIR" in settings.env else settings.var_dir / "pki"


def show_devices(gw: Gateway, base_url: str, merchant_secret_key: str, out: Out = print) -> bool:
    """Run the device part of the demo against the running gateway (HTTP at base_url, and `gw` for
    the in-process ingest); True if every step did what it should. Starts and stops everything it
    needs; leaves the CA (gw.settings.pki_dir) and the agents' homes (var/demo-devices)."""
    out("\ndevices (a phone and an IoT meter: signed telemetry, a payment confirmed on the phone):")
    shop = Paygate(base_url, merchant_secret_key)
    broker: LocalMosquitto | None = None
    agents: list[Agent] = []
    try:
        with _quiet(QUIET_LOGGERS):
            _to_device_time(shop, out)
            pki_dir = Path(gw.settings.pki_dir)
            out(f"  device CA in {pki_dir}: {ensure_device_ca(pki_dir)}")
            broker = _start_broker(pki_dir, Path(gw.settings.var_dir), out)
            phone, meter = _enroll_pair(gw, base_url, merchant_secret_key, broker, agents, out)
            if broker is not None:
                return _over_broker(gw, shop, broker, phone, meter, out)
            return _without_broker(gw, shop, phone, meter, out)
    except Exception as exc:
        log.exception("device demo failed")
        out(f"  FAILED: {exc.__class__.__name__}: {exc}")
        return False
    finally:
        for agent in agents:
            agent.close()
        if broker is not None:
            broker.stop()
            out("  broker stopped")


def _to_device_time(shop: Paygate, out: Out) -> None:
    """Devices stamp their messages with real time, and ingest judges freshness (and confirmation
    requests their expiry) by the gateway's clock: this part runs on real time."""
    if shop.sandbox_clock()["offset_seconds"]:
        shop.reset_clock()
        out("  devices stamp real time: the sandbox clock goes back to it (POST /v1/sandbox/clock reset)")


# ---- the broker ------------------------------------------------------------------------------

def _start_broker(pki_dir: Path, var_dir: Path, out: Out) -> LocalMosquitto | None:
    binary = find_mosquitto()
    if binary:
        broker = LocalMosquitto(binary, pki_dir, var_dir)
        try:
            broker.start()
        except (OSError, RuntimeError) as exc:
            broker.stop()
            out(f"  mosquitto ({binary}) would not start: {str(exc).splitlines()[0]}")
        else:
            out(f"  broker: mosquitto {broker.version} on {broker.url} (client certificates, CN as username, "
                "per-device ACL, CRL)")
            return broker
    else:
        out("  no mosquitto binary here (apt-get install mosquitto)")
    out("  amqtt cannot stand in: MQTT 3.1.1 only (our agents and ingest speak MQTT 5, shared subscriptions),"
        " no CN-as-username, no CRL;")
    out("  so no broker: the agents' signed envelopes go straight to ingest's checks (gateway.entrypoints.mqtt.loopback)")
    return None


# ---- enrollment ------------------------------------------------------------------------------

@dataclass
class MinutePerReading:
    """A simulated device whose every reading covers one minute of use, so that two seconds of
    demo give usage worth aggregating. Confirmation decisions are the wrapped profile's."""

    inner: Profile
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        self.kind = self.inner.kind

    def reading(self, interval_s: float) -> dict:
        return self.inner.reading(60.0)

    def decide(self, request: ConfirmationRequest) -> bool | None:
        return self.inner.decide(request)


def _enroll_pair(gw: Gateway, base_url: str, key: str, broker: LocalMosquitto | None, agents: list[Agent],
                 out: Out) -> tuple[Agent, Agent]:
    """Enroll a phone (ES256) and an IoT meter (EdDSA) through POST /v1/devices the way
    `paygate-agent enroll` does: keys made in each device's home, never sent."""
    root = Path(gw.settings.var_dir) / "demo-devices"
    shutil.rmtree(root, ignore_errors=True)  # the previous run's devices
    enroller = http_enroller(base_url, key)
    broker_url = broker.url if broker else None
    for name, kind, model, algorithm, profile in (
        ("phone", "phone", "X1 phone", "ES256", profile_for("phone", approve_probability=1.0, seed=7)),  # its user approves
        ("meter", "iot", "M2 e-bike meter", "EdDSA", profile_for("iot", seed=8)),
    ):
        enroll(root / name, kind, model, enroller, algorithm, broker_url=broker_url)
        agents.append(Agent(root / name, MinutePerReading(profile), telemetry_interval=TELEMETRY_INTERVAL,
                            broker_url=broker_url, backoff=Backoff(base=0.05, cap=0.5)))
    phone, meter = agents
    out(f"  enrolled over POST /v1/devices, keys made on the devices ({root}/):")
    out(f"    phone {phone.device_id} (ES256 signing key)  meter {meter.device_id} (EdDSA signing key)")
    return phone, meter


# ---- with a broker ---------------------------------------------------------------------------

def _over_broker(gw: Gateway, shop: Paygate, broker: LocalMosquitto, phone: Agent, meter: Agent, out: Out) -> bool:
    from gateway.entrypoints.mqtt.ingest import SUBSCRIPTIONS, IngestLoop

    ingest = IngestLoop(gw, f"demo-{secrets.token_hex(3)}", broker_url=broker.url, batch_size=200, batch_wait=0.01)
    stop_ingest = threading.Event()
    ingest_thread = threading.Thread(target=ingest.run, args=(stop_ingest,), name="demo-ingest", daemon=True)
    ingest_thread.start()
    try:
        if not ingest.connected.wait(10):
            raise RuntimeError("ingest did not connect to the broker")
        out(f"  ingest {ingest.name} in-process, subscribed to {SUBSCRIPTIONS[0]} and .../confirmations")
        ok = _telemetry_and_confirmation(shop, phone, meter, out)
        _show_devices_and_usage(shop, phone, meter, out)
        ok = _replay_over_broker(shop, broker, ingest, phone, out) and ok
        ok = _forgeries_over_broker(shop, broker, ingest, phone, meter, out) and ok
        stats = ingest.stats
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(stats.rejections.items()))
        out(f"  ingest: received {stats.received}, stored {stats.stored}, rejected {stats.rejected} ({reasons})")
        # (A QoS 1 redelivery would add a duplicate_sequence: it is counted too, and harmless.)
        return ok and stats.rejections["duplicate_sequence"] >= 1 and stats.rejections["device_mismatch"] == 1
    finally:
        stop_ingest.set()
        ingest_thread.join(10)


def _telemetry_and_confirmation(shop: Paygate, phone: Agent, meter: Agent, out: Out) -> bool:
    """Telemetry for RUN_SECONDS, and meanwhile a payment that waits for the phone."""
    with _running(phone, meter):
        _wait(lambda: phone.ready and meter.ready, 10, "the agents to connect")
        started = time.monotonic()
        payment = _pay_with_confirmation(shop, phone.device_id)
        first_status = payment["status"]
        while time.monotonic() < started + 15 and (payment["status"] == "requires_action"
                                                   or time.monotonic() - started < RUN_SECONDS):
            time.sleep(0.1)
            payment = shop.retrieve_payment(payment["id"])
        elapsed = time.monotonic() - started
    for agent in (phone, meter):
        agent.telemetry_interval = 0  # no new readings: send what is left
        agent.drain(10)
    sent = phone.stats.sent + meter.stats.sent
    acked = phone.stats.acked + meter.stats.acked
    _wait(lambda: _stored(shop, phone, meter) >= acked, 10, "ingest to store every acked message")
    answer = "phone approved (signed, over MQTT)" if phone.stats.confirmations else "no answer from the phone"
    out(f"  payment {payment['id']} {format_cny(payment['amount'])} with confirmation on the phone: {first_status}"
        f" -> {answer} -> {payment['status']}" + (f" ({payment.get('failure_code')})" if payment.get("failure_code") else ""))
    stored, rejected = _stored(shop, phone, meter), _rejected(shop, phone, meter)
    out(f"  telemetry for {elapsed:.1f} s (a reading per device every {TELEMETRY_INTERVAL:g} s, each a simulated"
        f" minute): sent {sent}, acked {acked}, stored {stored}, rejected {rejected}")
    return (payment["status"] == "succeeded" and first_status == "requires_action" and stored == acked
            and rejected == 0 and phone.outbox.count() == meter.outbox.count() == 0)


@contextmanager
def _running(*agents: Agent) -> Iterator[None]:
    """The agents' loops in threads (publishing, answering prompts) until the block ends."""
    stop = threading.Event()
    threads = [threading.Thread(target=agent.run, args=(stop,), name=f"agent-{agent.device_id}", daemon=True)
               for agent in agents]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
            if thread.is_alive():
                raise RuntimeError(f"{thread.name} did not stop")


def _replay_over_broker(shop: Paygate, broker: LocalMosquitto, ingest, phone: Agent, out: Out) -> bool:
    """The phone's own message sent again, same bytes, with its own certificate."""
    replayed = _capture_next_telemetry(phone)
    stored_before = _device(shop, phone)["messages_stored"]
    if not phone.drain(10):
        raise RuntimeError("the phone's last reading was not acked")
    _wait(lambda: _device(shop, phone)["messages_stored"] > stored_before, 10, "the phone's last reading")
    before = _device(shop, phone)["messages_rejected"]
    _publish_as(phone.identity, f"{phone.device_id}-replay", broker, wire.telemetry_topic(phone.device_id), replayed.envelope)
    after = _wait_for_count(shop, phone, before + 1)
    out(f"  phone's message #{replayed.seq} sent again, same bytes, phone's own certificate: broker passed it, "
        f"ingest rejected it ({_last_reason(ingest, 'duplicate_sequence')}); phone rejected {before} -> {after}")
    return after == before + 1


def _forgeries_over_broker(shop: Paygate, broker: LocalMosquitto, ingest, phone: Agent, meter: Agent, out: Out) -> bool:
    """The meter signs a message naming the phone: on its own topic ingest refuses it, on the
    phone's topic the broker does."""
    forged = _naming_other_device(meter, phone.device_id)
    before = _device(shop, meter)["messages_rejected"]
    _publish_as(meter.identity, f"{meter.device_id}-forger", broker, wire.telemetry_topic(meter.device_id), forged)
    after = _wait_for_count(shop, meter, before + 1)
    out(f"  meter signs a message naming the phone, on its own topic: ingest rejected it "
        f"({_last_reason(ingest, 'device_mismatch')}); meter rejected {before} -> {after}")
    refusal = _publish_as(meter.identity, f"{meter.device_id}-forger", broker, wire.telemetry_topic(phone.device_id), forged)
    refused = refusal is not None and refusal.is_failure
    out(f"  meter publishing on the phone's topic: {f'refused by the broker ({refusal})' if refused else 'NOT refused'}")
    return after == before + 1 and refused


def _publish_as(identity: Identity, client_id: str, broker: LocalMosquitto, topic: str, payload: bytes,
                timeout: float = 5.0):
    """Publish raw bytes at QoS 1 with a device's certificate (as a separate MQTT client); the
    broker's PUBACK reason code."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(identity.ca_path), certfile=str(identity.cert_path), keyfile=str(identity.tls_key_path))
    connected, acks = [], {}
    client.on_connect = lambda _c, _u, _f, reason_code, _p: connected.append(reason_code)
    client.on_publish = lambda _c, _u, mid, reason_code, _p: acks.__setitem__(mid, reason_code)
    client.connect(HOST, broker.port)
    client.loop_start()
    try:
        _wait(lambda: connected, timeout, "CONNACK")
        if connected[0].is_failure:
            raise RuntimeError(f"the broker refused {client_id}: {connected[0]}")
        mid = client.publish(topic, payload, qos=1).mid
        _wait(lambda: mid in acks, timeout, "PUBACK")
        return acks[mid]
    finally:
        client.disconnect()
        client.loop_stop()


def _last_reason(ingest, reason: str) -> str:
    return reason if ingest.stats.rejections.get(reason) else f"expected {reason}, got {dict(ingest.stats.rejections)}"


# ---- without a broker ------------------------------------------------------------------------

class _Wire:
    """What a broker would carry, through the loopback: an agent's outbox to ingest's checks."""

    def __init__(self, gw: Gateway) -> None:
        self.loopback = Loopback(gw)
        self.rejections: Counter = Counter()

    def deliver(self, agent: Agent) -> int:
        pending = agent.outbox.pending(after=0, limit=10_000)
        self.rejections.update(self.loopback.deliver([(wire.topic_for(item.kind, agent.device_id), item.envelope)
                                                      for item in pending]))
        agent.outbox.remove([item.seq for item in pending])  # "acked": ingest has committed them
        return len(pending)

    def confirmation_request(self, device_id: str) -> ConfirmationRequest:
        kind, body = wire.decode_command(self.loopback.take_command(device_id))
        if kind != wire.CONFIRMATION_REQUEST:
            raise RuntimeError(f"expected a confirmation request, found {kind!r}")
        return ConfirmationRequest.from_command(body)


def _without_broker(gw: Gateway, shop: Paygate, phone: Agent, meter: Agent, out: Out) -> bool:
    """The agents sign into their outboxes as always; what a broker would carry goes to ingest's
    verification directly, and the phone gets its confirmation request from the command outbox."""
    link = _Wire(gw)
    readings = round(RUN_SECONDS / TELEMETRY_INTERVAL)
    for agent in (phone, meter):
        for _ in range(readings):
            agent.queue_telemetry()
    sent = link.deliver(phone) + link.deliver(meter)
    payment = _pay_with_confirmation(shop, phone.device_id)
    first_status = payment["status"]
    request = link.confirmation_request(phone.device_id)
    decision = phone.profile.decide(request)
    phone.queue_message(wire.CONFIRMATION, request.answer(bool(decision)), answers=request.nonce)
    sent += link.deliver(phone)
    run(gw, ["confirmations"], once=True)  # the decided confirmation reaches its payment
    payment = shop.retrieve_payment(payment["id"])
    out(f"  payment {payment['id']} {format_cny(payment['amount'])} with confirmation on the phone: {first_status}"
        f" -> phone {'approved' if decision else 'declined'} (signed) -> {payment['status']}")
    stored, rejected = _stored(shop, phone, meter), _rejected(shop, phone, meter)
    out(f"  {readings} signed readings per device (each a simulated minute) and the confirmation through ingest: "
        f"sent {sent}, stored {stored}, rejected {rejected}")
    ok = payment["status"] == "succeeded" and stored == sent and rejected == 0 and not link.rejections
    _show_devices_and_usage(shop, phone, meter, out)
    return _rejections_without_broker(shop, link, phone, meter, out) and ok


def _rejections_without_broker(shop: Paygate, link: _Wire, phone: Agent, meter: Agent, out: Out) -> bool:
    replayed = _capture_next_telemetry(phone)
    link.deliver(phone)
    before = _device(shop, phone)["messages_rejected"]
    rejections = link.loopback.deliver([(wire.telemetry_topic(phone.device_id), replayed.envelope)])
    after = _device(shop, phone)["messages_rejected"]
    out(f"  phone's message #{replayed.seq} delivered again, same bytes: ingest rejected it "
        f"({', '.join(rejections) or 'NOT rejected'}); phone rejected {before} -> {after}")
    ok = dict(rejections) == {"duplicate_sequence": 1} and after == before + 1

    before = _device(shop, meter)["messages_rejected"]
    rejections = link.loopback.deliver([(wire.telemetry_topic(meter.device_id), _naming_other_device(meter, phone.device_id))])
    after = _device(shop, meter)["messages_rejected"]
    out(f"  meter signs a message naming the phone, on its own topic: ingest rejected it "
        f"({', '.join(rejections) or 'NOT rejected'}); meter rejected {before} -> {after}")
    return ok and dict(rejections) == {"device_mismatch": 1} and after == before + 1


# ---- shared steps ----------------------------------------------------------------------------

def _open_bank(now: datetime) -> str:
    """A sandbox bank open at `now`, as the banks publish their hours: the big four (ICBC) close
    23:30-00:30 Beijing time for maintenance, BOCOM 03:00-04:00."""
    minutes = now.astimezone(BEIJING).hour * 60 + now.astimezone(BEIJING).minute
    return "BOCOM" if minutes >= 23 * 60 + 30 or minutes < 30 else "ICBC"


def _pay_with_confirmation(shop: Paygate, device_id: str) -> dict:
    """A card payment that waits for the buyer's phone (confirmation.device)."""
    token = shop.create_token(sandbox_card_number(_open_bank(shop.sandbox_now()), "4242"), 12, 2030, "123", "Li Lei")
    return shop.create_payment(PAYMENT_AMOUNT, token["id"], confirm=True, description="phone case",
                               confirmation={"device": device_id})


def _capture_next_telemetry(agent: Agent):
    """Have the agent sign one more reading and keep a copy of its envelope as it left the outbox
    (what an eavesdropper with the device's TLS key, or a buggy resend, would replay)."""
    seq = agent.queue_telemetry()
    return agent.outbox.pending(after=seq - 1, limit=1)[0]


def _naming_other_device(signer: Agent, other_id: str) -> bytes:
    """An envelope signed with the signer's own key that claims to come from another device."""
    key = load_private_key(signer.identity.signing_key_path)
    return wire.seal(key, other_id, 1, int(time.time() * 1000), wire.TELEMETRY, {"health": "ok"})


def _device(shop: Paygate, agent: Agent) -> dict:
    return shop.retrieve_device(agent.device_id)


def _stored(shop: Paygate, *agents: Agent) -> int:
    return sum(_device(shop, agent)["messages_stored"] for agent in agents)


def _rejected(shop: Paygate, *agents: Agent) -> int:
    return sum(_device(shop, agent)["messages_rejected"] for agent in agents)


def _wait_for_count(shop: Paygate, agent: Agent, expected: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := _device(shop, agent)["messages_rejected"]) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def _show_devices_and_usage(shop: Paygate, phone: Agent, meter: Agent, out: Out) -> None:
    today = shop.sandbox_now().date()
    for label, agent in (("phone", phone), ("meter", meter)):
        device = _device(shop, agent)
        seen = (datetime.fromtimestamp(device["last_seen"], timezone.utc).strftime("%H:%M:%S UTC")
                if device["last_seen"] else "never")
        out(f"    {label} {agent.device_id}: stored {device['messages_stored']}, last seq {device['last_seq']}, "
            f"last seen {seen}")
        for day in shop.device_usage(agent.device_id, (today - timedelta(days=1)).isoformat(), today.isoformat()).get("data") or []:
            out(f"      usage {day['date']}: {day['messages']} readings, {_usage(label, day)}")


def _usage(label: str, day: dict) -> str:
    if label == "phone":
        return (f"screen {day['screen_seconds']} s, {day['app_sessions']} app sessions, "
                f"{day['data_bytes'] / 1e6:.1f} MB, battery low {day['battery_pct_min']}%, "
                f"regions {','.join(day['regions'])}")
    return f"run {day['run_seconds']} s, {day['energy_wh']} Wh, {day['distance_m']} m, health {day['health_last']}"


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
