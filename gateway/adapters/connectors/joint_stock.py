"""Sandbox of the joint-stock banks (CMB, CITIC, CEB, HXB, CMBC, CGB, PAB, CIB, SPDB): a debit is
accepted for processing and its outcome arrives later by signed callback (or a status query).
They close from 02:00 to 02:30 Beijing time."""
from __future__ import annotations

from datetime import time

from gateway.adapters.connectors.sandbox_core import MaintenanceWindow, SandboxAcquirer


class JointStockSandbox(SandboxAcquirer):
    name = "sandbox_joint_stock"
    answers_by_callback = True
    maintenance = MaintenanceWindow(time(2, 0), time(2, 30))
