"""Real PostgreSQL and Mosquitto for the test suite.

`ensure_postgres()` / `ensure_mosquitto()` use the server already running on this machine (or the
one named by an env var); when none is reachable they start a throwaway one from the installed
binaries (installing them with apt-get when running as root), and when that is impossible they stop
the whole run with the command to fix it: the integration tests are never skipped silently.

The fallback starters (`start_postgres`, `start_fallback_mosquitto`, `start_mosquitto`) are plain
functions returning a handle with `.stop()`, so tests can exercise them directly. Every handle
registers `stop` with atexit as soon as it exists; callers should also stop it from a fixture
finalizer, which is what normally runs (including on Ctrl-C). `stop()` is idempotent.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import pytest

from gateway.adapters.mqtt.mosquitto import find_mosquitto, free_port

HOST = "127.0.0.1"
POSTGRES_PORT = 5432
MQTT_PORT = 1883
POSTGRES_ENV = "PAYGATE_TEST_POSTGRES_URL"
MQTT_ENV = "PAYGATE_TEST_MQTT_URL"
DATABASE_PREFIX = "paygate_test_"

Finalizer = Callable[[Callable[[], None]], None]  # e.g. pytest's request.addfinalizer


class ServiceMissing(RuntimeError):
    """The binaries for a fallback server are not installed and cannot be installed by us."""

    def __init__(self, what: str, install: str):
        super().__init__(f"{what} binaries are missing: run `{install}`")
        self.install = install


# --- small helpers -----------------------------------------------------------------------------


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until_listening(process: subprocess.Popen, port: int, log: Path, seconds: float = 30) -> None:
    """Until `process` (a server just started) listens on 127.0.0.1:`port`; fails with its log if
    it exits or takes longer than `seconds`."""
    deadline = time.monotonic() + seconds
    while not port_open("127.0.0.1", port, timeout=0.2):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def _is_root() -> bool:
    return os.geteuid() == 0


def _run(cmd: list[str], **kwargs) -> None:
    """Run a command; on failure raise with its output, which is what one needs to debug it."""
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )


def _apt_install(package: str) -> None:
    if not shutil.which("apt-get"):
        return  # not Debian/Ubuntu: the caller reports the binaries as missing
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update"], env=env)
    _run(["apt-get", "install", "-y", package], env=env)


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class Server:
    """A server process we started, living in its own temp dir; `stop()` ends it, removes the dir."""

    def __init__(self, host: str, port: int, workdir: str, stop_process: Callable[[], None]):
        self.host, self.port, self.workdir = host, port, workdir
        self._stop_process = stop_process
        self._stopped = False
        atexit.register(self.stop)  # fallback for when no finalizer gets to run

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self._stop_process()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


# --- PostgreSQL --------------------------------------------------------------------------------


class PostgresServer(Server):
    pg_ctl: Callable[..., None]  # pg_ctl with these arguments, on this server's data directory
    options: str  # the server options it was started with

    @property
    def url(self) -> str:
        """Admin SQLAlchemy URL (trust auth, user postgres)."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/postgres"

    def shut_down(self, mode: str = "fast") -> None:
        """Stop the server as a restart does ("fast": clients are told and disconnected), keeping
        its data; `start_again` brings it back on the same port."""
        self.pg_ctl("-m", mode, "-w", "stop")

    def start_again(self) -> None:
        self.pg_ctl("-l", os.path.join(self.workdir, "postgres.log"), "-o", self.options, "-w", "-t", "30", "start")


def _find_postgres_bindir() -> str | None:
    candidates = []
    if shutil.which("pg_ctl"):
        # Resolve symlinks (/usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl) so initdb
        # and pg_ctl come from the same installation.
        candidates.append(os.path.dirname(os.path.realpath(shutil.which("pg_ctl"))))
    versioned = glob.glob("/usr/lib/postgresql/*/bin") + glob.glob("/usr/pgsql-*/bin")

    def version(bindir: str) -> int:
        return int((re.findall(r"\d+", bindir) or ["0"])[0])

    newest_first = sorted(versioned, key=version, reverse=True)
    for bindir in candidates + newest_first:
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("initdb", "pg_ctl")):
            return bindir
    return None


def postgres_bindir() -> str:
    """Directory holding initdb and pg_ctl; installs PostgreSQL with apt-get if root and missing."""
    bindir = _find_postgres_bindir()
    if bindir is None and _is_root():
        _apt_install("postgresql")
        bindir = _find_postgres_bindir()
    if bindir is None:
        raise ServiceMissing("PostgreSQL", "sudo apt-get install -y postgresql")
    return bindir


def _unprivileged_user() -> str:
    """initdb and postgres refuse to run as root: when we are root, run them as this user."""
    for name in ("postgres", "paygate-test"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    _run(["useradd", "--system", "--user-group", "--no-create-home",
          "--shell", "/usr/sbin/nologin", "paygate-test"])
    return "paygate-test"


def start_postgres(bindir: str | None = None) -> PostgresServer:
    """Start a throwaway PostgreSQL cluster (initdb into a temp dir) on a free port on 127.0.0.1."""
    bindir = bindir or postgres_bindir()
    run_as: list[str] = []
    if _is_root():
        user = _unprivileged_user()
        run_as = ["runuser", "-u", user, "--"]
        # /tmp rather than $TMPDIR: the unprivileged user must be able to reach the directory.
        workdir = tempfile.mkdtemp(prefix="paygate-pg-", dir="/tmp")
        entry = pwd.getpwnam(user)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    else:
        workdir = tempfile.mkdtemp(prefix="paygate-pg-")
    datadir, logfile = os.path.join(workdir, "data"), os.path.join(workdir, "postgres.log")
    pg_ctl = os.path.join(bindir, "pg_ctl")
    port = free_port()

    def stop_process() -> None:
        # immediate: no shutdown checkpoint, the data is thrown away anyway. Fails harmlessly if
        # the server never started.
        subprocess.run(run_as + [pg_ctl, "-D", datadir, "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd=workdir)

    server = PostgresServer(HOST, port, workdir, stop_process)
    server.pg_ctl = lambda *args: _run(run_as + [pg_ctl, "-D", datadir, *args], cwd=workdir)
    server.options = (f"-c listen_addresses={HOST} -c port={port} -c unix_socket_directories={workdir}"
                      " -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    try:
        # --no-sync and fsync=off: a test cluster need not survive a power cut, and it is faster.
        _run(run_as + [os.path.join(bindir, "initdb"), "-D", datadir, "-U", "postgres",
                       "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"], cwd=workdir)
        # -w: pg_ctl returns once the server accepts connections (or fails after -t seconds).
        server.start_again()
    except BaseException as exc:
        log = _tail(logfile)
        server.stop()
        if isinstance(exc, RuntimeError):
            raise RuntimeError(f"could not start PostgreSQL: {exc}\n{log}") from exc
        raise
    return server


def _postgres_login_works(host: str, port: int) -> bool:
    import psycopg

    try:
        psycopg.connect(host=host, port=port, user="postgres", dbname="postgres",
                        connect_timeout=5).close()
        return True
    except psycopg.OperationalError:
        return False


def ensure_postgres(addfinalizer: Finalizer | None = None) -> str:
    """Admin SQLAlchemy URL of a real PostgreSQL: $PAYGATE_TEST_POSTGRES_URL, else 127.0.0.1:5432,
    else a throwaway server we start (stopped via `addfinalizer` and at exit)."""
    override = os.environ.get(POSTGRES_ENV)
    if override:
        # A plain postgresql:// URL would make SQLAlchemy look for psycopg2; we ship psycopg 3.
        return override.replace("postgresql://", "postgresql+psycopg://", 1)
    if port_open(HOST, POSTGRES_PORT):
        if _postgres_login_works(HOST, POSTGRES_PORT):
            return f"postgresql+psycopg://postgres@{HOST}:{POSTGRES_PORT}/postgres"
        # E.g. a stock Debian cluster: it listens, but wants a password we do not have.
        warnings.warn(f"PostgreSQL on {HOST}:{POSTGRES_PORT} refused user postgres without a "
                      f"password; starting a private server (set {POSTGRES_ENV} to use it)")
    try:
        server = start_postgres()
    except ServiceMissing as exc:
        pytest.exit(f"PostgreSQL is not running and its binaries are missing: run `{exc.install}`",
                    returncode=2)
    if addfinalizer:
        addfinalizer(server.stop)
    return server.url


def create_database(admin_url: str) -> str:
    """Create a uniquely named empty database; return its SQLAlchemy URL."""
    from sqlalchemy import create_engine, make_url, text

    name = f"{DATABASE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    # CREATE DATABASE cannot run inside a transaction.
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    """Drop a database made by create_database, even if connections to it are still open."""
    from sqlalchemy import create_engine, make_url, text

    name = make_url(url).database
    if not name or not name.startswith(DATABASE_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


# --- Mosquitto ---------------------------------------------------------------------------------


class MosquittoServer(Server):
    process: subprocess.Popen


def mosquitto_binary() -> str:
    """Path of the mosquitto binary; installs it with apt-get if root and missing."""
    binary = find_mosquitto()
    if binary is None and _is_root():
        _apt_install("mosquitto")
        binary = find_mosquitto()
    if binary is None:
        raise ServiceMissing("Mosquitto", "sudo apt-get install -y mosquitto")
    return binary


def start_mosquitto(config_text: str, port: int, host: str = HOST,
                    binary: str | None = None) -> MosquittoServer:
    """Run `mosquitto -c <config_text written to a temp file>` and wait until host:port accepts.

    The config must open a listener on `port`. As root, Mosquitto drops to the `mosquitto` user
    after reading its config and before it loads the TLS files, ACL and CRL: render the config
    with `write_broker_config` into a `broker_dir()` (it sets owners and modes for that user)."""
    binary = binary or mosquitto_binary()
    workdir = tempfile.mkdtemp(prefix="paygate-mqtt-")
    conf, logfile = os.path.join(workdir, "mosquitto.conf"), os.path.join(workdir, "mosquitto.log")
    with open(conf, "w") as f:
        f.write(config_text)
    with open(logfile, "wb") as log:
        process = subprocess.Popen([binary, "-c", conf], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=workdir)

    def stop_process() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    server = MosquittoServer(host, port, workdir, stop_process)
    server.process = process
    deadline = time.monotonic() + 10
    while not port_open(host, port, timeout=0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            log = _tail(logfile)
            server.stop()
            raise RuntimeError(f"mosquitto did not start listening on {host}:{port}:\n{log}")
        time.sleep(0.05)
    return server


def broker_dir(prefix: str = "paygate-broker-") -> Path:
    """A scratch directory the broker's user can reach (pytest's tmp_path sits under a 0700
    directory that `mosquitto` may not pass through); removed at exit."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    atexit.register(shutil.rmtree, path, True)
    return path


def start_fallback_mosquitto() -> MosquittoServer:
    """A throwaway anonymous broker on a free port on 127.0.0.1."""
    port = free_port()
    return start_mosquitto(f"listener {port} {HOST}\nallow_anonymous true\n", port)


def _mqtt_accepts(host: str, port: int) -> bool:
    """True if an anonymous MQTT 3.1.1 CONNECT gets a CONNACK with return code 0."""
    # CONNECT: protocol "MQTT" level 4, clean session, keepalive 60 s, empty client id.
    connect = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 60, 0, 0])
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(connect)
            connack = sock.recv(4)
            sock.sendall(bytes([0xE0, 0]))  # DISCONNECT
    except OSError:
        return False
    return len(connack) == 4 and connack[0] == 0x20 and connack[3] == 0


def ensure_mosquitto(addfinalizer: Finalizer | None = None) -> tuple[str, int]:
    """(host, port) of a real Mosquitto: $PAYGATE_TEST_MQTT_URL, else 127.0.0.1:1883, else a
    throwaway broker we start (stopped via `addfinalizer` and at exit)."""
    override = os.environ.get(MQTT_ENV)
    if override:
        parts = urlsplit(override)
        return parts.hostname or HOST, parts.port or MQTT_PORT
    if port_open(HOST, MQTT_PORT):
        if _mqtt_accepts(HOST, MQTT_PORT):
            return HOST, MQTT_PORT
        warnings.warn(f"the MQTT broker on {HOST}:{MQTT_PORT} refused an anonymous client; "
                      f"starting a private one (set {MQTT_ENV} to use it)")
    try:
        server = start_fallback_mosquitto()
    except ServiceMissing as exc:
        pytest.exit(f"Mosquitto is not running and its binaries are missing: run `{exc.install}`",
                    returncode=2)
    if addfinalizer:
        addfinalizer(server.stop)
    return server.host, server.port


# --- Redis -------------------------------------------------------------------------------------

REDIS_PORT = 6379
REDIS_ENV = "PAYGATE_TEST_REDIS_URL"


def _redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_server_binary() -> str:
    """Path of redis-server; installs it with apt-get if root and missing."""
    binary = shutil.which("redis-server")
    if binary is None and _is_root():
        _apt_install("redis-server")
        binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceMissing("Redis", "sudo apt-get install -y redis-server")
    return binary


def start_redis() -> Server:
    """A throwaway Redis on a free port on 127.0.0.1, keeping nothing on disk."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="paygate-redis-")
    process = subprocess.Popen([redis_server_binary(), "--bind", HOST, "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", workdir],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def stop_process() -> None:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=5)

    server = Server(HOST, port, workdir, stop_process)
    deadline = time.monotonic() + 10
    while not _redis_answers(HOST, port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"redis-server did not start on {HOST}:{port}")
        time.sleep(0.05)
    return server


def ensure_redis(addfinalizer: Finalizer | None = None) -> str:
    """URL of a real Redis: $PAYGATE_TEST_REDIS_URL, else 127.0.0.1:6379, else a throwaway one."""
    override = os.environ.get(REDIS_ENV)
    if override:
        return override
    if _redis_answers(HOST, REDIS_PORT):
        return f"redis://{HOST}:{REDIS_PORT}/0"
    try:
        server = start_redis()
    except ServiceMissing as exc:
        pytest.exit(f"Redis is not running and its binaries are missing: run `{exc.install}`", returncode=2)
    if addfinalizer:
        addfinalizer(server.stop)
    return f"redis://{server.host}:{server.port}/0"
