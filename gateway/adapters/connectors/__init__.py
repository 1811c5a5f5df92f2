"""Payment connectors: one module per bank family and per wallet provider, all behind
`base.PaymentConnector` (banks also meet `base.CardBindingConnector`); credit bureaus behind
`bureau.CreditBureau` (baihang_like: the sandbox)."""
from __future__ import annotations

from gateway.adapters.connectors.alipay_like import AlipayLikeSandbox
from gateway.adapters.connectors.big_four import BigFourSandbox
from gateway.adapters.connectors.joint_stock import JointStockSandbox
from gateway.adapters.connectors.postal_comms import PostalCommsSandbox
from gateway.adapters.connectors.wechat_like import WechatLikeSandbox
from gateway.domain.banks import BIG_FOUR, JOINT_STOCK, POSTAL_COMMS

SANDBOX_FAMILIES = {BIG_FOUR: BigFourSandbox, JOINT_STOCK: JointStockSandbox, POSTAL_COMMS: PostalCommsSandbox}
SANDBOX_WALLETS = {wallet.provider: wallet for wallet in (AlipayLikeSandbox, WechatLikeSandbox)}
