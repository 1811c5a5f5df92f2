"""`paygate certs ...` (the device CA and broker configuration) and `paygate ingest`."""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from gateway.config import Settings
from gateway.domain.devices import GATEWAY_IDENTITY, is_device_id
from gateway.entrypoints.cli.workers import metrics_port_option, start_observability


def _ca_dir(directory: str | None) -> Path:
    return Path(directory) if directory else Settings.load().pki_dir


def _open_ca(directory: str | None):
    from gateway.adapters.pki import CertificateAuthority, PkiError

    try:
        return CertificateAuthority.open(_ca_dir(directory))
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc


dir_option = click.option("--dir", "directory", default=None, help="CA directory (default: PAYGATE_PKI_DIR or certs/ca).")


@click.group()
def certs() -> None:
    """The device CA: certificates, revocation, CRL, broker configuration."""


@certs.command("init")
@dir_option
@click.option("--name", default="paygate device CA", show_default=True)
def certs_init(directory: str | None, name: str) -> None:
    """Create the CA (private key 0600, git-ignored) and an empty CRL."""
    from gateway.adapters.pki import CertificateAuthority, PkiError

    try:
        ca = CertificateAuthority.create(_ca_dir(directory), name)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"CA created in {ca.directory} (keep ca.key.pem secret; it is git-ignored)")


@certs.command("broker")
@dir_option
@click.option("--host", "hosts", multiple=True, default=("127.0.0.1", "localhost"), show_default=True,
              help="Name or IP address clients use to reach the broker (repeatable).")
def certs_broker(directory: str | None, hosts: tuple[str, ...]) -> None:
    """Issue the broker's TLS server certificate (broker.cert.pem / broker.key.pem)."""
    issued = _open_ca(directory).issue_service("broker", hosts[0], tuple(hosts))
    click.echo(f"broker certificate {issued.serial_hex} for {', '.join(hosts)}")


@certs.command("gateway")
@dir_option
def certs_gateway(directory: str | None) -> None:
    """Issue the gateway's client certificate (CN paygate-gateway: full access in the ACL)."""
    issued = _open_ca(directory).issue_service("gateway", GATEWAY_IDENTITY)
    click.echo(f"gateway certificate {issued.serial_hex} (CN {GATEWAY_IDENTITY})")


@certs.command("sign")
@dir_option
@click.argument("csr_file", type=click.File("r"))
@click.option("--device-id", required=True, help="The device id; it becomes the certificate's CN.")
def certs_sign(directory: str | None, csr_file, device_id: str) -> None:
    """Sign a device CSR by hand (the API's POST /v1/devices does this at enrollment); prints PEM."""
    from gateway.adapters.pki import PkiError

    if not is_device_id(device_id):
        raise click.ClickException("device ids look like dev_ followed by 24 letters or digits")
    try:
        issued = _open_ca(directory).sign_device_csr(csr_file.read(), device_id)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(issued.pem, nl=False)


@certs.command("revoke")
@dir_option
@click.option("--serial", default=None, help="Certificate serial (hex).")
@click.option("--cn", "common_name", default=None, help="Revoke every live certificate with this CN (a device id).")
def certs_revoke(directory: str | None, serial: str | None, common_name: str | None) -> None:
    """Revoke a certificate and re-publish the CRL (restart or reload the broker to apply it).
    To revoke an enrolled device, prefer POST /v1/devices/{id}/revoke: it also stops ingest."""
    from gateway.adapters.pki import PkiError

    if bool(serial) == bool(common_name):
        raise click.ClickException("give exactly one of --serial or --cn")
    ca = _open_ca(directory)
    try:
        revoked = ([serial] if ca.revoke(serial) else []) if serial else ca.revoke_common_name(common_name)
    except PkiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"revoked": revoked, "crl": str(ca.crl_path)}))


@certs.command("crl")
@dir_option
@click.option("--days", default=30, show_default=True, help="Validity; re-run well before it ends.")
def certs_crl(directory: str | None, days: int) -> None:
    """Re-publish the CRL (brokers refuse every client once it has expired)."""
    path = _open_ca(directory).publish_crl(days)
    click.echo(f"CRL written to {path}")


broker_user_option = click.option(
    "--broker-user", default=None, metavar="USER[:GROUP]|UID[:GID]",
    help="Whom the broker runs as: its key and persistence directory become its own. Default: "
         "`mosquitto` when run as root (Mosquitto drops to that user), else you.")


@certs.command("broker-config")
@dir_option
@click.option("--port", default=8883, show_default=True)
@click.option("--bind", default="127.0.0.1", show_default=True)
@click.option("--out", "out_dir", default=None, help="Directory for mosquitto.conf and mosquitto.acl (default: the CA dir).")
@click.option("--persistence-dir", default=None, help="Where Mosquitto keeps sessions (default: broker-data/ beside the config).")
@broker_user_option
def certs_broker_config(directory: str | None, port: int, bind: str, out_dir: str | None,
                        persistence_dir: str | None, broker_user: str | None) -> None:
    """Render the Mosquitto configuration: TLS listener requiring client certificates, CN as
    username, CRL check, and the per-device ACL; file modes and owners set for the broker's user,
    so `mosquitto -c <dir>/mosquitto.conf` starts as root or as that user."""
    from gateway.adapters.mqtt.broker_config import BrokerUser, default_broker_user, unreachable_for, write_broker_config

    ca = _open_ca(directory)
    out = Path(out_dir) if out_dir else ca.directory
    try:
        user = BrokerUser.lookup(broker_user) if broker_user else default_broker_user()
    except KeyError:
        raise click.BadParameter(f"no such user {broker_user}", param_hint="--broker-user") from None
    conf = write_broker_config(ca, out, port, bind, Path(persistence_dir) if persistence_dir else out / "broker-data", user)
    click.echo(f"wrote {conf} and {conf.with_name('mosquitto.acl')}; run: mosquitto -c {conf.resolve()}")
    blocked = unreachable_for(user, conf) if user else None
    if blocked is not None:
        click.echo(f"warning: {user.name} cannot pass through {blocked}: move the files or open that directory (chmod o+x)",
                   err=True)


@certs.command("setup")
@dir_option
@click.option("--port", default=8883, show_default=True)
@click.option("--host", "hosts", multiple=True, default=("127.0.0.1", "localhost"), show_default=True)
@click.option("--bind", default=None, help="Address the broker listens on (default: the first --host if it is an IP, else 127.0.0.1).")
@broker_user_option
@click.option("--owner", default=None, metavar="USER[:GROUP]|UID[:GID]",
              help="Then give the whole directory to this user (run as root; for containers whose services "
                   "and broker all run as one non-root uid).")
@click.pass_context
def certs_setup(ctx: click.Context, directory: str | None, port: int, hosts: tuple[str, ...], bind: str | None,
                broker_user: str | None, owner: str | None) -> None:
    """Everything a deployment's broker and gateway need: CA (if missing), broker and gateway
    certificates, and the broker configuration."""
    if not (_ca_dir(directory) / "ca.key.pem").exists():
        ctx.invoke(certs_init, directory=directory)
    ctx.invoke(certs_broker, directory=directory, hosts=hosts)
    ctx.invoke(certs_gateway, directory=directory)
    ctx.invoke(certs_broker_config, directory=directory, port=port,
               bind=bind or (hosts[0] if hosts[0][0].isdigit() else "127.0.0.1"), out_dir=None, persistence_dir=None,
               broker_user=broker_user)
    if owner:
        from gateway.adapters.mqtt.broker_config import BrokerUser

        user = BrokerUser.lookup(owner)
        ca_dir = _ca_dir(directory)
        for path in [ca_dir, *ca_dir.rglob("*")]:
            os.chown(path, user.uid, user.gid)
        click.echo(f"{ca_dir} now belongs to {owner}")


def ensure_device_ca(pki_dir: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> str:
    """What `paygate certs setup` makes, made only where missing or expiring: the CA, the broker's
    server certificate and the gateway's client certificate; the CRL is re-published each time
    (brokers refuse everyone once it expires). Returns what was done, for the record."""
    from gateway.adapters.pki import CertificateAuthority

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
    return ", ".join(done)


def _needs_certificate(ca, name: str) -> bool:
    from cryptography import x509

    cert_path, key_path = ca.service_paths(name)
    if not (cert_path.exists() and key_path.exists()):
        return True
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    soon = datetime.now(timezone.utc) + timedelta(days=7)
    return certificate.issuer != ca.certificate.subject or certificate.not_valid_after_utc < soon


@click.command()
@click.option("--name", default="ingest-1", show_default=True,
              help="Stable, unique per process: it names the broker session that holds this process's share.")
@click.option("--broker", "broker_url", default=None, help="mqtts://host:port (default: PAYGATE_MQTT_URL).")
@click.option("--batch-size", default=500, show_default=True)
@metrics_port_option
def ingest(name: str, broker_url: str | None, batch_size: int, metrics_port: int | None) -> None:
    """Consume signed device messages (shared subscription), verify and store them; relay
    commands to devices; expire payment confirmations. Runs until SIGINT/SIGTERM."""
    from gateway.entrypoints.mqtt.ingest import IngestLoop, tune_gc_for_ingest
    from gateway.bootstrap import Gateway

    from gateway.entrypoints.cli import require_migrated

    start_observability(metrics_port)
    require_migrated(Settings.load().database_url)
    loop = IngestLoop(Gateway.from_settings(Settings.load()), name, broker_url=broker_url, batch_size=batch_size)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    reporter = threading.Thread(target=_report_every, args=(loop, stop, 10.0), daemon=True)
    reporter.start()
    tune_gc_for_ingest()
    stats = loop.run(stop)
    click.echo(json.dumps({"ingest": name, "received": stats.received, "stored": stats.stored, "batches": stats.batches,
                           "rejected": dict(stats.rejections), "dropped_internal_errors": stats.dropped_internal_errors}))
    sys.exit(0)


def _report_every(loop, stop: threading.Event, seconds: float) -> None:
    log = logging.getLogger("gateway.ingest")
    while not stop.wait(seconds):
        stats = loop.stats
        log.info("ingest %s: received %d stored %d rejected %d %s", loop.name, stats.received, stats.stored,
                 stats.rejected, dict(stats.rejections))
