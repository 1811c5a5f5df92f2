"""Sandbox of the four big state banks (ICBC, ABC, BOC, CCB): they answer debits at once and
close for their end-of-day batch from 23:30 to 00:30 Beijing time."""
from __future__ import annotations

from datetime import time

from gateway.adapters.connectors.sandbox_core import MaintenanceWindow, SandboxAcquirer


class BigFourSandbox(SandboxAcquirer):
    name = "sandbox_big_four"
    answers_by_callback = False
    maintenance = MaintenanceWindow(time(23, 30), time(0, 30))
