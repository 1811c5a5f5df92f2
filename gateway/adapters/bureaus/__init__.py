"""Licensed credit bureaus (Baihang-like, Pudao-like): one module each, all behind
`base.CreditBureau`. Only a bureau licensed by the PBOC may score people for others; we ask one
for its report, with the customer's separate `credit_bureau` consent, and never send it ours."""
from __future__ import annotations

from gateway.adapters.bureaus.baihang_like import BaihangLikeSandbox

SANDBOX_BUREAU = BaihangLikeSandbox
