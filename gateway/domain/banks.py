"""China's national banks: code, CNAPS bank code, name, the BIN prefixes of their UnionPay debit
cards, the connector family that reaches them, and their quick-pay limits. The card's BIN decides
the bank, and the bank decides the connector."""
from __future__ import annotations

from dataclasses import dataclass

YUAN = 100  # fen


@dataclass(frozen=True)
class Bank:
    code: str  # short code used in the API, e.g. "ICBC"
    cnaps: str  # the bank's CNAPS bank code
    name: str
    bins: tuple[str, ...]
    family: str  # the connector module that reaches this bank
    per_transaction_limit: int  # quick-pay limit in fen for one debit
    per_day_limit: int  # quick-pay limit in fen for one card in one (Beijing) day


BIG_FOUR = "big_four"  # state banks: synchronous answers
JOINT_STOCK = "joint_stock"  # joint-stock banks: asynchronous answers by signed callback
POSTAL_COMMS = "postal_comms"  # BOCOM and PSBC: synchronous, night-time batch window

NATIONAL_BANKS: tuple[Bank, ...] = (
    Bank("ICBC", "102", "Industrial and Commercial Bank of China", ("622202", "622208", "621226", "621288"), BIG_FOUR, 50_000 * YUAN, 50_000 * YUAN),
    Bank("ABC", "103", "Agricultural Bank of China", ("622848", "622845", "622823"), BIG_FOUR, 20_000 * YUAN, 50_000 * YUAN),
    Bank("BOC", "104", "Bank of China", ("621661", "621663", "621785"), BIG_FOUR, 50_000 * YUAN, 50_000 * YUAN),
    Bank("CCB", "105", "China Construction Bank", ("621700", "622700", "621284"), BIG_FOUR, 50_000 * YUAN, 100_000 * YUAN),
    Bank("BOCOM", "301", "Bank of Communications", ("622262", "622260"), POSTAL_COMMS, 50_000 * YUAN, 50_000 * YUAN),
    Bank("CITIC", "302", "China CITIC Bank", ("622690", "622691", "621771"), JOINT_STOCK, 10_000 * YUAN, 10_000 * YUAN),
    Bank("CEB", "303", "China Everbright Bank", ("622660", "622666"), JOINT_STOCK, 50_000 * YUAN, 50_000 * YUAN),
    Bank("HXB", "304", "Hua Xia Bank", ("622630", "622631"), JOINT_STOCK, 10_000 * YUAN, 20_000 * YUAN),
    Bank("CMBC", "305", "China Minsheng Bank", ("622622", "622615", "622617"), JOINT_STOCK, 50_000 * YUAN, 50_000 * YUAN),
    Bank("CGB", "306", "China Guangfa Bank", ("622568", "621462"), JOINT_STOCK, 30_000 * YUAN, 30_000 * YUAN),
    Bank("PAB", "307", "Ping An Bank", ("622155", "622156", "622986"), JOINT_STOCK, 50_000 * YUAN, 50_000 * YUAN),
    Bank("CMB", "308", "China Merchants Bank", ("622588", "622609", "621483", "621485", "621486"), JOINT_STOCK, 50_000 * YUAN, 50_000 * YUAN),
    Bank("CIB", "309", "Industrial Bank", ("622909", "622908"), JOINT_STOCK, 50_000 * YUAN, 50_000 * YUAN),
    Bank("SPDB", "310", "Shanghai Pudong Development Bank", ("622521", "622518"), JOINT_STOCK, 50_000 * YUAN, 50_000 * YUAN),
    Bank("PSBC", "403", "Postal Savings Bank of China", ("621799", "621096", "622188"), POSTAL_COMMS, 5_000 * YUAN, 5_000 * YUAN),
)


def bank_for_card(pan: str) -> Bank | None:
    """The issuing bank of a card number, by the longest matching BIN prefix.

    >>> bank_for_card("6225880000014242").name
    'China Merchants Bank'
    >>> bank_for_card("6200000000000000") is None
    True
    """
    best: tuple[int, Bank] | None = None
    for bank in NATIONAL_BANKS:
        for prefix in bank.bins:
            if pan.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), bank)
    return best[1] if best else None


def bank_by_code(code: str) -> Bank | None:
    return next((bank for bank in NATIONAL_BANKS if bank.code == code), None)
