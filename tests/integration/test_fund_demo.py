"""The demo's fund part runs over real HTTP against a gateway whose sandbox clock it moves (a
stand-in for `POST /v1/sandbox/clock` until the demo's clock endpoint lands beside it)."""
from __future__ import annotations

import threading
from datetime import datetime

from flask import request
from werkzeug.serving import make_server

from gateway.adapters.db.schema import upgrade
from gateway.app import create_app
from gateway.demo import Client
from gateway.demo.fund import fund_part
from gateway.domain.clock import beijing_date
from gateway.services.ledger import verify
from gateway.services.merchants import create_merchant
from tests.integration.conftest import TimeMachine, make_gateway


def test_the_fund_demo_part(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    gw = make_gateway(url, tmp_path)
    machine = TimeMachine(gw)
    app = create_app(gateway=gw)

    @app.post("/v1/sandbox/clock")
    def advance_clock():
        machine.travel_to(datetime.fromisoformat(request.get_json()["advance_to"]))
        return {"now": gw.clock().isoformat()}

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lines: list[str] = []
    try:
        merchant = create_merchant(gw, "Demo Fund Seller")
        fund_part(Client(f"http://127.0.0.1:{server.server_port}", merchant.secret_key), lines.append, beijing_date(gw.clock()))
    finally:
        server.shutdown()
    text = "\n".join(lines)
    print(text)
    assert "after the cut-off" in text and "confirmed," in text
    assert "installment 1" in text and "paid from" in text
    assert "fast_redemption_cap_exceeded" in text
    assert "normal redemption paid" in text
    table = lines[lines.index(next(line for line in lines if "7-day yield" in line)) + 1:]
    assert len(table) == 10 and all(" %" in row for row in table)
    assert verify(gw).ok
