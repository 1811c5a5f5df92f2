"""Render the Mosquitto configuration and ACL for a deployment's CA.

The broker authenticates every client by its certificate (no passwords, no anonymous clients),
takes the certificate's CN as the username, refuses revoked certificates (CRL), and the ACL keeps
each device to its own topics while the gateway's certificate may use them all.
"""
from __future__ import annotations

from pathlib import Path

from gateway.adapters.pki import CertificateAuthority
from gateway.domain.devices import GATEWAY_IDENTITY


def render_acl() -> str:
    return "\n".join([
        "# Rendered by `paygate certs broker-config`: re-render instead of editing.",
        "# The gateway (ingest and command relay): every device topic, including shared subscriptions.",
        f"user {GATEWAY_IDENTITY}",
        "topic readwrite devices/#",
        "",
        "# Every other client is a device whose username is its certificate's CN (its device id):",
        "# it may publish only under its own id and read only its own commands.",
        "pattern write devices/%u/telemetry",
        "pattern write devices/%u/confirmations",
        "pattern read devices/%u/commands",
        "",
    ])


def render_mosquitto_config(ca: CertificateAuthority, acl_path: Path, port: int, bind: str = "127.0.0.1",
                            persistence_dir: Path | None = None) -> str:
    broker_cert, broker_key = ca.service_paths("broker")
    lines = [
        "# Rendered by `paygate certs broker-config`: re-render instead of editing.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"acl_file {Path(acl_path).resolve()}",
        # Persistent sessions (agents, ingest) and their queued QoS 1 messages survive a restart.
        # Mosquitto writes them on shutdown and every autosave_interval seconds.
        "persistence true",
        "autosave_interval 30",
        "persistent_client_expiration 14d",
        # Ingest batches and acknowledges after its database commit, so it needs many messages in
        # flight; a long queue rides out an ingest restart. Both are per client session.
        "max_inflight_messages 100",
        "max_queued_messages 1000000",
        "set_tcp_nodelay true",
    ]
    if persistence_dir is not None:
        lines.append(f"persistence_location {Path(persistence_dir).resolve()}/")
    lines += [
        "",
        f"listener {port} {bind}",
        f"cafile {ca.cert_path.resolve()}",
        f"certfile {broker_cert.resolve()}",
        f"keyfile {broker_key.resolve()}",
        # The CRL is read when the listener starts: restart the broker after a revocation (ingest
        # refuses a revoked device's messages at once in any case).
        f"crlfile {ca.crl_path.resolve()}",
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.2",
        "",
    ]
    return "\n".join(lines)


def write_broker_config(ca: CertificateAuthority, out_dir: Path, port: int, bind: str = "127.0.0.1",
                        persistence_dir: Path | None = None) -> Path:
    """Write mosquitto.conf and its ACL file into out_dir; the path of mosquitto.conf."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    acl_path = out_dir / "mosquitto.acl"
    acl_path.write_text(render_acl())
    conf_path = out_dir / "mosquitto.conf"
    conf_path.write_text(render_mosquitto_config(ca, acl_path, port, bind, persistence_dir))
    return conf_path
