"""installment products, plans and installments; payment purpose

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

SerialKey = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('installment_products',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('method', sa.String(length=24), nullable=False),
    sa.Column('apr', sa.Numeric(precision=6, scale=3), nullable=False),
    sa.Column('fee_rate', sa.Numeric(precision=6, scale=4), nullable=False),
    sa.Column('down_payment_share', sa.Numeric(precision=5, scale=4), nullable=False),
    sa.Column('min_amount', sa.BigInteger(), nullable=False),
    sa.Column('max_amount', sa.BigInteger(), nullable=False),
    sa.Column('grace_days', sa.Integer(), nullable=False),
    sa.Column('late_fee_fixed', sa.BigInteger(), nullable=False),
    sa.Column('late_fee_rate', sa.Numeric(precision=6, scale=4), nullable=False),
    sa.Column('late_fee_cap', sa.BigInteger(), nullable=False),
    sa.Column('cooling_off_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_installment_products_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_installment_products'))
    )
    with op.batch_alter_table('installment_products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_installment_products_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('installment_plans',
    sa.Column('seq', SerialKey, autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('saved_card_id', sa.String(length=40), nullable=False),
    sa.Column('product_id', sa.String(length=40), nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('down_payment', sa.BigInteger(), nullable=False),
    sa.Column('financed', sa.BigInteger(), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=24), nullable=False),
    sa.Column('apr', sa.Numeric(precision=6, scale=3), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('delinquency', sa.String(length=16), nullable=False),
    sa.Column('late_fees_charged', sa.BigInteger(), nullable=False),
    sa.Column('down_payment_payment_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('canceled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_installment_plans_customer_id_customers')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_installment_plans_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['product_id'], ['installment_products.id'], name=op.f('fk_installment_plans_product_id_installment_products')),
    sa.ForeignKeyConstraint(['saved_card_id'], ['saved_cards.id'], name=op.f('fk_installment_plans_saved_card_id_saved_cards')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_installment_plans')),
    sa.UniqueConstraint('id', name=op.f('uq_installment_plans_id'))
    )
    with op.batch_alter_table('installment_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_installment_plans_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_installment_plans_merchant_seq', ['merchant_id', 'seq'], unique=False)

    op.create_table('installments',
    sa.Column('seq', SerialKey, autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('interest', sa.BigInteger(), nullable=False),
    sa.Column('late_fee', sa.BigInteger(), nullable=False),
    sa.Column('paid_principal', sa.BigInteger(), nullable=False),
    sa.Column('paid_interest', sa.BigInteger(), nullable=False),
    sa.Column('paid_late_fee', sa.BigInteger(), nullable=False),
    sa.Column('waived_interest', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('collecting_payment_id', sa.String(length=40), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['installment_plans.id'], name=op.f('fk_installments_plan_id_installment_plans')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_installments')),
    sa.UniqueConstraint('plan_id', 'number', name='uq_installments_plan_number')
    )
    with op.batch_alter_table('installments', schema=None) as batch_op:
        batch_op.create_index('ix_installments_due', ['status', 'due_date'], unique=False)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=16), server_default='charge', nullable=False))
        batch_op.add_column(sa.Column('installment_plan_id', sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_payments_installment_plan_id'), ['installment_plan_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_installment_plan_id'))
        batch_op.drop_column('installment_plan_id')
        batch_op.drop_column('purpose')
    op.drop_table('installments')
    op.drop_table('installment_plans')
    op.drop_table('installment_products')
