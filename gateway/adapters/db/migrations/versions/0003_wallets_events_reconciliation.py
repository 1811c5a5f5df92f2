"""wallets, events, reconciliation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 21:35:05.631553
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sandbox_provider_keys',
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('provider', name=op.f('pk_sandbox_provider_keys'))
    )
    op.create_table('sandbox_wallet_orders',
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('payment_id', sa.String(length=40), nullable=False),
    sa.Column('trade_no', sa.String(length=80), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('refunded', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider', 'payment_id', name=op.f('pk_sandbox_wallet_orders'))
    )
    op.create_table('wallet_notifications',
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('notify_id', sa.String(length=80), nullable=False),
    sa.Column('payment_id', sa.String(length=40), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider', 'notify_id', name=op.f('pk_wallet_notifications'))
    )
    op.create_table('events',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_events_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_events')),
    sa.UniqueConstraint('id', name=op.f('uq_events_id'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_merchant_seq', ['merchant_id', 'seq'], unique=False)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wallet_provider', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('next_action', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('action_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_reconcile_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reconcile_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('flagged_reason', sa.String(length=255), nullable=True))
        batch_op.alter_column('card_brand',
               existing_type=sa.VARCHAR(length=20),
               nullable=True)
        batch_op.alter_column('card_bank',
               existing_type=sa.VARCHAR(length=10),
               nullable=True)
        batch_op.alter_column('card_last4',
               existing_type=sa.VARCHAR(length=4),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_payments_next_reconcile_at'), ['next_reconcile_at'], unique=False)

    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_reconcile_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reconcile_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('flagged_reason', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_refunds_next_reconcile_at'), ['next_reconcile_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_next_reconcile_at'))
        batch_op.drop_column('flagged_reason')
        batch_op.drop_column('reconcile_attempts')
        batch_op.drop_column('next_reconcile_at')

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_next_reconcile_at'))
        batch_op.alter_column('card_last4',
               existing_type=sa.VARCHAR(length=4),
               nullable=False)
        batch_op.alter_column('card_bank',
               existing_type=sa.VARCHAR(length=10),
               nullable=False)
        batch_op.alter_column('card_brand',
               existing_type=sa.VARCHAR(length=20),
               nullable=False)
        batch_op.drop_column('flagged_reason')
        batch_op.drop_column('reconcile_attempts')
        batch_op.drop_column('next_reconcile_at')
        batch_op.drop_column('action_expires_at')
        batch_op.drop_column('next_action')
        batch_op.drop_column('wallet_provider')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_merchant_seq')

    op.drop_table('events')
    op.drop_table('wallet_notifications')
    op.drop_table('sandbox_wallet_orders')
    op.drop_table('sandbox_provider_keys')
