"""money-market fund: funds, income feed, holdings, movements, subscriptions, redemptions, accrual runs; installment plans paid from a fund

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fund_accrual_chunks',
    sa.Column('run_id', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('first_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('holders', sa.BigInteger(), nullable=False),
    sa.Column('units_earning', sa.BigInteger(), nullable=False),
    sa.Column('credited', sa.BigInteger(), nullable=False),
    sa.Column('converted', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'number', name=op.f('pk_fund_accrual_chunks'))
    )
    op.create_table('fund_accrual_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('fund_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('income_per_10k', sa.Numeric(precision=10, scale=4), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('units_earning', sa.BigInteger(), nullable=False),
    sa.Column('declared', sa.BigInteger(), nullable=False),
    sa.Column('credited', sa.BigInteger(), nullable=False),
    sa.Column('remainder', sa.BigInteger(), nullable=False),
    sa.Column('holders', sa.BigInteger(), nullable=False),
    sa.Column('converted', sa.BigInteger(), nullable=False),
    sa.Column('ledger_transaction_id', sa.BigInteger(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fund_accrual_runs')),
    sa.UniqueConstraint('fund_id', 'day', name='uq_fund_accrual_runs_fund_day')
    )
    op.create_table('fund_holder_income',
    sa.Column('holding_seq', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('units_earning', sa.BigInteger(), nullable=False),
    sa.Column('income', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('holding_seq', 'day', name=op.f('pk_fund_holder_income'))
    )
    with op.batch_alter_table('fund_holder_income', schema=None) as batch_op:
        batch_op.create_index('ix_fund_holder_income_day', ['day'], unique=False, postgresql_using='brin')

    op.create_table('fund_holdings',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('fund_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('accrued_income', sa.BigInteger(), nullable=False),
    sa.Column('cumulative_income', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_fund_holdings')),
    sa.UniqueConstraint('fund_id', 'customer_id', name='uq_fund_holdings_fund_customer')
    )
    with op.batch_alter_table('fund_holdings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fund_holdings_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_fund_holdings_fund_seq', ['fund_id', 'seq'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # Accrual rewrites every holding once a day, never an indexed column: room left on each
        # page lets PostgreSQL update in place (HOT), without touching the indexes.
        op.execute('ALTER TABLE fund_holdings SET (fillfactor = 70)')

    op.create_table('fund_income_figures',
    sa.Column('fund_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('income_per_10k', sa.Numeric(precision=10, scale=4), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'day', name=op.f('pk_fund_income_figures'))
    )
    op.create_table('fund_movements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('fund_id', sa.String(length=40), nullable=False),
    sa.Column('holding_seq', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fund_movements'))
    )
    with op.batch_alter_table('fund_movements', schema=None) as batch_op:
        batch_op.create_index('ix_fund_movements_fund_effective', ['fund_id', 'effective_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_fund_movements_holding_seq'), ['holding_seq'], unique=False)

    op.create_table('fund_redemptions',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('fund_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('speed', sa.String(length=8), nullable=False),
    sa.Column('saved_card_id', sa.String(length=40), nullable=True),
    sa.Column('installment_plan_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('trade_day', sa.Date(), nullable=False),
    sa.Column('pay_day', sa.Date(), nullable=False),
    sa.Column('connector', sa.String(length=40), nullable=True),
    sa.Column('connector_reference', sa.String(length=80), nullable=True),
    sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('advance_repaid_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_fund_redemptions')),
    sa.UniqueConstraint('id', name=op.f('uq_fund_redemptions_id'))
    )
    with op.batch_alter_table('fund_redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_fund_redemptions_due', ['status', 'pay_day'], unique=False)
        batch_op.create_index('ix_fund_redemptions_holder_day', ['customer_id', 'fund_id', 'local_day'], unique=False)

    op.create_table('fund_subscriptions',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('fund_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('saved_card_id', sa.String(length=40), nullable=False),
    sa.Column('payment_id', sa.String(length=40), nullable=False),
    sa.Column('connector', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trade_day', sa.Date(), nullable=False),
    sa.Column('confirm_day', sa.Date(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=True),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_fund_subscriptions')),
    sa.UniqueConstraint('id', name=op.f('uq_fund_subscriptions_id')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_fund_subscriptions_payment_id'))
    )
    with op.batch_alter_table('fund_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fund_subscriptions_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_fund_subscriptions_due', ['status', 'confirm_day'], unique=False)

    op.create_table('funds',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('manager', sa.String(length=100), nullable=False),
    sa.Column('carryover', sa.String(length=8), nullable=False),
    sa.Column('cutoff', sa.String(length=5), nullable=False),
    sa.Column('fast_redemption_daily_cap', sa.BigInteger(), nullable=False),
    sa.Column('manager_public_key', sa.Text(), nullable=False),
    sa.Column('units_outstanding', sa.BigInteger(), nullable=False),
    sa.Column('accrued_outstanding', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_funds')),
    sa.UniqueConstraint('id', name=op.f('uq_funds_id')),
    sa.UniqueConstraint('merchant_id', 'code', name='uq_funds_merchant_code')
    )
    with op.batch_alter_table('funds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funds_merchant_id'), ['merchant_id'], unique=False)

    with op.batch_alter_table('installment_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('funding_source', sa.String(length=8), server_default='card', nullable=False))
        batch_op.add_column(sa.Column('source_fund_id', sa.String(length=40), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('installment_plans', schema=None) as batch_op:
        batch_op.drop_column('source_fund_id')
        batch_op.drop_column('funding_source')

    with op.batch_alter_table('funds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funds_merchant_id'))

    op.drop_table('funds')
    with op.batch_alter_table('fund_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_fund_subscriptions_due')
        batch_op.drop_index(batch_op.f('ix_fund_subscriptions_customer_id'))

    op.drop_table('fund_subscriptions')
    with op.batch_alter_table('fund_redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_fund_redemptions_holder_day')
        batch_op.drop_index('ix_fund_redemptions_due')

    op.drop_table('fund_redemptions')
    with op.batch_alter_table('fund_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fund_movements_holding_seq'))
        batch_op.drop_index('ix_fund_movements_fund_effective')

    op.drop_table('fund_movements')
    op.drop_table('fund_income_figures')
    with op.batch_alter_table('fund_holdings', schema=None) as batch_op:
        batch_op.drop_index('ix_fund_holdings_fund_seq')
        batch_op.drop_index(batch_op.f('ix_fund_holdings_customer_id'))

    op.drop_table('fund_holdings')
    with op.batch_alter_table('fund_holder_income', schema=None) as batch_op:
        batch_op.drop_index('ix_fund_holder_income_day', postgresql_using='brin')

    op.drop_table('fund_holder_income')
    op.drop_table('fund_accrual_runs')
    op.drop_table('fund_accrual_chunks')
