"""Enrollment: make the keys on the device, send the CSR and the signing public key to the gateway,
keep what comes back (device id, certificate chain, CA, broker address, and the OpenPAYGO
credentials of the device's lock) in the agent's home."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from device_agents import wire
from device_agents.keys import csr_pem, new_signing_key, new_tls_key, save_private_key
from device_agents.payg import PAYG_FILE, PaygLock

# (csr, model, kind, signing public key PEM) -> the gateway's enrollment answer (the API's JSON)
Enroller = Callable[[dict], dict]


class EnrollmentError(RuntimeError):
    pass


def http_enroller(gateway_url: str, api_key: str, timeout: float = 30.0) -> Enroller:
    """POST /v1/devices with the merchant's secret key."""

    def enroll(request: dict) -> dict:
        http_request = urllib.request.Request(
            gateway_url.rstrip("/") + "/v1/devices", data=json.dumps(request).encode(), method="POST",
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(http_request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise EnrollmentError(f"enrollment refused ({exc.code}): {exc.read().decode(errors='replace')}") from exc

    return enroll


def enroll(home: Path, kind: str, model: str, enroller: Enroller, algorithm: str = "EdDSA",
           broker_url: str | None = None) -> str:
    """Enroll this device (keys made here, never sent); its new device id."""
    home = Path(home)
    if (home / "identity.json").exists():
        raise EnrollmentError(f"{home} already holds an enrolled device")
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    tls_key, signing_key = new_tls_key(), new_signing_key(algorithm)
    answer = enroller({"csr": csr_pem(tls_key), "model": model, "kind": kind,
                       "signing_key": wire.public_key_pem(signing_key)})
    save_private_key(home / "tls.key.pem", tls_key)
    save_private_key(home / "signing.key.pem", signing_key)
    (home / "tls.cert.pem").write_text("".join(answer["certificate_chain"]))
    (home / "ca.cert.pem").write_text(answer["ca_certificate"])
    payg = answer.get("payg")
    if payg:  # shown once by the gateway: kept 0600 in the home, never logged; a new device starts locked
        PaygLock.provision(home / PAYG_FILE, payg["secret_key"], int(payg["starting_code"]))
    identity = {"device_id": answer["id"], "kind": kind, "model": model,
                "broker_url": broker_url or answer["broker"]["url"], "signing_algorithm": answer["signing_algorithm"]}
    (home / "identity.json").write_text(json.dumps(identity, indent=1))
    return answer["id"]
