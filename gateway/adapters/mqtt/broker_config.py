"""Render the Mosquitto configuration and ACL for a deployment's CA.

The broker authenticates every client by its certificate (no passwords, no anonymous clients),
takes the certificate's CN as the username, refuses revoked certificates (CRL), and the ACL keeps
each device to its own topics while the gateway's certificate may use them all.

Mosquitto started as root drops to the `mosquitto` user before it loads the TLS files, ACL and
CRL; started as that user it never was root. Either way the files must suit the broker's user,
never `user root` in the config: the broker's key is given to it (0600, its owner), the public
files are 0644, the directories 0755, and its persistence directory is its own.
"""
from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
from dataclasses import dataclass
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
                            persistence_dir: Path | None = None, files: dict[str, Path] | None = None) -> str:
    files = files or _broker_files(ca)
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
        f"cafile {files['cafile'].resolve()}",
        f"certfile {files['certfile'].resolve()}",
        f"keyfile {files['keyfile'].resolve()}",
        # The CRL is read when the listener starts: restart the broker after a revocation (ingest
        # refuses a revoked device's messages at once in any case).
        f"crlfile {files['crlfile'].resolve()}",
        "require_certificate true",
        "use_identity_as_username true",
        "tls_version tlsv1.2",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class BrokerUser:
    name: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, user: str) -> BrokerUser:
        """A user name or a numeric uid[:gid] (a container's user that this host may not know)."""
        uid_text, _, gid_text = user.partition(":")
        if uid_text.isdigit():
            return cls(user, int(uid_text), int(gid_text) if gid_text.isdigit() else int(uid_text))
        entry = pwd.getpwnam(uid_text)
        return cls(uid_text, entry.pw_uid, grp.getgrnam(gid_text).gr_gid if gid_text else entry.pw_gid)


def default_broker_user() -> BrokerUser | None:
    """Whom Mosquitto will run as if started by us: as root it drops to `mosquitto` when that user
    exists; otherwise it stays whoever started it, who owns the files already (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return BrokerUser.lookup("mosquitto")
    except KeyError:
        return None


def unreachable_for(user: BrokerUser, path: Path) -> Path | None:
    """The first directory above `path` the user may not pass through (no x for it), or None."""
    for directory in reversed(Path(path).resolve().parents):
        mode = directory.stat()
        if mode.st_uid == user.uid:
            allowed = mode.st_mode & stat.S_IXUSR
        elif mode.st_gid == user.gid:
            allowed = mode.st_mode & stat.S_IXGRP
        else:
            allowed = mode.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


def write_broker_config(ca: CertificateAuthority, out_dir: Path, port: int, bind: str = "127.0.0.1",
                        persistence_dir: Path | None = None, broker_user: BrokerUser | None = None,
                        copy_files: bool = False) -> Path:
    """Write mosquitto.conf and its ACL file into out_dir; the path of mosquitto.conf.

    broker_user: whom the broker runs as (see default_broker_user); its key and persistence
    directory are handed to it. copy_files: put copies of the CA certificate, the broker's
    certificate and key and the CRL in out_dir and point the config at them (a broker whose files
    live apart from the CA; re-render after every revocation to refresh its CRL)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _broker_files(ca)
    if copy_files:
        files = {role: Path(shutil.copyfile(source, out_dir / source.name)) for role, source in files.items()}
    acl_path = out_dir / "mosquitto.acl"
    acl_path.write_text(render_acl())
    conf_path = out_dir / "mosquitto.conf"
    conf_path.write_text(render_mosquitto_config(ca, acl_path, port, bind, persistence_dir, files))
    if persistence_dir is not None:
        Path(persistence_dir).mkdir(parents=True, exist_ok=True)
    _set_modes(files, [conf_path, acl_path], {out_dir, ca.directory, *(p.parent for p in files.values())},
               Path(persistence_dir) if persistence_dir else None, broker_user)
    return conf_path


def _broker_files(ca: CertificateAuthority) -> dict[str, Path]:
    broker_cert, broker_key = ca.service_paths("broker")
    return {"cafile": ca.cert_path, "certfile": broker_cert, "keyfile": broker_key, "crlfile": ca.crl_path}


def _set_modes(files: dict[str, Path], rendered: list[Path], directories: set[Path], persistence_dir: Path | None,
               broker_user: BrokerUser | None) -> None:
    for directory in directories:
        directory.chmod(0o755)  # passable; the CA's key inside stays 0600
    for path in [*rendered, *(path for role, path in files.items() if role != "keyfile")]:
        path.chmod(0o644)
    files["keyfile"].chmod(0o600)
    if broker_user is not None:
        os.chown(files["keyfile"], broker_user.uid, broker_user.gid)
        if persistence_dir is not None:
            os.chown(persistence_dir, broker_user.uid, broker_user.gid)
            persistence_dir.chmod(0o700)
