"""customers, consents, saved cards, sandbox banks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:29:35.034026
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sandbox_bank_transactions',
    sa.Column('reference', sa.String(length=80), nullable=False),
    sa.Column('connector', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payment_id', sa.String(length=40), nullable=False),
    sa.Column('card_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('bank_date', sa.String(length=10), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('decline_code', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('reference', name=op.f('pk_sandbox_bank_transactions'))
    )
    with op.batch_alter_table('sandbox_bank_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_sandbox_bank_daily', ['card_fingerprint', 'bank_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_sandbox_bank_transactions_payment_id'), ['payment_id'], unique=False)

    op.create_table('sandbox_card_bindings',
    sa.Column('reference', sa.String(length=80), nullable=False),
    sa.Column('connector', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('reference', name=op.f('pk_sandbox_card_bindings'))
    )
    op.create_table('customers',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('data_key', sa.Text(), nullable=True),
    sa.Column('name_sealed', sa.Text(), nullable=True),
    sa.Column('mobile_sealed', sa.Text(), nullable=True),
    sa.Column('id_number_sealed', sa.Text(), nullable=True),
    sa.Column('id_number_hmac', sa.String(length=64), nullable=True),
    sa.Column('id_number_masked', sa.String(length=18), nullable=True),
    sa.Column('mobile_masked', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_customers_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_customers')),
    sa.UniqueConstraint('id', name=op.f('uq_customers_id')),
    sa.UniqueConstraint('merchant_id', 'id_number_hmac', name='uq_customers_merchant_id_number')
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_consents_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_customer_id'), ['customer_id'], unique=False)

    op.create_table('saved_cards',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('brand', sa.String(length=20), nullable=False),
    sa.Column('bank_code', sa.String(length=10), nullable=False),
    sa.Column('last4', sa.String(length=4), nullable=False),
    sa.Column('masked_number', sa.String(length=24), nullable=False),
    sa.Column('exp_month', sa.Integer(), nullable=False),
    sa.Column('exp_year', sa.Integer(), nullable=False),
    sa.Column('card_sealed', sa.Text(), nullable=True),
    sa.Column('pan_hmac', sa.String(length=64), nullable=True),
    sa.Column('binding_reference', sa.String(length=80), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_saved_cards_customer_id_customers')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_saved_cards_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_saved_cards')),
    sa.UniqueConstraint('id', name=op.f('uq_saved_cards_id'))
    )
    with op.batch_alter_table('saved_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_cards_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_saved_cards_pan_hmac'), ['pan_hmac'], unique=False)

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('saved_card_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('customer_id', sa.String(length=40), nullable=True))
        batch_op.alter_column('card_token_id',
               existing_type=sa.VARCHAR(length=40),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_payments_customer_id'), ['customer_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_payments_saved_card_id_saved_cards'), 'saved_cards', ['saved_card_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_payments_customer_id_customers'), 'customers', ['customer_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payments_customer_id_customers'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_payments_saved_card_id_saved_cards'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_payments_customer_id'))
        batch_op.alter_column('card_token_id',
               existing_type=sa.VARCHAR(length=40),
               nullable=False)
        batch_op.drop_column('customer_id')
        batch_op.drop_column('saved_card_id')

    with op.batch_alter_table('saved_cards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_cards_pan_hmac'))
        batch_op.drop_index(batch_op.f('ix_saved_cards_customer_id'))

    op.drop_table('saved_cards')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_customer_id'))

    op.drop_table('consents')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_merchant_id'))

    op.drop_table('customers')
    op.drop_table('sandbox_card_bindings')
    with op.batch_alter_table('sandbox_bank_transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_bank_transactions_payment_id'))
        batch_op.drop_index('ix_sandbox_bank_daily')

    op.drop_table('sandbox_bank_transactions')
