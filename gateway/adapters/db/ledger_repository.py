"""Writing journal entries to the ledger tables and reading balances back."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from gateway.adapters.db.models import LedgerAccount, LedgerPosting, LedgerTransaction, utcnow
from gateway.adapters.db.upsert import insert_if_absent
from gateway.domain.clock import as_utc
from gateway.domain.ledger import AccountSpec, JournalEntry, NormalSide
from gateway.observability.metrics import count_ledger_transaction


# Built once (every capture sends them): building a statement and its cache key on each call
# cost more than sending it.
_INSERT_TRANSACTION = insert(LedgerTransaction.__table__).returning(LedgerTransaction.__table__.c.id)
_INSERT_POSTINGS = insert(LedgerPosting.__table__)
# PostgreSQL: the whole entry in one statement (one round trip): the transaction, its postings,
# and every balance it moves. The balance rows are locked in one global order (by id) so that
# concurrent entries never deadlock: `locked` hands its rows to the UPDATE sorted, each locked as
# it is handed over, whichever join the planner picks. FOR NO KEY UPDATE, the lock the UPDATE
# takes anyway: unlike FOR UPDATE it does not wait for the key-share locks that the postings'
# foreign keys take on the same rows in concurrent entries. The rows are shared (every capture
# moves the platform's fee account) and stay locked until the commit: post entries last.
_POST_ENTRY = text(
    "WITH tx AS (INSERT INTO ledger_transactions (kind, reference, created_at) VALUES (:kind, :reference, :created_at) RETURNING id),"
    " posted AS (INSERT INTO ledger_postings (transaction_id, account_id, amount)"
    "  SELECT tx.id, line.account_id, line.amount FROM tx,"
    "  unnest(CAST(:line_accounts AS bigint[]), CAST(:line_amounts AS bigint[])) WITH ORDINALITY AS line(account_id, amount, n) ORDER BY line.n),"
    " locked AS MATERIALIZED (SELECT id FROM ledger_accounts WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE)"
    " UPDATE ledger_accounts AS a SET balance = a.balance + m.delta"
    " FROM locked JOIN unnest(CAST(:ids AS bigint[]), CAST(:deltas AS bigint[])) AS m(account_id, delta) ON m.account_id = locked.id"
    " WHERE a.id = locked.id RETURNING (SELECT id FROM tx), a.id, a.balance"
)


def post(session: Session, entry: JournalEntry, at: datetime | None = None) -> int:
    """Record a balanced entry and move the account balances, in the caller's transaction; the
    new ledger transaction's id. The entry is dated `at`, else by the gateway's clock the unit of
    work carries (settlement days are cut on this date). Written with Core statements on the
    session's connection: the ORM's unit-of-work bookkeeping cost more than the SQL on this path."""
    entry.validate()
    clock = session.info.get("clock")
    at = as_utc(at or (clock() if clock else utcnow()))  # SQLite keeps the wall time only: store UTC
    connection = session.connection()
    # Accounts met for the first time are created here: in one order (by code), so that two
    # entries creating the same new accounts at once never deadlock on them.
    ids = {spec: _account_ids.get(session, spec) for spec in sorted({line.account for line in entry.lines}, key=lambda s: (s.code, s.currency))}
    specs = {account_id: spec for spec, account_id in ids.items()}
    lines = [(ids[line.account], line.amount) for line in entry.lines]
    deltas: dict[int, int] = {}
    for account_id, amount in lines:
        deltas[account_id] = deltas.get(account_id, 0) + amount
    ordered = sorted(deltas)
    transaction = {"kind": entry.kind, "reference": entry.reference, "created_at": at}
    if connection.dialect.name == "postgresql":
        moved = connection.execute(_POST_ENTRY, transaction | {
            "line_accounts": [account_id for account_id, _ in lines], "line_amounts": [amount for _, amount in lines],
            "ids": ordered, "deltas": [deltas[account_id] for account_id in ordered],
        }).all()
        transaction_id = moved[0][0]  # every account exists: the postings' foreign keys saw to it
        balances = [(account_id, balance) for _, account_id, balance in moved]
    else:  # SQLite: no data-modifying WITH; its write lock already serialises writers
        transaction_id, balances = _post_statement_by_statement(connection, transaction, lines, ordered, deltas)
    for account_id, balance in balances:
        specs[account_id].check(balance)
    count_ledger_transaction(session, entry.kind)
    return transaction_id


def _post_statement_by_statement(connection, transaction: dict, lines: list[tuple[int, int]], ordered: list[int],
                                 deltas: dict[int, int]) -> tuple[int, list[tuple[int, int]]]:
    accounts = LedgerAccount.__table__
    transaction_id = connection.execute(_INSERT_TRANSACTION, transaction).scalar_one()
    connection.execute(_INSERT_POSTINGS, [{"transaction_id": transaction_id, "account_id": account_id, "amount": amount} for account_id, amount in lines])
    balances = [
        tuple(row) for account_id in ordered
        for row in connection.execute(
            update(accounts).where(accounts.c.id == account_id).values(balance=accounts.c.balance + deltas[account_id])
            .returning(accounts.c.id, accounts.c.balance)
        ).all()
    ]
    return transaction_id, balances


class _AccountIds:
    """Account ids never change once their row is committed, so each process remembers them and
    a posting needs no upsert or lookup per line. Balances
    are never cached: they are read and written only in the database, under its row locks."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str], int] = {}

    def get(self, session: Session, spec: AccountSpec) -> int:
        key = (str(session.get_bind().url), spec.code, spec.currency)
        if key in self._known:
            return self._known[key]
        created = insert_if_absent(
            session,
            LedgerAccount,
            ["code", "currency"],
            code=spec.code,
            currency=spec.currency,
            normal_side=spec.normal_side.value,
            may_go_negative=spec.may_go_negative,
            balance=0,
        )
        account_id = session.execute(
            select(LedgerAccount.id).where(LedgerAccount.code == spec.code, LedgerAccount.currency == spec.currency)
        ).scalar_one()
        if not created:  # only a committed row's id is safe to keep: this transaction may roll back
            self._known[key] = account_id
        return account_id


_account_ids = _AccountIds()


def normal_balances(session: Session, code: str) -> dict[str, int]:
    """Balance per currency of one account, as its owner reads it."""
    rows = session.execute(select(LedgerAccount).where(LedgerAccount.code == code)).scalars()
    return {row.currency: _spec(row).normal_balance(row.balance) for row in rows}


def transaction_count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one()


def unbalanced_transactions(session: Session) -> list[tuple[int, str, str, str, int]]:
    """(transaction id, kind, reference, currency, sum) for every transaction whose lines do not sum to zero."""
    rows = session.execute(
        select(
            LedgerTransaction.id,
            LedgerTransaction.kind,
            LedgerTransaction.reference,
            LedgerAccount.currency,
            func.sum(LedgerPosting.amount),
        )
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .group_by(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.reference, LedgerAccount.currency)
        .having(func.sum(LedgerPosting.amount) != 0)
    )
    return [tuple(row) for row in rows]


def drifted_accounts(session: Session) -> list[tuple[str, str, int, int]]:
    """(code, currency, stored balance, sum of postings) for every account where the two differ."""
    posted = (
        select(LedgerPosting.account_id, func.sum(LedgerPosting.amount).label("total"))
        .group_by(LedgerPosting.account_id)
        .subquery()
    )
    total = func.coalesce(posted.c.total, 0)
    rows = session.execute(
        select(LedgerAccount.code, LedgerAccount.currency, LedgerAccount.balance, total)
        .outerjoin(posted, posted.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.balance != total)
    )
    return [tuple(row) for row in rows]


def negative_accounts(session: Session) -> list[tuple[str, str, int]]:
    """Accounts that must not go negative but are."""
    rows = session.execute(select(LedgerAccount).where(LedgerAccount.may_go_negative.is_(False))).scalars()
    normal = ((row.code, row.currency, _spec(row).normal_balance(row.balance)) for row in rows)
    return [found for found in normal if found[2] < 0]


def _spec(row: LedgerAccount) -> AccountSpec:
    return AccountSpec(row.code, row.currency, NormalSide(row.normal_side), row.may_go_negative)
