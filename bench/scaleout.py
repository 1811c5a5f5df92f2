"""Two of everything: throughput with one instance of each process against two, in the same run,
and one gateway killed (SIGKILL) halfway through the second run and brought back.

    PYTHONPATH=. python bench/scaleout.py [--seconds 20] [--clients 8] [--devices 6] [--messages 1500]
                                          [--installments 1500]

The stack is the Procfile's (`make stack`), run by a small supervisor of its own instead of
honcho (honcho stops every process when one exits, and this bench kills one on purpose):
haproxy from Debian in front of the gateways (`paygate serve --workers 2`), `paygate worker
--queue Q` for every queue, `paygate ingest` on the shared subscription, Mosquitto with the
rendered TLS config, PostgreSQL on 127.0.0.1:5432 (a throw-away database, dropped at the end).

Each run drives, at once, through haproxy: card payments (token, then payment with an
Idempotency-Key) from --clients threads for --seconds, a refund of every second payment, signed
telemetry from --devices devices (--messages each, QoS 1, one publisher process), and
--installments installments falling due (collected by the installments queue). A client whose
request fails at the connection (the killed gateway) retries it with the same key, as the SDK
does. Run 1: one instance of each. Run 2: two of each; gateway-1 is killed at half time and
restarted 3 s later.

Printed per run: payments/s, refunds/s, stored messages/s, debits/s, client retries; then the
checks over the whole database: every acknowledged payment and refund stored once, every
message stored once with no gap, every due installment paid, nothing debited or refunded twice,
`paygate ledger verify`. The machine's core count is printed: on 2 cores, two of everything
share the same two cores, so the second run shows the cost of the extra processes, not a
doubling.
"""
from __future__ import annotations

import argparse
from http.client import HTTPException
from collections import Counter
import multiprocessing
import os
import queue
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from bench.installments import seed  # noqa: E402
from bench.telemetry import make_ca, make_fleet, publish_slice  # noqa: E402
from gateway.adapters.db.sandbox_clock import system_clock  # noqa: E402
from gateway.adapters.db.schema import upgrade  # noqa: E402
from gateway.adapters.mqtt.broker_config import default_broker_user, write_broker_config  # noqa: E402
from gateway.bootstrap import Gateway  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.domain.installments import Method  # noqa: E402
from gateway.domain.sandbox_cards import sandbox_card_number  # noqa: E402
from gateway.entrypoints.workers import QUEUES  # noqa: E402
from gateway.services.installment_plans import ProductTerms, create_product  # noqa: E402
from gateway.services.merchants import create_merchant  # noqa: E402
from gateway.services.sandbox import advance_clock  # noqa: E402
from tests.support.books import Books  # noqa: E402
from tests.support.processes import Process, http, ledger_verify, next_banking_noon, paygate_env, wait_for  # noqa: E402
from tests.support.services import broker_dir, free_port, port_open, start_mosquitto  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HAPROXY = "/usr/sbin/haproxy"
OUTCOME_CARDS = {"0002", "0069", "0119", "0127"}


@dataclass
class Tally:
    """What the clients saw: acknowledged payments and refunds, and retries after a failure."""

    payments: list[str] = field(default_factory=list)
    refunds: list[str] = field(default_factory=list)
    retries: Counter = field(default_factory=Counter)  # why requests were retried: "502", "connection cut", ...
    first_answer: dict[str, str] = field(default_factory=dict)  # the first answer of each cause, to tell who gave it
    errors: list[str] = field(default_factory=list)
    in_flight_at_kill: list[str] = field(default_factory=list)  # keys still held by the killed gateway
    lock: threading.Lock = field(default_factory=threading.Lock)


class Stack:
    """The processes of one topology, started and stopped together."""

    def __init__(self, env: dict, work: Path, copies: int) -> None:
        self.env, self.work, self.copies = env, work, copies
        self.gateway_ports = [free_port() for _ in range(copies)]
        self.port = free_port()
        self.gateways = [self._gateway(n) for n in range(copies)]
        self.workers = [Process(["worker", "--queue", name, "--interval", "0.2"], env, work / f"worker-{name}-{n}.log")
                        for name in QUEUES for n in range(copies)]
        self.ingests = [Process(["ingest", "--name", f"scaleout-{n}"], env, work / f"ingest-{n}.log") for n in range(copies)]
        self.haproxy = None

    def _gateway(self, n: int) -> Process:
        return Process(["serve", "--bind", f"127.0.0.1:{self.gateway_ports[n]}", "--workers", "2"], self.env,
                       self.work / f"gateway-{n + 1}.log")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.launched = time.monotonic()
        for process in [*self.gateways, *self.workers, *self.ingests]:
            process.start()
        config = self.work / f"haproxy-{self.copies}.cfg"
        config.write_text(haproxy_config(self.port, self.gateway_ports))
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        for port in self.gateway_ports:
            wait_for(lambda port=port: port_open("127.0.0.1", port, 0.2), 60, what=f"gateway on {port}")
        wait_for(lambda: port_open("127.0.0.1", self.port, 0.2) and http("GET", self.base + "/healthz")[0] == 200, 30,
                 what="haproxy")
        for ingest in self.ingests:
            wait_for(lambda ingest=ingest: " connected to " in ingest.log.read_text(), 30, what="ingest to connect",
                     diagnose=ingest.tail)

    def kill_and_restart_gateway(self, n: int, down_seconds: float) -> None:
        self.gateways[n].kill9()
        time.sleep(down_seconds)
        self.gateways[n] = self._gateway(n)
        self.gateways[n].start()

    def stop(self) -> None:
        if self.haproxy is not None:
            self.haproxy.terminate()
            self.haproxy.wait(10)
        for process in [*self.gateways, *self.workers, *self.ingests]:
            process.stop()


def haproxy_config(port: int, backends: list[int]) -> str:
    """Round robin over the gateways; a health check every 500 ms (two missed: out); a request whose connection
    fails (a dead gateway) is sent to another one: only then, as it never reached the dead one
    (a POST cut off mid-way is the client's to retry, with its Idempotency-Key)."""
    servers = "\n".join(f"    server gateway-{n + 1} 127.0.0.1:{backend} check inter 500ms fall 2 rise 2"
                        for n, backend in enumerate(backends))
    return f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    retries 3
    option redispatch
    retry-on conn-failure
frontend api
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


def shop_client(base: str, keys: dict, tally: Tally, until: float, bank: str) -> None:
    """Pay, refund every second payment; a failed request is retried with the same key."""
    count = 0
    while time.monotonic() < until:
        last4 = f"{secrets.randbelow(10_000):04d}"
        if last4 in OUTCOME_CARDS:
            continue
        token = _until_answered(tally, "POST", base + "/v1/tokens", keys["publishable_key"], {
            "card_number": sandbox_card_number(bank, last4), "holder_name": "Li Lei", "exp_month": 12, "exp_year": 2031,
            "cvv": "123"})
        if token is None:
            continue
        payment = _until_answered(tally, "POST", base + "/v1/payments", keys["secret_key"], {
            "amount": 1_000, "currency": "CNY", "payment_method": token["id"], "confirm": True}, str(uuid.uuid4()))
        if payment is None:
            continue
        with tally.lock:
            tally.payments.append(payment["id"])
        count += 1
        if count % 2 == 0 and payment["status"] == "succeeded":
            refund = _until_answered(tally, "POST", base + "/v1/refunds", keys["secret_key"], {"payment": payment["id"]},
                                     str(uuid.uuid4()))
            if refund is not None:
                with tally.lock:
                    tally.refunds.append(refund["id"])


def _until_answered(tally: Tally, method: str, url: str, key: str, body: dict, idempotency_key: str | None = None):
    """The answer to a request, retried with the same key while the gateway behind it is away
    (connection cut, 502/503/504). A key left in flight by the killed gateway answers 409
    `idempotency_key_in_use` (each after PAYGATE_IDEMPOTENCY_WAIT_SECONDS): after a few, the
    client gives up and the request counts as in flight at the kill, not as failed."""
    in_use = 0
    for _attempt in range(30):
        try:
            status, _, answer = http(method, url, key, body, idempotency_key=idempotency_key, timeout=30)
        except (OSError, HTTPException) as failed:  # cut off, mid-response too: same request, same key
            status, answer = None, {"error": repr(failed)}
        if status == 200:
            return answer
        if status == 409 and answer.get("error", {}).get("code") == "idempotency_key_in_use":
            in_use += 1
            if in_use >= 3:
                with tally.lock:
                    tally.in_flight_at_kill.append(idempotency_key or "")
                return None
        elif status not in (None, 502, 503, 504):
            with tally.lock:
                tally.errors.append(f"{status} {answer}")
            return None
        cause = str(status) if status else "connection cut"
        with tally.lock:
            tally.retries[cause] += 1
            tally.first_answer.setdefault(cause, str(answer)[:160])
        time.sleep(0.2)
    with tally.lock:
        tally.errors.append(f"gave up on {url}")
    return None


def publisher(fleet, port: int, results) -> None:
    publish_slice(fleet, port, results)


def one_run(label: str, copies: int, args, gw: Gateway, env: dict, work: Path, port: int, books: Books, kill: bool) -> dict:
    merchant = create_merchant(gw, f"Scale-out {label}")
    keys = {"publishable_key": merchant.publishable_key, "secret_key": merchant.secret_key}
    product = create_product(gw, merchant.id, ProductTerms("Phone", [3], Method.EQUAL_PRINCIPAL))
    seed(gw, merchant.id, product.id, n_customers=20, n_installments=args.installments)
    fleet = make_fleet(gw, work / f"fleet-{label}", Namespace(devices=args.devices, messages=args.messages, algorithm="EdDSA"))
    home = work / re.sub(r"\W+", "-", label).strip("-")
    home.mkdir()
    stack = Stack(env, home, copies)
    tally = Tally()
    try:
        stack.start()
        began = time.monotonic()
        status = lambda: dict(books.rows(  # noqa: E731
            "SELECT i.status, count(*) FROM installments i JOIN installment_plans p ON p.id = i.plan_id "
            "WHERE p.merchant_id = :m AND i.number = 1 GROUP BY i.status", m=merchant.id))
        all_paid: list[float] = []  # seconds from the workers' launch to the last installment paid
        debits = threading.Thread(target=lambda: all_paid.append(wait_for(
            lambda: status().get("paid", 0) >= args.installments and time.monotonic() - stack.launched, 300, 0.1,
            "installments collected", lambda: str(status()))))
        debits.start()
        until = began + args.seconds
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        telemetry = context.Process(target=publisher, args=(fleet, port, results))
        devices = [device.device_id for device in fleet]
        expected_messages = args.devices * args.messages
        all_stored: list[float] = []  # when the last message was stored (wall clock), once it is
        watcher = threading.Thread(target=lambda: all_stored.append(wait_for(
            lambda: books.device_messages(devices)[1] >= expected_messages and time.time(), 300, 0.05, "telemetry stored")))
        telemetry.start()
        watcher.start()
        clients = [threading.Thread(target=shop_client, args=(stack.base, keys, tally, until, "ICBC")) for _ in range(args.clients)]
        for client in clients:
            client.start()
        if kill:
            time.sleep(args.seconds / 2)
            stack.kill_and_restart_gateway(0, 3.0)
            print(f"  {label}: gateway-1 killed (SIGKILL) at {time.monotonic() - began:.1f} s, restarted 3 s later")
        for client in clients:
            client.join()
        paying = time.monotonic() - began
        telemetry.join(300)
        watcher.join(300)
        last_stored = all_stored[0]
        first_publish = results.get(timeout=5)["first_publish"]
        debits.join(300)
    finally:
        stack.stop()
    rows, distinct = books.device_messages(devices)
    return {
        "label": label, "copies": copies, "paying": paying, "tally": tally,
        "payments_per_s": len(tally.payments) / paying, "refunds_per_s": len(tally.refunds) / paying,
        "messages_per_s": expected_messages / max(last_stored - first_publish, 1e-6),
        "debits_per_s": args.installments / all_paid[0],
        "messages": (expected_messages, rows, distinct), "installments_paid": status().get("paid", 0),
        "stored_payments": books.stored_payments(tally.payments),
        "stored_refunds": dict(books.rows("SELECT id, count(*) FROM refunds WHERE id = ANY(:ids) GROUP BY id", ids=tally.refunds)),
    }


def report(run: dict, args) -> list[tuple[bool, str]]:
    tally = run["tally"]
    print(f"\n{run['label']}: {run['copies']} gateway(s), {run['copies']} worker(s) per queue, {run['copies']} ingest(s)")
    print(f"  payments  {len(tally.payments):6,} in {run['paying']:.1f} s = {run['payments_per_s']:7.1f}/s   "
          f"refunds {len(tally.refunds):,} = {run['refunds_per_s']:.1f}/s   client retries {sum(tally.retries.values())} {dict(tally.retries)}")
    for cause, answer in tally.first_answer.items():
        print(f"    first {cause} answer: {answer}")
    if tally.in_flight_at_kill:
        print(f"  requests in flight on the killed gateway, their key still held (409 idempotency_key_in_use): "
              f"{len(tally.in_flight_at_kill)}")
    print(f"  telemetry {run['messages'][0]:6,} messages, stored at {run['messages_per_s']:7.0f}/s (first publish to last commit)")
    print(f"  debits    {args.installments:6,} installments due, collected at {run['debits_per_s']:7.1f}/s (workers launched to last paid)")
    expected, rows, distinct = run["messages"]
    return [
        (all(count == 1 for count in run["stored_payments"].values()), f"{run['label']}: {len(tally.payments):,} acknowledged payments, each stored once"),
        (len(run["stored_refunds"]) == len(tally.refunds) and all(c == 1 for c in run["stored_refunds"].values()),
         f"{run['label']}: {len(tally.refunds):,} acknowledged refunds, each stored once"),
        (rows == distinct == expected, f"{run['label']}: telemetry published {expected:,}, stored {rows:,}, distinct {distinct:,}"),
        (run["installments_paid"] == args.installments, f"{run['label']}: installments paid {run['installments_paid']:,}/{args.installments:,}"),
        (not tally.errors, f"{run['label']}: requests that failed for good: {len(tally.errors)} {tally.errors[:3]}"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--devices", type=int, default=6)
    parser.add_argument("--messages", type=int, default=1500, help="per device")
    parser.add_argument("--installments", type=int, default=1500)
    args = parser.parse_args()
    if not os.access(HAPROXY, os.X_OK):
        sys.exit("haproxy is missing: sudo apt-get install -y haproxy")

    name = f"paygate_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    work = broker_dir("paygate-scaleout-")
    broker = None
    try:
        upgrade(url)
        ca = make_ca(work / "ca")
        port = free_port()
        broker = start_mosquitto(write_broker_config(ca, work / "broker", port, persistence_dir=work / "broker-data",
                                                     broker_user=default_broker_user()).read_text(), port)
        env = paygate_env(url, work / "var", sandbox_latency_ms="0", pki_dir=str(ca.directory), mqtt_url=f"mqtts://127.0.0.1:{port}",
                          rate_limit_tokenization="1000000 per minute")
        gw = Gateway.from_settings(Settings.load({"database_url": url, "var_dir": work / "var", "pki_dir": ca.directory,
                                                  "sandbox_latency_ms": 0, "sandbox_endpoints": True}), base_clock=system_clock)
        advance_clock(gw.sandbox_clock, next_banking_noon(gw.clock()))  # every sandbox bank open
        books = Books(url)
        print(f"# {os.cpu_count()} cores shared by every process below (and by other sessions on this machine: load "
              f"average {os.getloadavg()[0]:.1f}); {args.clients} client threads for {args.seconds:.0f} s, "
              f"{args.devices}x{args.messages} telemetry messages, {args.installments:,} due installments per run")
        one = one_run("run 1 (one of each)", 1, args, gw, env, work, port, books, kill=False)
        checks = report(one, args)
        two = one_run("run 2 (two of each, gateway-1 killed halfway)", 2, args, gw, env, work, port, books, kill=True)
        checks += report(two, args)
        print("\nrun 2 / run 1: payments x{:.2f}, refunds x{:.2f}, telemetry x{:.2f}, debits x{:.2f}".format(
            two["payments_per_s"] / one["payments_per_s"], two["refunds_per_s"] / max(one["refunds_per_s"], 1e-9),
            two["messages_per_s"] / one["messages_per_s"], two["debits_per_s"] / one["debits_per_s"]))
        problems = books.nothing_done_twice()
        checks.append((not problems, f"nothing debited or refunded twice {problems or ''}"))
        clean, verified = ledger_verify(env)
        checks.append((clean, "paygate ledger verify: " + (verified.strip().splitlines() or ["(no output)"])[-1]))
        print("\nchecks:")
        for ok, what in checks:
            print(f"  [{'ok' if ok else 'FAILED'}] {what}")
        books.close()
        gw.db.dispose()
        return 0 if all(ok for ok, _ in checks) else 1
    finally:
        if broker is not None:
            broker.stop()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
