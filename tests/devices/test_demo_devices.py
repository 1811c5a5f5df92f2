"""The device part of `make demo` (gateway/demo/devices.py) against a gateway on a temp SQLite
database served over real HTTP: with Mosquitto (started and stopped by the demo itself) and,
when there is none, the broker-less path through ingest's checks."""
from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from gateway.demo import devices as demo_devices
from gateway.adapters.db.schema import upgrade
from gateway.app import create_app
from gateway.config import Settings
from gateway.sdk.client import Paygate
from gateway.services.merchants import create_merchant
from tests.devices.conftest import make_gateway
from tests.support.services import mosquitto_binary


@pytest.fixture
def demo_gateway(tmp_path, monkeypatch):
    """Like `paygate demo`: SQLite under a relative var/, the CA in var/pki, the sandbox clock weeks
    ahead of real time as the installments part leaves it (the device part must run on real time),
    the app on a free port."""
    monkeypatch.chdir(tmp_path)
    var_dir = Path("var")
    url = "sqlite:///var/paygate.db"
    upgrade(url)
    pki_dir = demo_devices.demo_pki_dir(Settings.load({"var_dir": str(var_dir)}))
    gw = make_gateway(url, var_dir, pki_dir=pki_dir)
    server = make_server("127.0.0.1", 0, create_app(gateway=gw), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    merchant = create_merchant(gw, "Demo Phone Shop")
    shop = Paygate(f"http://127.0.0.1:{server.server_port}", merchant.secret_key)
    shop.advance_clock(shop.sandbox_now() + timedelta(days=40))
    yield gw, f"http://127.0.0.1:{server.server_port}", merchant.secret_key
    server.shutdown()
    gw.db.dispose()


def _processes_mentioning(path: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in text:
            found.append(text)
    return found


def test_demo_devices_over_mosquitto(demo_gateway, monkeypatch):
    gw, base_url, key = demo_gateway
    binary = mosquitto_binary()  # installed if missing (as root), like the other broker tests
    monkeypatch.setattr(demo_devices, "find_mosquitto", lambda: binary)
    demo_clock = gw.clock
    lines: list[str] = []

    assert demo_devices.show_devices(gw, base_url, key, out=lines.append), "\n".join(lines)

    text = "\n".join(lines)
    var_dir = Path(gw.settings.var_dir).resolve()
    assert "device CA in var/pki: CA created" in text
    assert "broker: mosquitto " in text and "mqtts://127.0.0.1:" in text
    assert "in-process, subscribed to $share/paygate/devices/+/telemetry" in text
    assert "requires_action -> phone approved (signed, over MQTT) -> succeeded" in text
    stats = next(line for line in lines if line.startswith("  telemetry for "))
    sent = stats.split("sent ")[1].split(",")[0]
    assert int(sent) > 10 and f"acked {sent}, stored {sent}, rejected 0" in stats
    assert "usage " in text and "regions CN-SH" in text and "health " in text
    assert "ingest rejected it (duplicate_sequence); phone rejected 0 -> 1" in text
    assert "ingest rejected it (device_mismatch); meter rejected 0 -> 1" in text
    assert "meter publishing on the phone's topic: refused by the broker (Not authorized)" in text
    assert "broker stopped" in lines[-1]
    # Nothing left behind: no broker process, no scratch directory, the demo's clock restored.
    assert _processes_mentioning(var_dir) == []
    assert list(var_dir.glob("demo-broker-*")) == []
    assert gw.clock is demo_clock
    assert (var_dir / "demo-devices" / "phone" / "signing.key.pem").exists()


def test_demo_devices_without_a_broker(demo_gateway, monkeypatch):
    gw, base_url, key = demo_gateway
    monkeypatch.setattr(demo_devices, "find_mosquitto", lambda: None)
    lines: list[str] = []

    assert demo_devices.show_devices(gw, base_url, key, out=lines.append), "\n".join(lines)

    text = "\n".join(lines)
    assert "no mosquitto binary here" in text and "amqtt cannot stand in" in text
    assert "requires_action -> phone approved (signed) -> succeeded" in text
    assert "sent 41, stored 41, rejected 0" in text  # 20 readings per device and the confirmation
    assert "ingest rejected it (duplicate_sequence); phone rejected 0 -> 1" in text
    assert "ingest rejected it (device_mismatch); meter rejected 0 -> 1" in text
