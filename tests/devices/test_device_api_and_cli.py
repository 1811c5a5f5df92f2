"""The device endpoints' errors and ownership, the `paygate certs` commands, and the fleet simulator."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509

from device_agents import wire
from device_agents.keys import csr_pem, new_signing_key, new_tls_key
from gateway.entrypoints.cli import main
from tests.devices.conftest import SignedDevice, api_enroller
from tests.support.services import broker_dir, start_mosquitto
from tests.integration.conftest import Shop


def _enrollment(**changes) -> dict:
    body = {"csr": csr_pem(new_tls_key()), "model": "M1", "kind": "phone",
            "signing_key": wire.public_key_pem(new_signing_key("EdDSA"))}
    return {**body, **changes}


def test_bad_enrollments_get_the_error_object(any_shop):
    rsa_like = "-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 200 + "\n-----END CERTIFICATE REQUEST-----\n"
    cases = [
        (_enrollment(csr=rsa_like), "csr_invalid", "csr"),
        (_enrollment(signing_key="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" + "x" * 20),
         "signing_key_invalid", "signing_key"),
        (_enrollment(kind="toaster"), "parameter_invalid", "kind"),
        ({k: v for k, v in _enrollment().items() if k != "model"}, "parameter_missing", "model"),
    ]
    for body, code, param in cases:
        response = any_shop.post("/v1/devices", body)
        assert response.status_code == 400, response.json
        assert response.json["error"]["code"] == code and response.json["error"]["param"] == param


def test_a_merchant_sees_only_its_own_devices(any_gw, any_shop):
    device = SignedDevice(any_shop)
    stranger = Shop(any_gw, "Stranger")
    for response in (stranger.get(f"/v1/devices/{device.id}"), stranger.post(f"/v1/devices/{device.id}/revoke"),
                     stranger.get(f"/v1/devices/{device.id}/usage?from=2026-01-01&to=2026-01-02")):
        assert response.status_code == 404 and response.json["error"]["code"] == "resource_missing"
    assert any_shop.get("/v1/devices/dev_nope").status_code == 404
    assert any_shop.call("GET", f"/v1/devices/{device.id}", key="sk_test_wrong").status_code == 401


def test_enrollment_is_idempotent_and_revocation_is_final(any_shop, ca):
    body = _enrollment()
    first = any_shop.post("/v1/devices", body, idempotency_key="enroll-1")
    again = any_shop.post("/v1/devices", body, idempotency_key="enroll-1")
    assert first.status_code == again.status_code == 200 and first.json["id"] == again.json["id"]
    device_id = first.json["id"]
    revoked = any_shop.post(f"/v1/devices/{device_id}/revoke")
    assert revoked.status_code == 200 and revoked.json["state"] == "revoked" and revoked.json["revoked"]
    assert any_shop.post(f"/v1/devices/{device_id}/revoke").status_code == 409
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(first.json["certificate_serial"], 16)) is not None


def test_openapi_documents_the_device_endpoints(any_shop):
    spec = any_shop.client.get("/openapi.json").json
    assert {"/v1/devices", "/v1/devices/{device_id}", "/v1/devices/{device_id}/revoke",
            "/v1/devices/{device_id}/usage"} <= set(spec["paths"])
    assert {"csr", "model", "kind", "signing_key"} <= set(spec["components"]["schemas"]["DeviceCreate"]["required"])


def test_certs_commands_build_a_working_broker_configuration(tmp_path):
    runner, ca_dir = CliRunner(), str(broker_dir() / "ca")
    for args in (["certs", "init", "--dir", ca_dir], ["certs", "broker", "--dir", ca_dir],
                 ["certs", "gateway", "--dir", ca_dir]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["certs", "init", "--dir", ca_dir]).exit_code != 0  # never overwrite a CA
    assert oct((Path(ca_dir) / "ca.key.pem").stat().st_mode & 0o777) == "0o600"

    csr_file = tmp_path / "device.csr"
    csr_file.write_text(csr_pem(new_tls_key()))
    device_id = "dev_" + "c" * 24
    signed = runner.invoke(main, ["certs", "sign", "--dir", ca_dir, str(csr_file), "--device-id", device_id])
    assert signed.exit_code == 0, signed.output
    assert x509.load_pem_x509_certificate(signed.output.encode()).subject.rfc4514_string() == f"CN={device_id}"
    revoked = runner.invoke(main, ["certs", "revoke", "--dir", ca_dir, "--cn", device_id])
    assert revoked.exit_code == 0 and len(json.loads(revoked.output)["revoked"]) == 1

    from tests.support.services import free_port

    port = free_port()
    out = broker_dir() / "broker"
    rendered = runner.invoke(main, ["certs", "broker-config", "--dir", ca_dir, "--port", str(port), "--out", str(out)])
    assert rendered.exit_code == 0, rendered.output
    start_mosquitto((out / "mosquitto.conf").read_text(), port).stop()  # Mosquitto accepts it


def test_simulated_fleet_sends_and_the_gateway_stores(broker, device_gw, device_shop, start_ingest, tmp_path):
    from device_agents.fleet import Fleet, enroll_fleet

    start_ingest(broker.url)
    homes = enroll_fleet(tmp_path / "fleet", 4, "mixed", api_enroller(device_shop), broker.url)
    fleet = Fleet(homes, interval=0.05, broker_url=broker.url)
    ticks = []
    summary = fleet.run(1.0, on_tick=ticks.append)
    fleet.close()
    assert ticks and summary.devices == 4 and summary.left_in_outboxes == 0
    assert summary.sent >= summary.acked == summary.queued > 4 * 5
    from tests.devices.conftest import wait_for

    ids = [json.loads((home / "identity.json").read_text())["device_id"] for home in homes]
    wait_for(lambda: sum(device_shop.get(f"/v1/devices/{i}").json["messages_stored"] for i in ids) == summary.acked,
             message="every acked message stored")
