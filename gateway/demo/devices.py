"""The device part of the demo: the deployment CA, a broker, two agents enrolled over the API (a
phone and an IoT meter), signed telemetry through ingest, a payment confirmed on the phone, and
rejected messages being counted.

The broker is Mosquitto with the rendered TLS configuration (client certificates, CN as username,
per-device ACL, CRL) on a free loopback port, started and stopped here. amqtt, the pure-Python
broker, cannot stand in for it: it speaks MQTT 3.1.1 only (agents and ingest speak MQTT 5 with
persistent sessions and shared subscriptions) and its certificate plugin checks a SPIFFE URI, not
the CN, with no CRL. Without Mosquitto the demo therefore says so and feeds the agents' signed
envelopes straight into ingest's verification (gateway.services.device_ingest): real keys, real
envelopes, real checks, no broker.

`show_devices(gw, base_url, merchant_secret_key)` is called by gateway/demo.py; tests call it too.
"""
from __future__ import annotations

import atexit
import logging
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from sqlalchemy import select

from device_agents import wire
from device_agents.agent import Agent, Backoff, Identity
from device_agents.enroll import enroll, http_enroller
from device_agents.keys import load_private_key
from device_agents.profiles import ConfirmationRequest, Profile, profile_for
from gateway.adapters.pki import CertificateAuthority
from gateway.adapters.mqtt.mosquitto import find_mosquitto, free_port
from gateway.config import Settings
from gateway.domain.banks import bank_by_code
from gateway.domain.devices import GATEWAY_IDENTITY
from gateway.domain.money import format_cny
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.bootstrap import Gateway, system_clock

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
RUN_SECONDS = 2.0  # how long the agents publish telemetry
TELEMETRY_INTERVAL = 0.1  # seconds between an agent's readings; each reading covers a simulated minute
PAYMENT_AMOUNT = 29_900  # fen
# Loggers whose warnings this part of the demo provokes on purpose (the rejected messages, ingest
# disconnecting at the end); the printed lines report those events instead.
QUIET_LOGGERS = ("gateway.services.device_ingest", "gateway.entrypoints.mqtt.ingest", "gateway.entrypoints.mqtt.command_relay")


def demo_pki_dir(settings: Settings) -> Path:
    """Where the demo keeps its device CA: PAYGATE_PKI_DIR when set, else var/pki (next to the demo
    database and removed by `make clean`, rather than certs/ca in the working tree)."""
    return settings.pki_dir if "PAYGATE_PKI_DIR" in settings.env else settings.var_dir / "pki"


def show_devices(gw: Gateway, base_url: str, merchant_secret_key: str, out: Callable[[str], None] = print) -> bool:
    """Run the device part of the demo against the running gateway (HTTP at base_url, and `gw` for
    the in-process ingest); True if every step did what it should. Starts and stops everything it
    needs; leaves the CA (gw.settings.pki_dir) and the agents' homes (var/demo-devices)."""
    from gateway.demo import Client  # gateway.demo imports this module

    out("\ndevices (a phone and an IoT meter: signed telemetry, a payment confirmed on the phone):")
    shop = Client(base_url, merchant_secret_key)
    broker: Mosquitto | None = None
    agents: list[Agent] = []
    try:
        with _device_time(gw), _quiet(QUIET_LOGGERS):
            ca, made = ensure_device_ca(Path(gw.settings.pki_dir))
            out(f"  device CA in {ca.directory}: {made}")
            broker = _start_broker(ca, Path(gw.settings.var_dir), out)
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


# ---- the CA and the broker -------------------------------------------------------------------

def ensure_device_ca(pki_dir: Path, hosts: tuple[str, ...] = (HOST, "localhost")) -> tuple[CertificateAuthority, str]:
    """What `paygate certs setup` makes, made only where missing or expiring: the CA, the broker's
    server certificate and the gateway's client certificate; the CRL is re-published each time
    (brokers refuse everyone once it expires). Returns the CA and what was done, for the record."""
    done = []
    if (pki_dir / "ca.key.pem").exists():
        ca = CertificateAuthority.open(pki_dir)
        done.append("existing CA")
    else:
        ca = CertificateAuthority.create(pki_dir)
        done.append("CA created")
    for name, common_name, server_names in (("broker", hosts[0], hosts), ("gateway", GATEWAY_IDENTITY, ())):
        if _needs_certificate(ca, name):
            ca.issue_service(name, common_name, server_names)
            done.append(f"{name} certificate issued")
    ca.publish_crl()
    done.append("CRL published")
    return ca, ", ".join(done)


def _needs_certificate(ca: CertificateAuthority, name: str) -> bool:
    cert_path, key_path = ca.service_paths(name)
    if not (cert_path.exists() and key_path.exists()):
        return True
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    soon = datetime.now(timezone.utc) + timedelta(days=7)
    return certificate.issuer != ca.certificate.subject or certificate.not_valid_after_utc < soon


def _start_broker(ca: CertificateAuthority, var_dir: Path, out) -> Mosquitto | None:
    binary = find_mosquitto()
    if binary:
        broker = Mosquitto(binary, ca, var_dir)
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
    out("  so no broker: the agents' signed envelopes go straight to ingest's checks (gateway.services.device_ingest)")
    return None


class Mosquitto:
    """Mosquitto with the configuration `paygate certs broker-config` renders, on a free loopback
    port, in a scratch directory (config, ACL, copies of the broker's files, log, persistence)
    removed by stop(): under var/, or in the system's temp dir when the broker's user (Mosquitto
    started as root drops to `mosquitto`) may not pass through var/'s parents."""

    def __init__(self, binary: str, ca: CertificateAuthority, var_dir: Path) -> None:
        from gateway.adapters.mqtt.broker_config import default_broker_user, unreachable_for

        self.binary, self.ca = binary, ca
        var_dir.mkdir(parents=True, exist_ok=True)
        self.user = default_broker_user()
        reachable = self.user is None or unreachable_for(self.user, var_dir / "broker") is None
        self.workdir = Path(tempfile.mkdtemp(prefix="demo-broker-", dir=var_dir if reachable else None)).resolve()
        self.workdir.chmod(0o755)
        self.port = 0
        self.version = "?"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtts://{HOST}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        from gateway.adapters.mqtt.broker_config import write_broker_config

        self.port = free_port()
        conf = write_broker_config(self.ca, self.workdir, self.port, HOST, persistence_dir=self.workdir / "data",
                                   broker_user=self.user, copy_files=True)
        log_path = self.workdir / "mosquitto.log"
        with open(log_path, "wb") as log_file:
            self._process = subprocess.Popen([self.binary, "-c", str(conf)], stdout=log_file, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, cwd=self.workdir)
        atexit.register(self.stop)  # if the demo dies before its finally blocks run
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"mosquitto did not start on {HOST}:{self.port}: {tail}")
            time.sleep(0.05)
        found = re.search(r"mosquitto version (\S+)", log_path.read_text(errors="replace"))
        self.version = found.group(1) if found else "?"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        atexit.unregister(self.stop)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


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


def _enroll_pair(gw: Gateway, base_url: str, key: str, broker: Mosquitto | None, agents: list[Agent],
                 out) -> tuple[Agent, Agent]:
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

def _over_broker(gw: Gateway, shop, broker: Mosquitto, phone: Agent, meter: Agent, out) -> bool:
    from gateway.entrypoints.mqtt.ingest import SUBSCRIPTIONS, IngestLoop

    ingest = IngestLoop(gw, f"demo-{secrets.token_hex(3)}", broker_url=broker.url,
                        batch_size=200, batch_wait=0.01)
    stop_ingest = threading.Event()
    ingest_thread = threading.Thread(target=ingest.run, args=(stop_ingest,), name="demo-ingest", daemon=True)
    ingest_thread.start()
    try:
        if not ingest.connected.wait(10):
            raise RuntimeError("ingest did not connect to the broker")
        out(f"  ingest {ingest.name} in-process, subscribed to {SUBSCRIPTIONS[0]} and .../confirmations")

        # Telemetry for RUN_SECONDS, and meanwhile a payment that waits for the phone.
        stop_agents = threading.Event()
        threads = [threading.Thread(target=agent.run, args=(stop_agents,), name=f"agent-{agent.device_id}", daemon=True)
                   for agent in (phone, meter)]
        for thread in threads:
            thread.start()
        try:
            _wait(lambda: phone.ready and meter.ready, 10, "the agents to connect")
            started = time.monotonic()
            payment = _pay_with_confirmation(gw, shop, phone.device_id)
            first_status = payment["status"]
            deadline = started + 15
            while time.monotonic() < deadline and (payment["status"] == "requires_action"
                                                   or time.monotonic() - started < RUN_SECONDS):
                time.sleep(0.1)
                payment = shop.get(f"/v1/payments/{payment['id']}")
            elapsed = time.monotonic() - started
        finally:
            stop_agents.set()
            for thread in threads:
                thread.join(10)
                if thread.is_alive():
                    raise RuntimeError(f"{thread.name} did not stop")
        for agent in (phone, meter):
            agent.telemetry_interval = 0  # no new readings: send what is left
            agent.drain(10)

        sent = phone.stats.sent + meter.stats.sent
        acked = phone.stats.acked + meter.stats.acked
        _wait(lambda: _stored(shop, phone, meter) >= acked, 10, "ingest to store every acked message")
        ok = payment["status"] == "succeeded" and first_status == "requires_action"
        answer = "phone approved (signed, over MQTT)" if phone.stats.confirmations else "no answer from the phone"
        out(f"  payment {payment['id']} {format_cny(payment['amount'])} with confirmation on the phone: {first_status}"
            f" -> {answer} -> {payment['status']}"
            + (f" ({payment.get('failure_code')})" if payment.get("failure_code") else ""))
        stored, rejected = _stored(shop, phone, meter), _rejected(shop, phone, meter)
        out(f"  telemetry for {elapsed:.1f} s (a reading per device every {TELEMETRY_INTERVAL:g} s, each a simulated"
            f" minute): sent {sent}, acked {acked}, stored {stored}, rejected {rejected}")
        ok = ok and stored == acked and rejected == 0 and phone.outbox.count() == meter.outbox.count() == 0
        _show_devices_and_usage(shop, phone, meter, out)

        # Rejections: each is counted on the device it names by topic, and by ingest.
        replayed = _capture_next_telemetry(phone)
        stored_before = _device(shop, phone)["messages_stored"]
        if not phone.drain(10):
            raise RuntimeError("the phone's last reading was not acked")
        _wait(lambda: _device(shop, phone)["messages_stored"] > stored_before, 10, "the phone's last reading")
        before = _device(shop, phone)["messages_rejected"]
        _publish_as(phone.identity, f"{phone.device_id}-replay", broker, wire.telemetry_topic(phone.device_id),
                    replayed.envelope)
        after = _wait_for_count(shop, phone, before + 1)
        out(f"  phone's message #{replayed.seq} sent again, same bytes, phone's own certificate: broker passed it, "
            f"ingest rejected it ({_last_reason(ingest, 'duplicate_sequence')}); phone rejected {before} -> {after}")
        ok = ok and after == before + 1

        forged = _naming_other_device(meter, phone.device_id)
        before = _device(shop, meter)["messages_rejected"]
        _publish_as(meter.identity, f"{meter.device_id}-forger", broker, wire.telemetry_topic(meter.device_id), forged)
        after = _wait_for_count(shop, meter, before + 1)
        out(f"  meter signs a message naming the phone, on its own topic: ingest rejected it "
            f"({_last_reason(ingest, 'device_mismatch')}); meter rejected {before} -> {after}")
        ok = ok and after == before + 1

        refusal = _publish_as(meter.identity, f"{meter.device_id}-forger", broker,
                              wire.telemetry_topic(phone.device_id), forged)
        refused = refusal is not None and refusal.is_failure
        out(f"  meter publishing on the phone's topic: {f'refused by the broker ({refusal})' if refused else 'NOT refused'}")
        ok = ok and refused

        stats = ingest.stats
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(stats.rejections.items()))
        out(f"  ingest: received {stats.received}, stored {stats.stored}, rejected {stats.rejected} ({reasons})")
        # (A QoS 1 redelivery would add a duplicate_sequence: it is counted too, and harmless.)
        return ok and stats.rejections["duplicate_sequence"] >= 1 and stats.rejections["device_mismatch"] == 1
    finally:
        stop_ingest.set()
        ingest_thread.join(10)


def _publish_as(identity: Identity, client_id: str, broker: Mosquitto, topic: str, payload: bytes,
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

def _without_broker(gw: Gateway, shop, phone: Agent, meter: Agent, out) -> bool:
    """The agents sign into their outboxes as always; what a broker would carry goes to ingest's
    verification directly, and the phone gets its confirmation request from the command outbox."""
    from gateway.services import device_confirmations
    from gateway.services.device_ingest import Incoming, Ingestor

    ingestor = Ingestor(gw)
    rejections: Counter = Counter()

    def deliver(agent: Agent) -> int:
        pending = agent.outbox.pending(after=0, limit=10_000)
        result = ingestor.process([Incoming(wire.topic_for(item.kind, agent.device_id), item.envelope) for item in pending])
        rejections.update(result.rejections)
        agent.outbox.remove([item.seq for item in pending])  # "acked": ingest has committed them
        return len(pending)

    readings = round(RUN_SECONDS / TELEMETRY_INTERVAL)
    for agent in (phone, meter):
        for _ in range(readings):
            agent.queue_telemetry()
    sent = deliver(phone) + deliver(meter)

    payment = _pay_with_confirmation(gw, shop, phone.device_id)
    first_status = payment["status"]
    request = _confirmation_request_for(gw, phone.device_id)
    decision = phone.profile.decide(request)
    phone.queue_message(wire.CONFIRMATION, request.answer(bool(decision)), answers=request.nonce)
    sent += deliver(phone)
    device_confirmations.deliver_outcomes(gw)
    payment = shop.get(f"/v1/payments/{payment['id']}")
    out(f"  payment {payment['id']} {format_cny(payment['amount'])} with confirmation on the phone: {first_status}"
        f" -> phone {'approved' if decision else 'declined'} (signed) -> {payment['status']}")
    stored, rejected = _stored(shop, phone, meter), _rejected(shop, phone, meter)
    out(f"  {readings} signed readings per device (each a simulated minute) and the confirmation through ingest: "
        f"sent {sent}, stored {stored}, rejected {rejected}")
    ok = payment["status"] == "succeeded" and stored == sent and rejected == 0 and not rejections
    _show_devices_and_usage(shop, phone, meter, out)

    replayed = _capture_next_telemetry(phone)
    deliver(phone)
    before = _device(shop, phone)["messages_rejected"]
    result = ingestor.process([Incoming(wire.telemetry_topic(phone.device_id), replayed.envelope)])
    after = _device(shop, phone)["messages_rejected"]
    out(f"  phone's message #{replayed.seq} delivered again, same bytes: ingest rejected it "
        f"({', '.join(result.rejections) or 'NOT rejected'}); phone rejected {before} -> {after}")
    ok = ok and dict(result.rejections) == {"duplicate_sequence": 1} and after == before + 1

    before = _device(shop, meter)["messages_rejected"]
    forged = _naming_other_device(meter, phone.device_id)
    result = ingestor.process([Incoming(wire.telemetry_topic(meter.device_id), forged)])
    after = _device(shop, meter)["messages_rejected"]
    out(f"  meter signs a message naming the phone, on its own topic: ingest rejected it "
        f"({', '.join(result.rejections) or 'NOT rejected'}); meter rejected {before} -> {after}")
    return ok and dict(result.rejections) == {"device_mismatch": 1} and after == before + 1


def _confirmation_request_for(gw: Gateway, device_id: str) -> ConfirmationRequest:
    """Take the confirmation request queued for the device from the command outbox (what the relay
    publishes) and mark it sent."""
    from gateway.adapters.db.device_models import DeviceCommand

    with gw.db.unit_of_work() as session:
        command = session.scalars(select(DeviceCommand).where(DeviceCommand.device_id == device_id,
                                                              DeviceCommand.sent_at.is_(None))
                                  .order_by(DeviceCommand.id.desc())).first()
        if command is None:
            raise RuntimeError("no confirmation request was queued for the phone")
        kind, body = wire.decode_command(bytes(command.payload))
        if kind != wire.CONFIRMATION_REQUEST:
            raise RuntimeError(f"expected a confirmation request, found {kind!r}")
        command.sent_at = gw.clock()
    return ConfirmationRequest.from_command(body)


# ---- shared steps ----------------------------------------------------------------------------

def _pay_with_confirmation(gw: Gateway, shop, device_id: str) -> dict:
    """A card payment that waits for the buyer's phone (confirmation.device), at a sandbox bank
    that is open now (the big four close 23:30-00:30 Beijing time; BOCOM 03:00-04:00)."""
    bank = next(code for code in ("ICBC", "BOCOM")
                if not gw.connector_for_bank(bank_by_code(code)).maintenance.covers(gw.clock()))
    token = shop.post("/v1/tokens", {"card_number": sandbox_card_number(bank, "4242"), "holder_name": "Li Lei",
                                     "exp_month": 12, "exp_year": 2030, "cvv": "123"})
    if "id" not in token:
        raise RuntimeError(f"tokenizing the card failed: {token}")
    payment = shop.post("/v1/payments", {"amount": PAYMENT_AMOUNT, "currency": "CNY", "payment_method": token["id"],
                                         "confirm": True, "description": "phone case",
                                         "confirmation": {"device": device_id}})
    if "id" not in payment:
        raise RuntimeError(f"the payment was refused: {payment}")
    return payment


def _capture_next_telemetry(agent: Agent):
    """Have the agent sign one more reading and keep a copy of its envelope as it left the outbox
    (what an eavesdropper with the device's TLS key, or a buggy resend, would replay)."""
    seq = agent.queue_telemetry()
    return agent.outbox.pending(after=seq - 1, limit=1)[0]


def _naming_other_device(signer: Agent, other_id: str) -> bytes:
    """An envelope signed with the signer's own key that claims to come from another device."""
    key = load_private_key(signer.identity.signing_key_path)
    return wire.seal(key, other_id, 1, int(time.time() * 1000), wire.TELEMETRY, {"health": "ok"})


def _device(shop, agent: Agent) -> dict:
    return shop.get(f"/v1/devices/{agent.device_id}")


def _stored(shop, *agents: Agent) -> int:
    return sum(_device(shop, agent)["messages_stored"] for agent in agents)


def _rejected(shop, *agents: Agent) -> int:
    return sum(_device(shop, agent)["messages_rejected"] for agent in agents)


def _wait_for_count(shop, agent: Agent, expected: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := _device(shop, agent)["messages_rejected"]) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def _show_devices_and_usage(shop, phone: Agent, meter: Agent, out) -> None:
    today = datetime.now(timezone.utc).date()
    query = f"from={(today - timedelta(days=1)).isoformat()}&to={today.isoformat()}"
    for label, agent in (("phone", phone), ("meter", meter)):
        device = _device(shop, agent)
        seen = (datetime.fromtimestamp(device["last_seen"], timezone.utc).strftime("%H:%M:%S UTC")
                if device["last_seen"] else "never")
        out(f"    {label} {agent.device_id}: stored {device['messages_stored']}, last seq {device['last_seq']}, "
            f"last seen {seen}")
        days = shop.get(f"/v1/devices/{agent.device_id}/usage?{query}").get("data") or []
        for day in days:
            if label == "phone":
                usage = (f"screen {day['screen_seconds']} s, {day['app_sessions']} app sessions, "
                         f"{day['data_bytes'] / 1e6:.1f} MB, battery low {day['battery_pct_min']}%, "
                         f"regions {','.join(day['regions'])}")
            else:
                usage = (f"run {day['run_seconds']} s, {day['energy_wh']} Wh, {day['distance_m']} m, "
                         f"health {day['health_last']}")
            out(f"      usage {day['date']}: {day['messages']} readings, {usage}")


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def _device_time(gw: Gateway) -> Iterator[None]:
    """Devices stamp their messages with real time, and ingest judges freshness (and confirmation
    requests their expiry) by the gateway's clock. The demo's banking-hours clock can be hours
    away from real time, so this part runs on real time."""
    saved = gw.clock
    gw.clock = system_clock
    try:
        yield
    finally:
        gw.clock = saved


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
