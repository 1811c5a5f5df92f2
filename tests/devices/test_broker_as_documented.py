"""certs/README.md's broker steps, exactly: `paygate certs setup`, then `mosquitto -c
<dir>/mosquitto.conf`, started as root (Mosquitto drops to its own user) or as the `mosquitto`
user, with no `user` line added; a client with the gateway's certificate then connects over TLS."""
from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway.adapters.mqtt.client import BrokerAddress, gateway_client
from tests.support.services import broker_dir, free_port, mosquitto_binary, port_open

IS_ROOT = os.geteuid() == 0


def _has_mosquitto_user() -> bool:
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return False
    return True


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])  # the real uid
    raise AssertionError("no Uid line")


def _tls_connects(ca_dir: Path, port: int) -> bool:
    connected = threading.Event()
    client = gateway_client("paygate-doc-check", ca_dir, BrokerAddress.parse(f"mqtts://127.0.0.1:{port}"))
    client.on_connect = lambda *args: connected.set() if not args[3].is_failure else None
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return connected.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture(scope="module")
def rendered() -> tuple[Path, int]:
    ca_dir = broker_dir() / "certs" / "ca"
    port = free_port()
    setup = subprocess.run([sys.executable, "-m", "gateway.entrypoints.cli", "certs", "setup", "--dir", str(ca_dir),
                            "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert setup.returncode == 0, setup.stderr
    assert f"run: mosquitto -c {ca_dir / 'mosquitto.conf'}" in setup.stdout
    return ca_dir, port


def _start(conf: Path, port: int, **popen) -> subprocess.Popen:
    process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, **popen)
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port, timeout=0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"mosquitto did not start: {process.communicate()[0].decode()}")
        time.sleep(0.05)
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


def test_the_rendered_files_suit_the_broker_user(rendered):
    ca_dir, _port = rendered
    conf = (ca_dir / "mosquitto.conf").read_text()
    assert not [line for line in conf.splitlines() if line.split()[:1] == ["user"]]
    key = (ca_dir / "broker.key.pem").stat()
    assert stat.S_IMODE(key.st_mode) == 0o600 and stat.S_IMODE((ca_dir / "ca.key.pem").stat().st_mode) == 0o600
    expected_owner = pwd.getpwnam("mosquitto").pw_uid if IS_ROOT and _has_mosquitto_user() else os.geteuid()
    assert key.st_uid == expected_owner
    assert (ca_dir / "broker-data").stat().st_uid == expected_owner
    for public in ("ca.cert.pem", "broker.cert.pem", "crl.pem", "mosquitto.acl", "mosquitto.conf"):
        assert stat.S_IMODE((ca_dir / public).stat().st_mode) == 0o644, public


def test_started_by_whoever_renders_it(rendered):
    """As root this is the service case: Mosquitto drops to `mosquitto` before reading the key."""
    ca_dir, port = rendered
    process = _start(ca_dir / "mosquitto.conf", port)
    try:
        if IS_ROOT and _has_mosquitto_user():
            assert _uid_of(process.pid) == pwd.getpwnam("mosquitto").pw_uid  # it really dropped
        assert _tls_connects(ca_dir, port)
    finally:
        _stop(process)


@pytest.mark.skipif(not (IS_ROOT and _has_mosquitto_user()), reason="starting as another user needs root and a mosquitto user")
def test_started_as_the_mosquitto_user(rendered):
    ca_dir, port = rendered
    process = _start(ca_dir / "mosquitto.conf", port, user="mosquitto", group="mosquitto", cwd="/")
    try:
        assert _uid_of(process.pid) == pwd.getpwnam("mosquitto").pw_uid
        assert _tls_connects(ca_dir, port)
    finally:
        _stop(process)


def test_certs_init_writes_into_certs_by_default_and_git_ignores_the_keys(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}
    made = subprocess.run([sys.executable, "-m", "gateway.entrypoints.cli", "certs", "init"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    key = tmp_path / "certs" / "ca" / "ca.key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (tmp_path / "certs" / "ca" / "crl.pem").is_file()
    repo = Path(__file__).resolve().parents[2]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "certs/ca/ca.key.pem", "certs/ca/broker.key.pem",
                              "certs/ca/gateway.key.pem", "certs/ca/mosquitto.conf"], cwd=repo, capture_output=True, text=True)
    assert len(ignored.stdout.split()) == 4, ignored
    kept = subprocess.run(["git", "check-ignore", "--no-index", "-q", "certs/README.md"], cwd=repo)
    assert kept.returncode == 1  # the README is committed
