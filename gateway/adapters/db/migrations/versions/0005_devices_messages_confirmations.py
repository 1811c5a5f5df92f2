"""devices, signed device messages, rejections, payment confirmations, command outbox

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_rejections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_rejections'))
    )
    with op.batch_alter_table('device_rejections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_rejections_device_id'), ['device_id'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('owner_customer_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=100), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('signing_algorithm', sa.String(length=8), nullable=False),
    sa.Column('signing_public_key', sa.Text(), nullable=False),
    sa.Column('cert_serial', sa.String(length=40), nullable=False),
    sa.Column('cert_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('cert_not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seq', sa.BigInteger(), nullable=True),
    sa.Column('messages_stored', sa.BigInteger(), nullable=False),
    sa.Column('messages_rejected', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_devices_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices'))
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_devices_owner_customer_id'), ['owner_customer_id'], unique=False)

    op.create_table('device_commands',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_commands_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_commands'))
    )
    with op.batch_alter_table('device_commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_commands_device_id'), ['device_id'], unique=False)
        batch_op.create_index('ix_device_commands_unsent', ['sent_at', 'id'], unique=False)

    op.create_table('device_confirmations',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('payment_id', sa.String(length=40), nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('merchant_name', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome_delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_confirmations_device_id_devices')),
    sa.PrimaryKeyConstraint('nonce', name=op.f('pk_device_confirmations'))
    )
    with op.batch_alter_table('device_confirmations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_confirmations_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_confirmations_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_confirmations_payment_id'), ['payment_id'], unique=False)

    op.create_table('device_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('body', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_messages_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_messages')),
    sa.UniqueConstraint('device_id', 'seq', name='uq_device_messages_device_seq')
    )
    with op.batch_alter_table('device_messages', schema=None) as batch_op:
        batch_op.create_index('ix_device_messages_device_sent', ['device_id', 'sent_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('device_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_device_messages_device_sent')

    op.drop_table('device_messages')
    with op.batch_alter_table('device_confirmations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_confirmations_payment_id'))
        batch_op.drop_index(batch_op.f('ix_device_confirmations_expires_at'))
        batch_op.drop_index(batch_op.f('ix_device_confirmations_device_id'))

    op.drop_table('device_confirmations')
    with op.batch_alter_table('device_commands', schema=None) as batch_op:
        batch_op.drop_index('ix_device_commands_unsent')
        batch_op.drop_index(batch_op.f('ix_device_commands_device_id'))

    op.drop_table('device_commands')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_owner_customer_id'))
        batch_op.drop_index(batch_op.f('ix_devices_merchant_id'))

    op.drop_table('devices')
    with op.batch_alter_table('device_rejections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_rejections_device_id'))

    op.drop_table('device_rejections')
