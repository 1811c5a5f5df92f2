"""The webhook part of the demo: a local receiver (a merchant's server), an endpoint registered for
it, a payment, one pass of the webhook worker, and the signature checked with the merchant-side
helper (gateway/sdk/webhooks.py). `LocalReceiver` also serves the tests."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gateway.bootstrap import Gateway
from gateway.entrypoints.workers.runner import run
from gateway.sdk.client import Paygate
from gateway.sdk.webhooks import HEADER, SignatureVerificationError, verify


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class LocalReceiver:
    """An HTTP server on 127.0.0.1 in a thread that records every POST and answers `status`.
    Not started, it refuses connections; it can be stopped and started again on the same port.
    `received` holds every request, `delivered()` those it answered 2xx."""

    def __init__(self, port: int = 0, status: int = 200, delay: float = 0.0) -> None:
        self.port = port
        self.status = status
        self.delay = delay  # seconds to take over each answer
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    def start(self) -> LocalReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.status
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def delivered(self) -> list[Received]:
        return [request for request in self.snapshot() if request.delivered]


def show_webhook_delivery(gw: Gateway, shop: Paygate, make_payment: Callable[[], object], out: Callable[[str], None] = print) -> bool:
    """Register a local receiver for the shop's events, call `make_payment()`, run the webhook
    worker once (on `gw`) and print what arrived and whether its signature verified. True if at
    least one event arrived and every signature verified. The endpoint is deleted afterwards."""
    receiver = LocalReceiver().start()
    out("\nwebhooks (a local receiver stands in for the merchant's server):")
    created = shop.create_webhook_endpoint(receiver.url, ["*"], "paygate demo receiver")
    try:
        out(f"  endpoint {created['id']} -> {receiver.url}, signing secret {created['secret'][:12]}... (shown once)")
        make_payment()
        attempts = run(gw, ["webhooks"], once=True)
        out(f"  $ paygate worker --queue webhooks --once   ({attempts} delivery attempt(s))")
        arrived = receiver.delivered()
        # The gateway may run on an advanced sandbox clock: check the timestamps against it.
        now = shop.sandbox_now().timestamp()
        verdicts = [_check(request, created["secret"], now, out) for request in arrived]
        if not arrived:
            out("  no event arrived")
        return bool(arrived) and all(verdicts)
    finally:
        shop.delete_webhook_endpoint(created["id"])
        receiver.stop()


def _check(request: Received, secret: str, now: float, out: Callable[[str], None]) -> bool:
    event = request.event
    obj = event["data"]["object"]
    try:
        verify(request.body, request.headers.get(HEADER, ""), secret, now=now)
        verdict, verified = "signature verified", True
    except SignatureVerificationError as error:
        verdict, verified = f"signature REJECTED: {error}", False
    out(f"  received {event['type']} {event['id']} for {obj.get('object')} {obj.get('id')} ({obj.get('status')}): {verdict}")
    out(f"    {HEADER}: {request.headers.get(HEADER, '')[:40]}...")
    return verified
