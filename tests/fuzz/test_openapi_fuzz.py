"""The outside fuzzer in the suite: schemathesis, with all its checks, against /openapi.json of a
live gateway on PostgreSQL, for a bounded time. The run must find no server error and no status,
header or body outside what the document says."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from gateway.app import create_app
from tests.integration.conftest import Shop, make_gateway

FUZZ_SECONDS = int(os.environ.get("PAYGATE_FUZZ_SECONDS", "75"))
CONFIG = Path(__file__).with_name("schemathesis.toml")

pytestmark = pytest.mark.fuzz


def only_generation_errors(output: str) -> bool:
    """True when the run found no failure and its only errors are schemathesis failing to build a
    test case (a data-generation error inside the tool, raised before any request is sent)."""
    if "= FAILURES =" in output or "= ERRORS =" not in output:
        return False
    errors = output.split("= ERRORS =", 1)[1].split("= SUMMARY =", 1)[0].lstrip("=")
    blocks = [block for block in re.split(r"\n_{5,} .+ _{5,}\n", errors) if block.strip()]
    return bool(blocks) and all("while generating" in block for block in blocks)


@pytest.fixture
def live_gateway(postgres_database_url, var_dir):
    gw = make_gateway(postgres_database_url, var_dir, rate_limit_failed_auth_per_address="1000000 per minute",
                      rate_limit_tokenization="1000000 per minute")
    shop = Shop(gw, "Fuzzed Shop")
    shop.pay(12_345)  # some objects for the stateful phase to find
    shop.customer()
    server = make_server("127.0.0.1", 0, create_app(gateway=gw), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", shop
    server.shutdown()
    gw.db.dispose()


def test_fuzzer_finds_no_server_error_and_nothing_undocumented(live_gateway, tmp_path):
    base_url, shop = live_gateway
    report = tmp_path / "fuzz.txt"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{base_url}/openapi.json",
        "--checks", "all", "--max-time", str(FUZZ_SECONDS), "--workers", "2", "--seed", os.environ.get("PAYGATE_FUZZ_SEED", "20261130"),
        "-H", f"Authorization: Bearer {shop.merchant.secret_key}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=FUZZ_SECONDS + 240, cwd=tmp_path)
    report.write_text(result.stdout + result.stderr)
    # What went wrong is in the ERRORS and FAILURES sections; the summary ends the output.
    start = min((i for i in (result.stdout.find("= ERRORS ="), result.stdout.find("= FAILURES =")) if i >= 0), default=-6000)
    summary = result.stdout[start:][:12000]
    assert result.returncode == 0 or only_generation_errors(result.stdout), f"schemathesis found problems (full output in {report}):\n{summary}"
    assert "Test cases:" in result.stdout and " generated" in result.stdout
