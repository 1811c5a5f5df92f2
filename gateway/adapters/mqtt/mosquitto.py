"""Finding the Mosquitto binary and a free loopback port, for whoever starts a broker of its own
(the demo, the tests)."""
from __future__ import annotations

import os
import shutil
import socket


def find_mosquitto() -> str | None:
    # Debian puts it in /usr/sbin, often not on a normal user's PATH.
    for path in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if path and os.access(path, os.X_OK):
            return path
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
