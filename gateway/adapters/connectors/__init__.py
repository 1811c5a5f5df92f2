"""Bank connectors: one module per bank family, all behind `base.BankDebitConnector`."""
from __future__ import annotations

from gateway.adapters.connectors.big_four import BigFourSandbox
from gateway.adapters.connectors.joint_stock import JointStockSandbox
from gateway.adapters.connectors.postal_comms import PostalCommsSandbox
from gateway.domain.banks import BIG_FOUR, JOINT_STOCK, POSTAL_COMMS

SANDBOX_FAMILIES = {BIG_FOUR: BigFourSandbox, JOINT_STOCK: JointStockSandbox, POSTAL_COMMS: PostalCommsSandbox}
