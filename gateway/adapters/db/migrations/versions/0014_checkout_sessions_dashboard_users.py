"""checkout sessions, dashboard users; payments by creation time

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('checkout_sessions',
    sa.Column('seq', SERIAL, autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('line_items', sa.JSON(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payment_methods', sa.JSON(), nullable=False),
    sa.Column('installment_product_id', sa.String(length=40), nullable=True),
    sa.Column('confirmation_device_id', sa.String(length=40), nullable=True),
    sa.Column('success_url', sa.String(length=2048), nullable=False),
    sa.Column('cancel_url', sa.String(length=2048), nullable=False),
    sa.Column('publishable_key_sealed', sa.Text(), nullable=False),
    sa.Column('publishable_key_id', sa.String(length=40), nullable=False),
    sa.Column('attempt_payment_id', sa.String(length=40), nullable=True),
    sa.Column('attempt_plan_id', sa.String(length=40), nullable=True),
    sa.Column('attempt_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('customer_id', sa.String(length=40), nullable=True),
    sa.Column('saved_card_id', sa.String(length=40), nullable=True),
    sa.Column('term_months', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.String(length=40), nullable=True),
    sa.Column('installment_plan_id', sa.String(length=40), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_checkout_sessions_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_checkout_sessions')),
    sa.UniqueConstraint('id', name=op.f('uq_checkout_sessions_id'))
    )
    op.create_index('ix_checkout_sessions_merchant_seq', 'checkout_sessions', ['merchant_id', 'seq'], unique=False)
    op.create_index(op.f('ix_checkout_sessions_attempt_payment_id'), 'checkout_sessions', ['attempt_payment_id'], unique=False)
    op.create_table('dashboard_users',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_dashboard_users_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_users')),
    sa.UniqueConstraint('email', name=op.f('uq_dashboard_users_email'))
    )
    # The dashboard's day and 30-day figures read payments by creation time.
    op.create_index('ix_payments_created_at', 'payments', ['created_at'], unique=False)
    op.create_index('ix_payments_merchant_created', 'payments', ['merchant_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_payments_merchant_created', table_name='payments')
    op.drop_index('ix_payments_created_at', table_name='payments')
    op.drop_table('dashboard_users')
    op.drop_table('checkout_sessions')
