"""POST one webhook over HTTP(S) with the standard library: a short timeout, no redirects
followed, at most a few KB of the answer read. Any failure comes back as a value, never raised.

Merchants choose the URLs, so unless private networks are allowed (test mode) the host's
addresses are resolved first and the call is refused if any of them is loopback, private,
link-local (cloud metadata), multicast or reserved; the connection then goes to the address that
was checked, so a DNS answer that changes in between cannot redirect it inward."""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_AGENT = "paygate-webhooks/1"
MAX_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class HttpAnswer:
    status_code: int | None
    error: str | None = None


class AddressRefused(Exception):
    pass


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_host_is_private(host: str) -> bool:
    """For a URL given at registration: a literal private address or localhost."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return not is_public(host.strip("[]"))
    except ValueError:
        return False  # a name: checked when it is resolved, at each delivery


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool = False) -> HttpAnswer:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return HttpAnswer(None, f"unsupported URL {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = _address(parts.hostname, port, allow_private)
    except ValueError:
        return HttpAnswer(None, f"bad port in {url!r}")
    except AddressRefused as refused:
        return HttpAnswer(None, str(refused))
    except OSError as exc:
        return HttpAnswer(None, f"cannot resolve {parts.hostname}: {exc}"[:255])
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(parts.hostname, address, port, timeout)
    else:
        connection = _PinnedHTTPConnection(parts.hostname, address, port, timeout)
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        if 300 <= response.status < 400:
            return HttpAnswer(response.status, f"redirect to {response.getheader('Location')!r} not followed")
        if response.status >= 300:
            return HttpAnswer(response.status, f"HTTP {response.status}")
        return HttpAnswer(response.status)
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, TLS
        return HttpAnswer(None, f"{type(exc).__name__}: {exc}"[:255])
    finally:
        connection.close()


def _address(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to, after checking every address the name resolves to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [info[4][0] for info in infos]
    if not allow_private:
        inward = [address for address in addresses if not is_public(address)]
        if inward:
            raise AddressRefused(f"refused: {host} resolves to non-public address {inward[0]}")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address; the Host header still names the URL's host."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with SNI and certificate checks for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
