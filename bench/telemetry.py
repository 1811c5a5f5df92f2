"""Signed telemetry end to end: devices -> Mosquitto (TLS, QoS 1) -> `paygate ingest` -> PostgreSQL.

    PYTHONPATH=. python bench/telemetry.py [--devices 40] [--messages 500] [--publishers 2]
                                           [--algorithm EdDSA|ES256] [--skip-scale-out]

Creates a throw-away database paygate_bench_<random> on 127.0.0.1:5432 (user postgres, trust) and
migrates it; makes a CA in a temp dir and starts Mosquitto with the rendered TLS/ACL/CRL config on
a free loopback port; enrolls --devices devices through the service layer; each signs --messages
COSE_Sign1 telemetry envelopes (sequence 1..N) before the clock starts, so the publishers spend
their CPU on MQTT, not on signing (a device signs its own messages; the gateway's cost is what is
measured). Then:

  run 1  one `paygate ingest` process (a real subprocess, the CLI), publishers in --publishers
         processes, one MQTT TLS session per device, QoS 1 with 100 in flight per device.
  raw    Ed25519 (or P-256) verifications per second on one core, same key type, same messages:
         with `cryptography` (the issue's reference) and, for Ed25519, with libsodium, which
         ingest uses.
  run 2  the same load on fresh devices with two ingest processes sharing the subscription.

It prints stored messages/s from the first publish to the last commit, lost (published and acked
by the broker but never stored) and duplicated (a (device, seq) stored twice; impossible by the
unique constraint, counted anyway) messages, redeliveries ingest refused as duplicates, the raw
verification rate and the ratio. Other sessions may load the machine (2 cores), so it also prints
the load average at the start of each run and each ingest's CPU time per stored message by thread
(read from /proc, the thread ids logged by ingest): figures the load changes least. The database is
dropped and the broker stopped at the end.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from device_agents import wire  # noqa: E402
from device_agents.keys import csr_pem, new_signing_key, new_tls_key, save_private_key  # noqa: E402
from gateway.adapters import signatures  # noqa: E402
from gateway.adapters.db.schema import upgrade  # noqa: E402
from gateway.adapters.mqtt.broker_config import default_broker_user, write_broker_config  # noqa: E402
from gateway.adapters.pki import CertificateAuthority  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.domain.devices import GATEWAY_IDENTITY, DeviceKind  # noqa: E402
from gateway.services import devices  # noqa: E402
from gateway.bootstrap import Gateway  # noqa: E402
from gateway.services.merchants import create_merchant  # noqa: E402
from tests.support.services import free_port, start_mosquitto  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
GOAL_STORED_PER_S, GOAL_RATIO = 4000, 0.5
INFLIGHT = 100


@dataclass
class BenchDevice:
    device_id: str
    home: Path
    envelopes: list[bytes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=40)
    parser.add_argument("--messages", type=int, default=500, help="per device")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument("--algorithm", choices=["EdDSA", "ES256"], default="EdDSA")
    parser.add_argument("--skip-scale-out", action="store_true")
    args = parser.parse_args()

    with bench_database() as url, tempfile.TemporaryDirectory(prefix="paygate-bench-tel-") as workdir:
        work = Path(workdir)
        work.chmod(0o755)  # the broker's user (Mosquitto drops to it when started as root) reads its files here
        ca = make_ca(work / "ca")
        port = free_port()
        broker = start_mosquitto(write_broker_config(ca, work / "broker", port, persistence_dir=work / "broker-data",
                                                     broker_user=default_broker_user()).read_text(), port)
        env = {**os.environ, "PAYGATE_DATABASE_URL": url, "PAYGATE_PKI_DIR": str(ca.directory),
               "PAYGATE_MQTT_URL": f"mqtts://127.0.0.1:{port}", "PAYGATE_VAR_DIR": str(work / "var"),
               "PYTHONPATH": str(REPO)}
        gw = Gateway.from_settings(Settings.load({"database_url": url, "pki_dir": ca.directory, "var_dir": work / "var"}))
        try:
            print(f"# {args.devices} devices x {args.messages} {args.algorithm} messages, QoS 1 over TLS, "
                  f"{args.publishers} publisher processes, {os.cpu_count()} cores shared by all")
            fleet = make_fleet(gw, work / "run1", args)
            run1 = run(gw, url, env, port, broker.process.pid, fleet, ["bench-1"], args.publishers, work)
            report("run 1: one ingest process", run1, args)
            raw, raw_ingest = raw_verifications_per_s(args.algorithm)
            ratio = run1["stored_per_s"] / raw
            print(f"raw {args.algorithm} verifications/s on one core: {raw:,.0f} with cryptography (OpenSSL)")
            print(f"ratio stored/s : raw verifications/s = {ratio:.2f}  (goal {GOAL_RATIO})  "
                  f"{'MET' if ratio >= GOAL_RATIO else 'NOT MET'}")
            if raw_ingest is not None:
                # Ingest verifies Ed25519 with libsodium, about twice as fast as OpenSSL: the goal
                # above is the issue's (against OpenSSL); this is the same ratio against the floor
                # ingest actually has.
                print(f"  ingest verifies with libsodium (PyNaCl): {raw_ingest:,.0f} raw verifications/s on one "
                      f"core; ratio against that {run1['stored_per_s'] / raw_ingest:.2f}")
            print(f"stored/s goal {GOAL_STORED_PER_S:,}: {'MET' if run1['stored_per_s'] >= GOAL_STORED_PER_S else 'NOT MET'}"
                  f" with zero loss: {'yes' if run1['lost'] == 0 else 'NO'}")
            if not args.skip_scale_out:
                fleet2 = make_fleet(gw, work / "run2", args)
                # bench-1 again plus a second: a stopped ingest's persistent session stays in the
                # share group and the broker queues its share for it until it comes back.
                run2 = run(gw, url, env, port, broker.process.pid, fleet2, ["bench-1", "bench-2"], args.publishers,
                           work)
                report("run 2: two ingest processes, one shared subscription", run2, args)
        finally:
            gw.db.dispose()
            broker.stop()


# ---- set-up --------------------------------------------------------------------------------------

@contextmanager
def bench_database():
    name = f"paygate_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_ca(directory: Path) -> CertificateAuthority:
    ca = CertificateAuthority.create(directory)
    ca.issue_service("broker", "127.0.0.1", ("127.0.0.1",))
    ca.issue_service("gateway", GATEWAY_IDENTITY)
    return ca


def make_fleet(gw: Gateway, root: Path, args) -> list[BenchDevice]:
    """Enroll the devices and have each sign its messages (seq 1..N, timestamps now)."""
    merchant = create_merchant(gw, "Bench Devices")
    fleet = []
    for index in range(args.devices):
        tls_key, signing_key = new_tls_key(), new_signing_key(args.algorithm)
        enrolled = devices.enroll_device(gw, merchant.id, devices.Enrollment(
            csr_pem(tls_key), "bench", DeviceKind.IOT, wire.public_key_pem(signing_key)))
        home = root / f"d{index}"
        home.mkdir(parents=True)
        save_private_key(home / "tls.key.pem", tls_key)
        (home / "tls.cert.pem").write_text("".join(enrolled.certificate_chain))
        (home / "ca.cert.pem").write_text(enrolled.ca_certificate)
        now_ms = int(time.time() * 1000)
        envelopes = [wire.seal(signing_key, enrolled.id, seq, now_ms + seq, wire.TELEMETRY,
                               {"run_seconds_total": seq * 60, "energy_wh_total": seq * 7, "health": "ok"})
                     for seq in range(1, args.messages + 1)]
        fleet.append(BenchDevice(enrolled.id, home, envelopes))
    return fleet


# ---- one measured run ------------------------------------------------------------------------------

def run(gw: Gateway, url: str, env: dict, port: int, broker_pid: int, fleet: list[BenchDevice],
        ingest_names: list[str], publishers: int, log_dir: Path) -> dict:
    ingests = [start_ingest(name, env, log_dir) for name in ingest_names]
    try:
        time.sleep(0.5)  # SUBACK: the shared subscription exists before anyone publishes
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        slices = [fleet[i::publishers] for i in range(publishers)]
        processes = [context.Process(target=publish_slice, args=(part, port, results)) for part in slices if part]
        load = os.getloadavg()[0]
        groups = {"ingest": lambda: [p.pid for p in ingests], "broker": lambda: [broker_pid],
                  "postgres": lambda: postgres_pids(url.rsplit("/", 1)[1]),
                  "publishers": lambda: [p.pid for p in processes]}
        before = {name: cpu_seconds(pids()) for name, pids in groups.items() if name != "publishers"}
        before["publishers"] = 0.0
        threads_before = [thread_cpu(process) for process in ingests]
        wall_start = time.monotonic()
        for process in processes:
            process.start()
        published = [results.get(timeout=600) for _ in processes]
        cpu_publishers = cpu_seconds([p.pid for p in processes])
        for process in processes:
            process.join()
        first_publish = min(p["first_publish"] for p in published)
        publishing = max(p["all_acked"] for p in published) - first_publish
        expected = sum(len(device.envelopes) for device in fleet)
        stored = wait_until_stored(url, [d.device_id for d in fleet], expected)
        wall = time.monotonic() - wall_start
        cpu = {name: cpu_seconds(pids()) - before[name] for name, pids in groups.items() if name != "publishers"}
        cpu["publishers"] = cpu_publishers
        threads = [{role: seconds - start.get(role, 0.0) for role, seconds in thread_cpu(process).items()}
                   for process, start in zip(ingests, threads_before)]
    finally:
        outputs = [stop_ingest(process) for process in ingests]
    last_commit = stored["last_received"]
    elapsed = last_commit - first_publish
    return {
        "expected": expected, "acked": sum(p["acked"] for p in published),
        "not_acked": sum(p["not_acked"] for p in published), "stored": stored["rows"],
        "lost": expected - stored["distinct"], "duplicates": stored["rows"] - stored["distinct"],
        "gaps": stored["gaps"], "elapsed": elapsed, "stored_per_s": stored["rows"] / elapsed if elapsed > 0 else 0.0,
        "ingests": outputs, "cpu": cpu, "threads": threads, "load": load, "wall": wall, "publishing": publishing,
    }


def start_ingest(name: str, env: dict, log_dir: Path) -> subprocess.Popen:
    log_path = log_dir / f"ingest-{name}-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "gateway.entrypoints.cli", "ingest", "--name", name,
                                    "--batch-size", os.environ.get("BENCH_BATCH", "500")],
                                   env=env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)
    process.log_path = log_path
    deadline = time.monotonic() + 30
    while " connected to " not in log_path.read_text():  # "ingest <name> connected to host:port"
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ingest {name} did not connect:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    return process


def stop_ingest(process: subprocess.Popen) -> dict:
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        print(f"  ingest did not stop on SIGTERM; log tail:\n{process.log_path.read_text()[-2000:]}")
    lines = [line for line in (out or "").splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": f"exit {process.returncode}"}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    return sum(cpu_seconds_of(Path(f"/proc/{pid}/stat")) for pid in pids)


def cpu_seconds_of(stat: Path) -> float:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def thread_cpu(process: subprocess.Popen) -> dict[str, float]:
    """CPU seconds so far of each ingest thread by role (network, verify, writer, as the ingest
    logs their ids), the rest summed as "other"."""
    roles = {}
    for line in process.log_path.read_text().splitlines():
        if " threads: " in line:  # a JSON log line: {"event": "ingest NAME threads: network=123", ...}
            for role, tid in re.findall(r"(\w+)=(\d+)", line.split(" threads: ", 1)[1]):
                roles[int(tid)] = role
    seconds: dict[str, float] = {}
    for task in Path(f"/proc/{process.pid}/task").iterdir():
        role = roles.get(int(task.name), "other")
        seconds[role] = seconds.get(role, 0.0) + cpu_seconds_of(task / "stat")
    return seconds


def postgres_pids(database: str) -> list[int]:
    """The PostgreSQL backends serving `database` (not other sessions' databases on the machine)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f" {database} ".encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def publish_slice(part: list[BenchDevice], port: int, results) -> None:
    """One publisher process: a TLS session per device, every message at QoS 1, count PUBACKs."""
    acked = {device.device_id: 0 for device in part}
    failed = {"count": 0}
    lock = threading.Lock()
    clients = []
    for device in part:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device.device_id, protocol=mqtt.MQTTv5)
        client.tls_set(ca_certs=str(device.home / "ca.cert.pem"), certfile=str(device.home / "tls.cert.pem"),
                       keyfile=str(device.home / "tls.key.pem"))
        client.max_inflight_messages_set(INFLIGHT)

        def on_publish(_c, _u, _mid, reason_code, _p, device_id=device.device_id):
            with lock:
                if reason_code.is_failure or reason_code.value == 0x10:
                    failed["count"] += 1
                else:
                    acked[device_id] += 1

        client.on_publish = on_publish
        client.connect("127.0.0.1", port, keepalive=60, clean_start=True)
        client.loop_start()
        clients.append(client)
    deadline = time.monotonic() + 30
    while not all(client.is_connected() for client in clients) and time.monotonic() < deadline:
        time.sleep(0.01)
    first_publish = time.time()
    for client, device in zip(clients, part):
        topic = wire.telemetry_topic(device.device_id)
        for envelope in device.envelopes:
            client.publish(topic, envelope, qos=1)  # paho queues beyond the in-flight window
    total = sum(len(device.envelopes) for device in part)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with lock:
            if sum(acked.values()) + failed["count"] >= total:
                break
        time.sleep(0.05)
    for client in clients:
        client.disconnect()
        client.loop_stop()
    results.put({"first_publish": first_publish, "all_acked": time.time(), "acked": sum(acked.values()),
                 "not_acked": total - sum(acked.values())})


def wait_until_stored(url: str, device_ids: list[str], expected: int, quiet_seconds: float = 3.0) -> dict:
    """Poll until every message is stored, or nothing new arrived for `quiet_seconds`."""
    last_count, last_change = -1, time.monotonic()
    with psycopg.connect(url, autocommit=True) as db:
        while True:
            rows, distinct, last_received = db.execute(
                "SELECT count(*), count(DISTINCT (device_id, seq)), extract(epoch FROM max(received_at)) "
                "FROM device_messages WHERE device_id = ANY(%s)", (device_ids,)).fetchone()
            if rows != last_count:
                last_count, last_change = rows, time.monotonic()
            if distinct >= expected or time.monotonic() - last_change > quiet_seconds:
                break
            time.sleep(0.1)
        gaps = db.execute(
            "SELECT count(*) FROM (SELECT device_id FROM device_messages WHERE device_id = ANY(%s) "
            "GROUP BY device_id HAVING max(seq) - min(seq) + 1 <> count(DISTINCT seq) OR min(seq) <> 1) g",
            (device_ids,)).fetchone()[0]
    return {"rows": rows, "distinct": distinct, "last_received": float(last_received or 0), "gaps": gaps}


# ---- the floor: raw signature verification ----------------------------------------------------

def raw_verifications_per_s(algorithm: str, seconds: float = 2.0) -> tuple[float, float | None]:
    """Verifications per second on one core over real Sig_structure bytes of telemetry envelopes,
    the floor no ingest can beat: with `cryptography` (the issue's reference; ES256 includes the
    r||s -> DER step, which every ES256 COSE verifier needs), and for Ed25519 also with libsodium,
    which ingest uses (None for ES256, which ingest verifies with `cryptography`)."""
    signing_key = new_signing_key(algorithm)
    samples = []
    for seq in range(200):
        envelope = wire.open_envelope(wire.seal(signing_key, "dev_" + "b" * 24, seq, int(time.time() * 1000),
                                                wire.TELEMETRY, {"run_seconds_total": seq * 60, "health": "ok"}))
        samples.append((envelope.signature, envelope.to_be_signed()))
    public = signing_key.public_key()
    reference = _rate(lambda signature, data: wire._raw_verify(public, signature, data), samples, seconds)
    verifier = signatures.load_verifier(wire.public_key_pem(public))
    if not isinstance(verifier, signatures.Ed25519Verifier):
        return reference, None
    return reference, _rate(verifier.verify_bytes, samples, seconds)


def _rate(verify, samples: list[tuple[bytes, bytes]], seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for signature, to_be_signed in samples:
            if not verify(signature, to_be_signed):
                raise AssertionError("a good signature failed to verify")
        count += len(samples)
    return count / (time.perf_counter() - started)


def report(title: str, result: dict, args) -> None:
    print(f"\n{title}")
    print(f"  published {result['expected']:,}  acked by broker {result['acked']:,}  not acked {result['not_acked']:,}")
    print(f"  stored {result['stored']:,} in {result['elapsed']:.2f}s = {result['stored_per_s']:,.0f} stored msgs/s "
          f"end to end")
    print(f"  the broker had acked every message {result['publishing']:.2f}s after the first publish")
    print(f"  lost {result['lost']:,}  duplicated {result['duplicates']:,}  devices with gaps {result['gaps']}")
    shares = ", ".join(f"{name} {seconds / result['wall']:.0%}" for name, seconds in result["cpu"].items())
    print(f"  CPU over the {result['wall']:.1f}s run (100% = one core): {shares}")
    print(f"  machine load average at the start {result['load']:.1f} (2 cores; other sessions' work included)")
    for output, threads in zip(result["ingests"], result["threads"]):
        print(f"  ingest {output.get('ingest')}: stored {output.get('stored')} in {output.get('batches')} batches, "
              f"refused {output.get('rejected')}")
        stored = output.get("stored") or 0
        if stored:
            # CPU time per message is what the machine's load changes least: the throughput one
            # ingest could reach with a core to itself, and where its time goes, by thread.
            per_message = ", ".join(f"{role} {seconds / stored * 1e6:.0f}" for role, seconds in sorted(threads.items())
                                    if seconds)
            print(f"    CPU per stored message {sum(threads.values()) / stored * 1e6:.0f} us ({per_message})")


if __name__ == "__main__":
    main()
