"""`make demo` from a fresh directory: nothing set up beforehand, and it ends with the ledger verified."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_runs_from_a_fresh_directory(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAYGATE_")}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run([sys.executable, "-m", "gateway.entrypoints.cli", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for line in ("card payments", "customer registration", "signature verified", "installments: a phone on 12 months", "LOCKED (emergency calls still allowed)", "devices (", "checkout page: http://127.0.0.1:", "dashboard:     http://127.0.0.1:", "ledger ok"):
        assert line in result.stdout, line
    assert (tmp_path / "var" / "paygate.db").exists()
