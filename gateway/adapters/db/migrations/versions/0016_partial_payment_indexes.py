"""payments: the customer, plan and reconciliation indexes hold only the rows that have a value
(most payments have no customer or plan, and a settled payment waits for no reconciliation), so
writing a payment touches fewer indexes

On a large live table, build the new indexes first with CREATE INDEX CONCURRENTLY under other
names, then drop the old ones: this migration rebuilds them in place, which locks the table.

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

COLUMNS = ('customer_id', 'installment_plan_id', 'next_reconcile_at')


def upgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f'ix_payments_{column}', table_name='payments')
        where = sa.text(f'{column} IS NOT NULL')
        op.create_index(f'ix_payments_{column}', 'payments', [column], unique=False, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f'ix_payments_{column}', table_name='payments')
        op.create_index(f'ix_payments_{column}', 'payments', [column], unique=False)
