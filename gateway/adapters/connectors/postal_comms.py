"""Sandbox of the Bank of Communications and the Postal Savings Bank: synchronous answers, low
quick-pay limits at PSBC, and a night batch window from 03:00 to 04:00 Beijing time."""
from __future__ import annotations

from datetime import time

from gateway.adapters.connectors.sandbox_core import MaintenanceWindow, SandboxAcquirer


class PostalCommsSandbox(SandboxAcquirer):
    name = "sandbox_postal_comms"
    answers_by_callback = False
    maintenance = MaintenanceWindow(time(3, 0), time(4, 0))
