"""device payg credentials and tokens

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 21:45:47.128283
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_payg_credentials',
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('secret_sealed', sa.String(length=200), nullable=False),
    sa.Column('starting_code', sa.BigInteger(), nullable=False),
    sa.Column('last_count', sa.Integer(), nullable=False),
    sa.Column('paid_until', sa.Date(), nullable=True),
    sa.Column('unlocked_for_good', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_device_payg_credentials'))
    )
    op.create_table('device_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('plan_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=20), nullable=False),
    sa.Column('paid_until', sa.Date(), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_tokens'))
    )
    with op.batch_alter_table('device_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_tokens_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_tokens_plan_id'), ['plan_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('device_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_tokens_plan_id'))
        batch_op.drop_index(batch_op.f('ix_device_tokens_device_id'))

    op.drop_table('device_tokens')
    op.drop_table('device_payg_credentials')
