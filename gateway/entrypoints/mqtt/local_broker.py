"""A throwaway Mosquitto for development and the demo: the configuration `paygate certs
broker-config` renders (TLS with client certificates, CN as username, per-device ACL, CRL), on a
free loopback port, in a scratch directory removed by stop()."""
from __future__ import annotations

import atexit
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from gateway.adapters.mqtt.broker_config import default_broker_user, unreachable_for, write_broker_config
from gateway.adapters.mqtt.mosquitto import find_mosquitto, free_port
from gateway.adapters.pki import CertificateAuthority

__all__ = ["LocalMosquitto", "find_mosquitto"]

HOST = "127.0.0.1"


class LocalMosquitto:
    """Its scratch directory is under var/, or in the system's temp dir when the broker's user
    (Mosquitto started as root drops to `mosquitto`) may not pass through var/'s parents; the
    broker's files are copied there and owned by that user, as `paygate certs broker-config` does
    for a real deployment."""

    def __init__(self, binary: str, pki_dir: Path, var_dir: Path) -> None:
        self.binary, self.pki_dir = binary, Path(pki_dir)
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
        self.port = free_port()
        conf = write_broker_config(CertificateAuthority.open(self.pki_dir), self.workdir, self.port, HOST,
                                   persistence_dir=self.workdir / "data", broker_user=self.user, copy_files=True)
        log_path = self.workdir / "mosquitto.log"
        with open(log_path, "wb") as log_file:
            self._process = subprocess.Popen([self.binary, "-c", str(conf)], stdout=log_file, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, cwd=self.workdir)
        atexit.register(self.stop)  # if the caller dies before its finally blocks run
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
